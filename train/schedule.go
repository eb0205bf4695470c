package train

import (
	"fmt"
	"math"
)

// OneCycle is torch.optim.lr_scheduler.OneCycleLR (two phases): the rate
// rises from MaxLR/DivFactor to MaxLR over the first PctStart of the steps
// and falls to MaxLR/DivFactor/FinalDivFactor, while Adam's beta1 moves the
// opposite way between MaxMomentum and BaseMomentum.
type OneCycle struct {
	MaxLR, PctStart, DivFactor, FinalDivFactor float64
	BaseMomentum, MaxMomentum                  float64
	CycleMomentum, Linear                      bool
	TotalSteps                                 int
}

// NewOneCycle returns OneCycleLR with PyTorch's defaults.
func NewOneCycle(maxLR float64, totalSteps int) OneCycle {
	return OneCycle{MaxLR: maxLR, PctStart: 0.3, DivFactor: 25, FinalDivFactor: 1e4,
		BaseMomentum: 0.85, MaxMomentum: 0.95, CycleMomentum: true, TotalSteps: totalSteps}
}

// At returns the learning rate and beta1 that step (0-based) trains with.
// beta1 is fallback when momentum does not cycle.
func (s OneCycle) At(step int, fallback float64) (lr, beta1 float64, err error) {
	if step < 0 || step >= s.TotalSteps {
		return 0, 0, fmt.Errorf("train: step %d outside a schedule of %d steps", step, s.TotalSteps)
	}
	initial := s.MaxLR / s.DivFactor
	minLR := initial / s.FinalDivFactor
	phases := []struct{ end, lr0, lr1, m0, m1 float64 }{
		{s.PctStart*float64(s.TotalSteps) - 1, initial, s.MaxLR, s.MaxMomentum, s.BaseMomentum},
		{float64(s.TotalSteps - 1), s.MaxLR, minLR, s.BaseMomentum, s.MaxMomentum},
	}
	start := 0.0
	for i, p := range phases {
		if float64(step) <= p.end || i == len(phases)-1 {
			pct := (float64(step) - start) / (p.end - start)
			lr = s.anneal(p.lr0, p.lr1, pct)
			beta1 = fallback
			if s.CycleMomentum {
				beta1 = s.anneal(p.m0, p.m1, pct)
			}
			return lr, beta1, nil
		}
		start = p.end
	}
	return 0, 0, nil
}

func (s OneCycle) anneal(from, to, pct float64) float64 {
	if s.Linear {
		return (to-from)*pct + from
	}
	return to + (from-to)/2*(math.Cos(math.Pi*pct)+1)
}
