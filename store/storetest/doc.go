// Package storetest is the conformance suite of the store.Store contract.
// Every driver runs it from its own tests:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store {
//			s := openFresh(t)          // a fresh, empty store
//			t.Cleanup(func() { s.Close() })
//			if err := s.Migrate(t.Context()); err != nil {
//				t.Fatal(err)
//			}
//			return s
//		})
//	}
//
// The suite is driver-neutral: it uses only the Store interface, makes no
// assumption about the storage (each subtest gets its own store from open,
// which may be a file, a schema or a database), and never sleeps or reads
// the wall clock for job semantics: every time is an explicit Now derived from
// a fixed base time. Notices are awaited with a deadline; a driver's Subscribe
// must be listening when it returns.
//
// Subtests run in parallel; open must be safe to call concurrently.
//
// RunShared runs the cases that need two processes on one database (a
// leader race across stores, a takeover, a resignation seen by the other
// store, node rows written by one and read by the other); its open returns
// two stores on one fresh database.
package storetest
