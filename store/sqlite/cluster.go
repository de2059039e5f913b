package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/rotahq/rota/store"
)

// leaderColumns are the columns scanLeader reads, in order.
const leaderColumns = `name, node, instance, term, lease_until`

func scanLeader(sc scanner) (store.Leader, error) {
	var l store.Leader
	var until int64
	if err := sc.Scan(&l.Name, &l.Node, &l.Instance, &l.Term, &until); err != nil {
		return store.Leader{}, err
	}
	l.Until = fromMicros(until)
	return l, nil
}

// Lead takes or renews a leader lease in one upsert: the writer's
// transaction makes it atomic. See store.Store.
func (s *Store) Lead(ctx context.Context, p store.LeadParams) (store.Leader, error) {
	if err := p.Check(); err != nil {
		return store.Leader{}, fmt.Errorf("sqlite: lead: %w", err)
	}
	var l store.Leader
	// Lazy: a lease lost to a crash is a lease whose holder is gone too.
	err := s.doLazy(ctx, false, func(w *writer) error {
		var err error
		l, err = scanLeader(w.queryRow(`INSERT INTO leaders (name, node, instance, term, lease_until)
			VALUES (?1, ?2, ?3, 1, ?5)
			ON CONFLICT (name) DO UPDATE SET node = ?2, instance = ?3, lease_until = ?5,
				term = CASE WHEN leaders.node = ?2 AND leaders.instance = ?3 THEN leaders.term ELSE leaders.term + 1 END
			WHERE leaders.node = '' OR leaders.lease_until <= ?4 OR (leaders.node = ?2 AND leaders.instance = ?3)
			RETURNING `+leaderColumns,
			p.Name, p.Node, p.Instance, micros(utc(p.Now)), micros(utc(p.Until))))
		if errors.Is(err, sql.ErrNoRows) { // held by another candidate
			l, err = scanLeader(w.queryRow(`SELECT `+leaderColumns+` FROM leaders WHERE name = ?`, p.Name))
		}
		if err != nil {
			return fmt.Errorf("sqlite: lead %q: %w", p.Name, err)
		}
		return nil
	})
	if err != nil {
		return store.Leader{}, err
	}
	return l, nil
}

// Resign frees a leader lease held by (node, instance). See store.Store.
func (s *Store) Resign(ctx context.Context, name, node, instance string) (bool, error) {
	if name == "" || node == "" {
		return false, errors.New("sqlite: resign: empty leader name or node")
	}
	var freed bool
	err := s.do(ctx, false, func(w *writer) error {
		res, err := w.exec(`UPDATE leaders SET node = '', instance = ''
			WHERE name = ? AND node = ? AND instance = ?`, name, node, instance)
		if err != nil {
			return fmt.Errorf("sqlite: resign %q: %w", name, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("sqlite: resign %q: %w", name, err)
		}
		freed = n > 0
		if freed {
			w.note(store.Notice{Type: store.NoticeLeaderFreed, Name: name})
		}
		return nil
	})
	if err != nil {
		return false, err
	}
	return freed, nil
}

// GetLeader returns a leader lease as stored. See store.Store.
func (s *Store) GetLeader(ctx context.Context, name string) (store.Leader, error) {
	l, err := scanLeader(s.rdb.QueryRowContext(ctx, `SELECT `+leaderColumns+` FROM leaders WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Leader{Name: name}, nil
	}
	if err != nil {
		return store.Leader{}, fmt.Errorf("sqlite: leader %q: %w", name, err)
	}
	return l, nil
}

// nodeColumns are the columns scanNode reads, in order.
const nodeColumns = `id, instance, host, pid, version, queues, kinds, heartbeat_interval,
	started_at, heartbeat_at, stopped_at`

func scanNode(sc scanner) (*store.Node, error) {
	var (
		n                  store.Node
		queues, kinds      string
		interval           int64
		started, heartbeat int64
		stopped            sql.NullInt64
	)
	if err := sc.Scan(&n.ID, &n.Instance, &n.Host, &n.PID, &n.Version, &queues, &kinds, &interval,
		&started, &heartbeat, &stopped); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(queues), &n.Queues); err != nil {
		return nil, fmt.Errorf("node %q: queues: %w", n.ID, err)
	}
	if err := json.Unmarshal([]byte(kinds), &n.Kinds); err != nil {
		return nil, fmt.Errorf("node %q: kinds: %w", n.ID, err)
	}
	n.HeartbeatInterval = time.Duration(interval) * time.Microsecond
	n.StartedAt, n.HeartbeatAt, n.StoppedAt = fromMicros(started), fromMicros(heartbeat), fromNullMicros(stopped)
	return &n, nil
}

// encodeList returns a list of strings as a JSON array ("[]" when empty).
func encodeList(v []string) string {
	if len(v) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(v) // a []string always marshals
	return string(b)
}

// RegisterNode inserts or replaces a node's row and returns the row it
// replaced. See store.Store.
func (s *Store) RegisterNode(ctx context.Context, n store.Node) (*store.Node, error) {
	if err := n.Check(); err != nil {
		return nil, fmt.Errorf("sqlite: register node: %w", err)
	}
	var prev *store.Node
	err := s.do(ctx, false, func(w *writer) error {
		var err error
		prev, err = scanNode(w.queryRow(`SELECT `+nodeColumns+` FROM nodes WHERE id = ?`, n.ID))
		if errors.Is(err, sql.ErrNoRows) {
			prev, err = nil, nil
		}
		if err != nil {
			return fmt.Errorf("sqlite: register node %q: %w", n.ID, err)
		}
		started := micros(utc(n.StartedAt))
		_, err = w.exec(`INSERT INTO nodes (id, instance, host, pid, version, queues, kinds, heartbeat_interval,
				started_at, heartbeat_at, stopped_at)
			VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9, NULL)
			ON CONFLICT (id) DO UPDATE SET instance = ?2, host = ?3, pid = ?4, version = ?5, queues = ?6,
				kinds = ?7, heartbeat_interval = ?8, started_at = ?9, heartbeat_at = ?9, stopped_at = NULL`,
			n.ID, n.Instance, n.Host, n.PID, n.Version, encodeList(n.Queues), encodeList(n.Kinds),
			n.HeartbeatInterval.Microseconds(), started)
		if err != nil {
			return fmt.Errorf("sqlite: register node %q: %w", n.ID, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return prev, nil
}

// nodeOwner checks, inside the writer, that the row of id was registered
// by instance: ErrNotFound without a row, ErrConflict for another instance.
func (w *writer) nodeOwner(id, instance string) error {
	var owner string
	err := w.queryRow(`SELECT instance FROM nodes WHERE id = ?`, id).Scan(&owner)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("sqlite: node %q: %w", id, store.ErrNotFound)
	case err != nil:
		return fmt.Errorf("sqlite: node %q: %w", id, err)
	case owner != instance:
		return fmt.Errorf("sqlite: node %q is registered by instance %q, not %q: %w", id, owner, instance, store.ErrConflict)
	}
	return nil
}

// HeartbeatNode records that a node is alive. See store.Store.
func (s *Store) HeartbeatNode(ctx context.Context, h store.NodeHeartbeat) error {
	if err := h.Check(); err != nil {
		return fmt.Errorf("sqlite: node heartbeat: %w", err)
	}
	// Lazy: a heartbeat lost to a crash is one the next replaces.
	return s.doLazy(ctx, false, func(w *writer) error {
		if err := w.nodeOwner(h.ID, h.Instance); err != nil {
			return err
		}
		if _, err := w.exec(`UPDATE nodes SET heartbeat_at = ?, kinds = ? WHERE id = ?`,
			micros(utc(h.Now)), encodeList(h.Kinds), h.ID); err != nil {
			return fmt.Errorf("sqlite: node %q heartbeat: %w", h.ID, err)
		}
		return nil
	})
}

// StopNode marks a node stopped. See store.Store.
func (s *Store) StopNode(ctx context.Context, id, instance string, now time.Time) error {
	if id == "" || instance == "" {
		return errors.New("sqlite: stop node: empty node id or instance")
	}
	return s.do(ctx, false, func(w *writer) error {
		if err := w.nodeOwner(id, instance); err != nil {
			return err
		}
		t := micros(utc(now))
		if _, err := w.exec(`UPDATE nodes SET heartbeat_at = ?, stopped_at = ? WHERE id = ?`, t, t, id); err != nil {
			return fmt.Errorf("sqlite: stop node %q: %w", id, err)
		}
		return nil
	})
}

// Nodes lists the registered nodes by id. See store.Store.
func (s *Store) Nodes(ctx context.Context) ([]store.Node, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT `+nodeColumns+` FROM nodes ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: nodes: %w", err)
	}
	defer rows.Close()
	var out []store.Node
	for rows.Next() {
		n, err := scanNode(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: nodes: %w", err)
		}
		out = append(out, *n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: nodes: %w", err)
	}
	return out, nil
}

// PruneNodes deletes the nodes silent since before. See store.Store.
func (s *Store) PruneNodes(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := s.do(ctx, false, func(w *writer) error {
		res, err := w.exec(`DELETE FROM nodes WHERE heartbeat_at < ?`, micros(utc(before)))
		if err != nil {
			return fmt.Errorf("sqlite: prune nodes: %w", err)
		}
		n, err = res.RowsAffected()
		if err != nil {
			return fmt.Errorf("sqlite: prune nodes: %w", err)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}
