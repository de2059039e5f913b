package schedule

import (
	"testing"
	"time"
)

func benchSpecs() []struct{ name, spec string } {
	return []struct{ name, spec string }{
		{"cron", "*/5 9-17 * * MON-FRI"},
		{"phrase", "daily between 10:00 and 12:00"},
		{"every", "every 10 minutes"},
		{"combined", "every 10 minutes & time of day between 08:00 and 18:00"},
		{"filtered-phrase", "weekly on Monday & time of day after 10:00"},
	}
}

func BenchmarkParse(b *testing.B) {
	for _, bc := range benchSpecs() {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Parse(bc.spec, refNow, time.UTC); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkNext walks fire after fire in a zone with DST.
func BenchmarkNext(b *testing.B) {
	loc := mustLoad(b, "Europe/Amsterdam")
	for _, bc := range benchSpecs() {
		b.Run(bc.name, func(b *testing.B) {
			s := mustParse(b, bc.spec, refNow, loc)
			start := time.Date(2026, 3, 1, 0, 0, 0, 0, loc)
			after := start
			b.ReportAllocs()
			for b.Loop() {
				next, ok := s.Next(after)
				if !ok {
					b.Fatal("never")
				}
				after = next
				if after.Year() > 2030 {
					after = start
				}
			}
		})
	}
}
