package testtool

import "testing"

func TestLegacySSE(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		bad       int
	}{
		{"MOVQ among Y", "TEXT ·f(SB), NOSPLIT, $0-8\n\tMOVQ AX, X1\n\tVPBROADCASTD X1, Y1\n\tRET\n", 1},
		{"VMOVQ among Y", "TEXT ·f(SB), NOSPLIT, $0-8\n\tVMOVQ AX, X1\n\tVPBROADCASTD X1, Y1\n\tRET\n", 0},
		{"CVTSQ2SS among Z", "TEXT ·f(SB), NOSPLIT, $0-8\n\tCVTSQ2SS R12, X15\n\tVBROADCASTSS X15, Z15\n\tRET\n", 1},
		{"SSE alone", "TEXT ·f(SB), NOSPLIT, $0-8\n\tMOVQ AX, X1\n\tPXOR X2, X2\n\tRET\n", 0},
		{"one function each", "TEXT ·f(SB), NOSPLIT, $0-8\n\tPXOR X2, X2\n\tRET\nTEXT ·g(SB), NOSPLIT, $0-8\n\tVXORPS Y1, Y1, Y1\n\tRET\n", 0},
		{"comment", "TEXT ·f(SB), NOSPLIT, $0-8\n\t// MOVQ AX, X1\n\tVXORPS Y1, Y1, Y1\n\tRET\n", 0},
		{"mask", "TEXT ·f(SB), NOSPLIT, $0-8\n\tKMOVW AX, K1\n\tVMOVUPS X1, K1, Z1\n\tRET\n", 0},
	} {
		if got := LegacySSE([]byte(tc.src)); len(got) != tc.bad {
			t.Errorf("%s: %d found, want %d: %q", tc.name, len(got), tc.bad, got)
		}
	}
}
