package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/rotahq/rota/store"
)

// scheduleColumns are the columns scanSchedule reads, in order.
const scheduleColumns = `key, kind, queue, args, priority, metadata, spec, zone, jitter, enabled, disabled_reason,
	misfire, misfire_cap, misfire_grace, overlap, condition, next_fire, last_fire, last_outcome, last_job_id,
	pending_job_id, created_at, updated_at`

func scanSchedule(sc scanner) (*store.Schedule, error) {
	var (
		s                store.Schedule
		args             sql.NullString
		md               string
		jitter, grace    int64
		enabled          int64
		next, last       sql.NullInt64
		created, updated int64
		misfire, overlap string
	)
	if err := sc.Scan(&s.Key, &s.Kind, &s.Queue, &args, &s.Priority, &md, &s.Spec, &s.Zone, &jitter, &enabled,
		&s.DisabledReason, &misfire, &s.MisfireCap, &grace, &overlap, &s.Condition, &next, &last, &s.LastOutcome,
		&s.LastJobID, &s.PendingJobID, &created, &updated); err != nil {
		return nil, err
	}
	if args.Valid {
		s.Args = json.RawMessage(args.String)
	}
	if md != "" && md != "{}" {
		if err := json.Unmarshal([]byte(md), &s.Metadata); err != nil {
			return nil, fmt.Errorf("schedule %q: metadata: %w", s.Key, err)
		}
	}
	s.Jitter = time.Duration(jitter) * time.Microsecond
	s.MisfireGrace = time.Duration(grace) * time.Microsecond
	s.Enabled = enabled != 0
	s.Misfire, s.Overlap = store.MisfirePolicy(misfire), store.OverlapPolicy(overlap)
	s.NextFire, s.LastFire = fromNullMicros(next), fromNullMicros(last)
	s.CreatedAt, s.UpdatedAt = fromMicros(created), fromMicros(updated)
	return &s, nil
}

// UpsertSchedule inserts or replaces a schedule. See store.Scheduler.
func (s *Store) UpsertSchedule(ctx context.Context, sc store.Schedule, now time.Time) (*store.Schedule, error) {
	// ?19 is the earliest fire time taken back, or NULL. The SET
	// expressions read the row as it was (schedules.enabled is the stored
	// state).
	return s.writeSchedule(ctx, sc, now, "upsert", `ON CONFLICT (key) DO UPDATE SET kind = ?2, queue = ?3, args = ?4,
				priority = ?5, metadata = ?6, jitter = ?9, enabled = ?10,
				disabled_reason = CASE WHEN schedules.enabled = 0 AND ?10 = 0 AND ?11 = ''
					THEN schedules.disabled_reason ELSE ?11 END, misfire = ?12,
				misfire_cap = ?13, misfire_grace = ?14, overlap = ?15, condition = ?16, updated_at = ?18,
				next_fire = CASE WHEN schedules.spec = ?7 AND schedules.zone = ?8 AND schedules.enabled = 1 AND ?10 = 1
					THEN CASE WHEN ?19 IS NOT NULL AND (schedules.next_fire IS NULL OR ?19 < schedules.next_fire)
						THEN ?19 ELSE schedules.next_fire END
					ELSE ?17 END,
				spec = ?7, zone = ?8`)
}

// sqlTakeBack selects the candidate fire jobs of schedule ?1 written
// ahead: see store.TakenBack for ?2, ?3 and ?4.
const sqlTakeBack = `SELECT id, queue, kind, key FROM jobs WHERE kind = (SELECT kind FROM schedules WHERE key = ?1)
	AND key <> '' AND key > ?2 AND key < ?3 AND length(key) = ?4 AND state = 'scheduled'`

// takeBack deletes the fire jobs of schedule key written ahead of now (see
// store.Scheduler) and returns the earliest of their fire times (zero if
// none).
func (w *writer) takeBack(key string, now time.Time) (time.Time, error) {
	lo, hi, chars := store.TakenBack(key, now)
	rows, err := w.query(sqlTakeBack, key, lo, hi, chars)
	if err != nil {
		return time.Time{}, fmt.Errorf("take back fires written ahead: %w", err)
	}
	type candidate struct {
		id               int64
		queue, kind, key string
	}
	var cands []candidate
	for rows.Next() {
		var c candidate
		if err := rows.Scan(&c.id, &c.queue, &c.kind, &c.key); err != nil {
			rows.Close()
			return time.Time{}, fmt.Errorf("take back fires written ahead: %w", err)
		}
		cands = append(cands, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return time.Time{}, fmt.Errorf("take back fires written ahead: %w", err)
	}
	picked, earliest := store.PickTakenBack(key, cands, func(c candidate) string { return c.key })
	ids := make([]int64, len(picked))
	for i, c := range picked {
		ids[i] = c.id
		w.count(c.queue, c.kind, store.StateScheduled, "")
	}
	if len(ids) == 0 {
		return time.Time{}, nil
	}
	list, _ := json.Marshal(ids)
	if _, err := w.exec(`DELETE FROM jobs WHERE id IN (SELECT value FROM json_each(?))`, string(list)); err != nil {
		return time.Time{}, fmt.Errorf("take back fires written ahead: %w", err)
	}
	if _, err := w.exec(`UPDATE schedules SET last_outcome = ?, last_job_id = 0
		WHERE key = ? AND last_job_id IN (SELECT value FROM json_each(?))`,
		store.FireOutcomeTakenBack, key, string(list)); err != nil {
		return time.Time{}, fmt.Errorf("take back fires written ahead: %w", err)
	}
	return earliest, nil
}

// CreateSchedule inserts a new schedule. See store.Scheduler.
func (s *Store) CreateSchedule(ctx context.Context, sc store.Schedule, now time.Time) (*store.Schedule, error) {
	return s.writeSchedule(ctx, sc, now, "create", `ON CONFLICT (key) DO NOTHING`)
}

// writeSchedule inserts sc with the conflict clause onConflict; a
// conflict that returns no row is ErrDuplicate. action names the caller
// in errors.
func (s *Store) writeSchedule(ctx context.Context, sc store.Schedule, now time.Time, action, onConflict string) (*store.Schedule, error) {
	if err := sc.Check(); err != nil {
		return nil, fmt.Errorf("sqlite: %s schedule: %w", action, err)
	}
	md, err := encodeMetadata(sc.Metadata)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %s schedule %q: metadata: %w", action, sc.Key, err)
	}
	var out *store.Schedule
	err = s.do(ctx, false, func(w *writer) error {
		args := []any{sc.Key, sc.Kind, sc.Queue, nullJSON(sc.Args), sc.Priority, md, sc.Spec, sc.Zone, sc.Jitter.Microseconds(),
			boolInt(sc.Enabled), sc.DisabledReason, string(sc.Misfire), sc.MisfireCap, sc.MisfireGrace.Microseconds(),
			string(sc.Overlap), sc.Condition, nullMicros(utc(sc.NextFire)), micros(utc(now))}
		if action == "upsert" {
			back, err := w.takeBack(sc.Key, now)
			if err != nil {
				return fmt.Errorf("sqlite: upsert schedule %q: %w", sc.Key, err)
			}
			args = append(args, nullMicros(back))
		}
		var err error
		out, err = scanSchedule(w.queryRow(`INSERT INTO schedules (key, kind, queue, args, priority, metadata, spec,
				zone, jitter, enabled, disabled_reason, misfire, misfire_cap, misfire_grace, overlap, condition,
				next_fire, created_at, updated_at)
			VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?18)
			`+onConflict+`
			RETURNING `+scheduleColumns, args...))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("sqlite: %s schedule %q: %w", action, sc.Key, store.ErrDuplicate)
		}
		if err != nil {
			return fmt.Errorf("sqlite: %s schedule %q: %w", action, sc.Key, err)
		}
		w.note(store.Notice{Type: store.NoticeScheduleChanged})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// GetSchedule returns one schedule. See store.Scheduler.
func (s *Store) GetSchedule(ctx context.Context, key string) (*store.Schedule, error) {
	sc, err := scanSchedule(s.rdb.QueryRowContext(ctx, `SELECT `+scheduleColumns+` FROM schedules WHERE key = ?`, key))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("sqlite: schedule %q: %w", key, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: schedule %q: %w", key, err)
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
	if p.Kind != "" {
		where, args = append(where, "kind = ?"), append(args, p.Kind)
	}
	if p.Enabled != nil {
		where, args = append(where, "enabled = ?"), append(args, boolInt(*p.Enabled))
	}
	if p.Pending {
		where = append(where, "pending_job_id <> 0")
	}
	if p.AfterKey != "" {
		where, args = append(where, "key > ?"), append(args, p.AfterKey)
	}
	q := `SELECT ` + scheduleColumns + ` FROM schedules`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY key LIMIT ?"
	args = append(args, limit+1)
	rows, err := s.rdb.QueryContext(ctx, q, args...)
	if err != nil {
		return store.SchedulePage{}, fmt.Errorf("sqlite: list schedules: %w", err)
	}
	defer rows.Close()
	var page store.SchedulePage
	for rows.Next() {
		sc, err := scanSchedule(rows)
		if err != nil {
			return store.SchedulePage{}, fmt.Errorf("sqlite: list schedules: %w", err)
		}
		page.Schedules = append(page.Schedules, sc)
	}
	if err := rows.Err(); err != nil {
		return store.SchedulePage{}, fmt.Errorf("sqlite: list schedules: %w", err)
	}
	if len(page.Schedules) > limit {
		page.Schedules = page.Schedules[:limit]
		page.NextAfterKey = page.Schedules[limit-1].Key
	}
	return page, nil
}

// DeleteSchedule deletes a schedule. See store.Scheduler.
func (s *Store) DeleteSchedule(ctx context.Context, key string, now time.Time) error {
	return s.do(ctx, false, func(w *writer) error {
		if _, err := w.takeBack(key, now); err != nil {
			return fmt.Errorf("sqlite: delete schedule %q: %w", key, err)
		}
		res, err := w.exec(`DELETE FROM schedules WHERE key = ?`, key)
		if err != nil {
			return fmt.Errorf("sqlite: delete schedule %q: %w", key, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("sqlite: delete schedule %q: %w", key, err)
		} else if n == 0 {
			return fmt.Errorf("sqlite: delete schedule %q: %w", key, store.ErrNotFound)
		}
		w.note(store.Notice{Type: store.NoticeScheduleChanged})
		return nil
	})
}

// SetScheduleEnabled enables or disables a schedule. See store.Scheduler.
func (s *Store) SetScheduleEnabled(ctx context.Context, key string, enabled bool, reason string, next, now time.Time) (*store.Schedule, error) {
	if enabled {
		reason = ""
	}
	var out *store.Schedule
	err := s.do(ctx, false, func(w *writer) error {
		if !enabled {
			if _, err := w.takeBack(key, now); err != nil {
				return fmt.Errorf("sqlite: disable schedule %q: %w", key, err)
			}
		}
		var err error
		out, err = scanSchedule(w.queryRow(`UPDATE schedules SET enabled = ?1, disabled_reason = ?2,
				next_fire = CASE WHEN ?1 = 1 THEN ?3 ELSE next_fire END, updated_at = ?4
			WHERE key = ?5 RETURNING `+scheduleColumns,
			boolInt(enabled), reason, nullMicros(utc(next)), micros(utc(now)), key))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("sqlite: schedule %q: %w", key, store.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("sqlite: enable schedule %q: %w", key, err)
		}
		w.note(store.Notice{Type: store.NoticeScheduleChanged})
		return nil
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
	rows, err := s.rdb.QueryContext(ctx, `SELECT `+scheduleColumns+` FROM schedules
		WHERE enabled = 1 AND next_fire IS NOT NULL ORDER BY next_fire, key LIMIT ?`, limit+1)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("sqlite: due schedules: %w", err)
	}
	defer rows.Close()
	var due []*store.Schedule
	var next time.Time
	nowU := utc(now)
	for rows.Next() {
		sc, err := scanSchedule(rows)
		if err != nil {
			return nil, time.Time{}, fmt.Errorf("sqlite: due schedules: %w", err)
		}
		if sc.NextFire.After(nowU) || len(due) == limit {
			next = sc.NextFire
			break
		}
		due = append(due, sc)
	}
	if err := rows.Err(); err != nil {
		return nil, time.Time{}, fmt.Errorf("sqlite: due schedules: %w", err)
	}
	return due, next, nil
}

// SettlePending makes a schedule's pending job its last. See store.Scheduler.
func (s *Store) SettlePending(ctx context.Context, key string, pendingID int64, now time.Time) error {
	return s.do(ctx, false, func(w *writer) error {
		if _, err := w.exec(`UPDATE schedules SET last_job_id = pending_job_id, pending_job_id = 0, updated_at = ?
			WHERE key = ? AND pending_job_id = ?`, micros(utc(now)), key, pendingID); err != nil {
			return fmt.Errorf("sqlite: settle schedule %q: %w", key, err)
		}
		return nil
	})
}

// Signal counts a named event. See store.Scheduler.
func (s *Store) Signal(ctx context.Context, name string, n int64, now time.Time) error {
	if name == "" {
		return errors.New("sqlite: signal: empty name")
	}
	bucket := utc(now).Truncate(store.SignalBucket)
	return s.do(ctx, false, func(w *writer) error {
		if _, err := w.exec(`INSERT INTO signals (name, bucket, n) VALUES (?1, ?2, ?3)
			ON CONFLICT (name, bucket) DO UPDATE SET n = signals.n + ?3`, name, micros(bucket), n); err != nil {
			return fmt.Errorf("sqlite: signal %q: %w", name, err)
		}
		return nil
	})
}

// SignalCount sums a signal's buckets in [from, to). See store.Scheduler.
func (s *Store) SignalCount(ctx context.Context, name string, from, to time.Time) (int64, error) {
	var n int64
	if err := s.rdb.QueryRowContext(ctx, `SELECT coalesce(sum(n), 0) FROM signals
		WHERE name = ? AND bucket >= ? AND bucket < ?`, name, micros(utc(from)), micros(utc(to))).Scan(&n); err != nil {
		return 0, fmt.Errorf("sqlite: signal count %q: %w", name, err)
	}
	return n, nil
}
