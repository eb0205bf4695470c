package train

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lenetkit/lenetkit/internal/testtool"
	"github.com/lenetkit/lenetkit/lenet"
	"github.com/lenetkit/lenetkit/mnist"
	"github.com/lenetkit/lenetkit/modelfile"
)

// TestConfigBounds: every float is finite and in range, and sizes are
// bounded, before anything is allocated (issue 19).
func TestConfigBounds(t *testing.T) {
	nan := math.NaN()
	for _, edit := range []func(*Config){
		func(c *Config) { c.MaxLR = nan },
		func(c *Config) { c.LR = nan },
		func(c *Config) { c.LR = math.Inf(1) },
		func(c *Config) { c.WeightDecay = nan },
		func(c *Config) { c.Dropout = nan },
		func(c *Config) { c.BatchSize = 55000 },
		func(c *Config) { c.Epochs = math.MaxInt },
		func(c *Config) { c.ValSize = -1 },
	} {
		c := DefaultConfig()
		edit(&c)
		if c.Validate() == nil {
			t.Errorf("%+v accepted", c)
		}
	}
	c := DefaultConfig()
	c.Epochs, c.BatchSize = modelfile.MaxEpochs, 2
	if _, err := Steps(c, 60000); err == nil || !strings.Contains(err.Error(), "more than") {
		t.Errorf("Steps: %v", err)
	}
	c.BatchSize = 4096
	if _, err := Steps(c, 4000); err == nil {
		t.Error("a batch larger than the training set accepted")
	}
}

// TestGridBound: a grid over modelfile.MaxGridCells is refused before it
// is built.
func TestGridBound(t *testing.T) {
	g := Grid{Dropouts: make([]float64, 2000), WeightDecays: make([]float64, 2000), Seeds: make([]uint64, 2000)}
	for i := range 2000 {
		g.Dropouts[i], g.WeightDecays[i], g.Seeds[i] = float64(i)/2000, float64(i), uint64(i)
	}
	testtool.Bounded(t, "Validate", 1, func() {
		if err := g.Validate(); err == nil || !strings.Contains(err.Error(), "more than") {
			t.Errorf("Validate: %v", err)
		}
	})
}

func TestCellResultValidate(t *testing.T) {
	for _, r := range []CellResult{
		{Accuracy: 500, Loss: 0.1},
		{Accuracy: 99, Loss: -3},
		{Accuracy: math.NaN()},
		{Accuracy: 99, Loss: math.Inf(1)},
		{Cell: Cell{Dropout: 2}, Accuracy: 99},
	} {
		if r.Validate() == nil {
			t.Errorf("%+v accepted", r)
		}
	}
	if err := (CellResult{Accuracy: 99.2, Loss: 0.03, Seconds: 3}).Validate(); err != nil {
		t.Error(err)
	}
}

// noiseSet is n images of noise with random labels.
func noiseSet(n int) *mnist.Set {
	r := rand.New(rand.NewPCG(1, 2))
	s := &mnist.Set{Images: make([]byte, n*mnist.PixelCount), Labels: make([]byte, n), N: n, Rows: 28, Cols: 28}
	for i := range s.Images {
		s.Images[i] = byte(r.IntN(256))
	}
	for i := range s.Labels {
		s.Labels[i] = byte(r.IntN(10))
	}
	return s
}

// TestDivergedRun: a run whose loss turns infinite ends with a
// DivergedError, and no checkpoint holds a non-finite number. Weights
// blown up by hand stand in for a learning rate too high, which BatchNorm
// and Adam's bounded steps make slow to reach on a small set.
func TestDivergedRun(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Epochs, cfg.BatchSize, cfg.ValSize, cfg.Recipe = 1, 16, 16, RecipeStandard
	set := noiseSet(48)
	path := filepath.Join(t.TempDir(), "checkpoint.pth")
	if _, err := Run(context.Background(), cfg, set, set, Hooks{Checkpoint: func(st *State) error { return SaveCheckpoint(path, st) }}); err != nil {
		t.Fatal(err)
	}
	st, err := LoadCheckpoint(path)
	if err != nil {
		t.Fatal(err)
	}
	st.Config.Epochs = 3
	for _, p := range st.Model {
		if p.DType == lenet.Float32 && strings.HasSuffix(p.Name, "weight") {
			for i := range p.F32 {
				p.F32[i] = 3e38
			}
		}
	}
	saved := 0
	_, err = Resume(context.Background(), st, set, set, Hooks{Checkpoint: func(st *State) error {
		saved++
		return nil
	}})
	var d *DivergedError
	if !errors.As(err, &d) {
		t.Fatalf("Resume: %v, want a DivergedError", err)
	}
	if saved != 0 {
		t.Errorf("%d checkpoints written after the loss turned %g", saved, d.Loss)
	}
	if !strings.Contains(err.Error(), "lower the peak learning rate") || d.GlobalStep != 3 {
		t.Errorf("%v (global step %d)", err, d.GlobalStep)
	}
}

// checkpointBytes is a checkpoint of a fresh run, as SaveCheckpoint writes
// it, after edit.
func checkpointBytes(t testing.TB, edit func(*State)) []byte {
	st := &State{Config: DefaultConfig(), Epoch: 1, Model: lenet.Init(0), DropoutRNG: []byte("x"),
		Caller: map[string]string{"out": "parameter.pth", "log_dir": "runs/1"}}
	if edit != nil {
		edit(st)
	}
	path := filepath.Join(t.TempDir(), "checkpoint.pth")
	if err := SaveCheckpoint(path, st); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// FuzzLoadCheckpoint: whatever a run directory's checkpoint.pth holds,
// reading it takes at most 2 s and 256 MB, and one it accepts can be
// written again (no NaN in its figures) and checked against a run.
func FuzzLoadCheckpoint(f *testing.F) {
	good := checkpointBytes(f, nil)
	f.Add(good)
	f.Add([]byte{})
	f.Add([]byte("notes: not a checkpoint\n"))
	f.Add(good[:len(good)/2])
	f.Add(checkpointBytes(f, func(st *State) { st.Caller = map[string]string{"out": "/elsewhere/evil.pth", "log_dir": "/other/run"} }))
	f.Add(checkpointBytes(f, func(st *State) { st.Epoch, st.GlobalStep = 2, 1 }))
	f.Add(checkpointBytes(f, func(st *State) { st.Config.BatchSize = 55000 }))
	f.Add(checkpointBytes(f, func(st *State) { st.Config.Epochs = math.MaxInt }))
	f.Add(bytes.Replace(good, []byte(`"loss_sum":0`), []byte(`"loss_sum":-1`), 1))
	f.Fuzz(func(t *testing.T, b []byte) {
		testtool.Bounded(t, "DecodeCheckpoint", testtool.FuzzSeconds, func() {
			st, err := DecodeCheckpoint(b)
			if err != nil {
				return
			}
			if _, err := json.Marshal(stateJSON{st.Config, st.Epoch, st.Step, st.GlobalStep, st.LossSum, st.TrainTime,
				st.Epochs, st.AdamStep, st.DropoutRNG, st.Caller}); err != nil {
				t.Fatalf("accepted a checkpoint that cannot be written again: %v", err)
			}
			if steps, err := Steps(st.Config, 60000); err == nil {
				st.Fits(steps)
			}
		})
	})
}
