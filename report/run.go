package report

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"

	"github.com/lenetkit/lenetkit/internal/safeio"
	"github.com/lenetkit/lenetkit/modelfile"
)

// Run is one training run as lenetkit train --log-dir recorded it.
type Run struct {
	Dir string
	// Config is config.json, numbers kept as written; nil when the
	// directory has none.
	Config map[string]any
	Steps  []Step
	Epochs []Epoch
	// Test is nil when the run stopped before testing.
	Test *Test
	// Notes say what Read tolerated, for the page to show: a missing
	// config.json, a partial last line.
	Notes []string
}

// Step is one training step: a per-step line of metrics.jsonl.
type Step struct {
	Step, Epoch  int // from 1
	TrainLoss    float64
	LearningRate float64
	Beta1        float64
	EvalMode     bool // trained in eval mode (BatchNorm frozen, no dropout)
}

// Epoch is one finished epoch and its validation.
type Epoch struct {
	Epoch     int
	TrainLoss float64 // mean of the epoch's step losses
	ValLoss   float64
	ValAcc    float64 // percent
	Seconds   float64
}

// Test holds the run's final figures on the test set: under the seed's
// protocol (full batches only, mean of batch means) and over every image.
type Test struct {
	Acc, Loss         float64
	Images            int
	AccFull, LossFull float64
}

// metricsLine is any line of metrics.jsonl; which fields are set says which kind.
type metricsLine struct {
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

// Read reads the run in dir. A run that stopped early is a run: no test
// line, fewer epochs than configured, no line at all yet. A last line cut
// short without its newline (the process killed while writing) is left
// out with a note; any other line that is not what train writes is an
// error naming the file and line.
func Read(dir string) (*Run, error) {
	r := &Run{Dir: dir}
	if err := r.readConfig(filepath.Join(dir, "config.json")); err != nil {
		return nil, err
	}
	name := filepath.Join(dir, "metrics.jsonl")
	f, err := safeio.Open(name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("report: %s is not a run directory of lenetkit train --log-dir: no metrics.jsonl", dir)
		}
		return nil, fmt.Errorf("report: %w", err)
	}
	defer f.Close()
	br := bufio.NewReader(safeio.LimitReader(f, name, modelfile.MaxDrawnMetricsBytes))
	for n := 1; ; n++ {
		b, err := br.ReadBytes('\n')
		if err != nil && err != io.EOF {
			return nil, fmt.Errorf("report: %s:%d: %w", name, n, err)
		}
		last := err == io.EOF
		if len(bytes.TrimSpace(b)) > 0 {
			if perr := r.parse(b); perr != nil {
				if last && !bytes.HasSuffix(b, []byte("\n")) {
					r.Notes = append(r.Notes, fmt.Sprintf("metrics.jsonl ends in a partial line %d (the run was stopped while writing it); left out", n))
					break
				}
				return nil, fmt.Errorf("report: %s:%d: %w", name, n, perr)
			}
		}
		if last {
			break
		}
	}
	if r.Test == nil {
		r.Notes = append(r.Notes, "no test figures: the run stopped before testing, or is still training")
	}
	return r, nil
}

func (r *Run) readConfig(name string) error {
	b, err := safeio.ReadFile(name, modelfile.MaxRunRecordBytes)
	if errors.Is(err, fs.ErrNotExist) {
		r.Notes = append(r.Notes, "no config.json")
		return nil
	}
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber() // show 0.0001 as train wrote it, not as 1e-04
	if err := d.Decode(&r.Config); err != nil {
		return fmt.Errorf("report: %s: %w", name, err)
	}
	return nil
}

// parse adds one line of metrics.jsonl to r. Objects of no known kind are
// skipped: a later lenetkit may log more than this one draws.
func (r *Run) parse(b []byte) error {
	var l metricsLine
	if err := json.Unmarshal(b, &l); err != nil {
		return err
	}
	switch {
	case l.Step != nil:
		if l.Epoch == nil || l.TrainLoss == nil || l.LearningRate == nil {
			return errors.New("a step line needs epoch, train_loss and learning_rate")
		}
		if *l.Step < 1 || *l.Epoch < 1 || *l.TrainLoss < 0 || *l.LearningRate < 0 {
			return fmt.Errorf("step %d of epoch %d with loss %g and learning rate %g: steps and epochs count from 1, the others are not negative",
				*l.Step, *l.Epoch, *l.TrainLoss, *l.LearningRate)
		}
		s := Step{Step: *l.Step, Epoch: *l.Epoch, TrainLoss: *l.TrainLoss, LearningRate: *l.LearningRate}
		if l.Beta1 != nil {
			s.Beta1 = *l.Beta1
		}
		if l.EvalMode != nil {
			s.EvalMode = *l.EvalMode
		}
		r.Steps = append(r.Steps, s)
	case l.TestAcc != nil:
		if l.TestLoss == nil {
			return errors.New("a test line needs test_loss")
		}
		if err := checkFigures(*l.TestAcc, *l.TestLoss); err != nil {
			return err
		}
		t := &Test{Acc: *l.TestAcc, Loss: *l.TestLoss}
		if l.TestImages != nil {
			t.Images = *l.TestImages
		}
		if l.TestAccFull != nil && l.TestLossFull != nil {
			t.AccFull, t.LossFull = *l.TestAccFull, *l.TestLossFull
		}
		r.Test = t
	case l.ValLoss != nil || l.ValAcc != nil:
		if l.Epoch == nil || l.ValLoss == nil || l.ValAcc == nil || l.TrainLoss == nil {
			return errors.New("an epoch line needs epoch, train_loss, val_loss and val_acc")
		}
		if err := checkFigures(*l.ValAcc, *l.ValLoss); err != nil {
			return err
		}
		if *l.Epoch < 1 || *l.TrainLoss < 0 {
			return fmt.Errorf("epoch %d with train loss %g: epochs count from 1, losses are not negative", *l.Epoch, *l.TrainLoss)
		}
		e := Epoch{Epoch: *l.Epoch, TrainLoss: *l.TrainLoss, ValLoss: *l.ValLoss, ValAcc: *l.ValAcc}
		if l.Seconds != nil {
			e.Seconds = *l.Seconds
		}
		r.Epochs = append(r.Epochs, e)
	}
	return nil
}

// checkFigures refuses an accuracy outside [0, 100] % or a negative loss,
// which no run records (JSON itself cannot hold NaN or infinities).
func checkFigures(acc, loss float64) error {
	if acc < 0 || acc > 100 || loss < 0 {
		return fmt.Errorf("accuracy %g %% and loss %g: an accuracy lies in [0, 100] and a loss is not negative", acc, loss)
	}
	return nil
}

// name is how the run is labelled on a page: its directory's name.
func (r *Run) name() string {
	return filepath.Base(filepath.Clean(r.Dir))
}

// validated reports whether the run held out a validation set; train
// logs zeros for val_loss and val_acc when --val-size is 0.
func (r *Run) validated() bool {
	if v, ok := r.Config["val_size"].(json.Number); ok && v.String() == "0" {
		return false
	}
	return true
}

// evalFrom is the first step trained in eval mode, or 0 when none was.
func (r *Run) evalFrom() int {
	for _, s := range r.Steps {
		if s.EvalMode {
			return s.Step
		}
	}
	return 0
}
