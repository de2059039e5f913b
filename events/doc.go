// Package events carries rota's job events out of the process and brings
// abort requests in.
//
// Out: a Relay reads the store's durable event log (the log behind the
// HTTP API's event stream, written by rota.EventLog) from a saved position
// and hands each batch to a Sink: a webhook (Webhook), a NATS subject or a
// Kafka topic. It saves its position only after the sink accepted the
// batch, so delivery is at least once, in log order, and survives restarts
// and a change of leader: run a relay as a rota.Options.LeaderTasks entry
// and one node of a cluster relays (two, for a moment around a change of
// leader: then records may go out twice, but none is skipped). Each record is
// rendered by a Format: FormatJSON (the HTTP event stream's JSON) or
// FormatOMA (OMA's status messages).
//
// In: an Aborter turns broadcast messages that name a job ({"id": 12},
// {"kind": "scan", "key": "host-1"}, or a key under a field of your
// choosing such as OMA's "analysis_id") into aborts of the running jobs
// they name; a message that names no running job is ignored.
package events
