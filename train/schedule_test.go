package train

import (
	"encoding/json"
	"math"
	"os"
	"testing"

	"github.com/lenetkit/lenetkit/internal/testtool"
)

// TestOneCycleMatchesPyTorch compares every step of short schedules with
// the rates and beta1 values PyTorch's OneCycleLR gave (reference/make_fixtures.py).
func TestOneCycleMatchesPyTorch(t *testing.T) {
	raw, err := os.ReadFile(testtool.Testdata("onecycle.json"))
	if err != nil {
		t.Fatal(err)
	}
	var fixture struct {
		Cases []struct {
			Name string
			Adam struct {
				LR float64 `json:"lr"`
			}
			OneCycle   map[string]any `json:"onecycle"`
			TotalSteps int            `json:"total_steps"`
			LR         []float64      `json:"lr"`
			Beta1      []float64      `json:"beta1"`
		}
	}
	if err := json.Unmarshal(raw, &fixture); err != nil {
		t.Fatal(err)
	}
	if len(fixture.Cases) == 0 {
		t.Fatal("no cases in onecycle.json")
	}
	for _, c := range fixture.Cases {
		t.Run(c.Name, func(t *testing.T) {
			s := NewOneCycle(c.OneCycle["max_lr"].(float64), c.TotalSteps)
			for key, v := range c.OneCycle {
				switch key {
				case "max_lr", "epochs", "steps_per_epoch", "total_steps":
				case "pct_start":
					s.PctStart = v.(float64)
				case "div_factor":
					s.DivFactor = v.(float64)
				case "final_div_factor":
					s.FinalDivFactor = v.(float64)
				case "base_momentum":
					s.BaseMomentum = v.(float64)
				case "max_momentum":
					s.MaxMomentum = v.(float64)
				case "cycle_momentum":
					s.CycleMomentum = v.(bool)
				case "anneal_strategy":
					s.Linear = v.(string) == "linear"
				default:
					t.Fatalf("fixture argument %s not understood", key)
				}
			}
			if len(c.LR) != c.TotalSteps || len(c.Beta1) != c.TotalSteps {
				t.Fatalf("fixture has %d rates, %d beta1 for %d steps", len(c.LR), len(c.Beta1), c.TotalSteps)
			}
			for i := 0; i < c.TotalSteps; i++ {
				lr, beta1, err := s.At(i, 0.9)
				if err != nil {
					t.Fatal(err)
				}
				if !relClose(lr, c.LR[i], 1e-6) || !relClose(beta1, c.Beta1[i], 1e-6) {
					t.Errorf("step %d: lr %.10g beta1 %.10g, PyTorch %.10g %.10g", i, lr, beta1, c.LR[i], c.Beta1[i])
				}
			}
			if _, _, err := s.At(c.TotalSteps, 0.9); err == nil {
				t.Errorf("step %d past the schedule: no error (PyTorch raises)", c.TotalSteps)
			}
		})
	}
}

func relClose(a, b, rel float64) bool {
	return math.Abs(a-b) <= rel*math.Max(math.Abs(a), math.Abs(b))
}
