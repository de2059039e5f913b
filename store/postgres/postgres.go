package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rotahq/rota/store"
)

// DriverName is what Store.Driver returns.
const DriverName = "postgres"

// ErrClosed is returned by operations on a closed Store.
var ErrClosed = errors.New("postgres: store is closed")

//go:embed migrations/*.sql
var migrationFiles embed.FS

var _ store.Store = (*Store)(nil)

// Store is a store.Store on a PostgreSQL schema, through a pgxpool pool and
// one listener connection for notices. Create it with Open.
type Store struct {
	opts       Options
	log        *slog.Logger
	migrations []migration
	pool       *pgxpool.Pool
	connConfig *pgx.ConnConfig // for the listener's own connection
	channel    string          // the NOTIFY channel of the schema

	hub *store.NoticeHub

	mu       sync.RWMutex // guards closed (against sends on insertOps) and the listener's start
	closed   bool
	listener *listener

	insertOps  chan *insertOp // inserts without keys, for group commit
	committers sync.WaitGroup
}

// migration is one numbered SQL file under migrations/.
type migration struct {
	version int
	name    string
	sql     string
}

// Open connects a pool to the database at url (any libpq URL or DSN) for
// the schema opts.Schema and checks that the server answers. It does not
// migrate: call Migrate before using the store.
func Open(ctx context.Context, url string, opts Options) (*Store, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	migs, err := loadMigrations()
	if err != nil {
		return nil, err
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: parse database url: %w", err)
	}
	cfg.MaxConns = opts.MaxConns
	// The schema's names resolve without qualification; pg_catalog first
	// keeps built-in names from being shadowed.
	cfg.ConnConfig.RuntimeParams["search_path"] = opts.Schema
	cfg.ConnConfig.RuntimeParams["timezone"] = "UTC"
	// rota's statements are short and indexed; JIT compilation, which the
	// server starts by estimated cost, only adds tens to hundreds of
	// milliseconds to them (decision 0008).
	cfg.ConnConfig.RuntimeParams["jit"] = "off"
	lc := cfg.ConnConfig.Copy()
	lc.RuntimeParams["application_name"] = "rota listener " + opts.Schema
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	s := &Store{
		opts:       opts,
		log:        opts.Logger.With("store", DriverName, "schema", opts.Schema),
		migrations: migs,
		pool:       pool,
		connConfig: lc,
		channel:    opts.Schema + ".notify",
		hub:        store.NewNoticeHub(store.DefaultNoticeBuffer),
		insertOps:  make(chan *insertOp, insertQueueSize),
	}
	for range insertCommitters {
		s.committers.Go(s.commitInserts)
	}
	return s, nil
}

// loadMigrations reads the embedded migrations, ordered by version.
func loadMigrations() ([]migration, error) {
	names, err := fs.Glob(migrationFiles, "migrations/*.sql")
	if err != nil {
		return nil, fmt.Errorf("postgres: migrations: %w", err)
	}
	var migs []migration
	for _, n := range names {
		base := path.Base(n)
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("postgres: migration %s: name must start with a positive version number and _", base)
		}
		body, err := migrationFiles.ReadFile(n)
		if err != nil {
			return nil, fmt.Errorf("postgres: migration %s: %w", base, err)
		}
		migs = append(migs, migration{version: v, name: strings.TrimSuffix(base, ".sql"), sql: string(body)})
	}
	sort.Slice(migs, func(i, j int) bool { return migs[i].version < migs[j].version })
	for i := 1; i < len(migs); i++ {
		if migs[i].version == migs[i-1].version {
			return nil, fmt.Errorf("postgres: migrations %s and %s have the same version", migs[i-1].name, migs[i].name)
		}
	}
	return migs, nil
}

// Driver returns "postgres".
func (s *Store) Driver() string { return DriverName }

// Schema returns the PostgreSQL schema of the store.
func (s *Store) Schema() string { return s.opts.Schema }

// Close waits for the pending inserts, stops the listener, closes the pool
// and the subscriber channels. Close is idempotent.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.insertOps)
	l := s.listener
	s.mu.Unlock()
	s.committers.Wait()
	if l != nil {
		l.stop()
	}
	s.pool.Close()
	s.hub.Close()
	return nil
}

// Migrate applies the migrations that are not applied yet, in one
// transaction under a transaction-level advisory lock of the schema, so
// that nodes starting together apply each migration once.
func (s *Store) Migrate(ctx context.Context) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, "rota.migrate."+s.opts.Schema); err != nil {
			return fmt.Errorf("postgres: migrate: lock: %w", err)
		}
		// The schema name is validated: an identifier that needs no quoting.
		if _, err := tx.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+s.opts.Schema); err != nil {
			return fmt.Errorf("postgres: migrate: %w", err)
		}
		if _, err := tx.Exec(ctx, `SET LOCAL search_path TO `+s.opts.Schema); err != nil {
			return fmt.Errorf("postgres: migrate: %w", err)
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    integer     PRIMARY KEY,
			name       text        NOT NULL,
			applied_at timestamptz NOT NULL DEFAULT now()
		)`); err != nil {
			return fmt.Errorf("postgres: migrate: %w", err)
		}
		var applied int
		if err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&applied); err != nil {
			return fmt.Errorf("postgres: migrate: %w", err)
		}
		for _, m := range s.migrations {
			if m.version <= applied {
				continue
			}
			if _, err := tx.Exec(ctx, m.sql, pgx.QueryExecModeSimpleProtocol); err != nil {
				return fmt.Errorf("postgres: migration %s: %w", m.name, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, m.version, m.name); err != nil {
				return fmt.Errorf("postgres: migration %s: %w", m.name, err)
			}
			s.log.Info("applied migration", "migration", m.name)
		}
		return nil
	})
}

// SchemaVersion returns the newest applied migration and the newest known one.
func (s *Store) SchemaVersion(ctx context.Context) (applied, latest int, err error) {
	if len(s.migrations) > 0 {
		latest = s.migrations[len(s.migrations)-1].version
	}
	var exists bool
	if err := s.pool.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, s.opts.Schema+".schema_migrations").Scan(&exists); err != nil {
		return 0, latest, fmt.Errorf("postgres: schema version: %w", err)
	}
	if !exists {
		return 0, latest, nil
	}
	if err := s.pool.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&applied); err != nil {
		return 0, latest, fmt.Errorf("postgres: schema version: %w", err)
	}
	return applied, latest, nil
}

// inTx runs fn in a transaction and commits it, retrying the whole
// transaction when PostgreSQL reports a deadlock or a serialization failure.
func (s *Store) inTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	if s.isClosed() {
		return ErrClosed
	}
	for try := 0; ; try++ {
		err := pgx.BeginFunc(ctx, s.pool, fn)
		if err == nil || try >= maxTxRetries || !retryable(err) {
			return err
		}
		s.log.Debug("retrying transaction", "error", err)
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(try+1) * time.Millisecond):
		}
	}
}

// isClosed reports whether Close was called.
func (s *Store) isClosed() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.closed
}

// pgCode returns the SQLSTATE of err, or "".
func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// retryable reports whether err is a deadlock or a serialization failure.
func retryable(err error) bool {
	switch pgCode(err) {
	case "40P01", "40001":
		return true
	}
	return false
}

// isUniqueViolation reports whether err is a unique violation.
func isUniqueViolation(err error) bool { return pgCode(err) == "23505" }
