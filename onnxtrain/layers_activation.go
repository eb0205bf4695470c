package onnxtrain

import (
	"fmt"
	"math"
	"slices"

	"github.com/lenetkit/lenetkit/onnx"
)

// The activations and elementwise functions the backend runs beyond
// layers_math.go's: each forward mirrors the backend's kernel (attributes
// and defaults as it reads them), each backward is the exact derivative,
// with the subgradient at a kink that PyTorch takes.

func init() {
	register(computed(buildActivation), "Selu", "HardSigmoid", "HardSwish", "Softplus",
		"Exp", "Log", "Sqrt", "Neg", "Abs", "Reciprocal", "Erf")
	register(computed(buildPRelu), "PRelu")
	register(computed(buildPow), "Pow")
}

func buildActivation(b *builder, n *onnx.Node, in []*value) (layer, []int, error) {
	var u *unary
	switch n.OpType {
	case "Selu":
		alpha, err := n.Attrs.Float("alpha", 1.67326319217681884765625)
		if err != nil {
			return nil, nil, err
		}
		gamma, err := n.Attrs.Float("gamma", 1.05070102214813232421875)
		if err != nil {
			return nil, nil, err
		}
		ga := float64(gamma) * float64(alpha)
		u = &unary{f: func(x float32) float32 {
			if x > 0 {
				return gamma * x
			}
			return float32(ga * math.Expm1(float64(x)))
		}, df: func(x, y float32) float32 {
			if x > 0 {
				return gamma
			}
			return y + float32(ga)
		}}
	case "HardSigmoid":
		alpha, err := n.Attrs.Float("alpha", 0.2)
		if err != nil {
			return nil, nil, err
		}
		beta, err := n.Attrs.Float("beta", 0.5)
		if err != nil {
			return nil, nil, err
		}
		u = &unary{f: func(x float32) float32 { return min(max(alpha*x+beta, 0), 1) },
			df: func(x, _ float32) float32 {
				v := alpha*x + beta
				return alpha * step(v > 0 && v < 1)
			}}
	case "HardSwish":
		if b.opset < 14 {
			return nil, nil, fmt.Errorf("HardSwish is an operator of opset 14 and later, not of opset %d", b.opset)
		}
		u = &unary{f: func(x float32) float32 { return x * min(max(x/6+0.5, 0), 1) },
			df: func(x, _ float32) float32 {
				switch s := x/6 + 0.5; {
				case s <= 0:
					return 0
				case s >= 1:
					return 1
				}
				return x/3 + 0.5
			}}
	default:
		u = elementary(n.OpType)
	}
	return u, in[0].shape, nil
}

// elementary is one of the functions without attributes.
func elementary(op string) *unary {
	switch op {
	case "Softplus":
		return &unary{f: func(x float32) float32 {
			f := float64(x)
			if f > 0 {
				return float32(f + math.Log1p(math.Exp(-f)))
			}
			return float32(math.Log1p(math.Exp(f)))
		}, df: func(x, _ float32) float32 { return float32(1 / (1 + math.Exp(-float64(x)))) }}
	case "Exp":
		return &unary{f: func(x float32) float32 { return float32(math.Exp(float64(x))) },
			df: func(_, y float32) float32 { return y }}
	case "Log":
		return &unary{f: func(x float32) float32 { return float32(math.Log(float64(x))) },
			df: func(x, _ float32) float32 { return 1 / x }}
	case "Sqrt":
		return &unary{f: func(x float32) float32 { return float32(math.Sqrt(float64(x))) },
			df: func(_, y float32) float32 { return 0.5 / y }}
	case "Neg":
		return &unary{f: func(x float32) float32 { return -x }, df: func(float32, float32) float32 { return -1 }}
	case "Erf":
		return &unary{f: func(x float32) float32 { return float32(math.Erf(float64(x))) },
			df: func(x, _ float32) float32 { return float32(2 / math.SqrtPi * math.Exp(-float64(x)*float64(x))) }}
	case "Abs":
		return &unary{f: func(x float32) float32 { return float32(math.Abs(float64(x))) },
			df: func(x, _ float32) float32 { return step(x > 0) - step(x < 0) }}
	}
	return &unary{f: func(x float32) float32 { return 1 / x }, df: func(_, y float32) float32 { return -y * y }}
}

// pairwise is a function of two tensors under NumPy broadcasting, as
// binary is, with its partial derivatives: PRelu and Pow.
type pairwise struct {
	ia, ib []int32
	f      func(a, b float32) float32
	d      func(a, b, y float32, da, db bool) (float32, float32)
}

func newPairwise(as, bs []int) (*pairwise, []int, error) {
	out, err := broadcastShape(as, bs)
	if err != nil {
		return nil, nil, err
	}
	p := &pairwise{}
	if !slices.Equal(as, out) {
		p.ia = broadcastIndex(as, out)
	}
	if !slices.Equal(bs, out) {
		p.ib = broadcastIndex(bs, out)
	}
	return p, out, nil
}

func (p *pairwise) forward(y []float32, in [][]float32) {
	for e := range y {
		y[e] = p.f(at(in[0], p.ia, e), at(in[1], p.ib, e))
	}
}

func (p *pairwise) backward(dx [][]float32, dy, y []float32, in [][]float32) {
	for _, d := range dx[:2] {
		clear(d)
	}
	for e, g := range dy {
		ga, gb := p.d(at(in[0], p.ia, e), at(in[1], p.ib, e), y[e], dx[0] != nil, dx[1] != nil)
		if dx[0] != nil {
			dx[0][index(p.ia, e)] += g * ga
		}
		if dx[1] != nil {
			dx[1][index(p.ib, e)] += g * gb
		}
	}
}

// buildPRelu: the slope broadcasts to X (unidirectionally, from opset 7);
// it is a weight PyTorch trains, so its gradient sums over the elements
// that share each slope.
func buildPRelu(b *builder, n *onnx.Node, in []*value) (layer, []int, error) {
	if len(in) != 2 || in[1] == nil || in[1].node == nil {
		return nil, nil, fmt.Errorf("want X and a float slope")
	}
	p, out, err := newPairwise(in[0].shape, in[1].shape)
	if err != nil {
		return nil, nil, err
	}
	if !slices.Equal(out, in[0].shape) {
		return nil, nil, fmt.Errorf("the slope of shape %v does not broadcast to X of shape %v", in[1].shape, in[0].shape)
	}
	p.f = func(x, s float32) float32 {
		if x >= 0 {
			return x
		}
		return x * s
	}
	p.d = func(x, s, _ float32, _, _ bool) (float32, float32) {
		if x > 0 {
			return 1, 0
		}
		return s, x
	}
	return p, out, nil
}

// buildPow: a constant exponent of one value is a function of X alone;
// any other exponent broadcasts with X, and its gradient, y*ln(x), is
// defined for positive X only.
func buildPow(b *builder, n *onnx.Node, in []*value) (layer, []int, error) {
	if len(in) != 2 || in[1] == nil || in[1].node == nil {
		return nil, nil, fmt.Errorf("want X and a float exponent")
	}
	if e := in[1]; e.konst != nil && len(e.konst.Float) == 1 && len(e.konst.Shape) <= len(in[0].shape) {
		p := float64(e.konst.Float[0])
		if p == 2 {
			return &unary{f: func(x float32) float32 { return x * x }, df: func(x, _ float32) float32 { return 2 * x }}, in[0].shape, nil
		}
		return &unary{f: func(x float32) float32 { return float32(math.Pow(float64(x), p)) },
			df: func(x, _ float32) float32 { return float32(p * math.Pow(float64(x), p-1)) }}, in[0].shape, nil
	}
	p, out, err := newPairwise(in[0].shape, in[1].shape)
	if err != nil {
		return nil, nil, err
	}
	p.f = func(x, e float32) float32 { return float32(math.Pow(float64(x), float64(e))) }
	p.d = func(x, e, y float32, _, de bool) (float32, float32) {
		dx := float32(float64(e) * math.Pow(float64(x), float64(e)-1))
		if !de {
			return dx, 0
		}
		return dx, y * float32(math.Log(float64(x)))
	}
	return p, out, nil
}
