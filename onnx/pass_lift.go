package onnx

// LiftWeights turns the Constant nodes that hold a layer's weights into
// initializers of the same name, and returns their names. paddle2onnx
// writes every weight so; a trainer, which trains initializers, then
// finds them, and the graph it writes holds them as torch's exports do.
//
// A weight is a float Constant read as a Conv's or ConvTranspose's
// weight or bias, a Gemm's B or C, a MatMul's B, a BatchNormalization's
// scale, bias, mean or variance, a PRelu's slope, or the other operand
// of an Add or Sub of a Conv's, Gemm's or MatMul's output (a bias added
// apart): not the scalars of arithmetic elsewhere, which PyTorch would
// not train either. A Constant read by anything else stays a node.
func LiftWeights(g *Graph) []string {
	producer := map[string]*Node{}
	readers := map[string][]*Node{}
	for _, n := range g.Nodes {
		for _, o := range n.Outputs {
			producer[o] = n
		}
		for _, in := range n.Inputs {
			readers[in] = append(readers[in], n)
		}
	}
	var lifted []string
	kept := g.Nodes[:0]
	for _, n := range g.Nodes {
		if n.OpType != "Constant" || n.Domain != "" || len(n.Outputs) != 1 || !weightOnly(n.Outputs[0], readers[n.Outputs[0]], producer) {
			kept = append(kept, n)
			continue
		}
		t, err := n.Attrs.ConstantValue()
		if err != nil || t == nil || t.DType != Float || g.Initializers[n.Outputs[0]] != nil {
			kept = append(kept, n)
			continue
		}
		t.Name = n.Outputs[0]
		if g.Initializers == nil {
			g.Initializers = map[string]*Tensor{}
		}
		g.Initializers[t.Name] = t
		lifted = append(lifted, t.Name)
	}
	g.Nodes = kept
	return lifted
}

// weightOnly reports whether every reader of v reads it as a weight (see
// LiftWeights).
func weightOnly(v string, readers []*Node, producer map[string]*Node) bool {
	if len(readers) == 0 {
		return false
	}
	for _, r := range readers {
		if r.Domain != "" || !readsAsWeight(r, v, producer) {
			return false
		}
	}
	return true
}

func readsAsWeight(r *Node, v string, producer map[string]*Node) bool {
	for i, in := range r.Inputs {
		if in != v {
			continue
		}
		switch r.OpType {
		case "Conv", "ConvTranspose", "Gemm":
			if i == 0 {
				return false
			}
		case "MatMul", "PRelu":
			if i != 1 {
				return false
			}
		case "BatchNormalization":
			if i == 0 {
				return false
			}
		case "Add", "Sub":
			other := r.Input(1 - i)
			if p := producer[other]; p == nil || p.OpType != "Conv" && p.OpType != "Gemm" && p.OpType != "MatMul" {
				return false
			}
		default:
			return false
		}
	}
	return true
}
