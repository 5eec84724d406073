package testenv

import "runtime"

// HeapOf returns the live heap, in bytes, held by what build returns: the
// heap in use after a collection, less what was in use before build ran.
// Memory benchmarks compare two builds with it in one process.
func HeapOf(build func() any) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	held := build()
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(held)
	return after.HeapAlloc - min(after.HeapAlloc, before.HeapAlloc)
}
