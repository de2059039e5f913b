package events_test

import (
	"fmt"
	"time"

	"github.com/rotahq/rota"
	"github.com/rotahq/rota/events"
)

// An OMA worker's broadcast topic names a run by its analysis_id; rota
// keeps that id as the job's key.
func ExampleParseAbort() {
	req, err := events.ParseAbort([]byte(`{"analysis_id": "65e08e66bfe58ba848bccee0"}`), "analysis_id")
	fmt.Println(req.Key, req.Reason, err)
	_, err = events.ParseAbort([]byte(`{"status": "ABORTED"}`), "analysis_id")
	fmt.Println(err)
	// Output:
	// 65e08e66bfe58ba848bccee0 abort requested by a broadcast message <nil>
	// abort message names no job: want "id" or "analysis_id"
}

// FormatOMA renders a job's change as the status message an OMA front end
// reads from its output topic.
func ExampleFormatOMA() {
	b, _, _ := events.FormatOMA(events.Record{ID: 7, Type: events.TypeJob, Event: rota.Event{
		JobID: 42, Kind: "oma.analysis", Key: "65e08e66bfe58ba848bccee0", To: rota.StateRunning, At: time.Now(),
		Metadata: map[string]string{"tenant_id": "9", "user_id": "7", "run_type": "SSI"},
	}})
	fmt.Println(string(b))
	// Output:
	// {"document_id":"65e08e66bfe58ba848bccee0","run_type":"SSI","status":"RUNNING","tenant_id":9,"user_id":7}
}

// A webhook receiver checks the signature of each POST before it trusts the
// body.
func ExampleVerify() {
	body := []byte(`[{"type":"job","id":1}]`)
	sig := events.Sign("s3cret", body) // what rota sends in Rota-Signature
	fmt.Println(events.Verify("s3cret", body, sig) == nil, events.Verify("guess", body, sig) == nil)
	// Output:
	// true false
}
