// Package store defines the contract between rota's engine and its storage
// drivers: the Store interface, the job record and the parameters of every
// operation. Drivers live in sub-packages (sqlite, postgres) and must pass the
// conformance suite in store/storetest. No SQL lives above this layer.
package store
