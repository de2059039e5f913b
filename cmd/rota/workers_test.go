package main

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/rotahq/rota"
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
			kc := kindConfigOf(t, tt.file)
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

// kindConfigOf parses a worker file and converts it as rota serve does.
func kindConfigOf(t *testing.T, file string) rota.KindConfig {
	t.Helper()
	wc, err := config.ParseWorkerConfig([]byte(file))
	if err != nil {
		t.Fatal(err)
	}
	return kindConfig(wc)
}

// TestRetentionFromWorkerFiles: the leader prunes every kind with a file by
// its retention (set there or in _defaults.json), whether or not it runs
// the kind, and _defaults.json's retention is every other kind's.
func TestRetentionFromWorkerFiles(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		files     map[string]string
		wantKinds []string
		wantDef   time.Duration
	}{
		{"no retention anywhere", map[string]string{"a.json": `{"max_workers": 1}`}, nil, 0},
		{"a kind's own", map[string]string{"a.json": `{"retention": "1h"}`, "b.json": `{}`}, []string{"a"}, 0},
		{"defaults reach every file", map[string]string{
			"_defaults.json": `{"retention": "2d"}`, "a.json": `{"retention": "1h"}`, "b.json": `{}`,
		}, []string{"a", "b"}, 48 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			for name, body := range tt.files {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			ws, errs := config.LoadWorkerDir(dir)
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			if got := retentionKinds(ws); !slices.Equal(got, tt.wantKinds) {
				t.Errorf("kinds with a retention: %v, want %v", got, tt.wantKinds)
			}
			if got := defaultRetention(ws); got != tt.wantDef {
				t.Errorf("default retention: %s, want %s", got, tt.wantDef)
			}
		})
	}
	var _ rota.RetentionSource = (*workerDir)(nil)
	var _ rota.ConfigErrorSource = (*workerDir)(nil)
}

// TestKindConfigBackoff checks that a worker file's backoff reaches the
// engine: its parts over the engine's defaults.
func TestKindConfigBackoff(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		file   string
		delays map[int][2]time.Duration // attempt → [lo, hi]
	}{
		{"none", `{"max_workers": 2}`, nil},
		{"all parts", `{"backoff": {"base": "5s", "max": "1m", "jitter": 0}}`, map[int][2]time.Duration{
			1: {5 * time.Second, 5 * time.Second}, 2: {10 * time.Second, 10 * time.Second}, 5: {time.Minute, time.Minute}}},
		{"defaults for the parts left out", `{"backoff": {"jitter": 0}}`, map[int][2]time.Duration{
			1: {rota.DefaultBackoffBase, rota.DefaultBackoffBase}, 30: {rota.DefaultBackoffMax, rota.DefaultBackoffMax}}},
		{"base over the default max", `{"backoff": {"base": "2h"}}`, map[int][2]time.Duration{
			1: {90 * time.Minute, 150 * time.Minute}, 3: {90 * time.Minute, 150 * time.Minute}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			kc := kindConfigOf(t, tt.file)
			if tt.delays == nil {
				if kc.Backoff != nil {
					t.Fatalf("Backoff set without a backoff key")
				}
				return
			}
			if kc.Backoff == nil {
				t.Fatal("Backoff not set")
			}
			for attempt, want := range tt.delays {
				for range 20 {
					if d := kc.Backoff.Delay(attempt); d < want[0] || d > want[1] {
						t.Fatalf("Delay(%d) = %s, want within [%s, %s]", attempt, d, want[0], want[1])
					}
				}
			}
		})
	}
}
