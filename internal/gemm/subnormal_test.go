//go:build amd64 && !purego

package gemm

import (
	"runtime"
	"testing"

	"github.com/lenetkit/lenetkit/internal/asmgen"
	"github.com/lenetkit/lenetkit/internal/testtool"
)

// TestMicroKernelsFlushAndRestoreMXCSR: every assembly micro-kernel reads
// subnormals as zero and hands the caller's MXCSR controls back (see
// internal/asmgen for why both matter).
func TestMicroKernelsFlushAndRestoreMXCSR(t *testing.T) {
	if len(asmKernels) == 0 {
		t.Skip("this CPU runs no assembly kernel set")
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	const control = ^uint32(0x3f) // the low six bits are sticky exception flags
	before := asmgen.MXCSR() & control
	const k, tiny = 4, float32(3e-39)
	for _, set := range asmKernels {
		for _, kr := range set.kernels {
			a, b, c := make([]float32, kr.mr*k), make([]float32, kr.nr*k), make([]float32, kr.mr*kr.nr)
			for i := range a {
				a[i] = tiny
			}
			for i := range b {
				b[i] = 1
			}
			kr.run(k, a, b, c, kr.nr, 1, 0)
			for i, v := range c {
				if v != 0 {
					t.Errorf("%s: c[%d] = %g from subnormal a: want 0 (denormals are zero)", kr.name, i, v)
					break
				}
			}
			if got := asmgen.MXCSR() & control; got != before {
				t.Errorf("%s: MXCSR controls %#x after the kernel, %#x before", kr.name, got, before)
			}
		}
	}
}

// TestGeneratedAssembly: the committed kernels are what gen_amd64.go
// writes, so that a change to the generator (such as the MXCSR prologue)
// cannot be left out of them.
func TestGeneratedAssembly(t *testing.T) {
	testtool.CheckGenerated(t, "gen_amd64.go", "kernels_amd64.s", "kernels_amd64.go")
}

// TestGemvKernelsFlushAndRestoreMXCSR: so do the gemv kernels, through
// each stage of passes and the masked tail.
func TestGemvKernelsFlushAndRestoreMXCSR(t *testing.T) {
	if len(asmGemv) == 0 {
		t.Skip("this CPU runs no assembly gemv set")
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	const control = ^uint32(0x3f)
	before := asmgen.MXCSR() & control
	const n, k, tiny = 15, 37, float32(3e-39)
	a, bt, y := make([]float32, k), make([]float32, n*k), make([]float32, n)
	for i := range a {
		a[i] = tiny
	}
	for i := range bt {
		bt[i] = 1
	}
	for _, set := range asmGemv {
		set.run(n, k, a, bt, k, y)
		for i, v := range y {
			if v != 0 {
				t.Errorf("%s: y[%d] = %g from subnormal a: want 0 (denormals are zero)", set.name, i, v)
				break
			}
		}
		if got := asmgen.MXCSR() & control; got != before {
			t.Errorf("%s: MXCSR controls %#x after the kernel, %#x before", set.name, got, before)
		}
	}
}
