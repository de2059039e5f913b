package sqlite

import (
	"errors"
	"fmt"
	"os"
	"slices"
)

// walSyncer makes committed transactions durable outside the write lock.
//
// With Synchronous FULL the write connection runs with synchronous=NORMAL,
// which in WAL mode does everything FULL does except the fsync of the WAL
// after each commit. The writer hands the ops of each committed durable
// transaction to the syncer and goes on with the next transaction; the
// syncer fsyncs the WAL once for every transaction handed to it since its
// last sync and only then answers those ops and publishes their notices
// (a hooked insert's went out at the commit). An op is acknowledged
// exactly when FULL would acknowledge it (its commit frame is on disk), but
// the writer no longer waits for the disk, and one fsync covers several
// transactions. See docs/decisions/0006-wal-sync-outside-the-lock.md.
type walSyncer struct {
	s    *Store
	path string   // the WAL file
	f    *os.File // open on path; reopened if the file was replaced
	in   chan []*op
	done chan struct{}
}

// walSyncQueue is the capacity of the syncer's input: committed batches
// waiting for their fsync. When it is full the writer waits, and the ops
// that arrive meanwhile join its next transaction: letting the writer run
// further ahead commits many small transactions, each writing its pages to
// the WAL again (64 concurrent single inserts: 44,000/s with 64 batches
// ahead, 61,000/s with one).
const walSyncQueue = 1

func newWALSyncer(s *Store, dbPath string) *walSyncer {
	return &walSyncer{s: s, path: dbPath + "-wal", in: make(chan []*op, walSyncQueue), done: make(chan struct{})}
}

// run answers the handed-over batches until in is closed.
func (y *walSyncer) run() {
	defer close(y.done)
	defer func() {
		if y.f != nil {
			y.f.Close()
		}
	}()
	var groups [][]*op
	for first := range y.in {
		groups = append(groups[:0], first)
	drain:
		for {
			select {
			case g, ok := <-y.in:
				if !ok {
					break drain
				}
				groups = append(groups, g)
			default:
				break drain
			}
		}
		err := y.sync()
		if err != nil {
			y.s.log.Error("fsync of the WAL failed: committed writes may not survive a power loss", "path", y.path, "err", err)
			err = fmt.Errorf("sqlite: committed, but the fsync of the WAL failed, so the write may not survive a power loss: %w", err)
		}
		for _, g := range groups {
			// Committed either way: others may see it. Hooked inserts
			// published at the commit.
			y.s.publish(slices.DeleteFunc(slices.Clone(g), func(o *op) bool { return o.committed != nil }))
			for _, o := range g {
				if err != nil && o.err == nil {
					o.err = err
				}
				close(o.done)
			}
		}
		clear(groups)
	}
}

// sync flushes the WAL file to disk, (re)opening it when it is not open or
// was replaced (SQLite deletes the WAL when the last connection closes; a
// process sharing the file may have done so and another recreated it).
func (y *walSyncer) sync() error {
	if y.f != nil {
		cur, err1 := os.Stat(y.path)
		open, err2 := y.f.Stat()
		if err1 != nil || err2 != nil || !os.SameFile(cur, open) {
			y.f.Close()
			y.f = nil
		}
	}
	if y.f == nil {
		f, err := os.Open(y.path)
		if err != nil {
			return fmt.Errorf("open WAL: %w", err)
		}
		y.f = f
	}
	flush := datasync
	if y.s.opts.datasync != nil {
		flush = y.s.opts.datasync
	}
	if err := flush(y.f); err != nil {
		err = errors.Join(err, y.f.Close())
		y.f = nil
		return err
	}
	return nil
}
