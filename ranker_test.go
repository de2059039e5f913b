package rota_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/rotahq/rota"
)

// lastFinished is a History that knows one finish time of every key (or
// none, or fails).
type lastFinished struct {
	at  time.Time
	ok  bool
	err error
}

func (h lastFinished) LastFinished(context.Context, string, string) (time.Time, bool, error) {
	return h.at, h.ok, h.err
}

// TestRecencyRankerScores checks the scores of cap 3 (OpenKAT's boefje
// ranker): 1 for a person's job, 2 for a key that never ran, then from 1000
// (ran just now) falling linearly to 3 (ran a window or more ago).
func TestRecencyRankerScores(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	week := 7 * 24 * time.Hour
	ran := func(ago time.Duration) lastFinished { return lastFinished{at: now.Add(-ago), ok: true} }
	tests := []struct {
		name   string
		ranker rota.RecencyRanker
		key    string
		user   bool
		hist   rota.History
		want   int
	}{
		{"user requested wins over history", rota.RecencyRanker{}, "h", true, ran(0), rota.RecencyUserPriority},
		{"user requested without a key", rota.RecencyRanker{}, "", true, nil, rota.RecencyUserPriority},
		{"no key", rota.RecencyRanker{}, "", false, ran(0), rota.DefaultPriority},
		{"never ran", rota.RecencyRanker{}, "h", false, lastFinished{}, rota.RecencyNeverRan},
		{"ran just now", rota.RecencyRanker{}, "h", false, ran(0), rota.RecencyLeastUrgent},
		{"finish in the future (clock skew)", rota.RecencyRanker{}, "h", false, ran(-time.Hour), rota.RecencyLeastUrgent},
		{"half the default window", rota.RecencyRanker{}, "h", false, ran(week / 2), 502}, // 3 + round(0.5*997)
		{"a quarter of it", rota.RecencyRanker{}, "h", false, ran(week / 4), 751},         // 3 + round(0.75*997)
		{"the whole window", rota.RecencyRanker{}, "h", false, ran(week), rota.RecencyMostUrgent},
		{"longer than the window", rota.RecencyRanker{}, "h", false, ran(30 * 24 * time.Hour), rota.RecencyMostUrgent},
		{"own window, half of it", rota.RecencyRanker{Window: time.Hour}, "h", false, ran(30 * time.Minute), 502},
		{"own window, past it", rota.RecencyRanker{Window: time.Hour}, "h", false, ran(2 * time.Hour), rota.RecencyMostUrgent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := tt.ranker.Rank(t.Context(), rota.RankInput{Kind: "scan", Key: tt.key, UserRequested: tt.user, Now: now, History: tt.hist})
			if err != nil || got != tt.want {
				t.Errorf("Rank = %d, %v; want %d", got, err, tt.want)
			}
		})
	}
	// Scores only fall as time passes.
	prev := rota.RecencyLeastUrgent + 1
	for ago := time.Duration(0); ago <= week+time.Hour; ago += time.Hour {
		got, err := rota.RecencyRanker{}.Rank(t.Context(), rota.RankInput{Key: "h", Now: now, History: ran(ago)})
		if err != nil || got > prev || got < rota.RecencyMostUrgent {
			t.Fatalf("ran %s ago: %d, %v after %d", ago, got, err, prev)
		}
		prev = got
	}
	// A history that fails fails the ranking.
	boom := errors.New("store down")
	if _, err := (rota.RecencyRanker{}).Rank(t.Context(), rota.RankInput{Key: "h", Now: now, History: lastFinished{err: boom}}); !errors.Is(err, boom) {
		t.Errorf("failing history: err = %v, want %v", err, boom)
	}
}
