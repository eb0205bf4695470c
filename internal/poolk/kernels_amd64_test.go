//go:build amd64 && !purego

package poolk

import (
	"testing"

	"github.com/lenetkit/lenetkit/internal/testtool"
)

// TestGeneratedAssembly: the committed kernels are what gen_amd64.go writes.
func TestGeneratedAssembly(t *testing.T) {
	testtool.CheckGenerated(t, "gen_amd64.go", "kernels_amd64.s", "kernels_amd64.go")
}

// TestGoKernels runs TestMax2x2Windows, TestReluMax and TestReluMaxNHWC
// again on the Go loops, which the assembly otherwise hides on this CPU.
func TestGoKernels(t *testing.T) {
	if !useAVX2 {
		t.Skip("the Go kernels already ran")
	}
	useAVX2 = false
	defer func() { useAVX2 = true }()
	TestMax2x2Windows(t)
	TestReluMax(t)
	TestReluMaxNHWC(t)
}
