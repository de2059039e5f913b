package postgres

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rotahq/rota/store"
)

// Group commit of inserts without keys.
const (
	// insertCommitters is how many groups may commit at once.
	insertCommitters = 2
	// maxGroupRows bounds the rows of one group (a single larger insert is
	// a group of its own).
	maxGroupRows = 5000
	// insertQueueSize is the capacity of the channel of pending inserts.
	insertQueueSize = 1024
)

// insertOp is one Insert call without keys, waiting for its group.
type insertOp struct {
	ctx     context.Context
	rows    []insertRow
	now     time.Time
	results []store.InsertResult
	err     error
	done    chan struct{}
}

// insertGroup submits op to the committers and waits for it. Once accepted,
// it is waited for even if ctx ends, so that a committed insert is not
// reported as failed; an op whose context ended before its group started is
// skipped, and a group's statement is interrupted only when the contexts
// of all its ops ended (a server that does not answer holds no caller).
func (s *Store) insertGroup(ctx context.Context, op *insertOp) error {
	op.ctx, op.done = ctx, make(chan struct{})
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return ErrClosed
	}
	select {
	case s.insertOps <- op:
	case <-ctx.Done():
		s.mu.RUnlock()
		return ctx.Err()
	}
	s.mu.RUnlock()
	<-op.done
	return op.err
}

// commitInserts runs groups until the channel is closed (by Close).
func (s *Store) commitInserts() {
	for op := range s.insertOps {
		group := []*insertOp{op}
		n := len(op.rows)
	drain:
		for n < maxGroupRows {
			select {
			case o, ok := <-s.insertOps:
				if !ok {
					break drain
				}
				group = append(group, o)
				n += len(o.rows)
			default:
				break drain
			}
		}
		s.runGroup(group)
	}
}

// runGroup inserts the rows of the ops of group together: with one
// statement that inserts and notifies when none of their queues has a size
// cap, else in one transaction that locks the capped queues and admits the
// ops in order, failing those that do not fit with ErrQueueFull.
func (s *Store) runGroup(group []*insertOp) {
	live := group[:0:0]
	for _, op := range group {
		if err := op.ctx.Err(); err != nil {
			op.err = err
			close(op.done)
			continue
		}
		live = append(live, op)
	}
	if len(live) == 0 {
		return
	}
	defer func() {
		for _, op := range live {
			if op.err != nil {
				op.results = nil
			}
			close(op.done)
		}
	}()
	s.insertLive(live)
	if len(live) < 2 {
		return
	}
	// A failure of the group may be the fault of one op (rows PostgreSQL
	// rejects): when the server reported an error, nothing of the group
	// was written, so each op that failed so runs again alone and keeps
	// its own outcome. (An error without the server's word, a lost
	// connection, may hide a commit: such an op is not run again.)
	for _, op := range live {
		if pgCode(op.err) != "" && op.ctx.Err() == nil {
			s.insertLive([]*insertOp{op})
		}
	}
}

// insertLive inserts the rows of the ops (whose contexts had not ended),
// setting their results or errors.
func (s *Store) insertLive(live []*insertOp) {
	for _, op := range live {
		op.err = nil
		clear(op.results)
	}
	// The group's statements end early only when every caller gave up.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var waiting atomic.Int32
	waiting.Store(int32(len(live)))
	for _, op := range live {
		stop := context.AfterFunc(op.ctx, func() {
			if waiting.Add(-1) == 0 {
				cancel()
			}
		})
		defer stop()
	}
	var ts []target
	var n notes
	queues := make(map[string]bool)
	for _, op := range live {
		for i := range op.rows {
			r := &op.rows[i]
			ts = append(ts, target{r: r, now: op.now, res: &op.results[i]})
			n.state(r.state, r.p.Queue, r.runAt)
			queues[r.p.Queue] = true
		}
	}
	qs := slices.Sorted(maps.Keys(queues))
	var payload *string
	if !n.empty() {
		p := n.encode()
		payload = &p
	}
	rows, err := s.pool.Query(ctx, sqlInsertFast, append(rowsArgs(ts), qs, s.channel, payload)...)
	var ids []int64
	if err == nil {
		ids, err = pgx.CollectRows(rows, pgx.RowTo[int64])
	}
	if err != nil {
		for _, op := range live {
			op.err = fmt.Errorf("postgres: insert: %w", err)
		}
		return
	}
	ids = slices.DeleteFunc(ids, func(id int64) bool { return id == 0 }) // the notice's row
	if len(ids) > 0 {
		if err := fillResults(ts, ids, nil); err != nil {
			for _, op := range live {
				op.err = err
			}
		}
		return
	}
	// A queue has a cap: the transaction path.
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		rooms, err := lockRooms(ctx, tx, qs)
		if err != nil {
			return err
		}
		ts, n = ts[:0], notes{}
		for _, op := range live {
			op.err = nil
			if op.err = admit(rooms, op.rows); op.err != nil {
				continue
			}
			for i := range op.rows {
				ts = append(ts, target{r: &op.rows[i], now: op.now, res: &op.results[i]})
			}
		}
		if len(ts) == 0 {
			return nil
		}
		if err := insertMany(ctx, tx, ts, &n); err != nil {
			return err
		}
		return s.notify(ctx, tx, &n)
	})
	if err != nil {
		for _, op := range live {
			if op.err == nil || !errors.Is(op.err, store.ErrQueueFull) {
				op.err = err
			}
		}
	}
}

// admit takes places for rows in the capped queues of rooms, all or none:
// it fails with ErrQueueFull naming the first row that does not fit.
func admit(rooms map[string]*queueRoom, rows []insertRow) error {
	taken := make(map[string]int)
	for i := range rows {
		p := &rows[i].p
		r := rooms[p.Queue]
		if r == nil {
			continue
		}
		if r.waiting+taken[p.Queue] >= r.maxSize && p.Priority > r.urgent {
			return fmt.Errorf("postgres: insert job %d: %w",
				i, store.QueueFull(p.Queue, r.waiting+taken[p.Queue], r.maxSize, r.urgent))
		}
		taken[p.Queue]++
	}
	for q, k := range taken {
		rooms[q].waiting += k
	}
	return nil
}
