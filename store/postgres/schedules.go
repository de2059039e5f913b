package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rotahq/rota/store"
)

// scheduleColumns are the columns scanSchedule reads, in order.
const scheduleColumns = `key, kind, queue, args, priority, metadata, spec, zone, jitter, enabled, disabled_reason,
	misfire, misfire_cap, misfire_grace, overlap, condition, next_fire, last_fire, last_outcome, last_job_id,
	pending_job_id, created_at, updated_at`

func scanSchedule(row pgx.Row) (*store.Schedule, error) {
	var (
		s                store.Schedule
		args             []byte
		md               []byte
		jitter, grace    int64
		next, last       *time.Time
		misfire, overlap string
	)
	if err := row.Scan(&s.Key, &s.Kind, &s.Queue, &args, &s.Priority, &md, &s.Spec, &s.Zone, &jitter, &s.Enabled,
		&s.DisabledReason, &misfire, &s.MisfireCap, &grace, &overlap, &s.Condition, &next, &last, &s.LastOutcome,
		&s.LastJobID, &s.PendingJobID, &s.CreatedAt, &s.UpdatedAt); err != nil {
		return nil, err
	}
	if args != nil {
		s.Args = json.RawMessage(args)
	}
	if len(md) > 2 {
		if err := json.Unmarshal(md, &s.Metadata); err != nil {
			return nil, fmt.Errorf("schedule %q: metadata: %w", s.Key, err)
		}
	}
	s.Jitter = time.Duration(jitter) * time.Microsecond
	s.MisfireGrace = time.Duration(grace) * time.Microsecond
	s.Misfire, s.Overlap = store.MisfirePolicy(misfire), store.OverlapPolicy(overlap)
	s.NextFire, s.LastFire = fromNull(next), fromNull(last)
	s.CreatedAt, s.UpdatedAt = s.CreatedAt.UTC(), s.UpdatedAt.UTC()
	return &s, nil
}

// scheduleChanged notifies the change of a schedule through tx.
func (s *Store) scheduleChanged(ctx context.Context, tx pgx.Tx) error {
	return s.notify(ctx, tx, &notes{schedules: true})
}

// UpsertSchedule inserts or replaces a schedule. See store.Scheduler.
func (s *Store) UpsertSchedule(ctx context.Context, sc store.Schedule, now time.Time) (*store.Schedule, error) {
	// $19 is the earliest fire time taken back, or NULL (LEAST ignores
	// NULLs). The SET expressions read the row as it was (s.enabled is the
	// stored state).
	return s.writeSchedule(ctx, sc, now, "upsert", `ON CONFLICT (key) DO UPDATE SET kind = $2, queue = $3,
				args = $4::jsonb, priority = $5, metadata = $6::jsonb, jitter = $9, enabled = $10,
				disabled_reason = CASE WHEN NOT s.enabled AND NOT $10 AND $11 = '' THEN s.disabled_reason ELSE $11 END,
				misfire = $12, misfire_cap = $13, misfire_grace = $14, overlap = $15, condition = $16, updated_at = $18,
				next_fire = CASE WHEN s.spec = $7 AND s.zone = $8 AND s.enabled AND $10
					THEN LEAST(s.next_fire, $19::timestamptz) ELSE $17 END,
				spec = $7, zone = $8`)
}

// takeBack locks the row of schedule key (so that a fire the leader
// writes meanwhile is either seen here or refused by its compare-and-set),
// deletes its fire jobs written ahead of now (see store.Scheduler) and
// returns the earliest of their fire times (zero if none, or no schedule).
func takeBack(ctx context.Context, tx pgx.Tx, key string, now time.Time) (time.Time, error) {
	var kind string
	err := tx.QueryRow(ctx, `SELECT kind FROM schedules WHERE key = $1 FOR UPDATE`, key).Scan(&kind)
	if errors.Is(err, pgx.ErrNoRows) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("take back fires written ahead: %w", err)
	}
	lo, hi, chars := store.TakenBack(key, now)
	rows, err := tx.Query(ctx, `SELECT id, key FROM jobs WHERE kind = $1 AND state = 'scheduled' AND key LIKE 'sched:%'
		AND key COLLATE "C" > $2 AND key COLLATE "C" < $3 AND length(key) = $4 FOR UPDATE`, kind, lo, hi, chars)
	if err != nil {
		return time.Time{}, fmt.Errorf("take back fires written ahead: %w", err)
	}
	type candidate struct {
		ID  int64
		Key string
	}
	cands, err := pgx.CollectRows(rows, pgx.RowToStructByPos[candidate])
	if err != nil {
		return time.Time{}, fmt.Errorf("take back fires written ahead: %w", err)
	}
	picked, earliest := store.PickTakenBack(key, cands, func(c candidate) string { return c.Key })
	ids := make([]int64, len(picked))
	for i, c := range picked {
		ids[i] = c.ID
	}
	if len(ids) == 0 {
		return time.Time{}, nil
	}
	if _, err := tx.Exec(ctx, `DELETE FROM jobs WHERE id = ANY($1)`, ids); err != nil {
		return time.Time{}, fmt.Errorf("take back fires written ahead: %w", err)
	}
	if _, err := tx.Exec(ctx, `UPDATE schedules SET last_outcome = $1, last_job_id = 0
		WHERE key = $2 AND last_job_id = ANY($3)`, store.FireOutcomeTakenBack, key, ids); err != nil {
		return time.Time{}, fmt.Errorf("take back fires written ahead: %w", err)
	}
	return earliest, nil
}

// CreateSchedule inserts a new schedule. See store.Scheduler.
func (s *Store) CreateSchedule(ctx context.Context, sc store.Schedule, now time.Time) (*store.Schedule, error) {
	return s.writeSchedule(ctx, sc, now, "create", `ON CONFLICT (key) DO NOTHING`)
}

// writeSchedule inserts sc with the conflict clause onConflict (the table
// is aliased s); a conflict that returns no row is ErrDuplicate. action
// names the caller in errors.
func (s *Store) writeSchedule(ctx context.Context, sc store.Schedule, now time.Time, action, onConflict string) (*store.Schedule, error) {
	if err := sc.Check(); err != nil {
		return nil, fmt.Errorf("postgres: %s schedule: %w", action, err)
	}
	md, err := encodeMetadata(sc.Metadata)
	if err != nil {
		return nil, fmt.Errorf("postgres: %s schedule %q: metadata: %w", action, sc.Key, err)
	}
	var out *store.Schedule
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		args := []any{sc.Key, sc.Kind, sc.Queue, nullJSON(sc.Args), sc.Priority, md, sc.Spec, sc.Zone, sc.Jitter.Microseconds(),
			sc.Enabled, sc.DisabledReason, string(sc.Misfire), sc.MisfireCap, sc.MisfireGrace.Microseconds(),
			string(sc.Overlap), sc.Condition, nullTime(sc.NextFire), utc(now)}
		if action == "upsert" {
			back, err := takeBack(ctx, tx, sc.Key, now)
			if err != nil {
				return fmt.Errorf("postgres: upsert schedule %q: %w", sc.Key, err)
			}
			args = append(args, nullTime(back))
		}
		var err error
		out, err = scanSchedule(tx.QueryRow(ctx, `INSERT INTO schedules AS s (key, kind, queue, args, priority, metadata,
				spec, zone, jitter, enabled, disabled_reason, misfire, misfire_cap, misfire_grace, overlap, condition,
				next_fire, created_at, updated_at)
			VALUES ($1, $2, $3, $4::jsonb, $5, $6::jsonb, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $18)
			`+onConflict+`
			RETURNING `+scheduleColumns, args...))
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("postgres: %s schedule %q: %w", action, sc.Key, store.ErrDuplicate)
		}
		if err != nil {
			return fmt.Errorf("postgres: %s schedule %q: %w", action, sc.Key, err)
		}
		return s.scheduleChanged(ctx, tx)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// GetSchedule returns one schedule. See store.Scheduler.
func (s *Store) GetSchedule(ctx context.Context, key string) (*store.Schedule, error) {
	sc, err := scanSchedule(s.pool.QueryRow(ctx, `SELECT `+scheduleColumns+` FROM schedules WHERE key = $1`, key))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("postgres: schedule %q: %w", key, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: schedule %q: %w", key, err)
	}
	return sc, nil
}

// ListSchedules returns a page of schedules by key. See store.Scheduler.
func (s *Store) ListSchedules(ctx context.Context, p store.ScheduleListParams) (store.SchedulePage, error) {
	limit := p.Limit
	if limit <= 0 {
		limit = store.DefaultListLimit
	}
	limit = min(limit, store.MaxListLimit)
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if p.Kind != "" {
		where = append(where, "kind = "+arg(p.Kind))
	}
	if p.Enabled != nil {
		where = append(where, "enabled = "+arg(*p.Enabled))
	}
	if p.Pending {
		where = append(where, "pending_job_id <> 0")
	}
	if p.AfterKey != "" {
		where = append(where, "key > "+arg(p.AfterKey))
	}
	q := `SELECT ` + scheduleColumns + ` FROM schedules`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY key LIMIT " + arg(limit+1)
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return store.SchedulePage{}, fmt.Errorf("postgres: list schedules: %w", err)
	}
	defer rows.Close()
	var page store.SchedulePage
	for rows.Next() {
		sc, err := scanSchedule(rows)
		if err != nil {
			return store.SchedulePage{}, fmt.Errorf("postgres: list schedules: %w", err)
		}
		page.Schedules = append(page.Schedules, sc)
	}
	if err := rows.Err(); err != nil {
		return store.SchedulePage{}, fmt.Errorf("postgres: list schedules: %w", err)
	}
	if len(page.Schedules) > limit {
		page.Schedules = page.Schedules[:limit]
		page.NextAfterKey = page.Schedules[limit-1].Key
	}
	return page, nil
}

// DeleteSchedule deletes a schedule. See store.Scheduler.
func (s *Store) DeleteSchedule(ctx context.Context, key string, now time.Time) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := takeBack(ctx, tx, key, now); err != nil {
			return fmt.Errorf("postgres: delete schedule %q: %w", key, err)
		}
		tag, err := tx.Exec(ctx, `DELETE FROM schedules WHERE key = $1`, key)
		if err != nil {
			return fmt.Errorf("postgres: delete schedule %q: %w", key, err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("postgres: delete schedule %q: %w", key, store.ErrNotFound)
		}
		return s.scheduleChanged(ctx, tx)
	})
}

// SetScheduleEnabled enables or disables a schedule. See store.Scheduler.
func (s *Store) SetScheduleEnabled(ctx context.Context, key string, enabled bool, reason string, next, now time.Time) (*store.Schedule, error) {
	if enabled {
		reason = ""
	}
	var out *store.Schedule
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if !enabled {
			if _, err := takeBack(ctx, tx, key, now); err != nil {
				return fmt.Errorf("postgres: disable schedule %q: %w", key, err)
			}
		}
		var err error
		out, err = scanSchedule(tx.QueryRow(ctx, `UPDATE schedules SET enabled = $1, disabled_reason = $2,
				next_fire = CASE WHEN $1 THEN $3 ELSE next_fire END, updated_at = $4
			WHERE key = $5 RETURNING `+scheduleColumns,
			enabled, reason, nullTime(next), utc(now), key))
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("postgres: schedule %q: %w", key, store.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("postgres: enable schedule %q: %w", key, err)
		}
		return s.scheduleChanged(ctx, tx)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DueSchedules returns the enabled schedules due at now. See store.Scheduler.
func (s *Store) DueSchedules(ctx context.Context, now time.Time, limit int) ([]*store.Schedule, time.Time, error) {
	if limit <= 0 {
		limit = store.DefaultListLimit
	}
	rows, err := s.pool.Query(ctx, `SELECT `+scheduleColumns+` FROM schedules
		WHERE enabled AND next_fire IS NOT NULL ORDER BY next_fire, key LIMIT $1`, limit+1)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("postgres: due schedules: %w", err)
	}
	defer rows.Close()
	var due []*store.Schedule
	var next time.Time
	nowU := utc(now)
	for rows.Next() {
		sc, err := scanSchedule(rows)
		if err != nil {
			return nil, time.Time{}, fmt.Errorf("postgres: due schedules: %w", err)
		}
		if sc.NextFire.After(nowU) || len(due) == limit {
			next = sc.NextFire
			break
		}
		due = append(due, sc)
	}
	if err := rows.Err(); err != nil {
		return nil, time.Time{}, fmt.Errorf("postgres: due schedules: %w", err)
	}
	return due, next, nil
}

// SettlePending makes a schedule's pending job its last. See store.Scheduler.
func (s *Store) SettlePending(ctx context.Context, key string, pendingID int64, now time.Time) error {
	if _, err := s.pool.Exec(ctx, `UPDATE schedules SET last_job_id = pending_job_id, pending_job_id = 0, updated_at = $1
		WHERE key = $2 AND pending_job_id = $3`, utc(now), key, pendingID); err != nil {
		return fmt.Errorf("postgres: settle schedule %q: %w", key, err)
	}
	return nil
}

// Signal counts a named event. See store.Scheduler.
func (s *Store) Signal(ctx context.Context, name string, n int64, now time.Time) error {
	if name == "" {
		return errors.New("postgres: signal: empty name")
	}
	if _, err := s.pool.Exec(ctx, `INSERT INTO signals (name, bucket, n) VALUES ($1, $2, $3)
		ON CONFLICT (name, bucket) DO UPDATE SET n = signals.n + $3`,
		name, utc(now).Truncate(store.SignalBucket), n); err != nil {
		return fmt.Errorf("postgres: signal %q: %w", name, err)
	}
	return nil
}

// SignalCount sums a signal's buckets in [from, to). See store.Scheduler.
func (s *Store) SignalCount(ctx context.Context, name string, from, to time.Time) (int64, error) {
	var n int64
	if err := s.pool.QueryRow(ctx, `SELECT coalesce(sum(n), 0)::bigint FROM signals
		WHERE name = $1 AND bucket >= $2 AND bucket < $3`, name, utc(from), utc(to)).Scan(&n); err != nil {
		return 0, fmt.Errorf("postgres: signal count %q: %w", name, err)
	}
	return n, nil
}
