package server

import (
	"strconv"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// TestKindLabelsBounded: past maxKindLabels distinct kinds, new kinds share
// one label; the ones seen before keep theirs.
func TestKindLabelsBounded(t *testing.T) {
	t.Parallel()
	var m metrics
	for i := range maxKindLabels {
		if got := m.kindLabel("k" + strconv.Itoa(i)); got != "k"+strconv.Itoa(i) {
			t.Fatalf("kind %d labelled %q", i, got)
		}
	}
	if got := m.kindLabel("one.too.many"); got != otherKindLabel {
		t.Errorf("kind past the bound labelled %q, want %q", got, otherKindLabel)
	}
	if got := m.kindLabel("k0"); got != "k0" {
		t.Errorf("a kind seen before labelled %q", got)
	}
}

// TestNewRefusesClashingCollector: an extra collector whose metric the
// server already exports is refused with an error, not a panic.
func TestNewRefusesClashingCollector(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{noStart: true})
	clash := prometheus.NewCounter(prometheus.CounterOpts{Name: "rota_jobs_enqueued_total", Help: "a clash"})
	if _, err := New(e.client, Options{Collectors: []prometheus.Collector{clash}}); err == nil {
		t.Fatal("New accepted a collector that clashes with its own metrics")
	}
}
