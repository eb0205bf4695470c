package train

import (
	"context"
	"math"
	"path/filepath"
	"testing"

	"github.com/lenetkit/lenetkit/convert"
	"github.com/lenetkit/lenetkit/lenet"
	"github.com/lenetkit/lenetkit/mnist"
)

// TestResumeIsBitExact stops a run at several points, saves its checkpoint
// to a file, reads it back and resumes: the final weights, running
// statistics, counters and figures must equal an uninterrupted run's bit
// for bit.
func TestResumeIsBitExact(t *testing.T) {
	trainSet, testSet := loadMNIST(t)
	cfg := DefaultConfig()
	cfg.Epochs, cfg.BatchSize, cfg.Limit, cfg.ValSize = 3, 16, 160, 100 // 10 steps an epoch
	cfg.Recipe, cfg.FreezeBNAfter = RecipePublished, 15                 // eval mode from inside epoch 2
	testSet = subset(testSet, 256)

	want, err := Run(context.Background(), cfg, trainSet, testSet, Hooks{})
	if err != nil {
		t.Fatal(err)
	}
	for _, stopAt := range []int{3, 10, 29} { // mid-epoch; before a validation; the last step
		path := filepath.Join(t.TempDir(), "checkpoint.pth")
		ctx, cancel := context.WithCancel(context.Background())
		hooks := Hooks{
			Step: func(e StepEvent) {
				if e.GlobalStep == stopAt {
					cancel()
				}
			},
			Checkpoint: func(st *State) error { return SaveCheckpoint(path, st) },
		}
		res, err := Run(ctx, cfg, trainSet, testSet, hooks)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if !res.Stopped || res.StoppedAt.GlobalStep != stopAt {
			t.Fatalf("stop at %d: stopped %v at %d", stopAt, res.Stopped, res.StoppedAt.GlobalStep)
		}
		st, err := LoadCheckpoint(path)
		if err != nil {
			t.Fatal(err)
		}
		if st.GlobalStep != stopAt || st.Config != cfg {
			t.Fatalf("checkpoint at step %d with config %+v, want %d, %+v", st.GlobalStep, st.Config, stopAt, cfg)
		}
		got, err := Resume(context.Background(), st, trainSet, testSet, Hooks{})
		if err != nil {
			t.Fatalf("resume from step %d: %v", stopAt, err)
		}
		if d := firstDifference(got.StateDict, want.StateDict); d != "" {
			t.Errorf("resumed from step %d: %s", stopAt, d)
		}
		if got.Test.Accuracy != want.Test.Accuracy || got.Test.Loss != want.Test.Loss || len(got.Epochs) != cfg.Epochs {
			t.Errorf("resumed from step %d: test %+v (%d epochs), want %+v", stopAt, got.Test, len(got.Epochs), want.Test)
		}
		for i := range got.Epochs {
			if got.Epochs[i].TrainLoss != want.Epochs[i].TrainLoss || got.Epochs[i].Val.Loss != want.Epochs[i].Val.Loss || got.Epochs[i].Val.Accuracy != want.Epochs[i].Val.Accuracy {
				t.Errorf("resumed from step %d: epoch %d train loss %v val %v, want %v %v", stopAt, i+1,
					got.Epochs[i].TrainLoss, got.Epochs[i].Val.Accuracy, want.Epochs[i].TrainLoss, want.Epochs[i].Val.Accuracy)
			}
		}
	}
}

func firstDifference(a, b lenet.StateDict) string {
	if len(a) != len(b) {
		return "different tensor counts"
	}
	for i := range a {
		for j := range a[i].F32 {
			if math.Float32bits(a[i].F32[j]) != math.Float32bits(b[i].F32[j]) {
				return a[i].Name + " differs"
			}
		}
		for j := range a[i].I64 {
			if a[i].I64[j] != b[i].I64[j] {
				return a[i].Name + " differs"
			}
		}
	}
	return ""
}

func TestLoadCheckpointRefuses(t *testing.T) {
	dir := t.TempDir()
	plain := filepath.Join(dir, "plain.pth")
	if err := convert.SavePTH(plain, lenet.Init(0)); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadCheckpoint(plain); err == nil {
		t.Error("a plain state dict loaded as a checkpoint")
	}
	if _, err := LoadCheckpoint(filepath.Join(dir, "missing.pth")); err == nil {
		t.Error("a missing file loaded")
	}
}

// subset is the first n images of s.
func subset(s *mnist.Set, n int) *mnist.Set {
	px := s.Rows * s.Cols
	return &mnist.Set{Images: s.Images[:n*px], Labels: s.Labels[:n], N: n, Rows: s.Rows, Cols: s.Cols}
}
