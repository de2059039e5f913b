package rota_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/rotahq/rota"
	"github.com/rotahq/rota/store"
)

// TestCompleteLeases: each item is answered on its own; a cancel requested
// meanwhile does not stop a completion; the call refuses too many items
// and leaves everything as it was.
func TestCompleteLeases(t *testing.T) {
	t.Parallel()
	c := newClient(t, openStore(t), rota.Options{})
	ctx := context.Background()
	for range 3 {
		enqueue(t, c, "remote.m", nil)
	}
	ls, err := c.Lease(ctx, rota.LeaseParams{Kinds: []string{"remote.m"}, Max: 3, Lease: time.Hour})
	if err != nil || len(ls) != 3 {
		t.Fatalf("Lease = %+v, %v", ls, err)
	}
	if _, err := c.Abort(ctx, ls[1].Job.ID, "no longer needed"); err != nil {
		t.Fatalf("Abort: %v", err)
	}

	tooMany := make([]rota.LeaseCompletion, rota.MaxLeaseCompletions+1)
	for i := range tooMany {
		tooMany[i].Token = ls[0].Token
	}
	var fe *rota.FieldError
	if _, err := c.CompleteLeases(ctx, tooMany); !errors.As(err, &fe) || fe.Field != "items" {
		t.Errorf("CompleteLeases of %d items: %v, want a FieldError on items", len(tooMany), err)
	}
	if j := getLeased(t, c, ls[0].Job.ID); j.State != rota.StateRunning {
		t.Fatalf("a refused call changed job %d to %s", j.ID, j.State)
	}

	got, err := c.CompleteLeases(ctx, []rota.LeaseCompletion{
		{Token: ls[0].Token, Result: map[string]int{"n": 0}},
		{Token: ls[1].Token},
		{Token: "rl1.nope"},
		{Token: ls[2].Token, Result: func() {}}, // cannot be marshalled
	})
	if err != nil {
		t.Fatalf("CompleteLeases: %v", err)
	}
	if got[0].Err != nil || got[0].State != rota.StateDone || got[0].ID != ls[0].Job.ID {
		t.Errorf("item 0: %+v, want done", got[0])
	}
	if got[1].Err != nil || got[1].State != rota.StateDone {
		t.Errorf("item 1 (abort requested): %+v, want done", got[1])
	}
	if !errors.As(got[2].Err, &fe) || fe.Field != "token" || got[2].ID != 0 {
		t.Errorf("item 2: %+v, want a FieldError on token", got[2])
	}
	if !errors.As(got[3].Err, &fe) || fe.Field != "result" {
		t.Errorf("item 3: %+v, want a FieldError on result", got[3])
	}
	if j := getLeased(t, c, ls[0].Job.ID); j.State != rota.StateDone || string(j.Result) != `{"n":0}` ||
		len(j.Attempts) != 1 || j.Attempts[0].Outcome != store.OutcomeDone {
		t.Errorf("job 0: %+v", j)
	}
	if j := getLeased(t, c, ls[2].Job.ID); j.State != rota.StateRunning {
		t.Errorf("job 2, whose item was refused, is %s", j.State)
	}
	again, err := c.CompleteLeases(ctx, []rota.LeaseCompletion{{Token: ls[0].Token}, {Token: ls[2].Token}})
	if err != nil || !errors.Is(again[0].Err, rota.ErrLeaseLost) || again[1].Err != nil || again[1].State != rota.StateDone {
		t.Errorf("second call: %+v, %v; want lease lost, then done", again, err)
	}
}

// getLeased reads job id and fails the test if it cannot.
func getLeased(t *testing.T, c *rota.Client, id int64) *rota.Job {
	t.Helper()
	j, err := c.Get(context.Background(), id)
	if err != nil {
		t.Fatalf("Get(%d): %v", id, err)
	}
	return j
}
