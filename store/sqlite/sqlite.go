package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rotahq/rota/store"

	// The pure Go SQLite driver, registered as "sqlite".
	_ "modernc.org/sqlite"
)

// DriverName is what Store.Driver returns.
const DriverName = "sqlite"

// ErrClosed is returned by operations on a closed Store.
var ErrClosed = errors.New("sqlite: store is closed")

//go:embed migrations/*.sql
var migrationFiles embed.FS

var (
	_ store.Store              = (*Store)(nil)
	_ store.CommitHookInserter = (*Store)(nil)
)

// Store is a store.Store on one SQLite file. All writes go through a single
// writer goroutine that commits concurrent operations together; reads use a
// pool of read-only connections. Create it with Open.
type Store struct {
	opts       Options
	log        *slog.Logger
	migrations []migration

	wdb *sql.DB // exactly one connection, used only by the writer goroutine
	rdb *sql.DB // read-only connections

	mu         sync.RWMutex // guards closed against sends on ops
	closed     bool
	ops        chan *op
	writerDone chan struct{}

	hub *store.NoticeHub
	// syncer fsyncs the WAL after durable commits when Synchronous is FULL
	// (nil otherwise).
	syncer *walSyncer

	commits atomic.Int64 // transactions committed by the writer
}

// migration is one numbered SQL file under migrations/.
type migration struct {
	version int
	name    string
	sql     string
}

// Open opens (creating if needed) the SQLite file at path and starts the
// writer. It does not migrate: call Migrate before using the store.
func Open(path string, opts Options) (*Store, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if path == "" {
		return nil, errors.New("sqlite: empty database path")
	}
	migs, err := loadMigrations()
	if err != nil {
		return nil, err
	}
	s := &Store{
		opts:       opts,
		log:        opts.Logger.With("store", DriverName),
		migrations: migs,
		ops:        make(chan *op, opQueueSize),
		writerDone: make(chan struct{}),
		hub:        store.NewNoticeHub(store.DefaultNoticeBuffer),
	}
	busy := strconv.FormatInt(opts.BusyTimeout.Milliseconds(), 10)
	base := "file:" + (&url.URL{Path: path}).EscapedPath() + "?_pragma=busy_timeout(" + busy + ")&_pragma=foreign_keys(1)&_pragma=temp_store(MEMORY)"

	// FULL is NORMAL plus an fsync of the WAL at each commit, which the
	// syncer does outside the write lock (see walSyncer).
	connSync := opts.Synchronous
	if connSync == "FULL" {
		connSync = "NORMAL"
		s.syncer = newWALSyncer(s, path)
	}
	s.wdb, err = sql.Open("sqlite", base+"&_pragma=synchronous("+connSync+")"+
		"&_pragma=cache_size(-"+strconv.Itoa(writerCacheKiB)+")")
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	s.wdb.SetMaxOpenConns(1)
	s.wdb.SetMaxIdleConns(1)
	s.wdb.SetConnMaxLifetime(0)
	s.wdb.SetConnMaxIdleTime(0)

	ctx := context.Background()
	conn, err := s.wdb.Conn(ctx)
	if err != nil {
		s.wdb.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	w, err := newWriter(ctx, s, conn)
	if err != nil {
		conn.Close()
		s.wdb.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}

	s.rdb, err = sql.Open("sqlite", base+"&_pragma=query_only(1)")
	if err != nil {
		w.close()
		conn.Close()
		s.wdb.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	s.rdb.SetMaxOpenConns(maxReadConns)
	s.rdb.SetMaxIdleConns(maxReadConns)

	if s.syncer != nil {
		go s.syncer.run()
	}
	go func() {
		defer close(s.writerDone)
		defer conn.Close()
		w.run()
		if s.syncer != nil {
			close(s.syncer.in)
			<-s.syncer.done
		}
	}()
	return s, nil
}

// loadMigrations reads the embedded migrations, ordered by version.
func loadMigrations() ([]migration, error) {
	names, err := fs.Glob(migrationFiles, "migrations/*.sql")
	if err != nil {
		return nil, fmt.Errorf("sqlite: migrations: %w", err)
	}
	var migs []migration
	for _, n := range names {
		base := path.Base(n)
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("sqlite: migration %s: name must start with a positive version number and _", base)
		}
		body, err := migrationFiles.ReadFile(n)
		if err != nil {
			return nil, fmt.Errorf("sqlite: migration %s: %w", base, err)
		}
		migs = append(migs, migration{version: v, name: strings.TrimSuffix(base, ".sql"), sql: string(body)})
	}
	sort.Slice(migs, func(i, j int) bool { return migs[i].version < migs[j].version })
	for i := 1; i < len(migs); i++ {
		if migs[i].version == migs[i-1].version {
			return nil, fmt.Errorf("sqlite: migrations %s and %s have the same version", migs[i-1].name, migs[i].name)
		}
	}
	return migs, nil
}

// Driver returns "sqlite".
func (s *Store) Driver() string { return DriverName }

// Close waits for the pending writes, stops the writer and closes the
// connections. Subscriber channels are closed. Close is idempotent.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.ops)
	s.mu.Unlock()

	<-s.writerDone
	s.hub.Close()
	return errors.Join(s.rdb.Close(), s.wdb.Close())
}

// Migrate applies the migrations that are not applied yet, all in one
// immediate transaction, so that processes migrating at once are safe.
func (s *Store) Migrate(ctx context.Context) error {
	return s.do(ctx, true, func(w *writer) error {
		if _, err := w.conn.ExecContext(context.Background(), `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    INTEGER PRIMARY KEY,
			name       TEXT    NOT NULL,
			applied_at INTEGER NOT NULL
		) STRICT`); err != nil {
			return fmt.Errorf("sqlite: migrate: %w", err)
		}
		var applied int
		if err := w.queryRow(`SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&applied); err != nil {
			return fmt.Errorf("sqlite: migrate: %w", err)
		}
		for _, m := range s.migrations {
			if m.version <= applied {
				continue
			}
			if _, err := w.conn.ExecContext(context.Background(), m.sql); err != nil {
				return fmt.Errorf("sqlite: migration %s: %w", m.name, err)
			}
			// applied_at is bookkeeping for people, not job semantics.
			if _, err := w.exec(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
				m.version, m.name, time.Now().UnixMicro()); err != nil {
				return fmt.Errorf("sqlite: migration %s: %w", m.name, err)
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
	var n int
	if err := s.rdb.QueryRowContext(ctx,
		`SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'`).Scan(&n); err != nil {
		return 0, latest, fmt.Errorf("sqlite: schema version: %w", err)
	}
	if n == 0 {
		return 0, latest, nil
	}
	if err := s.rdb.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&applied); err != nil {
		return 0, latest, fmt.Errorf("sqlite: schema version: %w", err)
	}
	return applied, latest, nil
}

// Subscribe returns a channel of notices that is closed when ctx is done or
// the store is closed. A subscriber that does not keep up loses notices and
// receives a NoticeChanged in their place.
func (s *Store) Subscribe(ctx context.Context) <-chan store.Notice {
	return s.hub.Subscribe(ctx)
}
