//go:build amd64 && !purego

package cpurate

import (
	"testing"

	"github.com/lenetkit/lenetkit/internal/testtool"
)

// TestGeneratedAssembly: the committed loops are what gen_amd64.go writes.
func TestGeneratedAssembly(t *testing.T) {
	testtool.CheckGenerated(t, "gen_amd64.go", "loops_amd64.s")
}
