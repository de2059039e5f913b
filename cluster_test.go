package rota_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rotahq/rota"
	"github.com/rotahq/rota/internal/pgtest"
	"github.com/rotahq/rota/store"
)

// clusterLease is the leader lease of the multi-node tests: short, so that
// takeovers happen quickly, and long enough for a loaded machine to renew
// it (every third of it).
const clusterLease = time.Second

// forEachStore runs test on SQLite (n stores on one file behave like n
// processes) and, when ROTA_TEST_DATABASE_URL is set, on PostgreSQL (n
// stores on one schema).
func forEachStore(t *testing.T, test func(t *testing.T, open func(n int) []store.Store)) {
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		test(t, func(n int) []store.Store {
			path := filepath.Join(t.TempDir(), "rota.db")
			out := make([]store.Store, n)
			for i := range out {
				out[i] = openStoreAt(t, path)
			}
			return out
		})
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		pgtest.URL(t) // skip before the test starts when there is no database
		test(t, func(n int) []store.Store {
			out := make([]store.Store, n)
			for i, st := range openPGStores(t, n) {
				out[i] = st
			}
			return out
		})
	})
}

// errCut is what a cutStore answers.
var errCut = errors.New("cut off from the store")

// cutStore cuts a node off from parts of the store, as a network partition
// would: while lead is set its lease calls fail, while beat is set its node
// heartbeats fail. Everything else reaches the real store.
type cutStore struct {
	store.Store
	lead, beat atomic.Bool
}

func (s *cutStore) Lead(ctx context.Context, p store.LeadParams) (store.Leader, error) {
	if s.lead.Load() {
		return store.Leader{}, errCut
	}
	return s.Store.Lead(ctx, p)
}

func (s *cutStore) Resign(ctx context.Context, name, node, instance string) (bool, error) {
	if s.lead.Load() {
		return false, errCut
	}
	return s.Store.Resign(ctx, name, node, instance)
}

func (s *cutStore) HeartbeatNode(ctx context.Context, h store.NodeHeartbeat) error {
	if s.beat.Load() {
		return errCut
	}
	return s.Store.HeartbeatNode(ctx, h)
}

// cluster is a set of started clients, one per store, named n1, n2, ...
type cluster struct {
	t       *testing.T
	clients []*rota.Client
	stores  []*cutStore
	stopped []bool
}

func startCluster(t *testing.T, stores []store.Store, opts rota.Options) *cluster {
	t.Helper()
	cl := &cluster{t: t, stopped: make([]bool, len(stores))}
	for i, st := range stores {
		cs := &cutStore{Store: st}
		o := opts
		o.NodeID = fmt.Sprintf("n%d", i+1)
		if o.LeaderLease == 0 {
			o.LeaderLease = clusterLease
		}
		c := newClient(t, cs, o)
		start(t, c)
		cl.clients = append(cl.clients, c)
		cl.stores = append(cl.stores, cs)
	}
	return cl
}

// leaders returns the indexes of the running clients that lead now.
func (cl *cluster) leaders() []int {
	var out []int
	for i, c := range cl.clients {
		if !cl.stopped[i] && c.IsLeader() {
			out = append(out, i)
		}
	}
	return out
}

// waitLeader waits until exactly one running client other than not leads,
// failing if two ever lead at once while it waits; it returns its index.
func (cl *cluster) waitLeader(not int) int {
	cl.t.Helper()
	var got int
	waitFor(cl.t, "one leader", func() bool {
		ls := cl.leaders()
		if len(ls) > 1 {
			cl.t.Fatalf("nodes %v lead at once", ls)
		}
		if len(ls) == 1 && ls[0] != not {
			got = ls[0]
			return true
		}
		return false
	})
	return got
}

// stop stops client i gracefully.
func (cl *cluster) stop(i int) {
	cl.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	must(cl.t, cl.clients[i].Stop(ctx))
	cl.stopped[i] = true
}

// TestOneLeader: of three nodes, exactly one leads and keeps leading while
// it renews; stopped gracefully, it resigns and another takes over well
// within the lease; cut off from the store, it steps down when its lease
// runs out and another takes over within the lease.
func TestOneLeader(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, open func(int) []store.Store) {
		stores := open(3)
		cl := startCluster(t, stores, rota.Options{})
		first := cl.waitLeader(-1)
		if s := cl.clients[first].ClientStats(); !s.Leader {
			t.Errorf("ClientStats of the leader: %+v", s)
		}
		lead, err := stores[0].GetLeader(context.Background(), "maintenance")
		must(t, err)
		if lead.Node != fmt.Sprintf("n%d", first+1) {
			t.Fatalf("the store names %s the leader; client n%d says it leads", lead.Node, first+1)
		}
		// Several renewals later, still exactly one leader, in the same term.
		renewed := lead.Until.Add(2 * clusterLease)
		waitFor(t, "renewals", func() bool {
			if ls := cl.leaders(); len(ls) != 1 || ls[0] != first {
				t.Fatalf("leaders %v while n%d renews", ls, first+1)
			}
			l, err := stores[0].GetLeader(context.Background(), "maintenance")
			must(t, err)
			if l.Term != lead.Term {
				t.Fatalf("term %d became %d while the leader renewed", lead.Term, l.Term)
			}
			return !l.Until.Before(renewed)
		})

		// A graceful stop resigns: another node leads long before the
		// lease would have run out.
		cl.stop(first)
		stopped := time.Now()
		l, err := stores[0].GetLeader(context.Background(), "maintenance")
		must(t, err)
		if l.HeldBy(lead.Node, lead.Instance, time.Now()) {
			t.Errorf("the stopped leader still holds the lease: %+v", l)
		}
		second := cl.waitLeader(first)
		if d := time.Since(stopped); d > clusterLease {
			t.Errorf("n%d led %s after the leader stopped; want within the lease %s", second+1, d, clusterLease)
		}
		if cl.clients[first].IsLeader() {
			t.Error("a stopped node still says it leads")
		}

		// Cut off from the store, the leader cannot renew: it steps down
		// by itself and the last node takes over within the lease.
		cl.stores[second].lead.Store(true)
		cut := time.Now()
		waitFor(t, "the cut-off leader to step down", func() bool { return !cl.clients[second].IsLeader() })
		third := cl.waitLeader(second)
		if d := time.Since(cut); d > clusterLease+clusterLease/2 {
			t.Errorf("n%d led %s after the leader was cut off; want within about the lease %s", third+1, d, clusterLease)
		}
	})
}

// rescueEvent waits for job id's rescue (running → queued) on one of subs
// and returns the index of the subscription that saw it.
func rescueEvent(t *testing.T, subs []*rota.Subscription, id int64) int {
	t.Helper()
	timer := time.NewTimer(waitTimeout)
	defer timer.Stop()
	cases := make(chan int, len(subs))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for i, sub := range subs {
		go func() {
			for {
				select {
				case <-ctx.Done():
					return
				case e, ok := <-sub.C:
					if !ok {
						return
					}
					if e.JobID == id && e.From == rota.StateRunning && e.To == rota.StateQueued {
						cases <- i
						return
					}
				}
			}
		}()
	}
	select {
	case i := <-cases:
		return i
	case <-timer.C:
		t.Fatalf("job %d was not rescued", id)
		return -1
	}
}

// TestOnlyLeaderRescues: jobs left running by a dead node are rescued by
// the leader, never by another node, also after leadership moved.
func TestOnlyLeaderRescues(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, open func(int) []store.Store) {
		stores := open(2)
		// Short job leases: the rescuer looks every LeaseDuration/2.
		cl := startCluster(t, stores, rota.Options{LeaseDuration: 200 * time.Millisecond})
		subs := make([]*rota.Subscription, len(cl.clients))
		for i, c := range cl.clients {
			subs[i] = c.Subscribe(1000, rota.EventFilter{Kinds: []string{"test.orphan"}})
			t.Cleanup(subs[i].Close)
		}
		// Registered nowhere: the job is queued again after each rescue.
		j := enqueue(t, cl.clients[0], "test.orphan", nil, rota.MaxAttempts(100))
		rounds := func(leader int) {
			t.Helper()
			for round := range 6 {
				// A node claims it and dies: its lease has run out already.
				now := time.Now()
				res, err := stores[0].Claim(context.Background(), store.ClaimParams{Queue: "default", Node: "dead",
					Limit: 1, Kinds: []store.KindLimit{{Kind: "test.orphan", Max: 1}}, Now: now, LeaseUntil: now.Add(-time.Second)})
				claimed := res.Jobs
				if err != nil || len(claimed) != 1 || claimed[0].ID != j.ID {
					t.Fatalf("claim as the dead node: %v %v", ids(claimed), err)
				}
				if by := rescueEvent(t, subs, j.ID); by != leader {
					t.Fatalf("round %d: job %d rescued by n%d; the leader is n%d", round, j.ID, by+1, leader+1)
				}
				waitState(t, cl.clients[0], j.ID, rota.StateQueued)
			}
		}
		leader := cl.waitLeader(-1)
		rounds(leader)

		// Cut the leader off from the lease only (it still reaches the
		// jobs): once it stepped down its rescuer must be stopped, and the
		// new leader rescues.
		cl.stores[leader].lead.Store(true)
		waitFor(t, "the old leader to step down", func() bool { return !cl.clients[leader].IsLeader() })
		rounds(cl.waitLeader(leader))
	})
}

// ids returns the ids of store jobs.
func ids(jobs []*store.Job) []int64 {
	out := make([]int64, len(jobs))
	for i, j := range jobs {
		out[i] = j.ID
	}
	return out
}

// nodeInfo returns node id's row from c.Nodes, or nil.
func nodeInfo(t *testing.T, c *rota.Client, id string) *rota.NodeInfo {
	t.Helper()
	ns, err := c.Nodes(context.Background())
	must(t, err)
	for _, n := range ns {
		if n.ID == id {
			return &n
		}
	}
	return nil
}

// TestNodeRegistry: started nodes are registered with their host, pid,
// queues and kinds, heartbeat, show the leader, go stale when silent, and
// are marked stopped when they stop.
func TestNodeRegistry(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, open func(int) []store.Store) {
		stores := open(2)
		// Heartbeats every 50 ms: a node is stale after 150 ms of silence.
		cl := startCluster(t, stores, rota.Options{
			LeaseDuration: 150 * time.Millisecond,
			Queues:        map[string]rota.QueueConfig{"default": {}, "mail": {MaxWorkers: 2}},
		})
		noop := rota.WorkFunc(func(context.Context, *rota.Job) error { return nil })
		must(t, cl.clients[1].Register("test.mailer", noop))
		leader := cl.waitLeader(-1)
		host, _ := os.Hostname()

		var ns []rota.NodeInfo
		// Alive is part of the wait, not only of the check below: on a
		// loaded machine (the race detector, CI) one heartbeat can come
		// later than the 150 ms that makes a node stale.
		waitFor(t, "both nodes registered and alive, the leader marked, n2's kind heartbeated", func() bool {
			var err error
			ns, err = cl.clients[0].Nodes(context.Background())
			must(t, err)
			return len(ns) == 2 && ns[leader].Leader && slices.Equal(ns[1].Kinds, []string{"test.mailer"}) &&
				ns[0].State == rota.NodeAlive && ns[1].State == rota.NodeAlive
		})
		for i, n := range ns {
			if n.ID != fmt.Sprintf("n%d", i+1) || n.Host != host || n.PID != os.Getpid() || n.State != rota.NodeAlive ||
				!slices.Equal(n.Queues, []string{"default", "mail"}) || n.HeartbeatInterval != 50*time.Millisecond ||
				n.Instance == "" || n.StartedAt.IsZero() || !n.StoppedAt.IsZero() || n.Leader != (i == leader) {
				t.Errorf("node %d: %+v", i, n)
			}
		}
		if ns[0].Instance == ns[1].Instance {
			t.Error("two nodes share an instance id")
		}
		first := ns[0].HeartbeatAt
		waitFor(t, "a heartbeat", func() bool {
			n := nodeInfo(t, cl.clients[1], "n1")
			return n != nil && n.HeartbeatAt.After(first)
		})

		// Silent (its heartbeats fail): stale, then alive again.
		cl.stores[0].beat.Store(true)
		waitFor(t, "n1 stale", func() bool { return nodeInfo(t, cl.clients[1], "n1").State == rota.NodeStale })
		cl.stores[0].beat.Store(false)
		waitFor(t, "n1 alive again", func() bool { return nodeInfo(t, cl.clients[1], "n1").State == rota.NodeAlive })

		// Stopped: marked so, and no longer the leader.
		cl.stop(leader)
		other := 1 - leader
		n := nodeInfo(t, cl.clients[other], fmt.Sprintf("n%d", leader+1))
		if n.State != rota.NodeStopped || n.StoppedAt.IsZero() || n.Leader {
			t.Errorf("after Stop: %+v", n)
		}
		cl.waitLeader(leader)
		waitFor(t, "the other node marked leader", func() bool {
			return nodeInfo(t, cl.clients[other], fmt.Sprintf("n%d", other+1)).Leader
		})
	})
}

// TestLeaderPrunesSilentNodes: the leader deletes the rows of nodes silent
// for NodeRetention when it starts leading (and hourly).
func TestLeaderPrunesSilentNodes(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	now := time.Now()
	for id, silent := range map[string]time.Duration{"gone": rota.NodeRetention + time.Minute, "recent": rota.NodeRetention - time.Minute} {
		_, err := st.RegisterNode(context.Background(), store.Node{ID: id, Instance: "x", StartedAt: now.Add(-silent)})
		must(t, err)
	}
	c := newClient(t, st, rota.Options{NodeID: "pruner"})
	start(t, c)
	waitFor(t, "the silent node pruned", func() bool {
		ns, err := c.Nodes(context.Background())
		must(t, err)
		var got []string
		for _, n := range ns {
			got = append(got, n.ID)
		}
		return slices.Equal(got, []string{"pruner", "recent"})
	})
}

// TestDuplicateNodeID: a node id already used by a live process on another
// host (or by a running process of this host) is reported at start; a
// process that registers the id of a running node is reported by that
// node's next heartbeat. A stale row, or one of a dead process of this
// host (a restart after a crash), is not reported.
func TestDuplicateNodeID(t *testing.T) {
	t.Parallel()
	host, _ := os.Hostname()
	dead := exec.Command("true")
	must(t, dead.Run())
	deadPID := dead.Process.Pid
	const diag = "another process uses this node id"
	cases := []struct {
		name   string
		prev   store.Node
		report bool
	}{
		{"live on another host", store.Node{Host: "elsewhere", PID: os.Getpid()}, true},
		{"live on this host", store.Node{Host: host, PID: os.Getppid()}, true},
		{"dead on this host", store.Node{Host: host, PID: deadPID}, false},
		{"stale on another host", store.Node{Host: "elsewhere", PID: 1, HeartbeatAt: time.Now().Add(-time.Hour)}, false},
		{"stopped on another host", store.Node{Host: "elsewhere", PID: 1, StoppedAt: time.Now()}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			st := openStore(t)
			prev := tc.prev
			prev.ID, prev.Instance, prev.HeartbeatInterval, prev.StartedAt = "dup", "earlier", 10*time.Second, time.Now()
			if !prev.HeartbeatAt.IsZero() {
				prev.StartedAt = prev.HeartbeatAt
			}
			_, err := st.RegisterNode(context.Background(), prev)
			must(t, err)
			if !prev.StoppedAt.IsZero() {
				must(t, st.StopNode(context.Background(), "dup", "earlier", prev.StoppedAt))
			}
			var logs logBuffer
			c := newClient(t, st, rota.Options{NodeID: "dup", LeaseDuration: 150 * time.Millisecond,
				Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			start(t, c)
			// The node's first heartbeat comes after its registration and
			// the report, from the same goroutine.
			waitFor(t, "the node registered and heartbeating", func() bool {
				n := nodeInfo(t, c, "dup")
				return n != nil && n.Instance != "earlier" && n.HeartbeatAt.After(n.StartedAt)
			})
			if got := strings.Contains(logs.String(), diag); got != tc.report {
				t.Errorf("reported %v, want %v; log:\n%s", got, tc.report, logs.String())
			}
		})
	}

	t.Run("registered while running", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "rota.db")
		var logs logBuffer
		a := newClient(t, openStoreAt(t, path), rota.Options{NodeID: "dup", LeaseDuration: 150 * time.Millisecond,
			Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		start(t, a)
		waitFor(t, "a registered", func() bool { return nodeInfo(t, a, "dup") != nil })
		b := newClient(t, openStoreAt(t, path), rota.Options{NodeID: "dup"})
		start(t, b)
		waitFor(t, "a to report the other process", func() bool {
			return strings.Contains(logs.String(), "another process registered this node id")
		})
		if n := strings.Count(logs.String(), "another process registered this node id"); n != 1 {
			t.Errorf("reported %d times, want once", n)
		}
	})
}

// TestLeadershipIsLogged: taking, losing and resigning the leadership are
// logged at info.
func TestLeadershipIsLogged(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "rota.db")
	var logs [2]logBuffer
	var cs [2]*rota.Client
	var sts [2]*cutStore
	for i := range cs {
		sts[i] = &cutStore{Store: openStoreAt(t, path)}
		cs[i] = newClient(t, sts[i], rota.Options{NodeID: fmt.Sprintf("n%d", i+1), LeaderLease: 300 * time.Millisecond,
			Logger: slog.New(slog.NewTextHandler(&logs[i], &slog.HandlerOptions{Level: slog.LevelInfo}))})
	}
	start(t, cs[0])
	waitFor(t, "n1 to lead", cs[0].IsLeader)
	start(t, cs[1])
	waitFor(t, "n2 to see n1 lead", func() bool { return strings.Contains(logs[1].String(), "another node leads") })
	sts[0].lead.Store(true)
	waitFor(t, "n2 to lead", cs[1].IsLeader)
	waitFor(t, "n1 to step down", func() bool { return !cs[0].IsLeader() })
	sts[0].lead.Store(false)
	must(t, cs[1].Stop(context.Background()))
	waitFor(t, "n1 to lead again", cs[0].IsLeader)
	for i, want := range [][]string{
		{"level=INFO msg=\"rota: this node leads\" lease=maintenance term=1",
			"level=WARN msg=\"rota: this node no longer leads: its lease ran out without renewal\"",
			"level=INFO msg=\"rota: this node leads\" lease=maintenance term=3"},
		{"level=INFO msg=\"rota: another node leads\" lease=maintenance leader=n1 term=1",
			"level=INFO msg=\"rota: this node leads\" lease=maintenance term=2",
			"level=INFO msg=\"rota: this node resigned its leadership\" lease=maintenance term=2"},
	} {
		if !containsAll(logs[i].String(), want...) {
			t.Errorf("n%d's log lacks some of %q:\n%s", i+1, want, logs[i].String())
		}
	}
}

// TestAbortAcrossNodes aborts, through one node, a job that runs on
// another: the running node hears of it from the store's notification (or,
// on SQLite, its poll of the file), long before its next heartbeat, cancels
// the job's context, and the job ends aborted with the reason.
func TestAbortAcrossNodes(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(n int) []store.Store) {
		stores := open(2)
		const lease = time.Minute // heartbeats every 20 s: too late to be what delivers the abort
		started, cancelled := make(chan int64, 1), make(chan time.Time, 1)
		runner := newClient(t, stores[0], rota.Options{NodeID: "runner", LeaseDuration: lease})
		must(t, runner.Register("test.long", rota.WorkFunc(func(ctx context.Context, job *rota.Job) error {
			started <- job.ID
			<-ctx.Done()
			cancelled <- time.Now()
			return ctx.Err()
		})))
		start(t, runner)
		api := newClient(t, stores[1], rota.Options{NodeID: "api", LeaseDuration: lease})
		j := enqueue(t, api, "test.long", nil)
		select {
		case id := <-started:
			if id != j.ID {
				t.Fatalf("started job %d, want %d", id, j.ID)
			}
		case <-time.After(waitTimeout):
			t.Fatal("the job did not start")
		}
		asked := time.Now()
		if _, err := api.Abort(context.Background(), j.ID, "stop from the api node"); err != nil {
			t.Fatal(err)
		}
		select {
		case at := <-cancelled:
			if d := at.Sub(asked); d >= lease/3 {
				t.Errorf("the abort reached the running node after %s, not before its heartbeat", d)
			} else {
				t.Logf("the abort reached the running node in %s", d)
			}
		case <-time.After(waitTimeout):
			t.Fatal("the running job's context was not cancelled")
		}
		got := waitState(t, runner, j.ID, rota.StateAborted)
		if got.LastError != "stop from the api node" {
			t.Errorf("last error %q, want the abort's reason", got.LastError)
		}
	})
}

// TestLeaderTasks runs Options.LeaderTasks on the leader only: the task of
// the first node runs while it leads and ends when it stops; the second
// node's task starts when it takes over.
func TestLeaderTasks(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "rota.db")
	var running [2]atomic.Int32
	var starts [2]atomic.Int32
	var cs [2]*rota.Client
	for i := range cs {
		task := func(ctx context.Context) {
			starts[i].Add(1)
			running[i].Add(1)
			defer running[i].Add(-1)
			<-ctx.Done()
		}
		cs[i] = newClient(t, openStoreAt(t, path), rota.Options{NodeID: fmt.Sprintf("n%d", i+1),
			LeaderLease: 300 * time.Millisecond, LeaderTasks: []func(context.Context){task}})
	}
	start(t, cs[0])
	waitFor(t, "n1 to lead", cs[0].IsLeader)
	waitFor(t, "n1's task to start", func() bool { return running[0].Load() == 1 })
	start(t, cs[1])
	must(t, cs[0].Stop(context.Background()))
	if n := running[0].Load(); n != 0 {
		t.Fatalf("n1's task still runs after n1 stopped (%d)", n)
	}
	waitFor(t, "n2 to lead", cs[1].IsLeader)
	waitFor(t, "n2's task to start", func() bool { return running[1].Load() == 1 })
	if s := starts[0].Load(); s != 1 {
		t.Errorf("n1's task started %d times, want 1", s)
	}
}

func TestLeaderTasksNil(t *testing.T) {
	t.Parallel()
	_, err := rota.New(openStore(t), rota.Options{LeaderTasks: []func(context.Context){func(context.Context) {}, nil}})
	var fe *rota.FieldError
	if !errors.As(err, &fe) || fe.Field != "leader_tasks[1]" {
		t.Fatalf("New with a nil leader task: %v", err)
	}
}
