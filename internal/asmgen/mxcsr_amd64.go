//go:build amd64 && !purego

package asmgen

// MXCSR returns this thread's MXCSR, for tests that check a kernel left it
// as it found it (call it with the goroutine locked to its thread).
func MXCSR() uint32

// FlushBits are the bits Enter sets in MXCSR.
const FlushBits = ftzDAZ
