package onnx

import "fmt"

// FuseConvBias folds an Add of a per-channel constant that follows a 2-D
// Conv into the Conv's bias, as CNTK and older exporters write the bias
// (mnist-8: Conv, then Add of a [C, 1, 1] initializer): one pass over the
// output instead of two. The Conv's output must feed only the Add and not
// be a graph output; the constant must broadcast along the channel axis
// only ([C, 1, 1] or [1, C, 1, 1], or a single value). It returns the
// pairs it fused, each the two nodes' names (or first outputs).
func FuseConvBias(g *Graph) [][]string {
	return foldIntoConv(g, func(conv, add *Node, _ map[string]int) bool {
		out := conv.Outputs[0]
		w := g.Initializers[conv.Input(1)]
		if w == nil || len(w.Shape) != 4 || w.DType != Float || add.OpType != "Add" || add.Domain != "" || len(add.Inputs) != 2 {
			return false
		}
		other := add.Inputs[0]
		if other == out {
			other = add.Inputs[1]
		}
		t := g.Initializers[other]
		channels := w.Shape[0]
		if t == nil || t.DType != Float || !perChannel(t.Shape, channels) || other == out {
			return false
		}
		bias := make([]float32, channels)
		if b := conv.Input(2); b != "" {
			old := g.Initializers[b]
			if old == nil || old.DType != Float || len(old.Float) != channels {
				return false
			}
			copy(bias, old.Float)
		}
		for c := range bias {
			bias[c] += t.Float[c%len(t.Float)]
		}
		name := uniqueName(g, out+"_bias")
		g.Initializers[name] = &Tensor{Name: name, DType: Float, Shape: []int{channels}, Float: bias}
		conv.Inputs = append(conv.Inputs[:2:2], name)
		return true
	})
}

// foldIntoConv offers fold each Conv whose one output feeds one node
// alone, next, and is not a graph output (uses counts those too). Where
// fold takes next into the Conv (rewriting its inputs, and given the
// graph's use counts to keep), the Conv writes next's output in its place
// and next goes. It returns the pairs folded, each the two nodes' names
// (or first outputs).
func foldIntoConv(g *Graph, fold func(conv, next *Node, uses map[string]int) bool) [][]string {
	uses := g.Uses()
	consumer := map[string]*Node{}
	for _, n := range g.Nodes {
		for _, in := range n.Inputs {
			consumer[in] = n
		}
	}
	var fused [][]string
	drop := map[*Node]bool{}
	for _, conv := range g.Nodes {
		if conv.OpType != "Conv" || conv.Domain != "" || len(conv.Outputs) != 1 || drop[conv] {
			continue
		}
		next := consumer[conv.Outputs[0]]
		if uses[conv.Outputs[0]] != 1 || next == nil || len(next.Outputs) == 0 || !fold(conv, next, uses) {
			continue
		}
		fused = append(fused, []string{conv.Label(), next.Label()})
		conv.Outputs = []string{next.Outputs[0]}
		drop[next] = true
	}
	if len(fused) > 0 {
		kept := g.Nodes[:0]
		for _, n := range g.Nodes {
			if !drop[n] {
				kept = append(kept, n)
			}
		}
		g.Nodes = kept
	}
	return fused
}

// perChannel reports whether a constant of the given shape, added to a
// [N, channels, H, W] map, adds one value per channel.
func perChannel(shape []int, channels int) bool {
	n := 1
	for _, d := range shape {
		n *= d
	}
	if n == 1 {
		return len(shape) <= 4
	}
	switch len(shape) {
	case 3:
		return shape[0] == channels && shape[1] == 1 && shape[2] == 1
	case 4:
		return shape[0] == 1 && shape[1] == channels && shape[2] == 1 && shape[3] == 1
	}
	return false
}

// uniqueName returns base, or base with a number, named by no value of g.
func uniqueName(g *Graph, base string) string {
	taken := g.Producers()
	for name := range g.Initializers {
		taken[name] = nil
	}
	for _, in := range g.Inputs {
		taken[in.Name] = nil
	}
	name := base
	for i := 1; ; i++ {
		if _, ok := taken[name]; !ok {
			return name
		}
		name = fmt.Sprintf("%s_%d", base, i)
	}
}
