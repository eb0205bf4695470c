package train

import (
	"context"
	"errors"
	"math"
	"path/filepath"
	"slices"
	"testing"

	"github.com/lenetkit/lenetkit/dataset"
	"github.com/lenetkit/lenetkit/internal/testtool"
	"github.com/lenetkit/lenetkit/mnist"
	"github.com/lenetkit/lenetkit/onnx"
	"github.com/lenetkit/lenetkit/runlog"
)

// graphFixture is the seed's network exported for training (BatchNorm and
// Dropout: running statistics and a random stream to carry over), and
// MNIST's first 144 training images split 128/16: batches of 16, eight
// steps an epoch.
func graphFixture(t *testing.T) (load func() *onnx.Model, cfg GraphConfig, trainSet, valSet *dataset.Set) {
	t.Helper()
	src, err := mnist.Locate(context.Background(), "")
	if err != nil {
		testtool.Missing(t, "MNIST not available: "+err.Error())
	}
	d, err := dataset.Open(src.Dir, dataset.Options{Parts: dataset.TrainPart})
	if err != nil {
		t.Fatal(err)
	}
	idx := make([]int, 144)
	for i := range idx {
		idx[i] = i
	}
	few, err := d.Train.Subset(idx)
	if err != nil {
		t.Fatal(err)
	}
	if trainSet, valSet, err = few.Split(dataset.Val{Count: 16}, 1); err != nil {
		t.Fatal(err)
	}
	load = func() *onnx.Model {
		m, err := onnx.Load(testtool.Testdata("onnx/seed_reshape.onnx"))
		if err != nil {
			t.Fatal(err)
		}
		// Dropout (ratio 0.5) before the last layer: the random stream a
		// resume must carry on.
		for i := len(m.Graph.Nodes) - 1; i >= 0; i-- {
			if n := m.Graph.Nodes[i]; n.OpType == "Gemm" {
				drop := &onnx.Node{OpType: "Dropout", Inputs: []string{n.Inputs[0]}, Outputs: []string{"dropped"}}
				n.Inputs[0] = "dropped"
				m.Graph.Nodes = slices.Insert(m.Graph.Nodes, i, drop)
				return m
			}
		}
		t.Fatal("no Gemm in the fixture")
		return nil
	}
	aug, err := dataset.ParseAugment("rotate=10,shift=2")
	if err != nil {
		t.Fatal(err)
	}
	cfg = GraphConfig{Epochs: 3, BatchSize: 16, MaxLR: 1e-2, WeightDecay: 1e-3, Seed: 5, Prep: Prep{Pad: 2, Mean: 0.1307, Std: 0.3081},
		Augment: aug, Freeze: []string{"conv_layers.0"}, Source: GraphSource{Model: "seed.onnx", SHA256: "5eed"}}
	return load, cfg, trainSet, valSet
}

// graphLog collects a run's metrics.jsonl records, their times zeroed: the
// figures a log holds apart from how long steps took.
type graphLog struct {
	steps  []runlog.Step
	epochs []runlog.Epoch
}

func (l *graphLog) hooks(h GraphHooks) GraphHooks {
	h.Step = func(e StepEvent) { l.steps = append(l.steps, e.Record()) }
	h.Epoch = func(e GraphEpoch) {
		r := e.Record()
		r.Seconds = 0
		l.epochs = append(l.epochs, r)
	}
	return h
}

// TestResumeGraphIsBitExact stops a graph run mid-epoch, after an epoch's
// last step and while an epoch is validated, saves its checkpoint to a
// file, reads it back and resumes on a freshly loaded graph: the final
// weights (running statistics included), Adam's state, Dropout's stream
// and the log's records must equal an uninterrupted run's bit for bit.
func TestResumeGraphIsBitExact(t *testing.T) {
	load, cfg, trainSet, valSet := graphFixture(t)
	dir := t.TempDir()
	final := func(path string) GraphHooks {
		return GraphHooks{Checkpoint: func(st *GraphState) error { return SaveGraphCheckpoint(path, st) }}
	}
	var whole graphLog
	wantPath := filepath.Join(dir, "whole.pth")
	want, err := TrainGraph(context.Background(), load(), cfg, trainSet, valSet, nil, whole.hooks(final(wantPath)))
	if err != nil {
		t.Fatal(err)
	}
	wantSt, err := LoadGraphCheckpoint(wantPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		stop func(e StepEvent, epoch int) bool // cancel after this step, or this epoch's validation
	}{
		{"mid-epoch", func(e StepEvent, _ int) bool { return e.GlobalStep == 3 }},
		{"epoch's last step", func(e StepEvent, _ int) bool { return e.GlobalStep == 16 }},
		{"during validation", func(_ StepEvent, epoch int) bool { return epoch == 1 }}, // stops after epoch 2's first step
	} {
		t.Run(tc.name, func(t *testing.T) {
			if testing.Short() && tc.name != "mid-epoch" {
				t.Skip("-short: one stop of three")
			}
			path := filepath.Join(t.TempDir(), "checkpoint.pth")
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var first graphLog
			h := first.hooks(final(path))
			step, epoch := h.Step, h.Epoch
			h.Step = func(e StepEvent) {
				step(e)
				if tc.stop(e, 0) {
					cancel()
				}
			}
			h.Epoch = func(e GraphEpoch) {
				epoch(e)
				if tc.stop(StepEvent{}, e.Epoch) {
					cancel()
				}
			}
			res, err := TrainGraph(ctx, load(), cfg, trainSet, valSet, nil, h)
			if err != nil || !res.Stopped {
				t.Fatalf("stopped %v, %v", res != nil && res.Stopped, err)
			}
			st, err := LoadGraphCheckpoint(path)
			if err != nil {
				t.Fatal(err)
			}
			if st.GlobalStep != res.StoppedAt.GlobalStep || st.Caller != nil {
				t.Fatalf("checkpoint at step %d, the run stopped after %d", st.GlobalStep, res.StoppedAt.GlobalStep)
			}
			// The log as the CLI keeps it: rewound to the checkpoint.
			first.steps = first.steps[:st.GlobalStep]
			first.epochs = first.epochs[:st.Epoch-1]
			resPath := filepath.Join(t.TempDir(), "final.pth")
			got, err := ResumeGraph(context.Background(), load(), st, trainSet, valSet, nil, first.hooks(final(resPath)))
			if err != nil {
				t.Fatal(err)
			}
			gotSt, err := LoadGraphCheckpoint(resPath)
			if err != nil {
				t.Fatal(err)
			}
			if d := graphStateDifference(gotSt, wantSt); d != "" {
				t.Error(d)
			}
			if got.Steps != want.Steps || len(got.Epochs) != len(want.Epochs) {
				t.Errorf("%d steps, %d epochs; want %d, %d", got.Steps, len(got.Epochs), want.Steps, len(want.Epochs))
			}
			if !slices.Equal(first.steps, whole.steps) || !slices.Equal(first.epochs, whole.epochs) {
				t.Errorf("records\n%v\n%v\nwant\n%v\n%v", first.steps, first.epochs, whole.steps, whole.epochs)
			}
		})
	}
}

// graphStateDifference says how two final states differ, times aside.
func graphStateDifference(a, b *GraphState) string {
	if d := firstDifference(a.Weights, b.Weights); d != "" {
		return "weights: " + d
	}
	bitsEqual := func(x, y [][]float32) bool {
		return slices.EqualFunc(x, y, func(p, q []float32) bool {
			return slices.EqualFunc(p, q, func(u, v float32) bool { return math.Float32bits(u) == math.Float32bits(v) })
		})
	}
	switch {
	case a.AdamStep != b.AdamStep || !bitsEqual(a.AdamM, b.AdamM) || !bitsEqual(a.AdamV, b.AdamV):
		return "Adam's state differs"
	case !slices.Equal(a.DropoutRNG, b.DropoutRNG):
		return "Dropout's stream differs"
	case a.Epoch != b.Epoch || a.Step != b.Step || a.GlobalStep != b.GlobalStep || a.LossSum != b.LossSum || a.Data != b.Data:
		return "counters differ"
	case len(a.Epochs) != len(b.Epochs):
		return "epochs differ"
	}
	for i := range a.Epochs {
		x, y := a.Epochs[i], b.Epochs[i]
		if x.TrainLoss != y.TrainLoss || x.Val.Loss != y.Val.Loss || x.Val.Accuracy != y.Val.Accuracy {
			return "epoch figures differ"
		}
	}
	return ""
}

// TestResumeGraphRefuses: a checkpoint is refused, with the error a caller
// tells apart, on another graph, on other data and on its counters gone
// wrong, and each kind of checkpoint by the other's loader.
func TestResumeGraphRefuses(t *testing.T) {
	load, cfg, trainSet, valSet := graphFixture(t)
	cfg.Epochs = 1
	path := filepath.Join(t.TempDir(), "checkpoint.pth")
	hooks := GraphHooks{Checkpoint: func(st *GraphState) error { return SaveGraphCheckpoint(path, st) }}
	if _, err := TrainGraph(context.Background(), load(), cfg, trainSet, valSet, nil, hooks); err != nil {
		t.Fatal(err)
	}
	st, err := LoadGraphCheckpoint(path)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Finished() {
		t.Errorf("the last checkpoint of a finished run is at epoch %d of %d", st.Epoch, st.Config.Epochs)
	}
	other, err := onnx.Load(testtool.Testdata("onnx/dwbn.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	fewer, _ := trainSet.Subset([]int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15})
	var shifted []int
	for i := range trainSet.Len() {
		shifted = append(shifted, (i+1)%trainSet.Len())
	}
	reordered, _ := trainSet.Subset(shifted)
	seedCkpt := filepath.Join(t.TempDir(), "seed.pth")
	if err := SaveCheckpoint(seedCkpt, &State{Config: DefaultConfig(), Epoch: 1, Model: nil}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		err  func() error
		want error
	}{
		{"another graph", func() error { return st.Fits(other, trainSet) }, ErrOtherModel},
		{"fewer images", func() error { return st.Fits(load(), fewer) }, ErrOtherData},
		{"other images", func() error { return st.Fits(load(), reordered) }, ErrOtherData},
		{"another file", func() error { return st.SameModel("0123") }, ErrOtherModel},
		{"seed's checkpoint", func() error { _, err := LoadGraphCheckpoint(seedCkpt); return err }, ErrSeedCheckpoint},
		{"graph's checkpoint", func() error { _, err := LoadCheckpoint(path); return err }, ErrGraphCheckpoint},
	} {
		if err := tc.err(); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	bad := *st
	bad.GlobalStep++
	if err := bad.Fits(load(), trainSet); err == nil {
		t.Error("a global step past the epochs' fits")
	}
	if err := st.Fits(load(), trainSet); err != nil {
		t.Errorf("the run's own graph and data: %v", err)
	}
}

// TestCheckpointFits: a graph whose weights and Adam's moments would pass
// a checkpoint's size limit is told before it trains.
func TestCheckpointFits(t *testing.T) {
	for _, tc := range []struct {
		weights int
		want    error
	}{{1000, nil}, {6 << 20, ErrCheckpointTooLarge}} {
		m := &onnx.Model{Graph: &onnx.Graph{Initializers: map[string]*onnx.Tensor{
			"w": {Name: "w", DType: onnx.Float, Shape: []int{tc.weights}, Float: make([]float32, tc.weights)}}}}
		if err := CheckpointFits(m); !errors.Is(err, tc.want) {
			t.Errorf("%d weights: %v, want %v", tc.weights, err, tc.want)
		}
	}
}
