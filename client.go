package rota

import (
	"context"
	"errors"
	"time"

	"github.com/rotahq/rota/store"
)

// Client enqueues, queries and runs jobs. STUB: replaced by the engine.
type Client struct{}

// New returns a client on s.
func New(s store.Store, opts Options) (*Client, error) { return &Client{}, nil }

var errStub = errors.New("not implemented")

// Register is a stub.
func (c *Client) Register(kind string, w Worker, opts ...KindOptions) error { return errStub }

// Unregister is a stub.
func (c *Client) Unregister(kind string) error { return errStub }

// Load is a stub.
func (c *Client) Load(b *Bundle) error { return errStub }

// Unload is a stub.
func (c *Client) Unload(b *Bundle) error { return errStub }

// Kinds is a stub.
func (c *Client) Kinds() []string { return nil }

// Start is a stub.
func (c *Client) Start(ctx context.Context) error { return errStub }

// Stop is a stub.
func (c *Client) Stop(ctx context.Context) error { return errStub }

// Enqueue is a stub.
func (c *Client) Enqueue(ctx context.Context, kind string, args any, opts ...EnqueueOption) (*Job, error) {
	return nil, errStub
}

// EnqueueParams is a stub.
func (c *Client) EnqueueParams(ctx context.Context, p EnqueueParams) (*Job, error) {
	return nil, errStub
}

// EnqueueMany is a stub.
func (c *Client) EnqueueMany(ctx context.Context, ps []EnqueueParams) ([]*Job, error) {
	return nil, errStub
}

// Batch is a stub.
func (c *Client) Batch(ctx context.Context, fn func(b *Batch) error) ([]*Job, error) {
	return nil, errStub
}

// Get is a stub.
func (c *Client) Get(ctx context.Context, id int64) (*Job, error) { return nil, errStub }

// GetByKey is a stub.
func (c *Client) GetByKey(ctx context.Context, kind, key string) (*Job, error) { return nil, errStub }

// List is a stub.
func (c *Client) List(ctx context.Context, p ListParams) (ListPage, error) {
	return ListPage{}, errStub
}

// Stats is a stub.
func (c *Client) Stats(ctx context.Context) (Stats, error) { return Stats{}, errStub }

// CountsByHour is a stub.
func (c *Client) CountsByHour(ctx context.Context, from, to time.Time) ([]HourCount, error) {
	return nil, errStub
}

// Abort is a stub.
func (c *Client) Abort(ctx context.Context, id int64, reason string) (*Job, error) {
	return nil, errStub
}

// AbortKey is a stub.
func (c *Client) AbortKey(ctx context.Context, kind, key, reason string) (*Job, error) {
	return nil, errStub
}

// Retry is a stub.
func (c *Client) Retry(ctx context.Context, id int64) (*Job, error) { return nil, errStub }

// Release is a stub.
func (c *Client) Release(ctx context.Context, id int64) (*Job, error) { return nil, errStub }

// Delete is a stub.
func (c *Client) Delete(ctx context.Context, id int64) (*Job, error) { return nil, errStub }

// Queues is a stub.
func (c *Client) Queues(ctx context.Context) ([]QueueInfo, error) { return nil, errStub }

// UpdateQueue is a stub.
func (c *Client) UpdateQueue(ctx context.Context, name string, u QueueUpdate) (QueueInfo, error) {
	return QueueInfo{}, errStub
}

// PauseQueue is a stub.
func (c *Client) PauseQueue(ctx context.Context, name string) error { return errStub }

// ResumeQueue is a stub.
func (c *Client) ResumeQueue(ctx context.Context, name string) error { return errStub }

// Pop is a stub.
func (c *Client) Pop(ctx context.Context, queue string, f PopFilter) (*Job, error) {
	return nil, errStub
}

// Complete is a stub.
func (c *Client) Complete(ctx context.Context, job *Job, result any) error { return errStub }

// FailJob is a stub.
func (c *Client) FailJob(ctx context.Context, job *Job, err error) error { return errStub }

// Subscribe is a stub.
func (c *Client) Subscribe(buffer int, f EventFilter) *Subscription { return nil }

// ClientStats is a stub.
func (c *Client) ClientStats() ClientStats { return ClientStats{} }

// Prune is a stub.
func (c *Client) Prune(ctx context.Context) (int64, error) { return 0, errStub }

// Store is a stub.
func (c *Client) Store() store.Store { return nil }
