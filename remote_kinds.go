package rota

import (
	"maps"
	"slices"
	"sync"
	"time"
)

// RemoteKindTTL is how long after a remote worker last asked this client
// for a kind (a Lease naming it, a heartbeat or end of a lease of it) the
// node still counts the kind among those it serves, in the node registry
// and for its schedules. A kind with a lease granted by this client that
// has not reached its deadline counts too, however long ago it was asked.
const RemoteKindTTL = 10 * time.Minute

// remoteKinds records the kinds that remote workers take through a client,
// so that a node serves in the registry (and for the schedules that need a
// live node for their kind) the kinds it runs through the HTTP API as well
// as those it runs itself.
type remoteKinds struct {
	mu     sync.Mutex
	seen   map[string]time.Time // kind: when a worker last asked for it
	leased map[int64]leasedKind // job: the kind and deadline of its lease
	// fresh gets a value when a kind is first seen (or seen again after
	// its TTL ran out), so that the node registers it now rather than at
	// its next heartbeat.
	fresh chan struct{}
	// pruneAt is the size of leased at which granted forgets the leases
	// past their deadline (kinds does too; a client that is not started
	// never calls it, and leases whose worker died are never ended).
	pruneAt int
}

// remoteKindsPruneAt is the least size of remoteKinds.leased at which
// granted prunes it.
const remoteKindsPruneAt = 4096

// MaxRemoteKinds bounds the kinds asked for that a client counts as
// served by remote workers at once (see RemoteKindTTL); kinds asked for
// beyond it are not counted until others expire (those of running leases
// it granted are counted regardless). It keeps a worker that names many kinds
// from growing the node's registry row without bound.
const MaxRemoteKinds = 1000

// leasedKind is a remote lease this client granted: its job's kind and its
// deadline as last extended here.
type leasedKind struct {
	kind  string
	until time.Time
}

func newRemoteKinds() *remoteKinds {
	return &remoteKinds{seen: make(map[string]time.Time), leased: make(map[int64]leasedKind), fresh: make(chan struct{}, 1),
		pruneAt: remoteKindsPruneAt}
}

// asked records that a worker asked for kinds at now.
func (r *remoteKinds) asked(now time.Time, kinds ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, k := range kinds {
		r.touch(k, now)
	}
}

// seed counts kinds as last asked for at `at` (a restarted node's remote
// kinds, from its registry row of before), unless that is more than
// RemoteKindTTL before now or the kind was asked for since. It reports
// whether it counted any.
func (r *remoteKinds) seed(at, now time.Time, kinds ...string) bool {
	if now.Sub(at) > RemoteKindTTL {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	any := false
	for _, k := range kinds {
		if _, ok := r.seen[k]; ok || len(r.seen) >= MaxRemoteKinds {
			continue
		}
		r.seen[k] = at
		any = true
	}
	return any
}

// granted records the lease of job id, of kind, until its deadline.
func (r *remoteKinds) granted(id int64, kind string, until, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.leased) >= r.pruneAt {
		r.pruneLeased(now)
		// The next prune when the live leases have doubled: amortized
		// constant per grant.
		r.pruneAt = max(remoteKindsPruneAt, 2*len(r.leased))
	}
	r.leased[id] = leasedKind{kind: kind, until: until}
	r.touch(kind, now)
}

// extended records a heartbeat of job id's lease, now lasting until.
func (r *remoteKinds) extended(id int64, until, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	l, ok := r.leased[id]
	if !ok {
		return // granted by another node, or before a restart
	}
	l.until = until
	r.leased[id] = l
	r.touch(l.kind, now)
}

// ended records the end of job id's lease, of kind.
func (r *remoteKinds) ended(id int64, kind string, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.leased, id)
	r.touch(kind, now)
}

// touch marks kind seen at now; r.mu is held.
func (r *remoteKinds) touch(kind string, now time.Time) {
	last, ok := r.seen[kind]
	if !ok && len(r.seen) >= MaxRemoteKinds {
		r.pruneSeen(now) // make room from the expired ones
		if len(r.seen) >= MaxRemoteKinds {
			return
		}
	}
	if !ok || now.Sub(last) > RemoteKindTTL {
		select {
		case r.fresh <- struct{}{}:
		default:
		}
	}
	if now.After(last) {
		r.seen[kind] = now
	}
}

// kinds returns, sorted, the kinds asked for within RemoteKindTTL before
// now and those of the leases that have not reached their deadline; it
// forgets the others.
func (r *remoteKinds) kinds(now time.Time) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pruneSeen(now)
	r.pruneLeased(now)
	live := make(map[string]bool, len(r.seen))
	for k := range r.seen {
		live[k] = true
	}
	for _, l := range r.leased {
		live[l.kind] = true
	}
	return slices.Sorted(maps.Keys(live))
}

// pruneSeen forgets the kinds last asked for more than RemoteKindTTL
// before now; r.mu is held.
func (r *remoteKinds) pruneSeen(now time.Time) {
	for k, at := range r.seen {
		if now.Sub(at) > RemoteKindTTL {
			delete(r.seen, k)
		}
	}
}

// pruneLeased forgets the leases past their deadline at now; r.mu is held.
func (r *remoteKinds) pruneLeased(now time.Time) {
	for id, l := range r.leased {
		if !l.until.After(now) {
			delete(r.leased, id)
		}
	}
}

// servedKinds are the kinds this client serves: those its workers run
// (registered in Go or bound to a command) and those remote workers take
// through it (see RemoteKindTTL), sorted.
func (c *Client) servedKinds() []string {
	ks := append(c.reg.kinds(), c.remote.kinds(c.now())...)
	slices.Sort(ks)
	return slices.Compact(ks)
}
