package onnxtrain

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	G "gorgonia.org/gorgonia"

	"github.com/lenetkit/lenetkit/onnx"
)

// chainModel is two Conv 3x3 (SAME) -> Relu -> MaxPool 2x2 blocks, c[0]
// channels to c[1] to c[2], on x0 [n, h, w, c0] in NHWC when nhwc (a
// Transpose to NCHW before the first block and one back after the
// second, as Keras writes them) or x0 [n, c0, h, w]; the weights and
// biases are inputs x1..x4, the output y.
func chainModel(n, h, w int, c [3]int, nhwc bool) *onnx.Model {
	g := &onnx.Graph{Initializers: map[string]*onnx.Tensor{}, ValueInfo: map[string]*onnx.Value{}}
	x := []int64{int64(n), int64(c[0]), int64(h), int64(w)}
	if nhwc {
		x = []int64{int64(n), int64(h), int64(w), int64(c[0])}
	}
	dims := [][]int64{x, {int64(c[1]), int64(c[0]), 3, 3}, {int64(c[1])}, {int64(c[2]), int64(c[1]), 3, 3}, {int64(c[2])}}
	for i, s := range dims {
		g.Inputs = append(g.Inputs, &onnx.Value{Name: fmt.Sprintf("x%d", i), DType: onnx.Float, Dims: s})
	}
	in, out := "x0", "y"
	if nhwc {
		in, out = "t", "p2"
		g.Nodes = append(g.Nodes, &onnx.Node{Name: "in", OpType: "Transpose", Inputs: []string{"x0"}, Outputs: []string{"t"},
			Attrs: onnx.Attrs{"perm": aInts(0, 3, 1, 2)}})
	}
	for i, b := range []string{"1", "2"} {
		src := in
		if i == 1 {
			src = "p1"
		}
		g.Nodes = append(g.Nodes,
			&onnx.Node{Name: "conv" + b, OpType: "Conv", Inputs: []string{src, fmt.Sprintf("x%d", 2*i+1), fmt.Sprintf("x%d", 2*i+2)}, Outputs: []string{"z" + b},
				Attrs: onnx.Attrs{"kernel_shape": aInts(3, 3), "auto_pad": {Type: onnx.AttributeProto_STRING, String: "SAME_UPPER"}}},
			&onnx.Node{Name: "relu" + b, OpType: "Relu", Inputs: []string{"z" + b}, Outputs: []string{"r" + b}},
			&onnx.Node{Name: "pool" + b, OpType: "MaxPool", Inputs: []string{"r" + b}, Outputs: []string{"p" + b},
				Attrs: onnx.Attrs{"kernel_shape": aInts(2, 2), "strides": aInts(2, 2)}})
	}
	g.Nodes[len(g.Nodes)-1].Outputs[0] = out
	if nhwc {
		g.Nodes = append(g.Nodes, &onnx.Node{Name: "out", OpType: "Transpose", Inputs: []string{"p2"}, Outputs: []string{"y"},
			Attrs: onnx.Attrs{"perm": aInts(0, 2, 3, 1)}})
	}
	g.Outputs = []*onnx.Value{{Name: "y", DType: onnx.Float}}
	return &onnx.Model{IRVersion: 8, Opset: 13, Graph: g}
}

// transposes counts the Transpose layers m's graph builds with its
// blocks fused.
func transposes(t *testing.T, m *onnx.Model) int {
	t.Helper()
	g := m.Graph
	b := &builder{net: &Net{opts: Options{Batch: int(g.Inputs[0].Dims[0])}, train: true}, g: g, opset: m.Opset, eg: G.NewGraph(),
		vals: map[string]*value{}, trained: map[string]bool{}, rng: rand.New(rand.NewPCG(1, 2)), blocks: seedBlocks(g)}
	for _, v := range g.Inputs {
		shape := v.Shape()
		b.vals[v.Name] = &value{node: G.NewTensor(b.eg, G.Float32, len(shape), G.WithShape(shape...), G.WithName(v.Name)), shape: shape, grad: true}
	}
	for _, n := range g.Nodes {
		if err := b.node(n); err != nil {
			t.Fatal(err)
		}
	}
	k := 0
	for _, n := range b.eg.AllNodes() {
		if o, ok := n.Op().(*nodeOp); ok {
			if _, ok := o.l.(*transpose); ok {
				k++
			}
		}
	}
	return k
}

// TestBlockLayouts: two blocks in a row, on NCHW or between Keras's
// Transposes, hand each other and the graph NHWC maps where they fuse,
// so that no Transpose is left; where one block declines, the values its
// nodes read must still be the graph's. The output and every gradient
// must match the node-by-node layers within 1e-5.
func TestBlockLayouts(t *testing.T) {
	cases := []struct {
		name      string
		n, h, w   int
		c         [3]int
		nhwc      bool
		noXGrad   bool
		fused, tr int // fused blocks and Transpose layers left
	}{
		{"keras2onnx_160", 4, 28, 28, [3]int{1, 8, 16}, true, false, 2, 0},
		{"keras2onnx_160/input", 4, 28, 28, [3]int{1, 8, 16}, true, true, 2, 0},
		{"cnn28", 4, 28, 28, [3]int{1, 16, 32}, false, false, 2, 0},
		{"wide", 3, 16, 16, [3]int{16, 16, 16}, true, false, 2, 0},
		{"second-declines", 3, 16, 16, [3]int{16, 16, 5}, true, false, 1, 2},
		{"second-declines/nchw", 3, 16, 16, [3]int{16, 16, 5}, false, false, 1, 1},
		{"first-declines", 3, 16, 16, [3]int{3, 16, 16}, true, false, 1, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for i := range 2 {
				if tc.fused == 2 || i == 0 && tc.c[0] != 3 || i == 1 && tc.c[2] != 5 {
					if !kernelVectorized(tc.c[i], tc.c[i+1], tc.h>>i, tc.w>>i) {
						t.Skip("this CPU's kernels do not take the shape")
					}
				}
			}
			m := chainModel(tc.n, tc.h, tc.w, tc.c, tc.nhwc)
			rng := rand.New(rand.NewPCG(uint64(tc.c[1]), uint64(tc.h)))
			draw := func(k int, scale float64) []float32 {
				s := make([]float32, k)
				for i := range s {
					s[i] = float32(rng.NormFloat64() * scale)
				}
				return s
			}
			in := [][]float32{draw(tc.n*tc.c[0]*tc.h*tc.w, 1)}
			for i := range 2 {
				in = append(in, draw(tc.c[i+1]*tc.c[i]*9, 1/math.Sqrt(9*float64(tc.c[i]))), draw(tc.c[i+1], 0.1))
			}
			wy := draw(tc.n*tc.c[2]*(tc.h/4)*(tc.w/4), 1)
			yu, gu, k, _ := runBlock(t, m, in, wy, false, tc.noXGrad)
			if k != 0 {
				t.Fatalf("%d blocks fused node by node", k)
			}
			yf, gf, k, _ := runBlock(t, m, in, wy, true, tc.noXGrad)
			if k != tc.fused {
				t.Fatalf("%d blocks fused, want %d", k, tc.fused)
			}
			if tr := transposes(t, m); tr != tc.tr {
				t.Fatalf("%d Transpose layers, want %d", tr, tc.tr)
			}
			closeWithin(t, 1e-5, "y", yf, yu)
			for i := range gu {
				if gu[i] != nil || gf[i] != nil {
					closeWithin(t, 1e-5, fmt.Sprintf("d(x%d)", i), gf[i], gu[i])
				}
			}
		})
	}
}
