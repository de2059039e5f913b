package events_test

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/rotahq/rota"
	"github.com/rotahq/rota/events"
)

func TestFormatOMA(t *testing.T) {
	t.Parallel()
	job := func(key string, md map[string]string, to rota.State) events.Record {
		return events.Record{ID: 9, Type: events.TypeJob, Node: "n1",
			Event: rota.Event{JobID: 42, Kind: "oma.ssi", Key: key, Metadata: md, To: to, At: time.Now()}}
	}
	for _, tc := range []struct {
		name string
		rec  events.Record
		want map[string]any // nil: skipped
	}{
		{"OMA metadata", job("65e08e66", map[string]string{"tenant_id": "9", "user_id": "7", "run_type": "SSI"}, rota.StateRunning),
			map[string]any{"tenant_id": 9.0, "user_id": 7.0, "document_id": "65e08e66", "run_type": "SSI", "status": "RUNNING"}},
		{"document_id metadata wins over the key", job("k", map[string]string{"document_id": "doc-1"}, rota.StateDone),
			map[string]any{"document_id": "doc-1", "run_type": "oma.ssi", "status": "DONE"}},
		{"no key: the job id", job("", nil, rota.StateQueued),
			map[string]any{"document_id": "42", "run_type": "oma.ssi", "status": "QUEUED"}},
		{"ids that are not integers stay strings", job("k", map[string]string{"tenant_id": "acme", "user_id": "007"}, rota.StateAborted),
			map[string]any{"tenant_id": "acme", "user_id": "007", "document_id": "k", "run_type": "oma.ssi", "status": "ABORTED"}},
		{"gap skipped", events.Record{ID: 3, Type: events.TypeGap, Gap: events.Gap{Reason: events.GapDropped}}, nil},
	} {
		b, ok, err := events.FormatOMA(tc.rec)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if tc.want == nil {
			if ok {
				t.Errorf("%s: rendered %s, want skipped", tc.name, b)
			}
			continue
		}
		var got map[string]any
		if !ok || json.Unmarshal(b, &got) != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: %s (ok %v), want %v", tc.name, b, ok, tc.want)
		}
	}
}

func TestFormatJSON(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	b, ok, err := events.FormatJSON(events.Record{ID: 5, Type: events.TypeJob, Node: "n1",
		Event: rota.Event{Seq: 3, JobID: 42, Kind: "k", Queue: "q", From: rota.StateQueued, To: rota.StateRunning, Attempt: 1, At: at}})
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	want := `{"type":"job","id":5,"node":"n1","seq":3,"job_id":42,"kind":"k","queue":"q","from":"queued","to":"running","attempt":1,"at":"2026-12-02T10:00:00Z"}`
	if string(b) != want {
		t.Errorf("job:\n got %s\nwant %s", b, want)
	}
	b, _, _ = events.FormatJSON(events.Record{ID: 6, Type: events.TypeGap, Node: "n2", Gap: events.Gap{Reason: events.GapDropped, After: 5, Dropped: 4}})
	if want := `{"type":"gap","id":6,"reason":"dropped","after":5,"dropped":4,"node":"n2"}`; string(b) != want {
		t.Errorf("gap:\n got %s\nwant %s", b, want)
	}
}

func TestParseFormat(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"", "json", "JSON", " oma "} {
		if _, err := events.ParseFormat(name); err != nil {
			t.Errorf("ParseFormat(%q): %v", name, err)
		}
	}
	if _, err := events.ParseFormat("xml"); err == nil {
		t.Error(`ParseFormat("xml") succeeded`)
	}
}
