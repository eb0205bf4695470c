package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/lenetkit/lenetkit/internal/testtool"
)

// TestFlagsOutOfRange: a float flag that is not finite or out of its range
// is a usage error (exit 2) naming the flag, before any work.
func TestFlagsOutOfRange(t *testing.T) {
	t.Parallel()
	model := testtool.Testdata("lenet_trained.pth")
	out := filepath.Join(t.TempDir(), "x.onnx")
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"convert", model, out, "--opset", "999"}, "--opset 999: lenetkit writes opsets 9 to 17"},
		{[]string{"bench", "--seconds", "1e18"}, "--seconds 1e+18: want 0 (no training) to 100000 steps and a time in (0, 600] seconds"},
		{[]string{"bench", "--steps", "-1"}, "want 0 (no training) to 100000 steps"},
		{[]string{"bench", "--rounds", "0"}, "--rounds 0: want 1 to 100"},
		{[]string{"eval", model, "--mean", "NaN"}, "--mean/--std: mean NaN outside"},
		{[]string{"eval", model, "--std", "1e-45"}, "--mean/--std: std 1e-45 outside [1e-06, 1e+06]"},
		{[]string{"infer", model, testtool.Testdata("images/clean"), "--std", "-1"}, "std -1 outside"},
	}
	for _, c := range cases {
		r := run(t, c.args...)
		line := strings.TrimRight(r.stderr, "\n")
		if r.code != 2 || !strings.HasPrefix(line, "lenetkit: ") || !strings.Contains(line, c.want) || strings.Contains(line, "\n") {
			t.Errorf("lenetkit %s: exit %d, stderr %q; want exit 2 and one line with %q", strings.Join(c.args[:1], " "), r.code, r.stderr, c.want)
		}
	}
}
