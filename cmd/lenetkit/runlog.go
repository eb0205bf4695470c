package main

import (
	"bufio"
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
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("--log-dir %s: %w", dir, err)
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
		return nil, fmt.Errorf("--log-dir %s: %w", dir, err)
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
