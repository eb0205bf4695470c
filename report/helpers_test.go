package report

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// synthetic describes a made-up run shaped like train's: a OneCycleLR
// schedule, a loss falling with noise, eval mode from a step on.
type synthetic struct {
	epochs, steps int // steps per epoch
	done          int // epochs finished; < epochs for a run that stopped
	extraSteps    int // steps logged of the unfinished epoch
	evalFrom      int // first step in eval mode; 0 for none
	test          bool
	seed          uint64
}

// writeRun writes s as train --log-dir would into a new directory named
// name under parent, and returns it.
func writeRun(t testing.TB, parent, name string, s synthetic) string {
	t.Helper()
	dir := filepath.Join(parent, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf(`{
  "batch_size": 128,
  "dropout": 0.3,
  "dropout_mode": "row",
  "epochs": %d,
  "freeze_bn_after": %d,
  "limit": 0,
  "lr": 0.0001,
  "max_lr": 0.01,
  "optimizer": "Adam(betas=(0.9, 0.999), eps=1e-8, coupled L2)",
  "recipe": "published",
  "recipe_description": "recipe published: train mode for the first steps, then eval mode",
  "scheduler": "OneCycleLR(defaults, cycle_momentum)",
  "seed": %d,
  "started": "2025-01-02T03:04:05Z",
  "val_size": 5000,
  "weight_decay": 0.002
}
`, s.epochs, s.evalFrom, s.seed)
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(s.seed, 1))
	total := s.epochs * s.steps
	var b strings.Builder
	enc := json.NewEncoder(&b)
	step := 0
	for e := 1; e <= s.done+1 && e <= s.epochs; e++ {
		n := s.steps
		if e > s.done {
			n = s.extraSteps
		}
		var sum float64
		for k := 0; k < n; k++ {
			step++
			pct := float64(step) / float64(total)
			lr, beta1 := oneCycle(pct)
			loss := (2.3*math.Exp(-12*pct) + 0.02) * math.Exp(0.35*rng.NormFloat64())
			sum += loss
			enc.Encode(map[string]any{"step": step, "epoch": e, "train_loss": loss, "learning_rate": lr, "beta1": beta1,
				"eval_mode": s.evalFrom > 0 && step >= s.evalFrom})
		}
		if e <= s.done {
			pct := float64(e)/float64(s.epochs) + float64(s.seed)/20
			enc.Encode(map[string]any{"epoch": e, "train_loss": sum / float64(n), "val_loss": 0.025 + 0.2*math.Exp(-5*pct),
				"val_acc": 99.3 - 3*math.Exp(-5*pct), "seconds": 12.5})
		}
	}
	if s.test {
		enc.Encode(map[string]any{"test_acc": 99.12, "test_loss": 0.0261, "test_images": 9984,
			"test_acc_full": 99.11, "test_loss_full": 0.0262})
	}
	if err := os.WriteFile(filepath.Join(dir, "metrics.jsonl"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// oneCycle is PyTorch's OneCycleLR with its defaults (pct_start 0.3, cosine
// annealing, momentum cycled between 0.85 and 0.95), max_lr 0.01.
func oneCycle(pct float64) (lr, beta1 float64) {
	cos := func(a, b, f float64) float64 { return b + (a-b)/2*(1+math.Cos(math.Pi*f)) }
	if pct < 0.3 {
		return cos(0.01/25, 0.01, pct/0.3), cos(0.95, 0.85, pct/0.3)
	}
	f := (pct - 0.3) / 0.7
	return cos(0.01, 0.01/25/1e4, f), cos(0.85, 0.95, f)
}

// fullRun is a finished run: three short epochs and the test line.
var fullRun = synthetic{epochs: 3, steps: 60, done: 3, evalFrom: 79, test: true, seed: 1}

// stoppedRun stopped in its second epoch: one epoch, part of another, no test.
var stoppedRun = synthetic{epochs: 3, steps: 60, done: 1, extraSteps: 25, evalFrom: 79, seed: 2}
