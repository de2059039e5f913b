package store_test

import (
	"testing"
	"time"

	"github.com/rotahq/rota/store"
)

func TestInitialState(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	later := now.Add(time.Hour + 1500*time.Nanosecond)
	cases := []struct {
		name      string
		hold      bool
		runAt     time.Time
		wantState store.State
		wantRunAt time.Time
	}{
		{"now", false, time.Time{}, store.StateQueued, now},
		{"past", false, now.Add(-time.Hour), store.StateQueued, now},
		{"future", false, later, store.StateScheduled, later.Truncate(time.Microsecond)},
		{"held", true, time.Time{}, store.StateReady, now},
		{"held future", true, later, store.StateReady, later.Truncate(time.Microsecond)},
	}
	for _, c := range cases {
		st, at := store.InitialState(c.hold, c.runAt, now)
		if st != c.wantState || !at.Equal(c.wantRunAt) {
			t.Errorf("%s: got %s %v, want %s %v", c.name, st, at, c.wantState, c.wantRunAt)
		}
	}
}

func TestInsertParamsCheck(t *testing.T) {
	t.Parallel()
	good := store.InsertParams{Kind: "k", Queue: "q", Priority: 1, MaxAttempts: 1}
	if err := good.Check(); err != nil {
		t.Fatalf("good params: %v", err)
	}
	for name, mod := range map[string]func(*store.InsertParams){
		"kind":     func(p *store.InsertParams) { p.Kind = "" },
		"queue":    func(p *store.InsertParams) { p.Queue = "" },
		"priority": func(p *store.InsertParams) { p.Priority = store.MaxPriority + 1 },
		"attempts": func(p *store.InsertParams) { p.MaxAttempts = 0 },
		"timeout":  func(p *store.InsertParams) { p.Timeout = -time.Second },
		"policy":   func(p *store.InsertParams) { p.OnConflict = "merge" },
	} {
		p := good
		mod(&p)
		if err := p.Check(); err == nil {
			t.Errorf("%s: bad params accepted", name)
		}
	}
}

func TestPageLimit(t *testing.T) {
	t.Parallel()
	for in, want := range map[int]int{-1: store.DefaultListLimit, 0: store.DefaultListLimit, 7: 7, store.MaxListLimit + 1: store.MaxListLimit} {
		if got := (store.ListParams{Limit: in}).PageLimit(); got != want {
			t.Errorf("PageLimit(%d) = %d, want %d", in, got, want)
		}
	}
}
