package sqlite

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rotahq/rota/store"
)

// The helper process protocol: the parent runs the test binary with
// helperEnv set to the database path and helperNodeEnv to the node name;
// the helper inserts and claims jobs and prints one line per event:
// "inserted <id>" and "claimed <id>".
const (
	helperEnv     = "ROTA_SQLITE_TEST_HELPER"
	helperNodeEnv = "ROTA_SQLITE_TEST_NODE"

	helperRounds        = 20 // rounds of inserts and claims per helper
	helperBatch         = 8  // jobs of the batch insert of a round
	helperSingles       = 4  // concurrent single inserts of a round
	helperClaim         = 7  // claim limit
	helperJobsPerHelper = helperRounds * (helperBatch + helperSingles)
)

// helperBase is the clock of the helpers.
func helperBase() time.Time { return time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC) }

// runHelper is the helper process's main. It returns the exit code.
func runHelper() int {
	if err := helperMain(os.Getenv(helperEnv), os.Getenv(helperNodeEnv), os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 1
	}
	return 0
}

func helperMain(path, node string, stdout *os.File) error {
	out := bufio.NewWriter(stdout)
	defer out.Flush()
	s, err := Open(path, Options{Logger: testLogger(), BusyTimeout: time.Minute})
	if err != nil {
		return err
	}
	defer s.Close()
	ctx := context.Background()
	// All helpers migrate the new file at once.
	if err := s.Migrate(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	now := helperBase()
	job := func() store.InsertParams {
		return store.InsertParams{Kind: "mp", Queue: store.DefaultQueue, Args: []byte(`{"from":"` + node + `"}`),
			Priority: store.DefaultPriority, MaxAttempts: 1}
	}
	claimAndFinish := func() (int, error) {
		claimRes, err := s.Claim(ctx, store.ClaimParams{Queue: store.DefaultQueue, Node: node, Limit: helperClaim,
			Now: now, LeaseUntil: now.Add(time.Hour)})
		jobs := claimRes.Jobs
		if err != nil {
			return 0, fmt.Errorf("claim: %w", err)
		}
		fs := make([]store.FinishParams, len(jobs))
		for i, j := range jobs {
			fmt.Fprintf(out, "claimed %d\n", j.ID)
			fs[i] = store.FinishParams{ID: j.ID, Attempt: j.Attempt, State: store.StateDone, Now: now,
				Record: store.Attempt{Node: node, StartedAt: j.StartedAt, Outcome: store.OutcomeDone}}
		}
		if len(fs) == 0 {
			return 0, nil
		}
		applied, err := s.Finish(ctx, fs)
		if err != nil {
			return 0, fmt.Errorf("finish: %w", err)
		}
		for i, st := range applied {
			if st == "" {
				return 0, fmt.Errorf("finish of job %d not applied", fs[i].ID)
			}
		}
		return len(jobs), nil
	}
	for range helperRounds {
		batch := make([]store.InsertParams, helperBatch)
		for i := range batch {
			batch[i] = job()
		}
		res, err := s.Insert(ctx, now, batch)
		if err != nil {
			return fmt.Errorf("insert batch: %w", err)
		}
		for _, r := range res {
			fmt.Fprintf(out, "inserted %d\n", r.Job.ID)
		}
		// Concurrent single inserts: group commit within this process.
		ids := make([]int64, helperSingles)
		errs := make([]error, helperSingles)
		var wg sync.WaitGroup
		for i := range helperSingles {
			wg.Go(func() {
				res, err := s.Insert(ctx, now, []store.InsertParams{job()})
				if err == nil {
					ids[i] = res[0].Job.ID
				}
				errs[i] = err
			})
		}
		wg.Wait()
		for i, id := range ids {
			if errs[i] != nil {
				return fmt.Errorf("insert: %w", errs[i])
			}
			fmt.Fprintf(out, "inserted %d\n", id)
		}
		if _, err := claimAndFinish(); err != nil {
			return err
		}
	}
	for {
		n, err := claimAndFinish()
		if err != nil || n == 0 {
			return err
		}
	}
}

func TestMultiProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("starts subprocesses")
	}
	const procs = 3
	path := filepath.Join(t.TempDir(), "shared.db")
	type result struct {
		node   string
		stdout bytes.Buffer
		stderr bytes.Buffer
		err    error
	}
	results := make([]*result, procs)
	var wg sync.WaitGroup
	for i := range procs {
		r := &result{node: "proc-" + strconv.Itoa(i)}
		results[i] = r
		cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), helperEnv+"="+path, helperNodeEnv+"="+r.node)
		cmd.Stdout, cmd.Stderr = &r.stdout, &r.stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		wg.Go(func() { r.err = cmd.Wait() })
	}
	wg.Wait()

	inserted := make(map[int64]string)
	claimedBy := make(map[int64][]string)
	for _, r := range results {
		if r.err != nil {
			t.Fatalf("%s: %v\n%s", r.node, r.err, r.stderr.String())
		}
		for line := range strings.Lines(r.stdout.String()) {
			what, idText, _ := strings.Cut(strings.TrimSpace(line), " ")
			id, err := strconv.ParseInt(idText, 10, 64)
			if err != nil {
				t.Fatalf("%s: bad line %q", r.node, line)
			}
			switch what {
			case "inserted":
				if other, dup := inserted[id]; dup {
					t.Errorf("job %d inserted by %s and %s", id, other, r.node)
				}
				inserted[id] = r.node
			case "claimed":
				claimedBy[id] = append(claimedBy[id], r.node)
			default:
				t.Fatalf("%s: bad line %q", r.node, line)
			}
		}
	}
	if len(inserted) != procs*helperJobsPerHelper {
		t.Errorf("%d jobs inserted, want %d", len(inserted), procs*helperJobsPerHelper)
	}

	s := openPath(t, path, Options{})
	// A helper that finished early left jobs of the others: claim them here.
	for {
		claimRes, err := s.Claim(t.Context(), store.ClaimParams{Queue: store.DefaultQueue, Node: "parent", Limit: 100,
			Now: helperBase(), LeaseUntil: helperBase().Add(time.Hour)})
		jobs := claimRes.Jobs
		if err != nil {
			t.Fatal(err)
		}
		if len(jobs) == 0 {
			break
		}
		for _, j := range jobs {
			claimedBy[j.ID] = append(claimedBy[j.ID], "parent")
		}
	}
	for id := range inserted {
		if n := len(claimedBy[id]); n != 1 {
			t.Errorf("job %d claimed %d times: %v", id, n, claimedBy[id])
		}
	}
	for id := range claimedBy {
		if _, ok := inserted[id]; !ok {
			t.Errorf("job %d claimed but never inserted", id)
		}
	}
	// Every job ran exactly one attempt: a double claim would show attempt 2.
	var after int64
	total := 0
	for {
		page, err := s.List(t.Context(), store.ListParams{AfterID: after, Limit: 500})
		if err != nil {
			t.Fatal(err)
		}
		for _, j := range page.Jobs {
			total++
			wantState := store.StateDone
			if claimedBy[j.ID][0] == "parent" {
				wantState = store.StateRunning
			}
			if j.Attempt != 1 || j.State != wantState {
				t.Errorf("job %d: %s attempt %d; want %s attempt 1", j.ID, j.State, j.Attempt, wantState)
			}
		}
		if page.NextAfterID == 0 {
			break
		}
		after = page.NextAfterID
	}
	if total != len(inserted) {
		t.Errorf("the file holds %d jobs, the helpers inserted %d", total, len(inserted))
	}
	checkCounts(t, s)
	var check string
	if err := s.rdb.QueryRowContext(t.Context(), `PRAGMA integrity_check`).Scan(&check); err != nil || check != "ok" {
		t.Errorf("integrity_check = %q, %v", check, err)
	}
	applied, latest, err := s.SchemaVersion(t.Context())
	if err != nil || applied != latest {
		t.Errorf("SchemaVersion = %d, %d, %v", applied, latest, err)
	}
}

// TestGlobalMaxAcrossWriters has claimers on three Stores of one file (three
// writers, as three processes have) claim and finish jobs of a kind with a
// global maximum. Within one Store the writer serializes claims by itself;
// across Stores only the file's write lock does. Each claimer adds what it
// claimed to a shared count after its claim returns and takes a job off
// before finishing it, so the count never exceeds the running jobs in the
// file: it must never pass the maximum.
func TestGlobalMaxAcrossWriters(t *testing.T) {
	t.Parallel()
	const maxRunning, jobs, claimersPerStore = 3, 120, 3
	path := filepath.Join(t.TempDir(), "rota.db")
	stores := []*Store{openPath(t, path, Options{}), openPath(t, path, Options{}), openPath(t, path, Options{})}
	now := helperBase()
	ps := make([]store.InsertParams, jobs)
	for i := range ps {
		ps[i] = store.InsertParams{Kind: "g", Queue: store.DefaultQueue, Args: []byte(`{}`), Priority: 1, MaxAttempts: 1}
	}
	if _, err := stores[0].Insert(t.Context(), now, ps); err != nil {
		t.Fatal(err)
	}
	var cur, peak, finished atomic.Int64
	var stop atomic.Bool
	errs := make(chan error, len(stores)*claimersPerStore)
	var wg sync.WaitGroup
	for si, s := range stores {
		for c := range claimersPerStore {
			wg.Go(func() {
				node := fmt.Sprintf("store%d-claimer%d", si, c)
				for !stop.Load() && finished.Load() < jobs {
					res, err := s.Claim(t.Context(), store.ClaimParams{Queue: store.DefaultQueue, Node: node, Limit: 2,
						Kinds: []store.KindLimit{{Kind: "g", Max: 2, GlobalMax: maxRunning}}, Now: now, LeaseUntil: now.Add(time.Hour)})
					if err != nil {
						errs <- fmt.Errorf("%s: claim: %w", node, err)
						stop.Store(true)
						return
					}
					n := cur.Add(int64(len(res.Jobs)))
					for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
					}
					if n > maxRunning {
						errs <- fmt.Errorf("%s: %d jobs running after its claim, max %d", node, n, maxRunning)
						stop.Store(true)
					}
					for _, j := range res.Jobs {
						cur.Add(-1)
						states, err := s.Finish(t.Context(), []store.FinishParams{{ID: j.ID, Attempt: j.Attempt,
							State: store.StateDone, Now: now, Record: store.Attempt{Node: node, Outcome: store.OutcomeDone}}})
						if err != nil || states[0] != store.StateDone {
							errs <- fmt.Errorf("%s: finish of job %d: %v %v", node, j.ID, states, err)
							stop.Store(true)
							return
						}
						finished.Add(1)
					}
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := finished.Load(); got != jobs {
		t.Errorf("%d jobs finished, want %d", got, jobs)
	}
	if p := peak.Load(); p < 1 || p > maxRunning {
		t.Errorf("peak %d running, want 1..%d", p, maxRunning)
	}
	checkCounts(t, stores[0])
}
