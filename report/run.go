package report

import (
	"encoding/json"
	"fmt"
	"path/filepath"

	"github.com/lenetkit/lenetkit/runlog"
)

// Run is one training run as lenetkit train --log-dir recorded it: the
// run log package runlog reads, and the directory it was read from.
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

// The records of a run are runlog's, which train writes: one set of types
// for both sides.
type (
	// Step is one training step: a per-step line of metrics.jsonl.
	Step = runlog.Step
	// Epoch is one finished epoch and its validation.
	Epoch = runlog.Epoch
	// Test holds the run's final figures on the test set.
	Test = runlog.Test
)

// Read reads the run in dir (runlog.Read says what it tolerates). Its
// errors name the file, and the line of metrics.jsonl, that is wrong.
func Read(dir string) (*Run, error) {
	l, err := runlog.Read(dir)
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	return &Run{Dir: dir, Config: l.Config, Steps: l.Steps, Epochs: l.Epochs, Test: l.Test, Notes: l.Notes}, nil
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
