package train

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/lenetkit/lenetkit/internal/testtool"
	"github.com/lenetkit/lenetkit/lenet"
)

// TestOneStepMatchesPyTorch replays two training steps that real PyTorch
// took from identical weights on identical batches, dropout off
// (reference/make_fixtures.py, testdata/step.pth): logits, loss, every
// parameter gradient, the Adam update and BatchNorm's running statistics.
func TestOneStepMatchesPyTorch(t *testing.T) {
	testStepMatchesPyTorch(t, "step", false)
}

// TestEvalStepMatchesPyTorch is the same in eval mode, as the notebook
// trained after its first validation (testdata/step_eval.pth): BatchNorm
// normalises with running statistics that must stay exactly as they were,
// dropout (0.3 here) is off, and the gradients are those of that function.
func TestEvalStepMatchesPyTorch(t *testing.T) {
	testStepMatchesPyTorch(t, "step_eval", true)
}

func testStepMatchesPyTorch(t *testing.T, fixture string, eval bool) {
	fx := readFixture(t, fixture+".pth")
	raw, err := os.ReadFile(testtool.Testdata(fixture + ".json"))
	if err != nil {
		t.Fatal(err)
	}
	var meta struct {
		Steps []struct {
			Step      int
			LR, Beta1 float64
		}
		Optimizer struct {
			WeightDecay float64 `json:"weight_decay"`
		}
	}
	if err := json.Unmarshal(raw, &meta); err != nil {
		t.Fatal(err)
	}
	var sd lenet.StateDict
	for _, p := range lenet.Params() {
		sd = append(sd, fx.get(t, "init."+p.Name).Clone())
		sd[len(sd)-1].Name = p.Name
	}
	x := fx.get(t, "1.x")
	dropout := 0.0
	if eval {
		dropout = 0.3 // what the fixture's model has; eval mode must switch it off
	}
	net, err := NewNet(sd, x.Shape[0], dropout, DropoutRow, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer net.Close()
	net.SetEval(eval)
	opt := NewAdam(meta.Optimizer.WeightDecay)
	from := "init."
	for _, st := range meta.Steps {
		prefix := fmt.Sprintf("%d.", st.Step)
		// Every step starts from PyTorch's weights, so that float32
		// rounding of one step does not carry into the next.
		for _, p := range sd {
			w := fx.get(t, from+p.Name)
			copy(p.F32, w.F32)
			copy(p.I64, w.I64)
		}
		loss, err := net.Step(fx.get(t, prefix+"x").F32, fx.get(t, prefix+"y").I64)
		if err != nil {
			t.Fatal(err)
		}
		want := float64(fx.get(t, prefix+"loss").F32[0])
		if math.Abs(loss-want) > 1e-4*math.Max(1, math.Abs(want)) {
			t.Errorf("step %d: loss %.7f, PyTorch %.7f", st.Step, loss, want)
		}
		assertClose(t, prefix+"logits", net.Logits(), fx.get(t, prefix+"logits").F32, 1e-4)
		// In train mode BatchNorm updated its running statistics during
		// the forward pass; in eval mode they are exactly what they were.
		for _, p := range sd {
			if !strings.Contains(p.Name, "running_") && !strings.Contains(p.Name, "num_batches") {
				continue
			}
			w := fx.get(t, prefix+"after."+p.Name)
			if eval {
				before := fx.get(t, from+p.Name)
				for i := range p.F32 {
					if p.F32[i] != before.F32[i] {
						t.Errorf("eval mode: %s[%d] moved from %g to %g", p.Name, i, before.F32[i], p.F32[i])
						break
					}
				}
				if len(p.I64) > 0 && p.I64[0] != before.I64[0] {
					t.Errorf("eval mode: %s moved from %d to %d", p.Name, before.I64[0], p.I64[0])
				}
			}
			if p.DType == lenet.Int64 {
				if p.I64[0] != w.I64[0] {
					t.Errorf("%s = %d, PyTorch %d", prefix+p.Name, p.I64[0], w.I64[0])
				}
				continue
			}
			assertClose(t, prefix+"after."+p.Name, p.F32, w.F32, 1e-4)
		}
		// The Adam update is checked from PyTorch's own gradients: the
		// gradients of conv biases feeding BatchNorm are differences of
		// nearly equal terms, and Adam divides by their magnitude, so a
		// float32 rounding difference in one would show as a large update
		// difference that says nothing about the optimiser.
		var params, grads [][]float32
		for i, p := range net.Params() {
			torchGrad := fx.get(t, prefix+"grad."+p.Name).F32
			assertClose(t, prefix+"grad."+p.Name, net.Grad(i), torchGrad, 1e-4)
			params, grads = append(params, p.F32), append(grads, torchGrad)
		}
		opt.Step(params, grads, st.LR, st.Beta1)
		for _, p := range net.Params() {
			assertClose(t, prefix+"after."+p.Name, p.F32, fx.get(t, prefix+"after."+p.Name).F32, 1e-4)
		}
		from = prefix + "after."
	}
}

// assertClose checks |got-want| <= tol*(1+|want|) elementwise: relative for
// large values, absolute near zero, where float32 sums in another order
// legitimately differ.
func assertClose(t *testing.T, name string, got, want []float32, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d values, want %d", name, len(got), len(want))
		return
	}
	worst, at := 0.0, -1
	for i := range got {
		d := math.Abs(float64(got[i])-float64(want[i])) / (1 + math.Abs(float64(want[i])))
		if d > worst || math.IsNaN(d) {
			worst, at = d, i
		}
	}
	if worst > tol || at >= 0 && math.IsNaN(worst) {
		t.Errorf("%s: worst difference %.3g at %d (got %g, want %g), tolerance %g", name, worst, at, got[at], want[at], tol)
	}
}
