// Package runlog is the record of a training run that lenetkit keeps in a
// run directory: config.json, the run's settings, and metrics.jsonl, one
// JSON object a line as the run goes: what the seed's notebook logged to
// Weights & Biases (train_loss and learning_rate every step; val_loss,
// val_acc and the epoch's mean train_loss every epoch), then the test
// figures. The program that trains writes these records and report draws
// them; both use the types here, so that what one writes the other reads.
//
// The encoding is that of the run directories written before this package
// existed, byte for byte: fields in the order of their names, as
// encoding/json writes a map's, so old run directories read and new ones
// read in older lenetkits.
package runlog

import (
	"encoding/json"
	"errors"
	"fmt"
)

// The files of a run directory.
const (
	ConfigName  = "config.json"
	MetricsName = "metrics.jsonl"
)

// Step is one training step: a per-step line of metrics.jsonl. Its fields
// are in the order of their JSON names (see the package comment).
type Step struct {
	Beta1        float64 `json:"beta1"`         // Adam's beta1, which OneCycleLR cycles
	Epoch        int     `json:"epoch"`         // from 1
	EvalMode     bool    `json:"eval_mode"`     // trained in eval mode (BatchNorm frozen, no dropout)
	LearningRate float64 `json:"learning_rate"` //
	Step         int     `json:"step"`          // from 1, over the whole run
	TrainLoss    float64 `json:"train_loss"`    //
}

// Epoch is one finished epoch and its validation.
type Epoch struct {
	Epoch     int     `json:"epoch"`      // from 1
	Seconds   float64 `json:"seconds"`    // training steps only, validation excluded
	TrainLoss float64 `json:"train_loss"` // mean of the epoch's step losses
	ValAcc    float64 `json:"val_acc"`    // percent; 0 when nothing was held out
	ValLoss   float64 `json:"val_loss"`   //
}

// Test holds the run's final figures on the test set: under the seed's
// protocol (full batches only, mean of batch means) and over every image.
type Test struct {
	Acc      float64 `json:"test_acc"` // percent
	AccFull  float64 `json:"test_acc_full"`
	Images   int     `json:"test_images"` // images the seed's protocol counted
	Loss     float64 `json:"test_loss"`
	LossFull float64 `json:"test_loss_full"`
}

// line is any line of metrics.jsonl; which fields are set says which kind.
type line struct {
	Step         *int     `json:"step"`
	Epoch        *int     `json:"epoch"`
	TrainLoss    *float64 `json:"train_loss"`
	LearningRate *float64 `json:"learning_rate"`
	Beta1        *float64 `json:"beta1"`
	EvalMode     *bool    `json:"eval_mode"`
	ValLoss      *float64 `json:"val_loss"`
	ValAcc       *float64 `json:"val_acc"`
	Seconds      *float64 `json:"seconds"`
	TestAcc      *float64 `json:"test_acc"`
	TestLoss     *float64 `json:"test_loss"`
	TestImages   *int     `json:"test_images"`
	TestAccFull  *float64 `json:"test_acc_full"`
	TestLossFull *float64 `json:"test_loss_full"`
}

// parse adds one line of metrics.jsonl to l. Objects of no known kind are
// skipped: a later lenetkit may log more than this one knows.
func (l *Log) parse(b []byte) error {
	var m line
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	switch {
	case m.Step != nil:
		s, err := m.step()
		if err != nil {
			return err
		}
		l.Steps = append(l.Steps, s)
	case m.TestAcc != nil:
		t, err := m.test()
		if err != nil {
			return err
		}
		l.Test = &t
	case m.ValLoss != nil || m.ValAcc != nil:
		e, err := m.epoch()
		if err != nil {
			return err
		}
		l.Epochs = append(l.Epochs, e)
	}
	return nil
}

func (m *line) step() (Step, error) {
	if m.Epoch == nil || m.TrainLoss == nil || m.LearningRate == nil {
		return Step{}, errors.New("a step line needs epoch, train_loss and learning_rate")
	}
	if *m.Step < 1 || *m.Epoch < 1 || *m.TrainLoss < 0 || *m.LearningRate < 0 {
		return Step{}, fmt.Errorf("step %d of epoch %d with loss %g and learning rate %g: steps and epochs count from 1, the others are not negative",
			*m.Step, *m.Epoch, *m.TrainLoss, *m.LearningRate)
	}
	s := Step{Step: *m.Step, Epoch: *m.Epoch, TrainLoss: *m.TrainLoss, LearningRate: *m.LearningRate}
	if m.Beta1 != nil {
		s.Beta1 = *m.Beta1
	}
	if m.EvalMode != nil {
		s.EvalMode = *m.EvalMode
	}
	return s, nil
}

func (m *line) test() (Test, error) {
	if m.TestLoss == nil {
		return Test{}, errors.New("a test line needs test_loss")
	}
	if err := checkFigures(*m.TestAcc, *m.TestLoss); err != nil {
		return Test{}, err
	}
	t := Test{Acc: *m.TestAcc, Loss: *m.TestLoss}
	if m.TestImages != nil {
		t.Images = *m.TestImages
	}
	if m.TestAccFull != nil && m.TestLossFull != nil {
		t.AccFull, t.LossFull = *m.TestAccFull, *m.TestLossFull
	}
	return t, nil
}

func (m *line) epoch() (Epoch, error) {
	if m.Epoch == nil || m.ValLoss == nil || m.ValAcc == nil || m.TrainLoss == nil {
		return Epoch{}, errors.New("an epoch line needs epoch, train_loss, val_loss and val_acc")
	}
	if err := checkFigures(*m.ValAcc, *m.ValLoss); err != nil {
		return Epoch{}, err
	}
	if *m.Epoch < 1 || *m.TrainLoss < 0 {
		return Epoch{}, fmt.Errorf("epoch %d with train loss %g: epochs count from 1, losses are not negative", *m.Epoch, *m.TrainLoss)
	}
	e := Epoch{Epoch: *m.Epoch, TrainLoss: *m.TrainLoss, ValLoss: *m.ValLoss, ValAcc: *m.ValAcc}
	if m.Seconds != nil {
		e.Seconds = *m.Seconds
	}
	return e, nil
}

// checkFigures refuses an accuracy outside [0, 100] % or a negative loss,
// which no run records (JSON itself cannot hold NaN or infinities).
func checkFigures(acc, loss float64) error {
	if acc < 0 || acc > 100 || loss < 0 {
		return fmt.Errorf("accuracy %g %% and loss %g: an accuracy lies in [0, 100] and a loss is not negative", acc, loss)
	}
	return nil
}
