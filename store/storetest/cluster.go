package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rotahq/rota/store"
)

// leaseName is the leader lease the tests compete for.
const leaseName = "maintenance"

// leadParams asks for leaseName for node's instance "i-<node>" from now until now+d.
func leadParams(node string, now time.Time, d time.Duration) store.LeadParams {
	return store.LeadParams{Name: leaseName, Node: node, Instance: "i-" + node, Now: now, Until: now.Add(d)}
}

// lead calls Lead and fails the test on error.
func lead(t *testing.T, s store.Store, p store.LeadParams) store.Leader {
	t.Helper()
	l, err := s.Lead(t.Context(), p)
	if err != nil {
		t.Fatalf("Lead(%s/%s at %v): %v", p.Node, p.Instance, p.Now, err)
	}
	return l
}

// wantLeader fails the test unless l names the holder node (instance
// "i-<node>") with the term and the deadline given.
func wantLeader(t *testing.T, what string, l store.Leader, node string, term int64, until time.Time) {
	t.Helper()
	if l.Name != leaseName || l.Node != node || l.Instance != "i-"+node || l.Term != term {
		t.Errorf("%s: leader %+v, want %s (instance i-%s) in term %d", what, l, node, node, term)
	}
	sameTime(t, what+": Until", l.Until, until)
}

// getLeader calls GetLeader and fails the test on error.
func getLeader(t *testing.T, s store.Store) store.Leader {
	t.Helper()
	l, err := s.GetLeader(t.Context(), leaseName)
	if err != nil {
		t.Fatalf("GetLeader: %v", err)
	}
	return l
}

func leaderTests() []test {
	return []test{
		{"NeverTaken", func(t *testing.T, s store.Store) {
			l := getLeader(t, s)
			if l.Name != leaseName || l.Node != "" || l.Instance != "" || l.Term != 0 || l.HeldAt(base()) {
				t.Errorf("lease never taken: %+v", l)
			}
		}},
		{"TakeFree", func(t *testing.T, s store.Store) {
			l := lead(t, s, leadParams("n1", base(), 10*time.Second))
			wantLeader(t, "Lead", l, "n1", 1, at(10*time.Second))
			if !l.HeldBy("n1", "i-n1", at(9*time.Second)) || l.HeldAt(at(10*time.Second)) {
				t.Errorf("HeldBy/HeldAt disagree with Until %v", l.Until)
			}
			wantLeader(t, "GetLeader", getLeader(t, s), "n1", 1, at(10*time.Second))
		}},
		{"Renew", func(t *testing.T, s store.Store) {
			lead(t, s, leadParams("n1", base(), 10*time.Second))
			l := lead(t, s, leadParams("n1", at(5*time.Second), 10*time.Second))
			wantLeader(t, "renewed before expiry", l, "n1", 1, at(15*time.Second))
			// Nobody took it after it expired: the holder renews in the same term.
			l = lead(t, s, leadParams("n1", at(20*time.Second), 10*time.Second))
			wantLeader(t, "renewed after expiry", l, "n1", 1, at(30*time.Second))
			wantLeader(t, "GetLeader", getLeader(t, s), "n1", 1, at(30*time.Second))
		}},
		{"TakeoverOnlyAfterExpiry", func(t *testing.T, s store.Store) {
			lead(t, s, leadParams("n1", base(), 10*time.Second))
			l := lead(t, s, leadParams("n2", at(10*time.Second-time.Microsecond), 10*time.Second))
			wantLeader(t, "a candidate before expiry", l, "n1", 1, at(10*time.Second))
			// The lease holds while now < Until: at Until it is free.
			l = lead(t, s, leadParams("n2", at(10*time.Second), 10*time.Second))
			wantLeader(t, "a candidate at expiry", l, "n2", 2, at(20*time.Second))
			wantLeader(t, "GetLeader", getLeader(t, s), "n2", 2, at(20*time.Second))
		}},
		{"StaleLeaderCannotRenew", func(t *testing.T, s store.Store) {
			lead(t, s, leadParams("n1", base(), 10*time.Second))
			lead(t, s, leadParams("n2", at(11*time.Second), 10*time.Second))
			// n1 comes back (after a pause, or with a clock behind) and
			// tries to renew: n2 keeps the lease.
			for _, now := range []time.Time{at(12 * time.Second), at(5 * time.Second)} {
				l := lead(t, s, leadParams("n1", now, 10*time.Second))
				wantLeader(t, fmt.Sprintf("n1 renewing at %v", now.Sub(base())), l, "n2", 2, at(21*time.Second))
			}
			if ok, err := s.Resign(t.Context(), leaseName, "n1", "i-n1"); err != nil || ok {
				t.Errorf("Resign by the stale leader = %v, %v; want false", ok, err)
			}
			wantLeader(t, "GetLeader", getLeader(t, s), "n2", 2, at(21*time.Second))
		}},
		{"SameNodeOtherInstance", func(t *testing.T, s store.Store) {
			lead(t, s, leadParams("n1", base(), 10*time.Second))
			p := leadParams("n1", at(time.Second), 10*time.Second)
			p.Instance = "restarted"
			if l := lead(t, s, p); l.Instance != "i-n1" || l.Term != 1 {
				t.Errorf("another instance of the node took the lease before expiry: %+v", l)
			}
			if ok, err := s.Resign(t.Context(), leaseName, "n1", "restarted"); err != nil || ok {
				t.Errorf("Resign by another instance = %v, %v; want false", ok, err)
			}
			p.Now, p.Until = at(10*time.Second), at(20*time.Second)
			if l := lead(t, s, p); l.Node != "n1" || l.Instance != "restarted" || l.Term != 2 {
				t.Errorf("after expiry: %+v, want n1/restarted in term 2", l)
			}
		}},
		{"Resign", func(t *testing.T, s store.Store) {
			ch := s.Subscribe(t.Context())
			lead(t, s, leadParams("n1", base(), 10*time.Second))
			if ok, err := s.Resign(t.Context(), leaseName, "n2", "i-n2"); err != nil || ok {
				t.Errorf("Resign by a node that does not lead = %v, %v; want false", ok, err)
			}
			if ok, err := s.Resign(t.Context(), "other", "n1", "i-n1"); err != nil || ok {
				t.Errorf("Resign of a lease never taken = %v, %v; want false", ok, err)
			}
			wantLeader(t, "after refused resignations", getLeader(t, s), "n1", 1, at(10*time.Second))
			if ok, err := s.Resign(t.Context(), leaseName, "n1", "i-n1"); err != nil || !ok {
				t.Fatalf("Resign by the leader = %v, %v; want true", ok, err)
			}
			waitNotice(t, ch, "NoticeLeaderFreed", func(n store.Notice) bool {
				return n.Type == store.NoticeLeaderFreed && n.Name == leaseName
			})
			l := getLeader(t, s)
			if l.Node != "" || l.Instance != "" || l.HeldAt(at(time.Second)) {
				t.Errorf("after resigning: %+v, want free", l)
			}
			if ok, err := s.Resign(t.Context(), leaseName, "n1", "i-n1"); err != nil || ok {
				t.Errorf("second Resign = %v, %v; want false", ok, err)
			}
			// Free at once, long before the old deadline; a new term.
			l = lead(t, s, leadParams("n2", at(time.Second), 10*time.Second))
			wantLeader(t, "taken after resignation", l, "n2", 2, at(11*time.Second))
			// The old leader taking it back is a new term too.
			if _, err := s.Resign(t.Context(), leaseName, "n2", "i-n2"); err != nil {
				t.Fatal(err)
			}
			l = lead(t, s, leadParams("n1", at(2*time.Second), 10*time.Second))
			wantLeader(t, "taken back", l, "n1", 3, at(12*time.Second))
		}},
		{"Names", func(t *testing.T, s store.Store) {
			lead(t, s, leadParams("n1", base(), 10*time.Second))
			p := leadParams("n2", base(), 10*time.Second)
			p.Name = "schedules"
			if l := lead(t, s, p); l.Name != "schedules" || l.Node != "n2" || l.Term != 1 {
				t.Errorf("another lease: %+v, want n2 in term 1", l)
			}
			wantLeader(t, "the first lease", getLeader(t, s), "n1", 1, at(10*time.Second))
		}},
		{"Race", func(t *testing.T, s store.Store) {
			leaderRace(t, s, s)
		}},
		{"Validation", func(t *testing.T, s store.Store) {
			bad := map[string]store.LeadParams{
				"name":  {Node: "n1", Now: base(), Until: at(time.Second)},
				"node":  {Name: leaseName, Now: base(), Until: at(time.Second)},
				"until": {Name: leaseName, Node: "n1", Now: base(), Until: base()},
			}
			for field, p := range bad {
				if _, err := s.Lead(t.Context(), p); err == nil {
					t.Errorf("Lead without a valid %s: no error", field)
				} else if !names(field, err.Error()) {
					t.Errorf("Lead without a valid %s: error %q does not name it", field, err)
				}
			}
			if l := getLeader(t, s); l.Term != 0 {
				t.Errorf("a refused Lead stored %+v", l)
			}
			if _, err := s.Resign(t.Context(), "", "n1", "i"); err == nil {
				t.Error("Resign without a name: no error")
			}
		}},
	}
}

// names reports whether the error message s names field, in any case.
func names(field, s string) bool {
	return strings.Contains(strings.ToLower(s), field)
}

// leaderRace makes 32 candidates, alternating between stores a and b, race
// for the free lease at one instant: exactly one must win, and every
// answer and both stores must name the same winner.
func leaderRace(t *testing.T, a, b store.Store) {
	t.Helper()
	const candidates = 32
	got := make([]store.Leader, candidates)
	errs := make([]error, candidates)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range candidates {
		s := a
		if i%2 == 1 {
			s = b
		}
		wg.Go(func() {
			<-start
			got[i], errs[i] = s.Lead(context.Background(), leadParams(fmt.Sprintf("n%02d", i), base(), 10*time.Second))
		})
	}
	close(start)
	wg.Wait()
	var winners []string
	for i, l := range got {
		if errs[i] != nil {
			t.Fatalf("candidate %d: %v", i, errs[i])
		}
		if l.Node == fmt.Sprintf("n%02d", i) {
			winners = append(winners, l.Node)
		}
	}
	if len(winners) != 1 {
		t.Fatalf("%d candidates won the lease (%v), want exactly 1", len(winners), winners)
	}
	for i, l := range got {
		if l.Node != winners[0] || l.Term != 1 {
			t.Errorf("candidate %d was told %s leads in term %d; %s won term 1", i, l.Node, l.Term, winners[0])
		}
	}
	for _, s := range []store.Store{a, b} {
		wantLeader(t, "GetLeader after the race", getLeader(t, s), winners[0], 1, at(10*time.Second))
	}
}

// testNode returns a node registration started at start.
func testNode(id, instance string, start time.Time) store.Node {
	return store.Node{
		ID: id, Instance: instance, Host: "host-" + id, PID: 4242, Version: "v1.2.3",
		Queues: []string{"default", "mail"}, Kinds: []string{"a.kind", "b.kind"},
		HeartbeatInterval: 10 * time.Second, StartedAt: start,
	}
}

// nodes calls Nodes and fails the test on error.
func nodes(t *testing.T, s store.Store) []store.Node {
	t.Helper()
	ns, err := s.Nodes(t.Context())
	if err != nil {
		t.Fatalf("Nodes: %v", err)
	}
	return ns
}

// register calls RegisterNode and fails the test on error.
func register(t *testing.T, s store.Store, n store.Node) *store.Node {
	t.Helper()
	prev, err := s.RegisterNode(t.Context(), n)
	if err != nil {
		t.Fatalf("RegisterNode(%s/%s): %v", n.ID, n.Instance, err)
	}
	return prev
}

// wantNode fails the test unless got is want as stored: times in UTC,
// HeartbeatAt and StoppedAt as given.
func wantNode(t *testing.T, what string, got, want store.Node, heartbeat, stopped time.Time) {
	t.Helper()
	if got.ID != want.ID || got.Instance != want.Instance || got.Host != want.Host || got.PID != want.PID ||
		got.Version != want.Version || !slices.Equal(got.Queues, want.Queues) || !slices.Equal(got.Kinds, want.Kinds) ||
		got.HeartbeatInterval != want.HeartbeatInterval {
		t.Errorf("%s: node %+v, want %+v", what, got, want)
	}
	sameTime(t, what+": StartedAt", got.StartedAt, micro(want.StartedAt))
	sameTime(t, what+": HeartbeatAt", got.HeartbeatAt, micro(heartbeat))
	sameTime(t, what+": StoppedAt", got.StoppedAt, micro(stopped))
}

func nodeTests() []test {
	return []test{
		{"Register", func(t *testing.T, s store.Store) {
			if ns := nodes(t, s); len(ns) != 0 {
				t.Fatalf("a new store lists nodes %+v", ns)
			}
			n1 := testNode("n1", "a", base())
			if prev := register(t, s, n1); prev != nil {
				t.Errorf("first registration replaced %+v", prev)
			}
			n0 := testNode("n0", "z", at(time.Second))
			n0.Queues, n0.Kinds, n0.Host, n0.Version = nil, nil, "", ""
			register(t, s, n0)
			ns := nodes(t, s)
			if len(ns) != 2 {
				t.Fatalf("Nodes = %+v, want n0 and n1", ns)
			}
			wantNode(t, "n0", ns[0], n0, at(time.Second), time.Time{})
			wantNode(t, "n1", ns[1], n1, base(), time.Time{})
		}},
		{"RegisterAgain", func(t *testing.T, s store.Store) {
			first := testNode("n1", "a", base())
			register(t, s, first)
			if err := s.HeartbeatNode(t.Context(), store.NodeHeartbeat{ID: "n1", Instance: "a", Kinds: []string{"x"}, Now: at(time.Minute)}); err != nil {
				t.Fatal(err)
			}
			second := testNode("n1", "b", at(2*time.Minute))
			second.PID, second.Host = 77, "other-host"
			prev := register(t, s, second)
			if prev == nil {
				t.Fatal("RegisterNode did not return the row it replaced")
			}
			first.Kinds = []string{"x"}
			wantNode(t, "replaced row", *prev, first, at(time.Minute), time.Time{})
			ns := nodes(t, s)
			if len(ns) != 1 {
				t.Fatalf("Nodes = %+v, want one row per id", ns)
			}
			wantNode(t, "new row", ns[0], second, at(2*time.Minute), time.Time{})
		}},
		{"Heartbeat", func(t *testing.T, s store.Store) {
			n := testNode("n1", "a", base())
			register(t, s, n)
			if err := s.HeartbeatNode(t.Context(), store.NodeHeartbeat{ID: "n1", Instance: "a", Kinds: []string{"c.kind"}, Now: at(10 * time.Second)}); err != nil {
				t.Fatal(err)
			}
			n.Kinds = []string{"c.kind"}
			wantNode(t, "after a heartbeat", nodes(t, s)[0], n, at(10*time.Second), time.Time{})

			err := s.HeartbeatNode(t.Context(), store.NodeHeartbeat{ID: "n1", Instance: "b", Now: at(20 * time.Second)})
			wantErr(t, "heartbeat of another instance", err, store.ErrConflict)
			err = s.HeartbeatNode(t.Context(), store.NodeHeartbeat{ID: "ghost", Instance: "a", Now: at(20 * time.Second)})
			wantErr(t, "heartbeat of an unknown node", err, store.ErrNotFound)
			wantNode(t, "after refused heartbeats", nodes(t, s)[0], n, at(10*time.Second), time.Time{})
		}},
		{"Stop", func(t *testing.T, s store.Store) {
			n := testNode("n1", "a", base())
			register(t, s, n)
			wantErr(t, "stop by another instance", s.StopNode(t.Context(), "n1", "b", at(time.Second)), store.ErrConflict)
			wantErr(t, "stop of an unknown node", s.StopNode(t.Context(), "ghost", "a", at(time.Second)), store.ErrNotFound)
			if err := s.StopNode(t.Context(), "n1", "a", at(time.Minute)); err != nil {
				t.Fatal(err)
			}
			wantNode(t, "stopped", nodes(t, s)[0], n, at(time.Minute), at(time.Minute))
			// A restart registers the id again: running, not stopped.
			again := testNode("n1", "c", at(2*time.Minute))
			if prev := register(t, s, again); prev == nil || prev.StoppedAt.IsZero() {
				t.Errorf("the replaced row %+v should be the stopped one", prev)
			}
			wantNode(t, "restarted", nodes(t, s)[0], again, at(2*time.Minute), time.Time{})
		}},
		{"Prune", func(t *testing.T, s store.Store) {
			register(t, s, testNode("old", "a", base()))
			register(t, s, testNode("edge", "b", at(time.Hour)))
			register(t, s, testNode("new", "c", base()))
			if err := s.HeartbeatNode(t.Context(), store.NodeHeartbeat{ID: "new", Instance: "c", Now: at(2 * time.Hour)}); err != nil {
				t.Fatal(err)
			}
			n, err := s.PruneNodes(t.Context(), at(time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			var left []string
			for _, node := range nodes(t, s) {
				left = append(left, node.ID)
			}
			if n != 1 || !slices.Equal(left, []string{"edge", "new"}) {
				t.Errorf("PruneNodes = %d, left %v; want 1, [edge new] (a heartbeat at the cutoff stays)", n, left)
			}
		}},
		{"Validation", func(t *testing.T, s store.Store) {
			good := testNode("n1", "a", base())
			bad := map[string]func(*store.Node){
				"id":                 func(n *store.Node) { n.ID = "" },
				"instance":           func(n *store.Node) { n.Instance = "" },
				"started_at":         func(n *store.Node) { n.StartedAt = time.Time{} },
				"heartbeat_interval": func(n *store.Node) { n.HeartbeatInterval = -time.Second },
			}
			for field, change := range bad {
				n := good
				change(&n)
				if _, err := s.RegisterNode(t.Context(), n); err == nil || !names(field, err.Error()) {
					t.Errorf("RegisterNode with a bad %s: error %v, want one naming it", field, err)
				}
			}
			if ns := nodes(t, s); len(ns) != 0 {
				t.Errorf("refused registrations stored %+v", ns)
			}
			register(t, s, good)
			if err := s.HeartbeatNode(t.Context(), store.NodeHeartbeat{ID: "n1", Instance: "a"}); err == nil {
				t.Error("a heartbeat without a time: no error")
			}
			if err := s.StopNode(t.Context(), "", "a", base()); err == nil {
				t.Error("StopNode without an id: no error")
			}
		}},
	}
}

// RunShared runs the tests of several nodes on one database: open returns
// two fresh, migrated stores on the same database (as two processes
// would open it), and arranges for both to be closed.
func RunShared(t *testing.T, open func(t *testing.T) (a, b store.Store)) {
	tests := []struct {
		name string
		fn   func(t *testing.T, a, b store.Store)
	}{
		{"LeaderRace", func(t *testing.T, a, b store.Store) { leaderRace(t, a, b) }},
		{"Takeover", func(t *testing.T, a, b store.Store) {
			lead(t, a, leadParams("n1", base(), 10*time.Second))
			if l := lead(t, b, leadParams("n2", at(5*time.Second), 10*time.Second)); l.Node != "n1" {
				t.Errorf("b took a held lease: %+v", l)
			}
			wantLeader(t, "takeover after expiry", lead(t, b, leadParams("n2", at(10*time.Second), 10*time.Second)), "n2", 2, at(20*time.Second))
			wantLeader(t, "the stale leader's renewal", lead(t, a, leadParams("n1", at(11*time.Second), 10*time.Second)), "n2", 2, at(20*time.Second))
		}},
		{"ResignReachesOthers", func(t *testing.T, a, b store.Store) {
			lead(t, a, leadParams("n1", base(), time.Hour))
			ch := b.Subscribe(t.Context())
			if ok, err := a.Resign(t.Context(), leaseName, "n1", "i-n1"); err != nil || !ok {
				t.Fatalf("Resign = %v, %v", ok, err)
			}
			// Another process learns of it as the lease freed, or (a store
			// without cross-process notices) as a change to re-check.
			waitNotice(t, ch, "NoticeLeaderFreed or NoticeChanged", func(n store.Notice) bool {
				return n.Type == store.NoticeLeaderFreed && n.Name == leaseName || n.Type == store.NoticeChanged
			})
			wantLeader(t, "taken by b", lead(t, b, leadParams("n2", at(time.Second), time.Hour)), "n2", 2, at(time.Second+time.Hour))
		}},
		{"Nodes", func(t *testing.T, a, b store.Store) {
			n := testNode("n1", "a", base())
			register(t, a, n)
			if err := b.HeartbeatNode(t.Context(), store.NodeHeartbeat{ID: "n1", Instance: "a", Kinds: n.Kinds, Now: at(time.Second)}); err != nil {
				t.Fatal(err)
			}
			ns := nodes(t, b)
			if len(ns) != 1 {
				t.Fatalf("b lists %+v", ns)
			}
			wantNode(t, "seen from b", ns[0], n, at(time.Second), time.Time{})
			if prev := register(t, b, testNode("n1", "b", at(time.Minute))); prev == nil || prev.Instance != "a" {
				t.Errorf("b's registration replaced %+v, want instance a's row", prev)
			}
			err := a.HeartbeatNode(t.Context(), store.NodeHeartbeat{ID: "n1", Instance: "a", Now: at(2 * time.Minute)})
			if !errors.Is(err, store.ErrConflict) {
				t.Errorf("a's heartbeat after b took the id: %v, want ErrConflict", err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a, b := open(t)
			tc.fn(t, a, b)
		})
	}
}
