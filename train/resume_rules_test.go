package train

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/lenetkit/lenetkit/runlog"
)

func touch(t *testing.T, path string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestFindCheckpoint: a folder names its checkpoint.pth, a file itself;
// nothing there, or a folder without one, is ErrNoRun, saying which.
func TestFindCheckpoint(t *testing.T) {
	root := t.TempDir()
	touch(t, filepath.Join(root, "run", CheckpointName))
	touch(t, filepath.Join(root, "m.checkpoint.pth"))
	os.MkdirAll(filepath.Join(root, "empty"), 0o755)
	for _, c := range []struct {
		arg, want string
		noRun     bool
		folder    bool
	}{
		{"run", filepath.Join("run", CheckpointName), false, false},
		{"m.checkpoint.pth", "m.checkpoint.pth", false, false},
		{"empty", "", true, true},
		{"missing", "", true, false},
	} {
		got, err := FindCheckpoint(filepath.Join(root, c.arg))
		var nr *NoRunError
		switch {
		case c.noRun && (!errors.Is(err, ErrNoRun) || !errors.As(err, &nr) || nr.Folder != c.folder):
			t.Errorf("%s: error %v, want ErrNoRun (folder %v)", c.arg, err, c.folder)
		case !c.noRun && (err != nil || got != filepath.Join(root, c.want)):
			t.Errorf("%s: %q, %v; want %q", c.arg, got, err, c.want)
		}
	}
}

// TestResumeOutputs: a resumed run writes beside its checkpoint, under the
// name its model had there, and never where only the checkpoint says.
func TestResumeOutputs(t *testing.T) {
	dir := filepath.Join("runs", "a")
	for _, c := range []struct {
		name       string
		ckpt       string
		caller     map[string]string
		want       Outputs
		checkpoint string // where a new run with this model and log would keep its checkpoint
	}{
		{"log dir", filepath.Join(dir, CheckpointName), map[string]string{"out": filepath.Join(dir, "parameter.pth"), "log_dir": dir},
			Outputs{Model: filepath.Join(dir, "parameter.pth"), LogDir: dir}, filepath.Join(dir, CheckpointName)},
		{"model renamed in the folder", filepath.Join(dir, CheckpointName), map[string]string{"out": filepath.Join(dir, "best.pth"), "log_dir": dir},
			Outputs{Model: filepath.Join(dir, "best.pth"), LogDir: dir}, filepath.Join(dir, CheckpointName)},
		{"model elsewhere", filepath.Join(dir, CheckpointName), map[string]string{"out": filepath.Join("elsewhere", "evil.pth"), "log_dir": "victim"},
			Outputs{Model: filepath.Join(dir, "parameter.pth"), LogDir: dir, Ignored: filepath.Join("elsewhere", "evil.pth")}, ""},
		{"beside --out, no log", filepath.Join(dir, "quick.checkpoint.pth"), map[string]string{"out": filepath.Join(dir, "quick.pth")},
			Outputs{Model: filepath.Join(dir, "quick.pth")}, filepath.Join(dir, "quick.checkpoint.pth")},
		{"no caller entries", filepath.Join(dir, "x.pth"), nil,
			Outputs{Model: filepath.Join(dir, "parameter.pth")}, ""},
	} {
		got := ResumeOutputs(c.ckpt, &State{Caller: c.caller})
		if got != c.want {
			t.Errorf("%s: %+v, want %+v", c.name, got, c.want)
		}
		if c.checkpoint != "" {
			if p := CheckpointPath(got.Model, got.LogDir); p != c.checkpoint {
				t.Errorf("%s: a run writing %+v keeps its checkpoint at %s, not %s", c.name, got, p, c.checkpoint)
			}
		}
	}
}

// TestCheckUnfinished: only a run past its last epoch whose model exists
// is finished.
func TestCheckUnfinished(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(dir, "parameter.pth")
	cfg := DefaultConfig()
	cfg.Epochs = 2
	for _, c := range []struct {
		epoch    int
		model    bool
		finished bool
	}{{2, true, false}, {3, false, false}, {3, true, true}} {
		os.Remove(model)
		if c.model {
			touch(t, model)
		}
		err := CheckUnfinished(&State{Config: cfg, Epoch: c.epoch}, model)
		if errors.Is(err, ErrFinished) != c.finished || (err != nil && !c.finished) {
			t.Errorf("epoch %d of 2, model %v: %v; finished %v", c.epoch, c.model, err, c.finished)
		}
	}
}

// TestCheckNewLogDir: a directory holding a run's metrics is refused, an
// empty or absent one is not.
func TestCheckNewLogDir(t *testing.T) {
	root := t.TempDir()
	touch(t, filepath.Join(root, "used", runlog.MetricsName))
	touch(t, filepath.Join(root, "config-only", runlog.ConfigName))
	for dir, exists := range map[string]bool{"used": true, "config-only": false, "absent": false} {
		if err := CheckNewLogDir(filepath.Join(root, dir)); errors.Is(err, ErrRunExists) != exists || (err != nil && !exists) {
			t.Errorf("%s: %v, want a run there %v", dir, err, exists)
		}
	}
}

// TestConfigRecord: the configuration config.json records reads back as
// the same run, the switch point as the step it is.
func TestConfigRecord(t *testing.T) {
	const steps = 10
	for _, c := range []struct {
		recipe Recipe
		freeze int
	}{{RecipePublished, -1}, {RecipePublished, 15}, {RecipeNotebook, -1}, {RecipeStandard, -1}} {
		cfg := DefaultConfig()
		cfg.Recipe, cfg.FreezeBNAfter, cfg.Seed, cfg.Limit = c.recipe, c.freeze, 9, 320
		rec := cfg.Record(steps, time.Date(2025, 1, 2, 3, 4, 5, 6, time.FixedZone("x", 3600)))
		if rec.Started != "2025-01-02T02:04:05Z" {
			t.Errorf("started %q, want UTC to the second", rec.Started)
		}
		got, err := ConfigFromRecord(rec)
		if err != nil {
			t.Fatal(err)
		}
		want := cfg
		if n, ok := cfg.FreezePoint(steps); ok {
			want.FreezeBNAfter = n
		}
		if got != want {
			t.Errorf("%s/%d: read back %+v, want %+v", c.recipe, c.freeze, got, want)
		}
		if d := Diff(got.Settings(steps), cfg.Settings(steps)); len(d) > 0 {
			t.Errorf("%s/%d: settings differ: %v", c.recipe, c.freeze, d)
		}
	}
	bad := DefaultConfig().Record(steps, time.Now())
	bad.BatchSize = 0
	if _, err := ConfigFromRecord(bad); err == nil {
		t.Error("a record of batch size 0 read as a run")
	}
}

// TestResumeGraphOutputs: a resumed --model run writes its graph beside
// its checkpoint as the seed's does, under the model's name with -trained
// by default, never as the checkpoint itself.
func TestResumeGraphOutputs(t *testing.T) {
	dir := filepath.Join("runs", "g")
	src := GraphSource{Model: filepath.Join("models", "lenet5.onnx")}
	for _, c := range []struct {
		name   string
		ckpt   string
		caller map[string]string
		want   Outputs
	}{
		{"log dir, default out", filepath.Join(dir, CheckpointName), map[string]string{"out": "lenet5-trained.onnx", "log_dir": dir},
			Outputs{Model: filepath.Join(dir, "lenet5-trained.onnx"), LogDir: dir, Ignored: "lenet5-trained.onnx"}},
		{"out in the folder, a state dict too", filepath.Join(dir, CheckpointName), map[string]string{"out": filepath.Join(dir, "ft.pth"), "log_dir": dir},
			Outputs{Model: filepath.Join(dir, "ft.pth"), LogDir: dir}},
		{"out named as the checkpoint", filepath.Join(dir, CheckpointName), map[string]string{"out": filepath.Join(dir, "checkpoint.pth"), "log_dir": dir},
			Outputs{Model: filepath.Join(dir, "lenet5-trained.onnx"), LogDir: dir}},
		{"beside --out, no log", filepath.Join(dir, "ft.checkpoint.pth"), map[string]string{"out": filepath.Join(dir, "ft.onnx")},
			Outputs{Model: filepath.Join(dir, "ft.onnx")}},
	} {
		if got := ResumeGraphOutputs(c.ckpt, &GraphState{Config: GraphConfig{Source: src}, Caller: c.caller}); got != c.want {
			t.Errorf("%s: %+v, want %+v", c.name, got, c.want)
		}
	}
}
