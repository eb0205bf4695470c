package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/lenetkit/lenetkit/internal/atomicfile"
	"github.com/lenetkit/lenetkit/train"
)

// runLog keeps, in --log-dir, the run's configuration and what the seed's
// notebook logged to Weights & Biases: train_loss and learning_rate every
// step; val_loss, val_acc and the epoch's mean train_loss every epoch.
// A nil *runLog logs nothing.
type runLog struct {
	f   *os.File
	w   *bufio.Writer
	enc *json.Encoder
	err error
}

func newRunLog(dir string, cfg train.Config, stepsPerEpoch int) (*runLog, error) {
	var freeze any // null: train mode throughout
	if n, ok := cfg.FreezePoint(stepsPerEpoch); ok {
		freeze = n
	}
	// Its callers name the flag that gave dir when they check it up front;
	// this says what failed in terms of dir itself (sweep's run folders
	// are under --out, not a --log-dir).
	if err := atomicfile.CheckDir(dir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("cannot create %s: %w", dir, err)
	}
	conf, err := json.MarshalIndent(map[string]any{
		"epochs": cfg.Epochs, "batch_size": cfg.BatchSize, "lr": cfg.LR, "max_lr": cfg.MaxLR,
		"weight_decay": cfg.WeightDecay, "dropout": cfg.Dropout, "dropout_mode": cfg.DropoutMode,
		"val_size": cfg.ValSize, "limit": cfg.Limit, "seed": cfg.Seed,
		"recipe": cfg.Recipe, "freeze_bn_after": freeze, "recipe_description": cfg.Describe(stepsPerEpoch),
		"optimizer": "Adam(betas=(0.9, 0.999), eps=1e-8, coupled L2)", "scheduler": "OneCycleLR(defaults, cycle_momentum)",
		"started": time.Now().UTC().Format(time.RFC3339),
	}, "", "  ")
	if err != nil {
		return nil, err
	}
	config := filepath.Join(dir, "config.json")
	err = atomicfile.Write(config, func(w io.Writer) error {
		_, err := w.Write(append(conf, '\n'))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("write %s: %w", config, err)
	}
	f, err := os.Create(filepath.Join(dir, "metrics.jsonl"))
	if err != nil {
		return nil, err
	}
	w := bufio.NewWriter(f)
	return &runLog{f: f, w: w, enc: json.NewEncoder(w)}, nil
}

// resumeRunLog continues the log in dir of a run resumed at globalStep,
// in epoch: the lines the stopped run wrote past its checkpoint (steps
// after it, the epoch it was in, a test) are dropped first, so that the
// log reads as an uninterrupted run's.
func resumeRunLog(dir string, globalStep, epoch int) (*runLog, error) {
	path := filepath.Join(dir, "metrics.jsonl")
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--resume: the run's log: %w", err)
	}
	var kept []byte
	for _, line := range bytes.SplitAfter(b, []byte("\n")) {
		var m map[string]json.RawMessage
		if len(bytes.TrimSpace(line)) == 0 || line[len(line)-1] != '\n' || json.Unmarshal(line, &m) != nil {
			continue // a line cut short by the stop
		}
		var step, ep int
		json.Unmarshal(m["step"], &step)
		json.Unmarshal(m["epoch"], &ep)
		_, isStep := m["step"]
		_, isEpoch := m["val_loss"]
		if (isStep && step <= globalStep) || (!isStep && isEpoch && ep < epoch) {
			kept = append(kept, line...)
		}
	}
	err = atomicfile.Write(path, func(w io.Writer) error { _, err := w.Write(kept); return err })
	if err != nil {
		return nil, fmt.Errorf("--resume: rewrite %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return nil, fmt.Errorf("--resume: %w", err)
	}
	w := bufio.NewWriter(f)
	return &runLog{f: f, w: w, enc: json.NewEncoder(w)}, nil
}

func (l *runLog) write(v any) {
	if l != nil && l.err == nil {
		l.err = l.enc.Encode(v)
	}
}

func (l *runLog) step(e train.StepEvent) {
	l.write(map[string]any{"step": e.GlobalStep, "epoch": e.Epoch, "train_loss": e.Loss, "learning_rate": e.LR, "beta1": e.Beta1,
		"eval_mode": e.Eval})
}

func (l *runLog) epoch(e train.EpochEvent) {
	l.write(map[string]any{"epoch": e.Epoch, "train_loss": e.TrainLoss, "val_loss": e.Val.Loss, "val_acc": e.Val.Accuracy,
		"seconds": e.Duration.Seconds()})
}

func (l *runLog) test(r *train.Result) {
	l.write(map[string]any{"test_acc": r.Test.Accuracy, "test_loss": r.Test.Loss, "test_images": r.Test.Images,
		"test_acc_full": r.TestFull.Accuracy, "test_loss_full": r.TestFull.Loss})
}

// Close flushes the log; it reports the first write error.
func (l *runLog) Close() error {
	if l == nil {
		return nil
	}
	if err := l.w.Flush(); l.err == nil {
		l.err = err
	}
	if err := l.f.Close(); l.err == nil {
		l.err = err
	}
	return l.err
}
