package onnx

import "math"

// FoldConvBatchNorm folds an inference BatchNormalization that alone reads
// a Conv's output into the Conv's weights and bias, as ONNX Runtime's
// basic optimisation does: per output channel c the normalisation is
// y = s*z + t with s = scale/sqrt(var+eps) and t = B - mean*s, so the
// Conv computes it with weights w*s and bias b*s + t, and the pass over
// the map goes. The Conv's weights and bias and the BatchNormalization's
// four parameters must be float initializers, the parameters one value
// per output channel; the Conv's output must feed only the
// BatchNormalization and not be a graph output, and the
// BatchNormalization must be an inference one with only its first
// output. A channel whose s or t is not finite (variance plus epsilon not
// positive) leaves the pair as it is, for the backend to refuse or run as
// written. It is for inference plans only: a trained graph keeps its
// BatchNormalizations. It returns the pairs it folded, each the two
// nodes' names (or first outputs).
func FoldConvBatchNorm(g *Graph) [][]string {
	return foldIntoConv(g, func(conv, bn *Node, uses map[string]int) bool {
		if bn.Input(0) != conv.Outputs[0] {
			return false
		}
		w, bias, ok := foldedConv(g, conv, bn)
		if !ok {
			return false
		}
		old := append([]string{conv.Input(1), conv.Input(2)}, bn.Inputs[1:5]...)
		w.Name = uniqueName(g, conv.Input(1)+"_bn")
		g.Initializers[w.Name] = w
		bias.Name = uniqueName(g, conv.Outputs[0]+"_bn_bias")
		g.Initializers[bias.Name] = bias
		conv.Inputs = []string{conv.Inputs[0], w.Name, bias.Name}
		// The old constants go where nothing else reads them: a plan
		// counts every initializer against its budget.
		for _, name := range old {
			if name != "" {
				uses[name]--
				if uses[name] == 0 && !isInput(g, name) {
					delete(g.Initializers, name)
				}
			}
		}
		return true
	})
}

// foldedConv returns the weights and bias of conv with bn folded in, or
// ok false where the pair does not qualify.
func foldedConv(g *Graph, conv, bn *Node) (w, bias *Tensor, ok bool) {
	if bn.OpType != "BatchNormalization" || bn.Domain != "" || len(bn.Inputs) != 5 || len(bn.Outputs) == 0 || bn.Outputs[0] == "" {
		return nil, nil, false
	}
	for _, o := range bn.Outputs[1:] {
		if o != "" {
			return nil, nil, false // training outputs
		}
	}
	if mode, err := bn.Attrs.Int("training_mode", 0); err != nil || mode != 0 {
		return nil, nil, false
	}
	if spatial, err := bn.Attrs.Int("spatial", 1); err != nil || spatial != 1 {
		return nil, nil, false
	}
	eps, err := bn.Attrs.Float("epsilon", 1e-5)
	if err != nil {
		return nil, nil, false
	}
	k := g.Initializers[conv.Input(1)]
	if k == nil || k.DType != Float || len(k.Shape) < 3 || k.Shape[0] < 1 || len(k.Float) == 0 || len(k.Float)%k.Shape[0] != 0 {
		return nil, nil, false
	}
	channels := k.Shape[0]
	b := make([]float32, channels)
	if name := conv.Input(2); name != "" {
		t := g.Initializers[name]
		if t == nil || t.DType != Float || len(t.Float) != channels {
			return nil, nil, false
		}
		copy(b, t.Float)
	}
	var p [4][]float32 // scale, B, mean, var
	for i := range p {
		t := g.Initializers[bn.Inputs[i+1]]
		if t == nil || t.DType != Float || len(t.Float) != channels {
			return nil, nil, false
		}
		p[i] = t.Float
	}
	// As the backend folds a BatchNormalization alone, in float64.
	s, sh := make([]float64, channels), make([]float64, channels)
	for c := range s {
		s[c] = float64(p[0][c]) / math.Sqrt(float64(p[3][c])+float64(eps))
		sh[c] = float64(p[1][c]) - float64(p[2][c])*s[c]
		if math.IsNaN(s[c]) || math.IsInf(s[c], 0) || math.IsNaN(sh[c]) || math.IsInf(sh[c], 0) {
			return nil, nil, false
		}
	}
	per := len(k.Float) / channels
	w = &Tensor{DType: Float, Shape: append([]int(nil), k.Shape...), Float: make([]float32, len(k.Float))}
	for i, v := range k.Float {
		w.Float[i] = float32(float64(v) * s[i/per])
	}
	bias = &Tensor{DType: Float, Shape: []int{channels}, Float: make([]float32, channels)}
	for c := range b {
		bias.Float[c] = float32(float64(b[c])*s[c] + sh[c])
	}
	return w, bias, true
}

// isInput reports whether name is one of g's inputs.
func isInput(g *Graph, name string) bool {
	for _, in := range g.Inputs {
		if in.Name == name {
			return true
		}
	}
	return false
}
