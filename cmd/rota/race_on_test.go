//go:build race

package main

// raceEnabled says whether the tests (and so the rota processes they start)
// are built with the race detector.
const raceEnabled = true
