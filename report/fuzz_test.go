package report

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/lenetkit/lenetkit/internal/testtool"
)

// FuzzReadRun reads a run directory whose config.json and metrics.jsonl
// are the input (split at the first NUL byte), as report, train --resume
// and sweep find them: each input must end in a run or an error within
// 2 s and 256 MB, and a run's records must be in range.
func FuzzReadRun(f *testing.F) {
	seedDir := writeRun(f, f.TempDir(), "seed", fullRun)
	conf, _ := os.ReadFile(filepath.Join(seedDir, "config.json"))
	metrics, _ := os.ReadFile(filepath.Join(seedDir, "metrics.jsonl"))
	f.Add(append(append(conf, 0), metrics...))
	f.Add([]byte("\x00" + `{"epoch":1,"train_loss":0.1,"val_loss":0.03,"val_acc":500}` + "\n"))
	f.Add([]byte("{}\x00" + `{"test_acc":99,"test_loss":-3}` + "\n"))
	f.Add([]byte("\x00" + `{"step":1,"epoch":1,"train_loss":1e308,"learning_rate":1}` + "\n" + `{"step":2,"epoch":1,"train_`))
	f.Add([]byte(`{"val_size":0}` + "\x00" + `{"step":9223372036854775807,"epoch":-1,"train_loss":0,"learning_rate":0}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		dir := t.TempDir()
		conf, metrics, ok := bytes.Cut(b, []byte{0})
		if ok {
			if err := os.WriteFile(filepath.Join(dir, "config.json"), conf, 0o644); err != nil {
				t.Fatal(err)
			}
		} else {
			metrics = b
		}
		if err := os.WriteFile(filepath.Join(dir, "metrics.jsonl"), metrics, 0o644); err != nil {
			t.Fatal(err)
		}
		var r *Run
		var err error
		d, n := testtool.Cost(func() { r, err = Read(dir) })
		if d > testtool.FuzzSeconds*time.Second || n > testtool.HostileAlloc {
			t.Fatalf("Read took %v and %d MB", d, n>>20)
		}
		if err != nil {
			return
		}
		for _, e := range r.Epochs {
			if e.ValAcc < 0 || e.ValAcc > 100 || e.ValLoss < 0 || e.Epoch < 1 {
				t.Fatalf("epoch record out of range accepted: %+v", e)
			}
		}
		for _, s := range r.Steps {
			if s.Step < 1 || s.Epoch < 1 || s.TrainLoss < 0 {
				t.Fatalf("step record out of range accepted: %+v", s)
			}
		}
	})
}
