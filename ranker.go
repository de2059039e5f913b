package rota

import (
	"context"
	"encoding/json"
	"math"
	"time"
)

// RankInput is what a Ranker sees of a job being enqueued.
type RankInput struct {
	Kind          string
	Key           string
	Queue         string
	Args          json.RawMessage
	Metadata      map[string]string
	UserRequested bool
	Now           time.Time
	// History answers questions about earlier jobs of the same kind and key.
	History History
}

// History is the part of the store a ranker may read.
type History interface {
	// LastFinished is when the newest final job of (kind, key) finished.
	LastFinished(ctx context.Context, kind, key string) (t time.Time, ok bool, err error)
}

// Ranker computes a job's priority at enqueue (OpenKAT's rankers). It is
// used when the job gives no explicit priority.
type Ranker interface {
	Rank(ctx context.Context, in RankInput) (int, error)
}

// RankerFunc adapts a function to Ranker.
type RankerFunc func(ctx context.Context, in RankInput) (int, error)

// Rank calls f.
func (f RankerFunc) Rank(ctx context.Context, in RankInput) (int, error) { return f(ctx, in) }

// Recency ranker scores.
const (
	RecencyUserPriority  = 1                  // a job a person asked for
	RecencyNeverRan      = 2                  // a key that never finished a job
	RecencyMostUrgent    = 3                  // last finished Window or more ago
	RecencyLeastUrgent   = 1000               // finished just now
	DefaultRecencyWindow = 7 * 24 * time.Hour // OpenKAT's grace period
)

// RecencyRanker ranks by time since the last finished job with the same kind
// and key, as OpenKAT's boefje ranker does: a user's own job gets 1, a key
// that never ran gets 2, otherwise the score falls linearly from 1000 (just
// ran) to 3 (Window or longer ago). Jobs without a key get DefaultPriority.
type RecencyRanker struct {
	// Window is how long until a key is most urgent again; 0 means DefaultRecencyWindow.
	Window time.Duration
}

// Rank implements Ranker.
func (r RecencyRanker) Rank(ctx context.Context, in RankInput) (int, error) {
	if in.UserRequested {
		return RecencyUserPriority, nil
	}
	if in.Key == "" || in.History == nil {
		return DefaultPriority, nil
	}
	last, ok, err := in.History.LastFinished(ctx, in.Kind, in.Key)
	if err != nil {
		return 0, err
	}
	if !ok {
		return RecencyNeverRan, nil
	}
	w := r.Window
	if w <= 0 {
		w = DefaultRecencyWindow
	}
	elapsed := min(max(in.Now.Sub(last), 0), w)
	frac := 1 - float64(elapsed)/float64(w)
	return RecencyMostUrgent + int(math.Round(frac*float64(RecencyLeastUrgent-RecencyMostUrgent))), nil
}
