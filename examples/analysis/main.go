// Command analysis shows an OMA-style analysis runner: a run is created READY,
// queued, started, and then aborted by its analysis id (the job's key), the
// way OMA's broadcast topic aborts a run. Every status change is printed as
// OMA's output message {tenant_id, user_id, document_id, run_type, status};
// an abort naming no active run is ignored.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/rotahq/rota"
	"github.com/rotahq/rota/store/sqlite"
)

// outputMessage is OMA's status message on its output topic.
type outputMessage struct {
	TenantID   int    `json:"tenant_id"`
	UserID     int    `json:"user_id"`
	DocumentID string `json:"document_id"`
	RunType    string `json:"run_type"`
	Status     string `json:"status"`
}

// toOMA maps a rota event to OMA's message.
func toOMA(ev rota.Event) outputMessage {
	tenant, _ := strconv.Atoi(ev.Metadata["tenant_id"])
	user, _ := strconv.Atoi(ev.Metadata["user_id"])
	runType := strings.ToUpper(strings.TrimPrefix(ev.Kind, "analysis."))
	return outputMessage{TenantID: tenant, UserID: user, DocumentID: ev.Key, RunType: runType, Status: strings.ToUpper(string(ev.To))}
}

// ssi is a long analysis that checks its context between steps.
func ssi(ctx context.Context, job *rota.Job) error {
	for step := 0; ; step++ {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
		if step == 100_000 {
			return job.SetResult(map[string]int{"modes": 6})
		}
	}
}

func run(ctx context.Context, dbPath string, out io.Writer) error {
	st, err := sqlite.Open(dbPath, sqlite.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		return err
	}
	client, err := rota.New(st, rota.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	if err := client.Register("analysis.ssi", rota.WorkFunc(ssi)); err != nil {
		return err
	}
	sub := client.Subscribe(0, rota.EventFilter{Kinds: []string{"analysis.ssi"}})
	defer sub.Close()
	if err := client.Start(ctx); err != nil {
		return err
	}
	defer client.Stop(context.Background())

	const analysisID = "65e08e66bfe58ba848bccee0"
	job, err := client.Enqueue(ctx, "analysis.ssi", map[string]string{"structure_id": "6426ff08edc3cbd39eac2a93"},
		rota.Key(analysisID, rota.OnConflictReturn), rota.Hold(),
		rota.Metadata(map[string]string{"tenant_id": "9", "user_id": "7"}))
	if err != nil {
		return err
	}
	enc := json.NewEncoder(out)
	next := func() (rota.Event, error) {
		select {
		case ev := <-sub.C:
			return ev, enc.Encode(toOMA(ev))
		case <-ctx.Done():
			return rota.Event{}, ctx.Err()
		}
	}
	if _, err := next(); err != nil { // READY
		return err
	}
	if _, err := client.Release(ctx, job.ID); err != nil {
		return err
	}
	for {
		ev, err := next() // QUEUED, then RUNNING
		if err != nil {
			return err
		}
		if ev.To == rota.StateRunning {
			break
		}
	}
	// The broadcast topic says: abort analysis 65e08e...
	if _, err := client.AbortKey(ctx, "analysis.ssi", analysisID, "aborted by the user"); err != nil {
		return err
	}
	if _, err := next(); err != nil { // ABORTED
		return err
	}
	// A message naming no active run is ignored.
	if _, err := client.AbortKey(ctx, "analysis.ssi", "000000000000000000000000", ""); errors.Is(err, rota.ErrNotFound) {
		fmt.Fprintln(out, "abort of an unknown analysis ignored")
	} else {
		return fmt.Errorf("abort of an unknown analysis: %v", err)
	}
	final, err := client.Get(ctx, job.ID)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "final state %s, error %q\n", final.State, final.LastError)
	return nil
}

func main() {
	dir, err := os.MkdirTemp("", "rota-analysis-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := run(ctx, filepath.Join(dir, "analysis.db"), os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
