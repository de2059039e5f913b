// Package bench runs rota's standard workloads (throughput, latency,
// enqueue) against any store, for `rota bench` and for comparing runs.
package bench
