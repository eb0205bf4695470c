package lenet

import (
	"math"
	"math/rand/v2"
)

// Init returns a freshly initialised state dict, drawn as PyTorch's default
// initialisation draws it: Conv2d and Linear weights and biases uniform in
// ±1/sqrt(fan_in) (kaiming_uniform_ with a=sqrt(5) reduces to that bound),
// BatchNorm weight 1, bias 0, running mean 0, running var 1, counter 0.
// The same seed gives the same weights; the draws are not PyTorch's own RNG.
func Init(seed uint64) StateDict {
	rng := rand.New(rand.NewPCG(seed, 0x1e7e7))
	uniform := func(n int, bound float64) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32((rng.Float64()*2 - 1) * bound)
		}
		return v
	}
	fill := func(n int, x float32) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = x
		}
		return v
	}
	var sd StateDict
	add := func(p Param, data []float32) {
		sd = append(sd, &Tensor{Name: p.Name, Shape: p.Shape, DType: Float32, F32: data})
	}
	params := Params()
	for i := 0; i < len(params); i++ {
		p := params[i]
		n := numElements(p.Shape)
		switch {
		case p.DType == Int64:
			sd = append(sd, &Tensor{Name: p.Name, Shape: p.Shape, DType: Int64, I64: make([]int64, 1)})
		case len(p.Shape) > 1: // a Conv2d or Linear weight, its bias next
			bound := 1 / math.Sqrt(float64(n/p.Shape[0]))
			add(p, uniform(n, bound))
			add(params[i+1], uniform(params[i+1].Shape[0], bound))
			i++
		case hasSuffix(p.Name, ".weight"), hasSuffix(p.Name, ".running_var"):
			add(p, fill(n, 1))
		default: // BatchNorm bias and running mean
			add(p, fill(n, 0))
		}
	}
	return sd
}

func hasSuffix(s, suffix string) bool {
	return len(s) >= len(suffix) && s[len(s)-len(suffix):] == suffix
}
