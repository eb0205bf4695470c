package backend

import (
	"fmt"
	"maps"
	"slices"

	"github.com/lenetkit/lenetkit/onnx"
)

// staleValueInfo lists the graph's declared intermediate shapes (value
// info) that hold another number of elements per image than the values
// the plan computes: left from before an edit of the graph (a pruned
// layer), they make ONNX Runtime's shape inference refuse the file
// ("Dimension mismatch in unification"), where the plan goes by what the
// nodes compute. A declared size that is symbolic, or a value the plan
// fused away, is not compared; the first axis of a run-time value is its
// batch, which the plan computes one image at a time.
func (c *compiler) staleValueInfo() []string {
	var out []string
	for _, name := range slices.Sorted(maps.Keys(c.g.ValueInfo)) {
		decl, v := c.g.ValueInfo[name], c.vals[name]
		if v == nil || decl.Dims == nil || len(decl.Dims) != len(v.shape) || len(v.shape) == 0 {
			continue
		}
		dims, got := decl.Dims, v.shape
		if v.c == nil {
			dims, got = dims[1:], got[1:]
		}
		want, have := int64(1), int64(1)
		for i, d := range dims {
			if d < 0 {
				want = -1
				break
			}
			want, have = want*d, have*int64(got[i])
		}
		if want >= 0 && want != have {
			out = append(out, fmt.Sprintf("value %q is declared %s; its nodes compute %v", name, decl, v.shape))
		}
	}
	return out
}

// mixedInputTypes lists the graph inputs declared of another float type
// than the weights they first meet, through nodes that keep the type
// (an MXNet export declaring DOUBLE over FLOAT weights, flattened first):
// ONNX Runtime refuses such a node ("Type parameter (T) ... bound to
// different types"), where the plan computes both in float32.
func mixedInputTypes(g *onnx.Graph) []string {
	// The operators whose weights are of their input's type (where
	// Resize's scales, say, are float32 whatever it is).
	sameT := map[string]bool{"Conv": true, "ConvTranspose": true, "Gemm": true, "MatMul": true, "Add": true, "Sub": true,
		"Mul": true, "Div": true, "BatchNormalization": true, "InstanceNormalization": true, "PRelu": true}
	var out []string
	for _, in := range g.Inputs {
		if in.DType == 0 || !in.DType.IsFloat() {
			continue
		}
		typed := map[string]bool{in.Name: true}
	nodes:
		for _, n := range g.Nodes {
			if !slices.ContainsFunc(n.Inputs, func(x string) bool { return typed[x] }) || n.OpType == "Cast" {
				continue
			}
			for _, x := range n.Inputs {
				if t := g.Initializers[x]; sameT[n.OpType] && t != nil && t.DType.IsFloat() && t.DType != in.DType {
					out = append(out, fmt.Sprintf("input %q is declared %s, and %s combines it with %s weights (%q)", in.Name, in.DType, n.Describe(), t.DType, x))
					break nodes
				}
			}
			for _, o := range n.Outputs {
				typed[o] = true
			}
		}
	}
	return out
}
