package rota

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"syscall"
	"time"

	"github.com/rotahq/rota/internal/version"
	"github.com/rotahq/rota/store"
)

// NodeRetention is how long the leader keeps the row of a node that went
// silent (stopped or died) in the node registry before pruning it.
const NodeRetention = time.Hour

// NodeStaleBeats is how many heartbeat intervals a node may miss before it
// is shown as stale.
const NodeStaleBeats = 3

// NodeState tells whether a registered node runs.
type NodeState string

// Node states, judged from the node's row in the registry.
const (
	// NodeAlive: it heartbeated within NodeStaleBeats heartbeat intervals.
	NodeAlive NodeState = "alive"
	// NodeStale: silent for longer; it died, hangs, or cannot reach the store.
	NodeStale NodeState = "stale"
	// NodeStopped: it stopped gracefully.
	NodeStopped NodeState = "stopped"
)

// NodeInfo is a registered node as Client.Nodes shows it.
type NodeInfo struct {
	store.Node
	State NodeState `json:"state"`
	// Leader: this node (this very process instance) holds the leader
	// lease now, so it runs the rescuer and the pruner.
	Leader bool `json:"leader"`
}

// nodeInfoJSON is NodeInfo as JSON, as the HTTP API writes it: the
// heartbeat interval as a duration string.
type nodeInfoJSON struct {
	plainNode
	HeartbeatInterval string    `json:"heartbeat_interval"`
	State             NodeState `json:"state"`
	Leader            bool      `json:"leader"`
}

type plainNode store.Node // store.Node, in case it gains JSON methods

// MarshalJSON writes n as the HTTP API does.
func (n NodeInfo) MarshalJSON() ([]byte, error) {
	return json.Marshal(nodeInfoJSON{plainNode(n.Node), n.HeartbeatInterval.String(), n.State, n.Leader})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (n *NodeInfo) UnmarshalJSON(b []byte) error {
	var v nodeInfoJSON
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	d, err := time.ParseDuration(v.HeartbeatInterval)
	if err != nil {
		return fmt.Errorf("rota: node %q: heartbeat_interval: %w", v.ID, err)
	}
	*n = NodeInfo{Node: store.Node(v.plainNode), State: v.State, Leader: v.Leader}
	n.HeartbeatInterval = d
	return nil
}

// NodeStateAt judges n's state at now.
func NodeStateAt(n store.Node, now time.Time) NodeState {
	if !n.StoppedAt.IsZero() {
		return NodeStopped
	}
	interval := n.HeartbeatInterval
	if interval <= 0 {
		interval = DefaultLeaseDuration / 3
	}
	if now.Sub(n.HeartbeatAt) > NodeStaleBeats*interval {
		return NodeStale
	}
	return NodeAlive
}

// Nodes lists the nodes in the store's node registry, by id, with their
// state judged by this client's clock and the leader marked. Nodes silent
// for NodeRetention are pruned by the leader.
func (c *Client) Nodes(ctx context.Context) ([]NodeInfo, error) {
	ns, err := c.store.Nodes(ctx)
	if err != nil {
		return nil, fmt.Errorf("rota: nodes: %w", err)
	}
	lead, err := c.store.GetLeader(ctx, maintenanceLease)
	if err != nil {
		return nil, fmt.Errorf("rota: nodes: %w", err)
	}
	now := c.now()
	out := make([]NodeInfo, len(ns))
	for i, n := range ns {
		out[i] = NodeInfo{Node: n, State: NodeStateAt(n, now), Leader: lead.HeldBy(n.ID, n.Instance, now)}
	}
	return out, nil
}

// IsLeader reports whether this client's node leads now: it holds the
// leader lease and runs the leader-only maintenance (rescuer, pruner).
func (c *Client) IsLeader() bool {
	n := c.runningNode()
	return n != nil && n.lead.leading()
}

// newInstance returns a random id for one start of a node.
func newInstance() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return hex.EncodeToString(b)
}

// processAlive reports whether a process with pid runs on this host (or
// may: when it cannot tell, it says yes). A zombie does not run: a node
// killed with SIGKILL stays one until its parent reaps it, which a
// supervisor that does not reap promptly may never do.
func processAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	err = p.Signal(syscall.Signal(0))
	if err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	return !zombie(pid)
}

// zombie reports whether /proc says pid has exited and waits to be reaped
// (state Z, or X while it is being reaped); false when it cannot tell.
func zombie(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// pid (comm) state ...: comm may hold spaces and parentheses.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 || i+2 >= len(stat) {
		return false
	}
	return stat[i+2] == 'Z' || stat[i+2] == 'X'
}

// presence keeps this node's row in the node registry: it registers at
// start, heartbeats every LeaseDuration/3 with the kinds it serves, and
// marks the node stopped when it stops gracefully.
type presence struct {
	n        *node
	interval time.Duration
	host     string
	pid      int
	version  string

	registered bool
	// first is closed once the first registration was tried (whether it
	// succeeded or not).
	first chan struct{}
	// rival is the instance of another process that took this node's id,
	// already reported.
	rival string
}

func newPresence(n *node) *presence {
	host, _ := os.Hostname()
	return &presence{n: n, interval: n.lease / 3, host: host, pid: os.Getpid(), version: version.Read().Version,
		first: make(chan struct{})}
}

// run registers the node, heartbeats until ctx ends, then marks it
// stopped. It heartbeats at once when remote workers start taking a kind
// through the client, so that the registry shows the kind served without
// waiting for the next interval.
func (p *presence) run(ctx context.Context) {
	p.register(ctx)
	close(p.first)
	t := time.NewTicker(p.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			p.stop(ctx)
			return
		case <-t.C:
		case <-p.n.c.remote.fresh:
		}
		if !p.registered {
			p.register(ctx)
			continue
		}
		p.heartbeat(ctx)
	}
}

// register writes the node's row. If the row it replaces belongs to
// another live process (another host, or a pid of this host that runs), two
// processes share the node id: that is logged as an error.
func (p *presence) register(ctx context.Context) {
	now := p.n.c.now()
	prev, err := p.n.store.RegisterNode(ctx, store.Node{
		ID: p.n.id, Instance: p.n.instance, Host: p.host, PID: p.pid, Version: p.version,
		Queues: slices.Sorted(maps.Keys(p.n.c.opts.Queues)), Kinds: p.n.c.servedKinds(),
		HeartbeatInterval: p.interval, StartedAt: now,
	})
	if err != nil {
		if ctx.Err() == nil {
			p.n.log.Error("rota: register node", "err", err)
		}
		return
	}
	p.registered = true
	if prev != nil && prev.Instance != p.n.instance {
		// A restart: the kinds remote workers took through this node
		// before it are still served for the rest of their TTL (their
		// schedules must not be disabled as gone until the workers ask
		// again). Written back at once.
		own := p.n.c.reg.kinds()
		if p.n.c.remote.seed(prev.HeartbeatAt, now, slices.DeleteFunc(slices.Clone(prev.Kinds), func(k string) bool {
			return slices.Contains(own, k)
		})...) {
			p.heartbeat(ctx)
		}
	}
	if prev == nil || prev.Instance == p.n.instance || NodeStateAt(*prev, now) != NodeAlive {
		return
	}
	if prev.Host == p.host && (prev.PID == p.pid || !processAlive(prev.PID)) {
		return // this process again, or a restart after a crash on this host
	}
	p.n.log.Error("rota: another process uses this node id; give each node its own (ROTA_NODE_ID, Options.NodeID)",
		"node", p.n.id, "other_host", prev.Host, "other_pid", prev.PID, "other_started_at", prev.StartedAt,
		"other_heartbeat_at", prev.HeartbeatAt)
}

// heartbeat refreshes the node's row. A row pruned meanwhile is written
// again; a row another process registered since is left to it, and
// reported once.
func (p *presence) heartbeat(ctx context.Context) {
	err := p.n.store.HeartbeatNode(ctx, store.NodeHeartbeat{
		ID: p.n.id, Instance: p.n.instance, Kinds: p.n.c.servedKinds(), Now: p.n.c.now(),
	})
	switch {
	case err == nil:
	case ctx.Err() != nil:
	case errors.Is(err, store.ErrNotFound):
		p.n.log.Warn("rota: this node's registry row was pruned; registering again", "node", p.n.id)
		p.register(ctx)
	case errors.Is(err, store.ErrConflict):
		p.reportRival(ctx)
	default:
		p.n.log.Error("rota: node heartbeat", "err", err)
	}
}

// reportRival logs, once per rival, that another process registered this
// node's id.
func (p *presence) reportRival(ctx context.Context) {
	ns, err := p.n.store.Nodes(ctx)
	if err != nil {
		return
	}
	for _, o := range ns {
		if o.ID != p.n.id || o.Instance == p.rival {
			continue
		}
		p.rival = o.Instance
		p.n.log.Error("rota: another process registered this node id; give each node its own (ROTA_NODE_ID, Options.NodeID)",
			"node", p.n.id, "other_host", o.Host, "other_pid", o.PID, "other_started_at", o.StartedAt)
	}
}

// stop marks the node stopped, unless another process holds its row.
func (p *presence) stop(ctx context.Context) {
	if !p.registered {
		return
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stopWriteTimeout)
	defer cancel()
	err := p.n.store.StopNode(sctx, p.n.id, p.n.instance, p.n.c.now())
	if err != nil && !errors.Is(err, store.ErrConflict) && !errors.Is(err, store.ErrNotFound) {
		p.n.log.Error("rota: mark node stopped", "err", err)
	}
}
