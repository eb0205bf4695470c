//go:build amd64 && !purego

package winograd

import (
	"testing"

	"github.com/lenetkit/lenetkit/internal/testtool"
)

// TestGeneratedAssembly: the committed kernels are what gen_amd64.go writes.
func TestGeneratedAssembly(t *testing.T) {
	testtool.CheckGenerated(t, "gen_amd64.go", "kernels_amd64.s", "kernels_amd64.go", "kernels_int_amd64.s", "kernels_int_amd64.go")
}

// TestNarrowerKernels runs the tests again on AVX2, then on Go, which the
// best kernels otherwise hide on this CPU.
func TestNarrowerKernels(t *testing.T) {
	testtool.NarrowerKernels(t, &useAVX512, &useAVX2, func(t *testing.T) {
		TestForward(t)
		TestTileRows(t)
		TestNaN(t)
	})
	// The int kernels: AVX2's, then Go's.
	defer func(vnni, avx2 bool) { useVNNI, useAVX2 = vnni, avx2 }(useVNNI, useAVX2)
	for _, avx2 := range []bool{true, false} {
		if avx2 && !useAVX2 {
			continue
		}
		useVNNI, useAVX2 = false, avx2
		on := map[bool]string{true: "avx2", false: "go"}[avx2]
		t.Run("int on "+on, TestIntForward)
		t.Run("int images on "+on, TestIntForwardImages)
		t.Run("int random on "+on, TestIntForwardRandom)
	}
}
