//go:build amd64 && !purego

package vmath

import (
	"math"
	"runtime"
	"testing"

	"github.com/lenetkit/lenetkit/internal/asmgen"
	"github.com/lenetkit/lenetkit/internal/testtool"
)

// TestAssemblyRestoresMXCSR: every assembly kernel leaves the caller's
// MXCSR as it was (Go does not save it across goroutine switches, so a
// leaked flush flag would change the arithmetic of whatever ran next on
// the thread), and tanh's flushing subnormals to zero inside does not
// reach a subnormal input's result, which is the input itself.
func TestAssemblyRestoresMXCSR(t *testing.T) {
	if len(asmKernels) == 0 {
		t.Skip("this CPU runs no assembly kernel set")
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	before := asmgen.MXCSR()
	if before&asmgen.FlushBits != 0 {
		t.Fatalf("MXCSR %#x: flush bits set before any kernel ran", before)
	}
	x := make([]float32, 37)
	for i := range x {
		x[i] = math.Float32frombits(uint32(1 + 1000*i)) // subnormals
	}
	y := make([]float32, len(x))
	for _, set := range asmKernels {
		set.tanh(y, x)
		for i := range x {
			if y[i] != x[i] {
				t.Errorf("%s: tanh(%g) = %g, want the subnormal itself", set.name, x[i], y[i])
			}
		}
		for _, k := range kernelsOf(set) {
			k.run(y, x, x)
			if got := asmgen.MXCSR(); got != before {
				t.Errorf("%s %s: MXCSR %#x after the kernel, %#x before", set.name, k.name, got, before)
			}
		}
	}
}

// TestGeneratedAssembly: the committed kernels are what gen_amd64.go
// writes, so that a change to the generator cannot be left out of them.
func TestGeneratedAssembly(t *testing.T) {
	testtool.CheckGenerated(t, "gen_amd64.go", "vmath_amd64.s", "vmath_amd64.go")
}
