package store_test

import (
	"context"
	"testing"

	"github.com/rotahq/rota/store"
)

func TestNoticeHub(t *testing.T) {
	t.Parallel()
	h := store.NewNoticeHub(2)
	ctx, cancel := context.WithCancel(context.Background())
	ch := h.Subscribe(ctx)
	other := h.Subscribe(context.Background())

	// Three notices into a buffer of two: the third is lost and a
	// NoticeChanged is owed; the publisher never blocks.
	h.Publish([]store.Notice{{Type: store.NoticeQueued, Queue: "a"}, {Type: store.NoticeQueued, Queue: "b"}, {Type: store.NoticeQueued, Queue: "c"}})
	if n := <-ch; n.Queue != "a" {
		t.Fatalf("first notice %+v", n)
	}
	if n := <-ch; n.Queue != "b" {
		t.Fatalf("second notice %+v", n)
	}
	h.FlushMissed()
	if n := <-ch; n.Type != store.NoticeChanged {
		t.Fatalf("owed notice %+v, want NoticeChanged", n)
	}
	select {
	case n := <-ch:
		t.Fatalf("unexpected notice %+v", n)
	default:
	}

	// Each subscriber owns its JobIDs.
	ids := []int64{1, 2}
	<-other
	<-other
	h.FlushMissed()
	<-other
	h.Publish([]store.Notice{{Type: store.NoticeCancel, JobIDs: ids}})
	got := <-other
	got.JobIDs[0] = 99
	if n := <-ch; n.JobIDs[0] != 1 {
		t.Errorf("subscribers share JobIDs: %v", n.JobIDs)
	}

	// Cancelling the context closes that subscription only.
	cancel()
	for range ch {
	}
	h.Publish([]store.Notice{{Type: store.NoticeQueued}})
	if n, ok := <-other; !ok || n.Type != store.NoticeQueued {
		t.Errorf("other subscription: %+v %v", n, ok)
	}

	// Close closes the rest; later subscriptions are closed at once.
	h.Close()
	if _, ok := <-other; ok {
		t.Error("channel open after Close")
	}
	if _, ok := <-h.Subscribe(context.Background()); ok {
		t.Error("subscription after Close is open")
	}
}
