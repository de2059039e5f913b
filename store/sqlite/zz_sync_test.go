package sqlite

import "testing"

func BenchmarkClaimFinishSyncOff(b *testing.B) { benchClaimFinishOpts(b, Options{Synchronous: "OFF"}, 0) }
func BenchmarkClaimFinishSyncNormal(b *testing.B) { benchClaimFinishOpts(b, Options{Synchronous: "NORMAL"}, 0) }
