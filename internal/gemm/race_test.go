//go:build race

package gemm

// raceEnabled reports whether the race detector is on; under it sync.Pool
// drops items on purpose, so calls allocate.
const raceEnabled = true
