//go:build amd64 && !purego

package dwconv

import (
	"runtime"
	"testing"

	"github.com/lenetkit/lenetkit/internal/asmgen"
	"github.com/lenetkit/lenetkit/internal/testtool"
)

// TestGeneratedAssembly: the committed kernels are what gen_amd64.go writes.
func TestGeneratedAssembly(t *testing.T) {
	testtool.CheckGenerated(t, "gen_amd64.go", "kernels_amd64.s", "kernels_amd64.go")
}

// TestGoKernels runs TestKernels, TestPlanes, TestRows, TestRelu,
// TestTapRows and TestRowToPlanes again on the Go kernels, which the
// assembly otherwise hides on this CPU.
func TestGoKernels(t *testing.T) {
	if !useAVX2 {
		t.Skip("the Go kernels already ran")
	}
	useAVX2 = false
	defer func() { useAVX2 = true }()
	TestKernels(t)
	TestPlanes(t)
	TestRows(t)
	TestRelu(t)
	TestTapRows(t)
	TestRowToPlanes(t)
}

// TestKernelsFlushAndRestoreMXCSR: the kernels read subnormals as zero and
// hand the caller's MXCSR controls back (see internal/asmgen).
func TestKernelsFlushAndRestoreMXCSR(t *testing.T) {
	if !useAVX2 {
		t.Skip("this CPU runs no assembly kernel")
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	const control = ^uint32(0x3f) // the low six bits are sticky exception flags
	before := asmgen.MXCSR() & control
	const n, tiny = 64, float32(3e-39)
	p, k, g := make([]float32, n+1), []float32{1, 1}, make([]float32, n)
	for i := range p {
		p[i], k[0] = tiny, tiny
	}
	for i := range g {
		g[i] = 1
	}
	y, dk := make([]float32, n), make([]float32, 2)
	Taps(y, p, k, []int{0, 1})
	Dots(dk, g, p, []int{0, 1})
	s, ss := Stats(p[:n], 0)
	gs, gsx := GradSums(p[:n], g)
	Affine(g, p, tiny, 0)
	for i, v := range append(append(y, dk...), s, ss, gs, gsx, g[0]) {
		if v != 0 {
			t.Fatalf("result [%d] = %g from subnormal inputs: want 0 (denormals are zero)", i, v)
		}
	}
	if got := asmgen.MXCSR() & control; got != before {
		t.Errorf("MXCSR controls %#x after the kernels, %#x before", got, before)
	}
}
