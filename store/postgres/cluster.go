package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rotahq/rota/store"
)

// leaderColumns are the columns scanLeader reads, in order.
const leaderColumns = `name, node, instance, term, lease_until`

func scanLeader(row pgx.Row) (store.Leader, error) {
	var l store.Leader
	if err := row.Scan(&l.Name, &l.Node, &l.Instance, &l.Term, &l.Until); err != nil {
		return store.Leader{}, err
	}
	l.Until = l.Until.UTC()
	return l, nil
}

// Lead takes or renews a leader lease in one INSERT ... ON CONFLICT DO
// UPDATE ... WHERE: PostgreSQL locks the row of a conflict and evaluates
// the condition on its newest version, so of racing candidates exactly one
// takes a free lease. See store.Store.
func (s *Store) Lead(ctx context.Context, p store.LeadParams) (store.Leader, error) {
	if s.isClosed() {
		return store.Leader{}, ErrClosed
	}
	if err := p.Check(); err != nil {
		return store.Leader{}, fmt.Errorf("postgres: lead: %w", err)
	}
	l, err := scanLeader(s.pool.QueryRow(ctx, `INSERT INTO leaders AS l (name, node, instance, term, lease_until)
		VALUES ($1, $2, $3, 1, $5)
		ON CONFLICT (name) DO UPDATE SET node = $2, instance = $3, lease_until = $5,
			term = CASE WHEN l.node = $2 AND l.instance = $3 THEN l.term ELSE l.term + 1 END
		WHERE l.node = '' OR l.lease_until <= $4 OR (l.node = $2 AND l.instance = $3)
		RETURNING `+leaderColumns, p.Name, p.Node, p.Instance, utc(p.Now), utc(p.Until)))
	if errors.Is(err, pgx.ErrNoRows) {
		// Held by another candidate. A new statement reads the holder that
		// won (the upsert's own snapshot may predate it).
		l, err = scanLeader(s.pool.QueryRow(ctx, `SELECT `+leaderColumns+` FROM leaders WHERE name = $1`, p.Name))
	}
	if err != nil {
		return store.Leader{}, fmt.Errorf("postgres: lead %q: %w", p.Name, err)
	}
	return l, nil
}

// Resign frees a leader lease held by (node, instance) and notifies the
// other nodes. See store.Store.
func (s *Store) Resign(ctx context.Context, name, node, instance string) (bool, error) {
	if name == "" || node == "" {
		return false, errors.New("postgres: resign: empty leader name or node")
	}
	var freed bool
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE leaders SET node = '', instance = ''
			WHERE name = $1 AND node = $2 AND instance = $3`, name, node, instance)
		if err != nil {
			return fmt.Errorf("postgres: resign %q: %w", name, err)
		}
		freed = tag.RowsAffected() > 0
		if !freed {
			return nil
		}
		return s.notify(ctx, tx, &notes{leaderFreed: []string{name}})
	})
	if err != nil {
		return false, err
	}
	return freed, nil
}

// GetLeader returns a leader lease as stored. See store.Store.
func (s *Store) GetLeader(ctx context.Context, name string) (store.Leader, error) {
	if s.isClosed() {
		return store.Leader{}, ErrClosed
	}
	l, err := scanLeader(s.pool.QueryRow(ctx, `SELECT `+leaderColumns+` FROM leaders WHERE name = $1`, name))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Leader{Name: name}, nil
	}
	if err != nil {
		return store.Leader{}, fmt.Errorf("postgres: leader %q: %w", name, err)
	}
	return l, nil
}

// nodeColumns are the columns scanNode reads, in order.
const nodeColumns = `id, instance, host, pid, version, queues, kinds, heartbeat_interval,
	started_at, heartbeat_at, stopped_at`

func scanNode(row pgx.Row) (*store.Node, error) {
	var (
		n        store.Node
		interval int64
		stopped  *time.Time
	)
	if err := row.Scan(&n.ID, &n.Instance, &n.Host, &n.PID, &n.Version, &n.Queues, &n.Kinds, &interval,
		&n.StartedAt, &n.HeartbeatAt, &stopped); err != nil {
		return nil, err
	}
	n.HeartbeatInterval = time.Duration(interval) * time.Microsecond
	n.StartedAt, n.HeartbeatAt, n.StoppedAt = n.StartedAt.UTC(), n.HeartbeatAt.UTC(), fromNull(stopped)
	return &n, nil
}

// list is v, or an empty list (a NOT NULL array) when v is nil.
func list(v []string) []string {
	if v == nil {
		return []string{}
	}
	return v
}

// RegisterNode inserts or replaces a node's row and returns the row it
// replaced, in one transaction. See store.Store.
func (s *Store) RegisterNode(ctx context.Context, n store.Node) (*store.Node, error) {
	if err := n.Check(); err != nil {
		return nil, fmt.Errorf("postgres: register node: %w", err)
	}
	var prev *store.Node
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		prev, err = scanNode(tx.QueryRow(ctx, `SELECT `+nodeColumns+` FROM nodes WHERE id = $1 FOR UPDATE`, n.ID))
		if errors.Is(err, pgx.ErrNoRows) {
			prev, err = nil, nil
		}
		if err != nil {
			return fmt.Errorf("postgres: register node %q: %w", n.ID, err)
		}
		_, err = tx.Exec(ctx, `INSERT INTO nodes AS n (id, instance, host, pid, version, queues, kinds,
				heartbeat_interval, started_at, heartbeat_at, stopped_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, NULL)
			ON CONFLICT (id) DO UPDATE SET instance = $2, host = $3, pid = $4, version = $5, queues = $6,
				kinds = $7, heartbeat_interval = $8, started_at = $9, heartbeat_at = $9, stopped_at = NULL`,
			n.ID, n.Instance, n.Host, n.PID, n.Version, list(n.Queues), list(n.Kinds),
			n.HeartbeatInterval.Microseconds(), utc(n.StartedAt))
		if err != nil {
			return fmt.Errorf("postgres: register node %q: %w", n.ID, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return prev, nil
}

// updateNode runs sql (an UPDATE of the row of id) in a transaction that
// first locks the row and checks that instance registered it: ErrNotFound
// without a row, ErrConflict for another instance.
func (s *Store) updateNode(ctx context.Context, what, id, instance, sql string, args ...any) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		var owner string
		err := tx.QueryRow(ctx, `SELECT instance FROM nodes WHERE id = $1 FOR UPDATE`, id).Scan(&owner)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return fmt.Errorf("postgres: %s: node %q: %w", what, id, store.ErrNotFound)
		case err != nil:
			return fmt.Errorf("postgres: %s %q: %w", what, id, err)
		case owner != instance:
			return fmt.Errorf("postgres: %s: node %q is registered by instance %q, not %q: %w",
				what, id, owner, instance, store.ErrConflict)
		}
		if _, err := tx.Exec(ctx, sql, args...); err != nil {
			return fmt.Errorf("postgres: %s %q: %w", what, id, err)
		}
		return nil
	})
}

// HeartbeatNode records that a node is alive. See store.Store.
func (s *Store) HeartbeatNode(ctx context.Context, h store.NodeHeartbeat) error {
	if err := h.Check(); err != nil {
		return fmt.Errorf("postgres: node heartbeat: %w", err)
	}
	return s.updateNode(ctx, "node heartbeat", h.ID, h.Instance,
		`UPDATE nodes SET heartbeat_at = $2, kinds = $3 WHERE id = $1`, h.ID, utc(h.Now), list(h.Kinds))
}

// StopNode marks a node stopped. See store.Store.
func (s *Store) StopNode(ctx context.Context, id, instance string, now time.Time) error {
	if id == "" || instance == "" {
		return errors.New("postgres: stop node: empty node id or instance")
	}
	return s.updateNode(ctx, "stop node", id, instance,
		`UPDATE nodes SET heartbeat_at = $2, stopped_at = $2 WHERE id = $1`, id, utc(now))
}

// Nodes lists the registered nodes by id. See store.Store.
func (s *Store) Nodes(ctx context.Context) ([]store.Node, error) {
	if s.isClosed() {
		return nil, ErrClosed
	}
	rows, err := s.pool.Query(ctx, `SELECT `+nodeColumns+` FROM nodes ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("postgres: nodes: %w", err)
	}
	defer rows.Close()
	var out []store.Node
	for rows.Next() {
		n, err := scanNode(rows)
		if err != nil {
			return nil, fmt.Errorf("postgres: nodes: %w", err)
		}
		out = append(out, *n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: nodes: %w", err)
	}
	return out, nil
}

// PruneNodes deletes the nodes silent since before. See store.Store.
func (s *Store) PruneNodes(ctx context.Context, before time.Time) (int64, error) {
	if s.isClosed() {
		return 0, ErrClosed
	}
	tag, err := s.pool.Exec(ctx, `DELETE FROM nodes WHERE heartbeat_at < $1`, utc(before))
	if err != nil {
		return 0, fmt.Errorf("postgres: prune nodes: %w", err)
	}
	return tag.RowsAffected(), nil
}
