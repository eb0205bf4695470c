package backend

import (
	"math"
	"testing"

	"github.com/lenetkit/lenetkit/internal/nchw"
	"github.com/lenetkit/lenetkit/onnx"
)

// TestGlobalAveragePoolRelu runs GlobalAveragePool, of a Relu that it
// alone reads (fused: the Relu's step goes) or not, against nchw's Relu
// and GlobalAveragePool: odd plane sizes, NaN and infinities.
func TestGlobalAveragePoolRelu(t *testing.T) {
	for i, tc := range []struct {
		name  string
		x     []int
		relu  bool
		fused bool // the Relu is read by the pool alone
		edit  func(x []float32)
	}{
		{"plain", []int{2, 3, 7, 5}, false, false, nil},
		{"Relu fused", []int{1, 16, 14, 14}, true, true, nil},
		{"Relu fused, odd planes", []int{3, 5, 3, 3}, true, true, nil},
		{"Relu fused, one value a plane", []int{1, 4, 1, 1}, true, true, nil},
		{"Relu fused, NaN and Inf", []int{1, 3, 5, 7}, true, true, func(x []float32) {
			x[3], x[40], x[41], x[80] = float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.Inf(-1))
		}},
		{"Relu also an output", []int{1, 3, 4, 4}, true, false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := randn(uint64(i), numel(tc.x))
			if tc.edit != nil {
				tc.edit(x)
			}
			in, outs := "x", []string{"y"}
			var nodes []*onnx.NodeProto
			if tc.relu {
				nodes, in = append(nodes, nodeOf("Relu", []string{"x"}, "r")), "r"
				if !tc.fused {
					outs = append(outs, "r")
				}
			}
			nodes = append(nodes, nodeOf("GlobalAveragePool", []string{in}, "y"))
			p := wholePlan(t, nodes, nil, []wholeIn{{"x", tc.x, nil}}, outs...)
			if fused := !hasStep[unaryStep](p); tc.relu && fused != tc.fused {
				t.Errorf("Relu fused: %v, want %v", fused, tc.fused)
			}
			got, err := p.Run([][]float32{x})
			if err != nil {
				t.Fatal(err)
			}
			r := x
			if tc.relu {
				r = make([]float32, len(x))
				nchw.Relu(r, x)
			}
			rows, hw := tc.x[0]*tc.x[1], numel(tc.x[2:])
			want := make([]float32, rows)
			nchw.GlobalAveragePool(want, r, rows, hw)
			sameFloats(t, got[0], want, tc.edit != nil)
		})
	}
}
