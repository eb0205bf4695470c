package onnx

// rankOf returns the rank of value name, or -1 when the graph does not
// give it: from an input's, initializer's or value info's declared shape,
// or from its producer's operator and inputs, for the operators of the
// files Upgrade reads. The nodes before name's producer must have been
// visited in topological order, as Upgrade does.
func (u *upgrader) rankOf(name string) int {
	if r, ok := u.rank[name]; ok {
		return r
	}
	r := u.declaredRank(name)
	if r < 0 {
		if p := u.producer[name]; p != nil {
			r = u.producedRank(p)
		}
	}
	u.rank[name] = r
	return r
}

func (u *upgrader) declaredRank(name string) int {
	if t := u.consts[name]; t != nil {
		return len(t.Shape)
	}
	for _, v := range u.g.Inputs {
		if v.Name == name && v.Dims != nil {
			return len(v.Dims)
		}
	}
	if v := u.g.ValueInfo[name]; v != nil && v.Dims != nil {
		return len(v.Dims)
	}
	return -1
}

// producedRank is the rank of p's first output.
func (u *upgrader) producedRank(p *Node) int {
	in := func(i int) int {
		if p.Input(i) == "" {
			return -1
		}
		return u.rankOf(p.Input(i))
	}
	switch p.OpType {
	case "Add", "Sub", "Mul", "Div", "Pow", "Sum", "Max", "Min", "Mean":
		r := -1
		for i := range p.Inputs {
			if ri := in(i); ri < 0 {
				return -1
			} else {
				r = max(r, ri)
			}
		}
		return r
	case "Flatten", "Gemm":
		return 2
	case "MatMul":
		if a, b := in(0), in(1); a >= 2 && b >= 2 {
			return max(a, b)
		}
		return -1
	case "Reshape":
		if t := u.consts[p.Input(1)]; t != nil {
			return t.Len()
		}
		return -1
	case "Shape":
		return 1
	case "Squeeze", "Unsqueeze":
		axes, _, err := p.squeezeAxes(u.consts)
		if r := in(0); r >= 0 && err == nil && len(axes) > 0 {
			if p.OpType == "Squeeze" {
				return r - len(axes)
			}
			return r + len(axes)
		}
		return -1
	case "Relu", "Tanh", "Sigmoid", "Elu", "LeakyRelu", "Selu", "HardSigmoid", "Softplus", "Softsign",
		"Abs", "Neg", "Exp", "Log", "Sqrt", "Reciprocal", "Clip", "Dropout", "Identity", "Cast", "PRelu",
		"BatchNormalization", "InstanceNormalization", "LRN", "Conv", "MaxPool", "AveragePool",
		"GlobalAveragePool", "GlobalMaxPool", "Softmax", "LogSoftmax", "Pad", "Transpose", "Concat", "Split", "Slice":
		return in(0)
	}
	return -1
}
