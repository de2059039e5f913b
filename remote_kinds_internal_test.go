package rota

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// TestRemoteKinds: a kind counts as served for RemoteKindTTL after a
// worker last asked for it, and while a lease of it granted here has not
// reached its deadline; the first sight of a kind (or the first after its
// TTL) signals fresh.
func TestRemoteKinds(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	r := newRemoteKinds()
	fresh := func() bool {
		select {
		case <-r.fresh:
			return true
		default:
			return false
		}
	}
	check := func(step string, at time.Time, want ...string) {
		t.Helper()
		if got := r.kinds(at); !slices.Equal(got, want) && (len(got) != 0 || len(want) != 0) {
			t.Errorf("%s: kinds at +%s = %v, want %v", step, at.Sub(t0), got, want)
		}
	}
	check("nothing asked", t0)
	r.asked(t0, "b", "a")
	if !fresh() {
		t.Error("asked for new kinds: no fresh signal")
	}
	check("asked", t0, "a", "b")
	r.asked(t0.Add(time.Minute), "a")
	if fresh() {
		t.Error("asked again within the TTL: fresh signal")
	}
	check("b at its TTL", t0.Add(RemoteKindTTL), "a", "b")
	check("b past its TTL", t0.Add(RemoteKindTTL+time.Second), "a")

	// A lease keeps its kind past the TTL until its deadline, which a
	// heartbeat moves; its end forgets it.
	r.granted(7, "long", t0.Add(time.Hour), t0)
	r.extended(7, t0.Add(2*time.Hour), t0.Add(50*time.Minute))
	r.extended(99, t0.Add(3*time.Hour), t0.Add(50*time.Minute)) // not granted here: ignored
	check("lease extended", t0.Add(90*time.Minute), "long")
	check("lease past its deadline", t0.Add(2*time.Hour+time.Second))
	if !fresh() {
		t.Error("granted a new kind: no fresh signal")
	}
	r.granted(8, "short", t0.Add(3*time.Hour+time.Hour), t0.Add(3*time.Hour))
	r.ended(8, "short", t0.Add(3*time.Hour+time.Minute))
	check("lease ended", t0.Add(3*time.Hour+time.Minute+RemoteKindTTL+time.Second))
	if !fresh() {
		t.Error("asked again after the TTL: no fresh signal")
	}
}

// TestRemoteKindsBounded: leases that are never ended (their workers died)
// are forgotten once past their deadline, even if kinds is never called
// (a client that is not started).
func TestRemoteKindsBounded(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	r := newRemoteKinds()
	for i := range 10 * remoteKindsPruneAt {
		at := t0.Add(time.Duration(i) * time.Second)
		r.granted(int64(i), "k", at.Add(30*time.Second), at) // never ended
	}
	if n := len(r.leased); n > 2*remoteKindsPruneAt {
		t.Errorf("%d leases kept, want at most %d: those past their deadline are forgotten", n, 2*remoteKindsPruneAt)
	}
}

// TestRemoteKindsCapped: at most MaxRemoteKinds kinds are counted at once.
func TestRemoteKindsCapped(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	r := newRemoteKinds()
	for i := range MaxRemoteKinds + 10 {
		r.asked(t0, fmt.Sprintf("k%d", i))
	}
	if n := len(r.kinds(t0)); n != MaxRemoteKinds {
		t.Errorf("%d kinds counted, want %d", n, MaxRemoteKinds)
	}
	// Once they expire, new ones count again.
	later := t0.Add(RemoteKindTTL + time.Second)
	r.asked(later, "new")
	if got := r.kinds(later); len(got) != 1 || got[0] != "new" {
		t.Errorf("after the TTL: %v, want [new]", got)
	}
}
