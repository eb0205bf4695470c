package train

import (
	"fmt"
	"math"

	"github.com/lenetkit/lenetkit/internal/kernel"
)

// Adam is torch.optim.Adam (amsgrad off, single-tensor path) with coupled
// L2 weight decay: the decay is added to the gradient before the moments,
// so it reaches BatchNorm parameters and biases too. beta1 is passed per
// step because OneCycleLR cycles it; the bias correction uses the current
// beta1, as PyTorch does.
type Adam struct {
	Beta2, Eps, WeightDecay float64
	step                    int
	m, v                    [][]float32
}

// NewAdam returns PyTorch's defaults (betas (0.9, 0.999), eps 1e-8) with
// the given weight decay.
func NewAdam(weightDecay float64) *Adam {
	return &Adam{Beta2: 0.999, Eps: 1e-8, WeightDecay: weightDecay}
}

// Step updates params in place from their gradients.
func (a *Adam) Step(params, grads [][]float32, lr, beta1 float64) {
	if a.m == nil {
		for _, p := range params {
			a.m = append(a.m, make([]float32, len(p)))
			a.v = append(a.v, make([]float32, len(p)))
		}
	}
	a.step++
	bc1 := 1 - math.Pow(beta1, float64(a.step))
	bc2Sqrt := math.Sqrt(1 - math.Pow(a.Beta2, float64(a.step)))
	stepSize := float32(lr / bc1)
	b1, b2 := float32(beta1), float32(a.Beta2)
	wd, inv, eps := float32(a.WeightDecay), float32(1/bc2Sqrt), float32(a.Eps)
	for i, p := range params {
		g, m, v := grads[i], a.m[i], a.v[i]
		// Subnormals are read as zeros and none is stored (kernel.Flush):
		// the weights of dead filters and the moments of their zero
		// gradients decay geometrically through the subnormal range, where
		// every step would pay Intel's microcode assists on them.
		for j := range p {
			pj := kernel.Flush(p[j])
			gj := kernel.Flush(g[j]) + wd*pj
			mj := kernel.Flush(b1*kernel.Flush(m[j]) + (1-b1)*gj)
			vj := kernel.Flush(b2*kernel.Flush(v[j]) + (1-b2)*gj*gj)
			denom := float32(math.Sqrt(float64(vj)))*inv + eps
			m[j], v[j], p[j] = mj, vj, kernel.Flush(pj-stepSize*mj/denom)
		}
	}
}

// StepCount is how many steps Adam has taken (PyTorch's state "step").
func (a *Adam) StepCount() int { return a.step }

// moments returns Adam's step count and first and second moments, one
// slice per parameter (nil before the first step).
func (a *Adam) moments() (step int, m, v [][]float32) { return a.step, a.m, a.v }

// restore sets the state moments returned, for params of the given sizes.
func (a *Adam) restore(step int, m, v [][]float32, sizes []int) error {
	if step < 0 || len(m) != len(v) || (step > 0 && len(m) != len(sizes)) {
		return fmt.Errorf("train: Adam state of %d and %d moments for %d parameters", len(m), len(v), len(sizes))
	}
	for i := range m {
		if len(m[i]) != sizes[i] || len(v[i]) != sizes[i] {
			return fmt.Errorf("train: Adam moments of parameter %d have %d and %d values, want %d", i, len(m[i]), len(v[i]), sizes[i])
		}
	}
	a.step, a.m, a.v = step, m, v
	if len(m) == 0 {
		a.m, a.v = nil, nil
	}
	return nil
}
