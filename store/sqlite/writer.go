package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/rotahq/rota/store"
	sqlitedriver "modernc.org/sqlite"
)

// op is one write operation sent to the writer goroutine. run executes inside
// the writer's transaction; its results are only valid once done is closed
// with err == nil (the transaction committed). run must reset its results
// when it starts: it runs again if the transaction is retried.
type op struct {
	ctx context.Context
	run func(w *writer) error
	// multi: run may issue more than one write statement, so it runs inside
	// its own savepoint. An op without multi writes at most once, and
	// returns a store sentinel error (ErrQueueFull, ...) only before writing.
	multi bool
	// lazy: the op may be lost by a crash (power loss) after it returned
	// without harm, so it needs no fsync of its own: a claim (the job would
	// be queued again), a lease extension, a promotion or a rescue (both
	// done again). A transaction of only lazy ops commits without fsync when
	// Synchronous is FULL; the next durable commit syncs it too, since the
	// WAL is written in order.
	lazy bool
	// bulk, when set, is an insert the writer may merge with others.
	bulk *bulkInsert
	// committed, when set, is called at the commit if err is nil (see
	// store.CommitHookInserter); the op's notices then go out at the
	// commit too, before the fsync.
	committed func()
	err       error
	notes     []store.Notice     // published after the commit, if err is nil
	counts    map[countKey]int64 // changes to job_counts, applied at the commit if err is nil
	done      chan struct{}
}

// do sends fn to the writer and waits for its transaction to end; multi
// says whether fn may issue more than one write statement (see op). Once
// the op was accepted it is waited for even if ctx ends: the writer skips
// ops whose context ended before they started, and an op that started is
// reported as it ended, so a caller never mistakes a committed write for a
// failed one.
func (s *Store) do(ctx context.Context, multi bool, fn func(w *writer) error) error {
	return s.submit(ctx, &op{run: fn, multi: multi})
}

// doLazy is do for a lazy op (see op.lazy).
func (s *Store) doLazy(ctx context.Context, multi bool, fn func(w *writer) error) error {
	return s.submit(ctx, &op{run: fn, multi: multi, lazy: true})
}

// submit sends o to the writer and waits for it, as do.
func (s *Store) submit(ctx context.Context, o *op) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	o.ctx, o.done = ctx, make(chan struct{})
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return ErrClosed
	}
	select {
	case s.ops <- o:
	case <-ctx.Done():
		s.mu.RUnlock()
		return ctx.Err()
	}
	s.mu.RUnlock()
	<-o.done
	return o.err
}

// writer owns the write connection. Only its goroutine uses it.
type writer struct {
	s     *Store
	conn  *sql.Conn
	stmts map[string]*sql.Stmt

	cur *op // the op being run, for note

	insertSQLs map[int]string // multi-row INSERT statements by row count
	finishSQLs map[int]string // multi-row finish statements by row count
	countsSQLs map[int]string // job_counts upserts by row count

	// queues caches queue settings for the current transaction (the
	// transaction holds the write lock, so nobody else can change them).
	queues map[string]queueSettings

	dataVersion int64
	lastPoll    time.Time
}

// queueSettings are the columns of the queues table that writes consult.
type queueSettings struct {
	paused  bool
	maxSize int
	urgent  int
}

func newWriter(ctx context.Context, s *Store, conn *sql.Conn) (*writer, error) {
	w := &writer{s: s, conn: conn, stmts: make(map[string]*sql.Stmt), queues: make(map[string]queueSettings),
		insertSQLs: make(map[int]string), finishSQLs: make(map[int]string), countsSQLs: make(map[int]string)}
	// Switching a new file to WAL needs an exclusive lock, and SQLite does
	// not wait for it with the busy handler: when several processes open a
	// new file at once, retry until the busy timeout.
	var mode string
	err := retryBusy(s.opts.BusyTimeout, func() error {
		return conn.QueryRowContext(ctx, `PRAGMA journal_mode = WAL`).Scan(&mode)
	})
	if err != nil {
		return nil, fmt.Errorf("journal_mode WAL: %w", err)
	}
	if mode != "wal" {
		return nil, fmt.Errorf("journal_mode is %q, want wal", mode)
	}
	err = retryBusy(s.opts.BusyTimeout, func() error {
		return conn.QueryRowContext(ctx, `PRAGMA data_version`).Scan(&w.dataVersion)
	})
	if err != nil {
		return nil, err
	}
	w.lastPoll = time.Now()
	return w, nil
}

// retryBusy runs f until it does not fail with SQLITE_BUSY or timeout passed.
func retryBusy(timeout time.Duration, f func() error) error {
	deadline := time.Now().Add(timeout)
	for delay := time.Millisecond; ; delay = min(2*delay, 50*time.Millisecond) {
		err := f()
		var se *sqlitedriver.Error
		if err == nil || !errors.As(err, &se) || se.Code()&0xff != sqliteBusy || time.Now().After(deadline) {
			return err
		}
		time.Sleep(delay) // waiting for another process's lock, as SQLite's busy handler does
	}
}

// sqliteBusy is SQLite's primary result code SQLITE_BUSY.
const sqliteBusy = 5

// run is the writer goroutine: it takes the pending ops (up to maxBatchOps)
// and runs them in one transaction, until the ops channel is closed. When
// idle it polls for changes made by other connections.
func (w *writer) run() {
	defer w.close()
	ticker := time.NewTicker(w.s.opts.PollInterval)
	defer ticker.Stop()
	batch := make([]*op, 0, maxBatchOps)
	for {
		select {
		case o, ok := <-w.s.ops:
			if !ok {
				return
			}
			batch = append(batch[:0], o)
		drain:
			for len(batch) < maxBatchOps {
				select {
				case o, ok := <-w.s.ops:
					if !ok {
						break drain // seen again by the outer select
					}
					batch = append(batch, o)
				default:
					break drain
				}
			}
			if w.runBatch(batch) {
				batch = make([]*op, 0, maxBatchOps) // the syncer has it
			} else {
				clear(batch)
			}
			if time.Since(w.lastPoll) >= w.s.opts.PollInterval {
				w.poll()
			}
		case <-ticker.C:
			w.poll()
		}
	}
}

// close finalizes the cached statements.
func (w *writer) close() {
	for q, st := range w.stmts {
		st.Close()
		delete(w.stmts, q)
	}
}

// poll sends NoticeChanged when another connection committed since the last
// poll, and retries NoticeChanged to subscribers that missed notices.
func (w *writer) poll() {
	w.lastPoll = time.Now()
	var v int64
	if err := w.queryRow(`PRAGMA data_version`).Scan(&v); err != nil {
		w.s.log.Warn("poll data_version", "err", err)
		return
	}
	if v != w.dataVersion {
		w.dataVersion = v
		w.s.hub.Publish([]store.Notice{{Type: store.NoticeChanged}})
		return
	}
	w.s.hub.FlushMissed()
}

// runBatch runs ops in one transaction and commits once, then publishes
// the notices of the ops that succeeded and answers them all.
//
// An op that fails with a store sentinel error (a full queue, a duplicate)
// keeps its error and the others go on: multi ops are rolled back to their
// savepoint, single ones wrote nothing. An op that fails otherwise may have
// left the transaction unusable: the writer rolls back, answers that op with
// its error and runs the others again, each in a savepoint.
//
// When the store syncs the WAL itself (Synchronous FULL) and the transaction
// holds a durable op, the durable ops are handed to the syncer, which
// answers them after the fsync (the lazy ones are answered at once; their
// notices, and those of hooked inserts, are published at the commit);
// runBatch then returns true and the caller must not reuse batch.
func (w *writer) runBatch(batch []*op) (handed bool) {
	defer func() {
		if handed {
			return
		}
		for _, o := range batch {
			close(o.done)
		}
	}()
	if len(w.stmts) > maxCachedStmts {
		w.close()
	}
	pending := make([]*op, 0, len(batch))
	for _, o := range batch {
		if err := o.ctx.Err(); err != nil {
			o.err = err
			continue
		}
		pending = append(pending, o)
	}
	for safe := false; len(pending) > 0; safe = true {
		bad, err := w.runTx(pending, safe)
		if err == nil {
			w.s.commits.Add(1)
			// Commit hooks first: the engine publishes an insert's events
			// there, before anyone is told of the new jobs.
			for _, o := range pending {
				if o.err == nil && o.committed != nil {
					o.committed()
				}
			}
			if w.s.syncer == nil || !slices.ContainsFunc(pending, func(o *op) bool { return !o.lazy }) {
				w.s.publish(pending)
				return false
			}
			// Lazy ops need no fsync: answer them now, the others after it.
			// The notices of lazy ops and of hooked inserts go out now, so
			// that a node's claim of a new job runs while the WAL is synced
			// (a reader may see a commit before its fsync: decision 0006);
			// those of other durable ops go out with their answer, after
			// the fsync, as their callers publish their events only then.
			durable := batch[:0]
			var early []*op
			for _, o := range batch {
				switch {
				case o.lazy:
					early = append(early, o)
				case o.committed != nil:
					early = append(early, o)
					durable = append(durable, o)
				default:
					durable = append(durable, o)
				}
			}
			w.s.publish(early)
			for _, o := range early {
				if o.lazy {
					close(o.done)
				}
			}
			w.s.syncer.in <- durable
			return true
		}
		if bad == nil && errors.Is(err, errRetrySafe) && !safe {
			continue // again, each op in its savepoint
		}
		if bad == nil { // the transaction itself failed
			for _, o := range pending {
				if o.err == nil {
					o.err = err
				}
			}
			return false
		}
		bad.err = err
		pending = slices.DeleteFunc(pending, func(o *op) bool { return o == bad })
	}
	return false
}

// runTx runs ops in one transaction (each in a savepoint when safe) and
// commits. On failure it rolls back and returns the op to blame (nil when
// the transaction itself failed) and the error.
func (w *writer) runTx(ops []*op, safe bool) (*op, error) {
	clear(w.queues)
	if _, err := w.exec(`BEGIN IMMEDIATE`); err != nil {
		return nil, fmt.Errorf("sqlite: begin: %w", err)
	}
	for i := 0; i < len(ops); i++ {
		o := ops[i]
		o.err, o.notes, o.counts = nil, nil, nil
		if err := o.ctx.Err(); err != nil { // ended while waiting for the lock
			o.err = err
			continue
		}
		if !safe && w.mergeable(o) {
			// Consecutive inserts without keys share multi-row statements.
			j := i + 1
			for j < len(ops) && w.mergeable(ops[j]) {
				j++
			}
			if j-i > 1 {
				if err := w.insertMerged(ops[i:j]); err != nil {
					w.cur = nil
					w.rollback()
					// No op to blame yet: run them all again, one by one.
					return nil, fmt.Errorf("%w: %w", errRetrySafe, err)
				}
				w.cur = nil
				i = j - 1
				continue
			}
		}
		if safe || o.multi {
			if err := w.runSavepoint(o); err != nil {
				w.rollback()
				return o, err
			}
			continue
		}
		w.cur = o
		err := o.run(w)
		w.cur = nil
		if err != nil {
			if !isSentinel(err) {
				w.rollback()
				return o, err
			}
			o.err, o.notes, o.counts = err, nil, nil
		}
	}
	if err := w.applyCounts(ops); err != nil {
		w.rollback()
		return nil, err
	}
	if _, err := w.exec(`COMMIT`); err != nil {
		w.rollback()
		return nil, fmt.Errorf("sqlite: commit: %w", err)
	}
	return nil, nil
}

// runSavepoint runs o inside a savepoint. A failing o is rolled back to the
// savepoint and keeps its error; runSavepoint's own error means the
// transaction may be unusable.
func (w *writer) runSavepoint(o *op) error {
	if _, err := w.exec(`SAVEPOINT op`); err != nil {
		return fmt.Errorf("sqlite: savepoint: %w", err)
	}
	w.cur = o
	err := o.run(w)
	w.cur = nil
	if err != nil {
		o.err, o.notes, o.counts = err, nil, nil
		clear(w.queues)
		if _, rerr := w.exec(`ROLLBACK TO op`); rerr != nil {
			return fmt.Errorf("sqlite: rollback to savepoint: %w (after %w)", rerr, err)
		}
	}
	if _, err := w.exec(`RELEASE op`); err != nil {
		return fmt.Errorf("sqlite: release savepoint: %w", err)
	}
	return nil
}

// errRetrySafe marks a failed transaction that should run again with each op
// in its own savepoint, to find the op that fails.
var errRetrySafe = errors.New("retry each op alone")

// isSentinel reports whether err is one of the store's sentinel errors,
// which ops return before they write.
func isSentinel(err error) bool {
	return errors.Is(err, store.ErrQueueFull) || errors.Is(err, store.ErrDuplicate) ||
		errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound)
}

func (w *writer) rollback() {
	if _, err := w.conn.ExecContext(context.Background(), `ROLLBACK`); err != nil {
		w.s.log.Debug("rollback", "err", err)
	}
}

// publish merges the notices of the committed ops and sends them.
func (s *Store) publish(batch []*op) {
	var (
		notes     []store.Notice
		queued    map[string]bool
		changedQ  map[string]bool
		freed     map[string]bool
		scheduled time.Time
		cancels   []int64
	)
	for _, o := range batch {
		if o.err != nil {
			continue
		}
		for _, n := range o.notes {
			switch n.Type {
			case store.NoticeQueued:
				if !queued[n.Queue] {
					if queued == nil {
						queued = make(map[string]bool)
					}
					queued[n.Queue] = true
					notes = append(notes, n)
				}
			case store.NoticeQueueChanged:
				if !changedQ[n.Queue] {
					if changedQ == nil {
						changedQ = make(map[string]bool)
					}
					changedQ[n.Queue] = true
					notes = append(notes, n)
				}
			case store.NoticeFreed:
				if !freed[n.Kind] {
					if freed == nil {
						freed = make(map[string]bool)
					}
					freed[n.Kind] = true
					notes = append(notes, n)
				}
			case store.NoticeScheduled:
				if scheduled.IsZero() || n.RunAt.Before(scheduled) {
					scheduled = n.RunAt
				}
			case store.NoticeCancel:
				cancels = append(cancels, n.JobIDs...)
			default:
				notes = append(notes, n)
			}
		}
	}
	if !scheduled.IsZero() {
		notes = append(notes, store.Notice{Type: store.NoticeScheduled, RunAt: scheduled})
	}
	if len(cancels) > 0 {
		notes = append(notes, store.Notice{Type: store.NoticeCancel, JobIDs: cancels})
	}
	if len(notes) > 0 {
		s.hub.Publish(notes)
	}
}

// countKey names a row of job_counts.
type countKey struct {
	queue, kind string
	state       store.State
}

// count records that a job of (queue, kind) went from one state to another
// ("" for none: inserted or deleted).
func (w *writer) count(queue, kind string, from, to store.State) {
	if from == to {
		return
	}
	o := w.cur
	if o.counts == nil {
		o.counts = make(map[countKey]int64)
	}
	if from != "" {
		o.counts[countKey{queue, kind, from}]--
	}
	if to != "" {
		o.counts[countKey{queue, kind, to}]++
	}
}

// countRows is the most job_counts rows one statement of applyCounts
// changes.
const countRows = 32

// applyCounts adds the count changes of the ops that succeeded to
// job_counts, up to countRows rows a statement. A row that reaches zero
// stays (readers skip it; Prune deletes such rows): deleting it and
// inserting it again whenever a job passes through a state that was empty,
// as the claim and the finish of a lone job do, made the count upkeep
// about a sixth of the writer's CPU time on an idle node.
func (w *writer) applyCounts(ops []*op) error {
	var total map[countKey]int64
	for _, o := range ops {
		if o.err != nil {
			continue
		}
		for k, n := range o.counts {
			if total == nil {
				total = make(map[countKey]int64)
			}
			total[k] += n
		}
	}
	var args []any
	for k, n := range total {
		if n != 0 {
			args = append(args, k.queue, k.kind, string(k.state), n)
		}
	}
	for len(args) > 0 {
		chunk := args[:min(len(args), 4*countRows)]
		args = args[len(chunk):]
		if _, err := w.exec(w.countsSQL(len(chunk)/4), chunk...); err != nil {
			return fmt.Errorf("sqlite: job counts: %w", err)
		}
	}
	return nil
}

// countsSQL returns the statement that adds n count changes, each to a
// different row, to job_counts.
func (w *writer) countsSQL(n int) string {
	if q, ok := w.countsSQLs[n]; ok {
		return q
	}
	var b strings.Builder
	b.WriteString(`INSERT INTO job_counts (queue, kind, state, n) VALUES `)
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(`(?, ?, ?, ?)`)
	}
	b.WriteString(` ON CONFLICT (queue, kind, state) DO UPDATE SET n = n + excluded.n`)
	q := b.String()
	w.countsSQLs[n] = q
	return q
}

// note records a notice of the current op.
func (w *writer) note(n store.Notice) {
	w.cur.notes = append(w.cur.notes, n)
}

// stmt returns the cached prepared statement for q.
func (w *writer) stmt(q string) (*sql.Stmt, error) {
	if st, ok := w.stmts[q]; ok {
		return st, nil
	}
	st, err := w.conn.PrepareContext(context.Background(), q)
	if err != nil {
		return nil, err
	}
	w.stmts[q] = st
	return st, nil
}

// The writer's statements run with context.Background(): an op's context is
// checked before it starts, and interrupting a statement would break the
// transaction shared with other ops.

func (w *writer) exec(q string, args ...any) (sql.Result, error) {
	st, err := w.stmt(q)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(context.Background(), args...)
}

func (w *writer) query(q string, args ...any) (*sql.Rows, error) {
	st, err := w.stmt(q)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(context.Background(), args...)
}

// errRow is a scanner that reports an error.
type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

func (w *writer) queryRow(q string, args ...any) scanner {
	st, err := w.stmt(q)
	if err != nil {
		return errRow{err}
	}
	return st.QueryRowContext(context.Background(), args...)
}

// queueSettings returns the settings of queue (the defaults if it has none).
func (w *writer) queueSettings(queue string) (queueSettings, error) {
	if qs, ok := w.queues[queue]; ok {
		return qs, nil
	}
	qs := queueSettings{urgent: -1}
	err := w.queryRow(`SELECT paused, max_size, urgent_priority FROM queues WHERE name = ?`, queue).
		Scan(&qs.paused, &qs.maxSize, &qs.urgent)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return qs, fmt.Errorf("sqlite: queue %q: %w", queue, err)
	}
	w.queues[queue] = qs
	return qs, nil
}
