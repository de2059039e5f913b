package server

import (
	"sync"
	"time"
)

// Popped attempts are remembered for poppedTTL, long after any lease; past
// poppedSweepAt entries, adding one first forgets the expired ones.
const (
	poppedTTL     = 24 * time.Hour
	poppedSweepAt = 10000
)

// poppedRef names one attempt of a job.
type poppedRef struct {
	id      int64
	attempt int
}

// poppedSet holds the attempts this server handed out with a pop, until
// they are completed or failed through it (or poppedTTL passed). Only those
// attempts may be ended with /complete and /fail: an attempt a worker
// claimed is the worker's to end. A restart forgets them; such a job's
// lease expires and it runs again.
type poppedSet struct {
	mu sync.Mutex
	m  map[poppedRef]time.Time // when popped
}

func (p *poppedSet) add(id int64, attempt int, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.m == nil {
		p.m = make(map[poppedRef]time.Time)
	}
	if len(p.m) >= poppedSweepAt {
		for r, at := range p.m {
			if now.Sub(at) > poppedTTL {
				delete(p.m, r)
			}
		}
	}
	p.m[poppedRef{id, attempt}] = now
}

func (p *poppedSet) has(id int64, attempt int) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, ok := p.m[poppedRef{id, attempt}]
	return ok
}

func (p *poppedSet) remove(id int64, attempt int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.m, poppedRef{id, attempt})
}
