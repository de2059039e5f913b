// Package examples holds runnable programs, one per system rota replaces.
// Each is a main package with a test that runs it:
//
//   - fourcat: a 4CAT-style worker that asks to be retried later and to cancel.
//   - scheduledevents: InsightCloudSec-style event types, registered as a
//     bundle and scheduled in one all-or-nothing batch.
//   - analysis: an OMA-style analysis runner whose run is aborted by key,
//     with every status change printed as an OMA output message.
//   - rankedqueue: an OpenKAT-style queue ranked by recency and consumed with Pop.
package examples
