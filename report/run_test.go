package report

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadFinishedRun(t *testing.T) {
	r, err := Read(writeRun(t, t.TempDir(), "run", fullRun))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Steps) != 180 || len(r.Epochs) != 3 || r.Test == nil {
		t.Fatalf("%d steps, %d epochs, test %v; want 180, 3 and the test line", len(r.Steps), len(r.Epochs), r.Test)
	}
	if s := r.Steps[78]; s.Step != 79 || s.Epoch != 2 || !s.EvalMode || s.Beta1 == 0 || s.LearningRate == 0 {
		t.Errorf("step 79: %+v", s)
	}
	if r.evalFrom() != 79 {
		t.Errorf("eval mode from step %d, want 79", r.evalFrom())
	}
	if *r.Test != (Test{Acc: 99.12, Loss: 0.0261, Images: 9984, AccFull: 99.11, LossFull: 0.0262}) {
		t.Errorf("test %+v", *r.Test)
	}
	if r.Config["lr"] != json.Number("0.0001") || r.Config["recipe"] != "published" {
		t.Errorf("config lr %v, recipe %v", r.Config["lr"], r.Config["recipe"])
	}
	if len(r.Notes) != 0 {
		t.Errorf("notes %q on a finished run", r.Notes)
	}
}

// TestReadStoppedRun: a run interrupted in its second epoch, its process
// killed while writing a line.
func TestReadStoppedRun(t *testing.T) {
	dir := writeRun(t, t.TempDir(), "run", stoppedRun)
	f, err := os.OpenFile(filepath.Join(dir, "metrics.jsonl"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"step": 86, "epoch": 2, "train_lo`)
	f.Close()
	r, err := Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Steps) != 85 || len(r.Epochs) != 1 || r.Test != nil {
		t.Errorf("%d steps, %d epochs, test %v; want 85, 1, none", len(r.Steps), len(r.Epochs), r.Test)
	}
	notes := strings.Join(r.Notes, "\n")
	for _, want := range []string{"partial line 87", "no test figures"} {
		if !strings.Contains(notes, want) {
			t.Errorf("notes lack %q: %q", want, r.Notes)
		}
	}
}

func TestReadEmptyRun(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "metrics.jsonl"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Steps)+len(r.Epochs) != 0 || r.Test != nil || r.Config != nil {
		t.Errorf("an empty run read as %+v", r)
	}
	if !strings.Contains(strings.Join(r.Notes, "\n"), "no config.json") {
		t.Errorf("notes %q", r.Notes)
	}
}

// TestReadBadRun: a line that is not what train writes is an error that
// names the file and line.
func TestReadBadRun(t *testing.T) {
	cases := []struct {
		name, line string
		want       string
	}{
		{"not JSON", "step 3 loss 0.5", "metrics.jsonl:3:"},
		{"a string step", `{"step": "3", "epoch": 1, "train_loss": 0.5, "learning_rate": 0.001}`, "metrics.jsonl:3:"},
		{"a step without its loss", `{"step": 3, "epoch": 1}`, "metrics.jsonl:3: a step line needs"},
		{"an epoch without val_acc", `{"epoch": 1, "train_loss": 0.5, "val_loss": 0.1}`, "metrics.jsonl:3: an epoch line needs"},
		{"a cut line mid-file", `{"step": 3, "epo`, "metrics.jsonl:3:"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := writeRun(t, t.TempDir(), "run", fullRun)
			name := filepath.Join(dir, "metrics.jsonl")
			b, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.SplitAfter(string(b), "\n")
			lines[2] = c.line + "\n"
			if err := os.WriteFile(name, []byte(strings.Join(lines, "")), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err = Read(dir)
			if err == nil || !strings.Contains(err.Error(), name) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want one naming %s and %q", err, name, c.want)
			}
		})
	}
	t.Run("bad config.json", func(t *testing.T) {
		dir := writeRun(t, t.TempDir(), "run", fullRun)
		os.WriteFile(filepath.Join(dir, "config.json"), []byte("{\"epochs\": "), 0o644)
		if _, err := Read(dir); err == nil || !strings.Contains(err.Error(), "config.json") {
			t.Errorf("error %v, want one naming config.json", err)
		}
	})
	t.Run("not a run", func(t *testing.T) {
		dir := t.TempDir()
		if _, err := Read(dir); err == nil || !strings.Contains(err.Error(), "no metrics.jsonl") {
			t.Errorf("error %v, want one saying there is no metrics.jsonl", err)
		}
	})
}

// TestReadSkipsUnknownLines: a later train may log more kinds of line.
func TestReadSkipsUnknownLines(t *testing.T) {
	dir := writeRun(t, t.TempDir(), "run", fullRun)
	f, err := os.OpenFile(filepath.Join(dir, "metrics.jsonl"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("{\"checkpoint\": \"epoch3.pth\"}\n\n")
	f.Close()
	if _, err := Read(dir); err != nil {
		t.Error(err)
	}
}
