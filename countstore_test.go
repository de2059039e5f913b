package rota_test

import (
	"context"
	"sync/atomic"

	"github.com/rotahq/rota/store"
)

// countingStore passes every call to the real store and counts the batched
// calls, so benchmarks can report batch sizes.
type countingStore struct {
	store.Store
	claims, claimed, finishes, finished atomic.Int64
}

func (s *countingStore) Claim(ctx context.Context, p store.ClaimParams) (store.ClaimResult, error) {
	res, err := s.Store.Claim(ctx, p)
	s.claims.Add(1)
	s.claimed.Add(int64(len(res.Jobs)))
	return res, err
}

func (s *countingStore) Finish(ctx context.Context, fs []store.FinishParams) ([]store.State, error) {
	s.finishes.Add(1)
	s.finished.Add(int64(len(fs)))
	return s.Store.Finish(ctx, fs)
}
