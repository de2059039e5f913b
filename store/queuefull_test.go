package store_test

import (
	"errors"
	"testing"

	"github.com/rotahq/rota/store"
)

func TestQueueFull(t *testing.T) {
	t.Parallel()
	tests := []struct {
		queue                    string
		waiting, maxSize, urgent int
		want                     string
	}{
		{"scans", 10, 10, 2, `queue "scans" is full (10 waiting jobs, max size 10; it takes only jobs of priority 2 or under): queue full`},
		{"scans", 10, 10, 0, `queue "scans" is full (10 waiting jobs, max size 10; it takes only jobs of priority 0 or under): queue full`},
		{"mail", 3, 3, -1, `queue "mail" is full (3 waiting jobs, max size 3): queue full`},
	}
	for _, tt := range tests {
		err := store.QueueFull(tt.queue, tt.waiting, tt.maxSize, tt.urgent)
		if !errors.Is(err, store.ErrQueueFull) || err.Error() != tt.want {
			t.Errorf("QueueFull(%q, %d, %d, %d) = %v, want %q matching ErrQueueFull", tt.queue, tt.waiting, tt.maxSize, tt.urgent, err, tt.want)
		}
	}
}
