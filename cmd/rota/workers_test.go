package main

import (
	"testing"
	"time"

	"github.com/rotahq/rota/config"
)

// TestKindConfigLimits checks that a worker file's cluster-wide limits
// reach the engine's KindConfig.
func TestKindConfigLimits(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		file       string
		wantGlobal int // -1: not set
		wantRate   *time.Duration
		wantN      int
	}{
		{"none", `{"max_workers": 2}`, -1, nil, 0},
		{"global", `{"global_max_workers": 3}`, 3, nil, 0},
		{"rate", `{"rate_limit": {"n": 10, "per": "2s"}}`, -1, ptrTo(2 * time.Second), 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			wc, err := config.ParseWorkerConfig([]byte(tt.file))
			if err != nil {
				t.Fatal(err)
			}
			kc := kindConfig(wc)
			switch {
			case tt.wantGlobal < 0 && kc.GlobalMaxWorkers != nil:
				t.Errorf("GlobalMaxWorkers = %d, want unset", *kc.GlobalMaxWorkers)
			case tt.wantGlobal >= 0 && (kc.GlobalMaxWorkers == nil || *kc.GlobalMaxWorkers != tt.wantGlobal):
				t.Errorf("GlobalMaxWorkers = %v, want %d", kc.GlobalMaxWorkers, tt.wantGlobal)
			}
			switch {
			case tt.wantRate == nil && kc.RateLimit != nil:
				t.Errorf("RateLimit = %+v, want unset", *kc.RateLimit)
			case tt.wantRate != nil && (kc.RateLimit == nil || kc.RateLimit.Per != *tt.wantRate || kc.RateLimit.N != tt.wantN):
				t.Errorf("RateLimit = %+v, want %d per %s", kc.RateLimit, tt.wantN, *tt.wantRate)
			}
		})
	}
}

func ptrTo[T any](v T) *T { return &v }
