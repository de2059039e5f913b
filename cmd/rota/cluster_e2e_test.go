package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rotahq/rota"
	"github.com/rotahq/rota/store/postgres"
)

// recordKind is the Go worker that `rota serve` runs in these tests (with
// ROTA_E2E_RECORD=1): it records each execution (job, kind, attempt, node,
// start, end) in the table e2e_executions of the store's schema, a row at
// its start and its end time when it returns, and sleeps args.ms in
// between. limitedKind is the same worker under another kind, for limits
// set in the tests' worker files.
const (
	recordKind  = "e2e.record"
	limitedKind = "e2e.limited"
)

// e2eRegister is the register hook of the CLI run by the end-to-end tests.
func e2eRegister(getenv func(string) string) func(*rota.Client) error {
	if getenv("ROTA_E2E_RECORD") != "1" {
		return nil
	}
	return func(c *rota.Client) error {
		cfg, err := pgxpool.ParseConfig(getenv("ROTA_DATABASE_URL"))
		if err != nil {
			return err
		}
		cfg.ConnConfig.RuntimeParams["search_path"] = getenv("ROTA_POSTGRES_SCHEMA")
		pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
		if err != nil {
			return err
		}
		node := getenv("ROTA_NODE_ID")
		w := rota.WorkFunc(func(ctx context.Context, job *rota.Job) error {
			var args struct {
				MS int `json:"ms"`
			}
			if err := json.Unmarshal(job.Args, &args); err != nil {
				return rota.Fail(err)
			}
			var id int64
			if err := pool.QueryRow(ctx, `INSERT INTO e2e_executions (job_id, kind, attempt, node, started)
				VALUES ($1, $2, $3, $4, clock_timestamp()) RETURNING id`, job.ID, job.Kind, job.Attempt, node).Scan(&id); err != nil {
				return err
			}
			if args.MS > 0 {
				t := time.NewTimer(time.Duration(args.MS) * time.Millisecond)
				select {
				case <-t.C:
				case <-ctx.Done():
					t.Stop()
					return ctx.Err()
				}
			}
			_, err := pool.Exec(ctx, `UPDATE e2e_executions SET ended = clock_timestamp() WHERE id = $1`, id)
			return err
		})
		if err := c.Register(recordKind, w); err != nil {
			return err
		}
		return c.Register(limitedKind, w)
	}
}

// cluster is a set of `rota serve` processes on one PostgreSQL schema.
type cluster struct {
	t     *testing.T
	e     *env
	url   string
	conn  *pgx.Conn // to the test's schema
	procs map[string]*exec.Cmd
}

func newCluster(t *testing.T, vars ...string) *cluster {
	t.Helper()
	pg := postgresEnv(t)
	e := newEnv(t, append(append(pg, "ROTA_E2E_RECORD=1"), vars...)...)
	e.ok("migrate")
	url := strings.TrimPrefix(pg[0], "ROTA_DATABASE_URL=")
	schema := strings.TrimPrefix(pg[1], "ROTA_POSTGRES_SCHEMA=")
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.RuntimeParams["search_path"] = schema
	conn, err := pgx.ConnectConfig(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	if _, err := conn.Exec(t.Context(), `CREATE TABLE e2e_executions (
		id bigserial PRIMARY KEY, job_id bigint NOT NULL, kind text NOT NULL, attempt int NOT NULL, node text NOT NULL,
		started timestamptz NOT NULL, ended timestamptz)`); err != nil {
		t.Fatal(err)
	}
	return &cluster{t: t, e: e, url: url, conn: conn, procs: make(map[string]*exec.Cmd)}
}

// enqueue inserts n jobs of kind, job i sleeping ms(i) milliseconds, with
// up to attempts attempts each.
func (c *cluster) enqueue(kind string, n, attempts int, ms func(i int) int) {
	c.t.Helper()
	st, err := postgres.Open(c.t.Context(), c.url, postgres.Options{Schema: c.schema()})
	if err != nil {
		c.t.Fatal(err)
	}
	defer st.Close()
	client, err := rota.New(st, rota.Options{NodeID: "e2e-enqueue"})
	if err != nil {
		c.t.Fatal(err)
	}
	for i := 0; i < n; i += 1000 {
		ps := make([]rota.EnqueueParams, min(1000, n-i))
		for k := range ps {
			ps[k] = rota.EnqueueParams{Kind: kind, Args: map[string]int{"ms": ms(i + k)}, MaxAttempts: attempts}
		}
		if _, err := client.EnqueueMany(c.t.Context(), ps); err != nil {
			c.t.Fatal(err)
		}
	}
}

func (c *cluster) schema() string {
	for _, v := range c.e.vars {
		if s, ok := strings.CutPrefix(v, "ROTA_POSTGRES_SCHEMA="); ok {
			return s
		}
	}
	c.t.Fatal("no schema")
	return ""
}

// serve starts a node.
func (c *cluster) serve(node string) {
	c.t.Helper()
	cmd := c.e.command("serve", "--node-id", node)
	cmd.Env = append(cmd.Env, "ROTA_NODE_ID="+node)
	cmd.Stderr = &testWriter{t: c.t, prefix: node + ": "}
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	c.procs[node] = cmd
}

// stop ends a node with SIGTERM and checks it exits cleanly.
func (c *cluster) stop(node string) {
	c.t.Helper()
	cmd := c.procs[node]
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		c.t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		c.t.Errorf("%s after SIGTERM: %v", node, err)
	}
}

// kill ends a node with SIGKILL.
func (c *cluster) kill(node string) {
	c.t.Helper()
	cmd := c.procs[node]
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		c.t.Fatal(err)
	}
	_ = cmd.Wait()
}

// count runs a query that returns one number, tolerating errors (the
// server may be restarting) as -1.
func (c *cluster) count(q string, args ...any) int64 {
	c.t.Helper()
	var n int64
	if err := c.conn.QueryRow(c.t.Context(), q, args...).Scan(&n); err != nil {
		return -1
	}
	return n
}

// mustCount is count that fails the test on error.
func (c *cluster) mustCount(q string, args ...any) int64 {
	c.t.Helper()
	var n int64
	if err := c.conn.QueryRow(c.t.Context(), q, args...).Scan(&n); err != nil {
		c.t.Fatalf("%s: %v", q, err)
	}
	return n
}

// checkAllDone checks that all n jobs ended done, and nothing else is left.
func (c *cluster) checkAllDone(n int) {
	c.t.Helper()
	if got := c.mustCount(`SELECT count(*) FROM jobs WHERE state = 'done'`); got != int64(n) {
		c.t.Errorf("%d of %d jobs done", got, n)
	}
	if got := c.mustCount(`SELECT count(*) FROM jobs WHERE state <> 'done'`); got != 0 {
		c.t.Errorf("%d jobs are not done", got)
	}
	if got := c.mustCount(`SELECT count(*) FROM jobs j WHERE NOT EXISTS
		(SELECT 1 FROM e2e_executions x WHERE x.job_id = j.id AND x.ended IS NOT NULL)`); got != 0 {
		c.t.Errorf("%d done jobs have no completed execution", got)
	}
}

// TestClusterOfThree runs 20,000 jobs on three `rota serve` processes
// sharing one PostgreSQL schema, SIGKILLs one of them mid-run, and checks
// that every job ends done, that no two executions of a job overlap in time,
// that the killed node's jobs were run again elsewhere after its lease
// expired, recorded as lost with its id, and that only those ran twice.
//
// Built with -race it runs 4,000 jobs, with the same checks: 20,000 took
// 90-160 s there, the longest test of the race run, and the race detector
// looks at the same code paths (claims, finishes, the kill, the rescue)
// whatever the count. The plain `go test ./...` of .ci/run runs 20,000.
func TestClusterOfThree(t *testing.T) {
	t.Parallel()
	n := 20000
	if raceEnabled {
		n = 4000
	}
	c := newCluster(t, "ROTA_QUEUES=default=32", "ROTA_LEASE_DURATION=2s", "ROTA_LEADER_LEASE=2s",
		"ROTA_SHUTDOWN_TIMEOUT=5s")
	c.enqueue(recordKind, n, 5, func(i int) int { return i % 4 }) // 0-3 ms each
	for _, node := range []string{"n1", "n2", "n3"} {
		c.serve(node)
	}
	waitFor(t, 120*time.Second, "a third of the jobs to start", func() bool {
		return c.count(`SELECT count(*) FROM e2e_executions`) >= int64(n/3)
	})
	waitFor(t, 60*time.Second, "n2 to be running jobs", func() bool {
		return c.count(`SELECT count(*) FROM e2e_executions WHERE node = 'n2' AND ended IS NULL`) > 0
	})
	c.kill("n2")
	killed := time.Now()
	waitFor(t, 180*time.Second, "every job done", func() bool {
		return c.count(`SELECT count(*) FROM jobs WHERE state = 'done'`) == int64(n)
	})
	c.stop("n1")
	c.stop("n3")

	c.checkAllDone(n)
	// No two executions of one job overlap; an execution cut by the kill
	// lasts until the kill.
	if got := c.mustCount(`SELECT count(*) FROM e2e_executions a JOIN e2e_executions b
		ON a.job_id = b.job_id AND a.id < b.id
		AND tstzrange(a.started, coalesce(a.ended, $1)) && tstzrange(b.started, coalesce(b.ended, $1))`, killed); got != 0 {
		t.Errorf("%d pairs of executions of one job overlap", got)
	}
	for _, node := range []string{"n1", "n2", "n3"} {
		if got := c.mustCount(`SELECT count(*) FROM e2e_executions WHERE node = $1 AND ended IS NOT NULL`, node); got == 0 {
			t.Errorf("node %s completed no execution", node)
		}
	}
	cut := c.mustCount(`SELECT count(*) FROM e2e_executions WHERE node = 'n2' AND ended IS NULL`)
	if cut == 0 {
		t.Fatal("the kill cut no execution short")
	}
	// Each cut execution's job: an attempt recorded lost on n2, then run
	// again on another node after the kill.
	if got := c.mustCount(`SELECT count(*) FROM e2e_executions x JOIN jobs j ON j.id = x.job_id
		WHERE x.node = 'n2' AND x.ended IS NULL AND NOT (
			j.attempts @> '[{"outcome": "lost", "node": "n2"}]'
			AND EXISTS (SELECT 1 FROM e2e_executions y WHERE y.job_id = x.job_id AND y.node <> 'n2'
				AND y.started > $1 AND y.ended IS NOT NULL))`, killed); got != 0 {
		t.Errorf("%d of the %d jobs cut by the kill were not recorded lost on n2 and run again elsewhere", got, cut)
	}
	// Only the killed node's jobs ran more than once.
	if got := c.mustCount(`SELECT count(*) FROM jobs j WHERE
		(SELECT count(*) FROM e2e_executions x WHERE x.job_id = j.id) > 1
		AND NOT j.attempts @> '[{"outcome": "lost", "node": "n2"}]'`); got != 0 {
		t.Errorf("%d jobs ran more than once without having been lost on n2", got)
	}
	t.Logf("%d jobs, %d executions cut by the kill, %d lost attempts", n, cut,
		c.mustCount(`SELECT count(*) FROM jobs WHERE attempts @> '[{"outcome": "lost"}]'`))
}

// TestClusterKindLimit: a kind limited to 3 running jobs cluster-wide (in
// the worker file that three `rota serve` processes read) never has 4
// executions at once, and does reach 3.
func TestClusterKindLimit(t *testing.T) {
	t.Parallel()
	const n = 240
	workers := t.TempDir()
	if err := os.WriteFile(filepath.Join(workers, limitedKind+".json"), []byte(`{"global_max_workers": 3}`), 0o644); err != nil {
		t.Fatal(err)
	}
	c := newCluster(t, "ROTA_QUEUES=default=8", "ROTA_WORKERS_DIR="+workers, "ROTA_SHUTDOWN_TIMEOUT=5s")
	c.enqueue(limitedKind, n, 1, func(int) int { return 15 })
	for _, node := range []string{"n1", "n2", "n3"} {
		c.serve(node)
	}
	waitFor(t, 120*time.Second, "every job done", func() bool {
		return c.count(`SELECT count(*) FROM jobs WHERE state = 'done'`) == int64(n)
	})
	for _, node := range []string{"n1", "n2", "n3"} {
		c.stop(node)
	}
	c.checkAllDone(n)
	// The most executions running at the start of any execution.
	peak := c.mustCount(`SELECT max((SELECT count(*) FROM e2e_executions b
		WHERE b.started <= a.started AND b.ended > a.started)) FROM e2e_executions a`)
	if peak != 3 {
		t.Errorf("at most %d executions ran at once, want 3 (the limit, reached)", peak)
	}
	if got := c.mustCount(`SELECT count(DISTINCT node) FROM e2e_executions`); got != 3 {
		t.Errorf("%d nodes ran the jobs, want 3", got)
	}
}

// TestClusterSurvivesPostgresRestart restarts the PostgreSQL server while
// three nodes work, with the command in ROTA_TEST_PG_RESTART (for example
// "pg_ctlcluster 15 main restart"); it runs only when that is set, since a
// restart breaks every other test using the server at that moment (.ci/run
// runs it alone). Every job must still end done.
func TestClusterSurvivesPostgresRestart(t *testing.T) {
	restart := os.Getenv("ROTA_TEST_PG_RESTART")
	if restart == "" {
		t.Skip("set ROTA_TEST_PG_RESTART to the command that restarts the test PostgreSQL server")
	}
	// 48 workers on 4,000 jobs of 30 ms: about 2.5 s of work, most of it
	// still to do when the restart begins.
	const n = 4000
	c := newCluster(t, "ROTA_QUEUES=default=16", "ROTA_LEASE_DURATION=3s", "ROTA_LEADER_LEASE=2s",
		"ROTA_SHUTDOWN_TIMEOUT=5s")
	c.enqueue(recordKind, n, 25, func(int) int { return 30 })
	for _, node := range []string{"n1", "n2", "n3"} {
		c.serve(node)
	}
	waitFor(t, 120*time.Second, "a tenth of the jobs to start", func() bool {
		return c.count(`SELECT count(*) FROM e2e_executions`) >= n/10
	})
	out, err := exec.Command("sh", "-c", restart).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v: %s", restart, err, out)
	}
	restarted := time.Now()
	// The test's own connection died with the server.
	cfg := c.conn.Config().Copy()
	waitFor(t, 60*time.Second, "the server to accept connections", func() bool {
		conn, err := pgx.ConnectConfig(t.Context(), cfg)
		if err != nil {
			return false
		}
		c.conn = conn
		return true
	})
	t.Cleanup(func() { c.conn.Close(context.Background()) })
	waitFor(t, 180*time.Second, "every job done", func() bool {
		return c.count(`SELECT count(*) FROM jobs WHERE state = 'done'`) == int64(n)
	})
	after := c.mustCount(`SELECT count(*) FROM e2e_executions WHERE started > $1 AND ended IS NOT NULL`, restarted)
	if after == 0 {
		t.Error("no execution completed after the restart")
	}
	for _, node := range []string{"n1", "n2", "n3"} {
		c.stop(node)
	}
	c.checkAllDone(n)
	t.Logf("%d jobs done across a restart, %d of them started after it", n, after)
}
