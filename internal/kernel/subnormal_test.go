//go:build amd64 && !purego

package kernel

import (
	"runtime"
	"testing"

	"github.com/lenetkit/lenetkit/internal/asmgen"
	"github.com/lenetkit/lenetkit/internal/testtool"
)

// TestAssemblyFlushesAndRestoresMXCSR checks each assembly kernel set reads
// subnormals as zero and writes none (MXCSR's DAZ and FTZ), and leaves the
// caller's MXCSR as it was: Go does not save MXCSR across goroutine
// switches, so a leaked flag would change the arithmetic of whatever ran
// next on the thread.
func TestAssemblyFlushesAndRestoresMXCSR(t *testing.T) {
	if len(asmKernels) == 0 {
		t.Skip("this CPU runs no assembly kernel set")
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	before := asmgen.MXCSR()
	if before&asmgen.FlushBits != 0 {
		t.Fatalf("MXCSR %#x: flush bits set before any kernel ran", before)
	}
	const tiny = float32(3e-39)
	for _, set := range asmKernels {
		c := 2 * set.lanes
		z, shift := make([]float32, 4*c), make([]float32, c)
		for i := range z {
			z[i] = tiny * float32(1+i%3) // all under 2^-126
		}
		s, sq := make([]float32, c), make([]float32, c)
		set.stats(s, sq, z, shift, 4, c)
		for i := range s {
			if s[i] != 0 || sq[i] != 0 {
				t.Errorf("%s: sums of subnormals %g, %g: want 0 (denormals are zero)", set.name, s[i], sq[i])
				break
			}
		}
		// The low six bits are sticky exception flags, which any float
		// arithmetic sets (this test's own Go code included): the control
		// bits above them are what a kernel must give back.
		const control = ^uint32(0x3f)
		if got := asmgen.MXCSR(); got&control != before&control {
			t.Errorf("%s: MXCSR controls %#x after the kernel, %#x before", set.name, got&control, before&control)
		}
	}
}

// TestGeneratedAssembly: the committed kernels are what gen_amd64.go
// writes, so that a change to the generator (such as the MXCSR prologue)
// cannot be left out of them.
func TestGeneratedAssembly(t *testing.T) {
	testtool.CheckGenerated(t, "gen_amd64.go", "kernels_amd64.s", "kernels_amd64.go")
}
