package events_test

import (
	"context"
	"testing"

	"github.com/rotahq/rota/events"
)

// countSink accepts everything and counts it.
type countSink struct{ n int }

func (s *countSink) Send(_ context.Context, msgs []events.Message) error {
	s.n += len(msgs)
	return nil
}

// BenchmarkRelay relays b.N job records of a SQLite event log to a sink
// that takes everything: the relay's own cost per event (read, decode,
// render as JSON, save the position every batch).
func BenchmarkRelay(b *testing.B) {
	for _, format := range []string{"json", "oma"} {
		b.Run(format, func(b *testing.B) {
			st := openSQLite(b)
			appendJobsTB(b, st, "k", b.N)
			f, err := events.ParseFormat(format)
			if err != nil {
				b.Fatal(err)
			}
			sink := &countSink{}
			r, err := events.NewRelay(st, events.RelayOptions{Name: "bench", Sink: sink, FromStart: true, Format: f, Logger: quiet})
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			b.ResetTimer()
			go func() {
				defer close(done)
				_ = r.Run(ctx)
			}()
			waitFor(b, "the relay", func() bool { return r.Position() >= int64(b.N) })
			b.StopTimer()
			cancel()
			<-done
			if sink.n != b.N {
				b.Fatalf("%d delivered, want %d", sink.n, b.N)
			}
		})
	}
}
