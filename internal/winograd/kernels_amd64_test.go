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
	if useVNNI {
		useVNNI = false
		defer func() { useVNNI = true }()
		t.Run("int on go", TestIntForward)
		t.Run("int images on go", TestIntForwardImages)
		t.Run("int random on go", TestIntForwardRandom)
	}
}
