package runlog

import (
	"bytes"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// sampleConfig is a config.json's settings, with extra fields as a run of
// another model records them.
func sampleConfig(t *testing.T) Config {
	t.Helper()
	freeze := 79
	c := Config{Epochs: 3, BatchSize: 128, LR: 1e-4, MaxLR: 0.01, WeightDecay: 0.002, Dropout: 0.3, DropoutMode: "row",
		ValSize: 5000, Limit: 0, Seed: 7, Recipe: "published", FreezeBNAfter: &freeze,
		RecipeDescription: "recipe published: train mode for the first 79 of 1287 steps", Optimizer: "Adam", Scheduler: "OneCycleLR",
		Started: "2025-01-02T03:04:05Z"}
	for k, v := range map[string]any{"model": "net.onnx", "classes": []string{"cat", "dog"}, "frozen": []string{"conv1.weight"}} {
		if err := c.Set(k, v); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// sampleRecords are the lines of a short run: steps, epochs, the test.
func sampleRecords(seed uint64) (steps []Step, epochs []Epoch, test Test) {
	rng := rand.New(rand.NewPCG(seed, 2))
	for e := 1; e <= 2; e++ {
		for k := 1; k <= 5; k++ {
			steps = append(steps, Step{Step: (e-1)*5 + k, Epoch: e, TrainLoss: rng.Float64() * 2, LearningRate: rng.Float64() / 100,
				Beta1: 0.85 + rng.Float64()/10, EvalMode: rng.IntN(2) == 1})
		}
		epochs = append(epochs, Epoch{Epoch: e, TrainLoss: rng.Float64(), ValLoss: rng.Float64(), ValAcc: 100 * rng.Float64(), Seconds: 10 * rng.Float64()})
	}
	return steps, epochs, Test{Acc: 100 * rng.Float64(), Loss: rng.Float64(), Images: 9984, AccFull: 100 * rng.Float64(), LossFull: rng.Float64()}
}

// writeRun writes a run directory with the Writer, as a run does, and
// returns it and metrics.jsonl's bytes.
func writeRun(t *testing.T, c Config, steps []Step, epochs []Epoch, test *Test) (string, []byte) {
	t.Helper()
	dir := t.TempDir()
	b, err := MarshalConfig(c)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ConfigName), b, 0o644); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w := NewWriter(&buf)
	for e := range epochs {
		for _, s := range steps {
			if s.Epoch == epochs[e].Epoch {
				w.Step(s)
			}
		}
		w.Epoch(epochs[e])
	}
	if test != nil {
		w.Test(*test)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, MetricsName), buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, buf.Bytes()
}

// TestRoundTrip: what the writer writes, Read and ReadConfig read back
// equal.
func TestRoundTrip(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		c := sampleConfig(t)
		steps, epochs, test := sampleRecords(seed)
		dir, _ := writeRun(t, c, steps, epochs, &test)
		l, err := Read(dir)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(l.Steps, steps) || !slices.Equal(l.Epochs, epochs) || l.Test == nil || *l.Test != test {
			t.Errorf("seed %d: read back %d steps, %d epochs, test %v; wrote %d, %d, %v", seed, len(l.Steps), len(l.Epochs), l.Test,
				len(steps), len(epochs), test)
		}
		if len(l.Notes) != 0 {
			t.Errorf("notes on a whole run: %q", l.Notes)
		}
		got, err := ReadConfig(filepath.Join(dir, ConfigName))
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, c) {
			t.Errorf("config read back\n%+v\nwrote\n%+v", got, c)
		}
		var classes []string
		if ok, err := got.Get("classes", &classes); !ok || err != nil || !reflect.DeepEqual(classes, []string{"cat", "dog"}) {
			t.Errorf("extra field classes: %v %v %q", ok, err, classes)
		}
		if l.Config["model"] != "net.onnx" || l.Config["lr"] != json.Number("0.0001") {
			t.Errorf("the page's config: model %v, lr %v", l.Config["model"], l.Config["lr"])
		}
	}
}

// TestLegacyEncoding: the lines and config.json are, byte for byte, what
// lenetkit wrote before this package, from maps (keys sorted): old run
// directories and new ones are the same files.
func TestLegacyEncoding(t *testing.T) {
	steps, epochs, test := sampleRecords(4)
	var legacy bytes.Buffer
	enc := json.NewEncoder(&legacy)
	var buf bytes.Buffer
	w := NewWriter(&buf)
	for _, s := range steps {
		enc.Encode(map[string]any{"step": s.Step, "epoch": s.Epoch, "train_loss": s.TrainLoss, "learning_rate": s.LearningRate,
			"beta1": s.Beta1, "eval_mode": s.EvalMode})
		w.Step(s)
	}
	for _, e := range epochs {
		enc.Encode(map[string]any{"epoch": e.Epoch, "train_loss": e.TrainLoss, "val_loss": e.ValLoss, "val_acc": e.ValAcc, "seconds": e.Seconds})
		w.Epoch(e)
	}
	enc.Encode(map[string]any{"test_acc": test.Acc, "test_loss": test.Loss, "test_images": test.Images,
		"test_acc_full": test.AccFull, "test_loss_full": test.LossFull})
	w.Test(test)
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), legacy.Bytes()) {
		t.Errorf("metrics.jsonl differs from the legacy encoding:\n%s\nwant\n%s", buf.Bytes(), legacy.Bytes())
	}

	for _, freeze := range []*int{nil, new(int)} {
		c := sampleConfig(t)
		c.Extra, c.FreezeBNAfter = nil, freeze
		var f any // null, as the legacy writer wrote train mode throughout
		if freeze != nil {
			f = *freeze
		}
		want, _ := json.MarshalIndent(map[string]any{
			"epochs": c.Epochs, "batch_size": c.BatchSize, "lr": c.LR, "max_lr": c.MaxLR,
			"weight_decay": c.WeightDecay, "dropout": c.Dropout, "dropout_mode": c.DropoutMode,
			"val_size": c.ValSize, "limit": c.Limit, "seed": c.Seed,
			"recipe": c.Recipe, "freeze_bn_after": f, "recipe_description": c.RecipeDescription,
			"optimizer": c.Optimizer, "scheduler": c.Scheduler, "started": c.Started,
		}, "", "  ")
		got, err := MarshalConfig(c)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want)+"\n" {
			t.Errorf("config.json differs from the legacy encoding:\n%s\nwant\n%s", got, want)
		}
	}
}

// TestConfigExtra: extra fields cannot shadow a known one, and fields a
// file holds that Config does not know are kept, not dropped.
func TestConfigExtra(t *testing.T) {
	var c Config
	if err := c.Set("epochs", 3); err == nil {
		t.Error("Set of a known field accepted")
	}
	c.Extra = map[string]json.RawMessage{"lr": json.RawMessage("1")}
	if _, err := MarshalConfig(c); err == nil {
		t.Error("an extra field named lr was written")
	}
	var got Config
	if err := json.Unmarshal([]byte(`{"epochs": 2, "data": {"source": "x",  "n": [1, 2]}}`), &got); err != nil {
		t.Fatal(err)
	}
	if got.Epochs != 2 || string(got.Extra["data"]) != `{"source":"x","n":[1,2]}` || len(got.Extra) != 1 {
		t.Errorf("read %+v, extra %q", got, got.Extra)
	}
	if ok, err := got.Get("missing", new(string)); ok || err != nil {
		t.Errorf("Get of an absent field: %v %v", ok, err)
	}
}

// TestReadTolerates: a run cut short reads, with notes; anything else that
// is not a run's line is a *LineError naming the file and line.
func TestReadTolerates(t *testing.T) {
	steps, epochs, test := sampleRecords(5)
	cases := []struct {
		name     string
		tail     string // appended to a run without its test line
		noConfig bool
		steps    int
		notes    []string
		line     int // of the *LineError, 0 for none
	}{
		{"whole", "", false, len(steps), []string{"no test figures"}, 0},
		{"partial last line", `{"step": 11, "epoch": 3, "train_lo`, false, len(steps), []string{"partial line 13", "no test figures"}, 0},
		{"no config", "", true, len(steps), []string{"no config.json", "no test figures"}, 0},
		{"unknown kind", "{\"checkpoint\": \"x\"}\n\n", false, len(steps), []string{"no test figures"}, 0},
		{"all epochs, no test part", "", false, len(steps), []string{"all its epochs on data without a test part"}, 0},
		{"bad line", "{\"step\": 11, \"epoch\": 0, \"train_loss\": 1, \"learning_rate\": 0}\n", false, 0, nil, 13},
		{"cut line mid-file", `{"step": 11, "ep` + "\n" + mustJSON(t, test) + "\n", false, 0, nil, 13},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := sampleConfig(t)
			if c.name == "all epochs, no test part" {
				cfg.Epochs = len(epochs)
			}
			dir, b := writeRun(t, cfg, steps, epochs, nil)
			if err := os.WriteFile(filepath.Join(dir, MetricsName), append(b, c.tail...), 0o644); err != nil {
				t.Fatal(err)
			}
			if c.noConfig {
				os.Remove(filepath.Join(dir, ConfigName))
			}
			l, err := Read(dir)
			var le *LineError
			if c.line > 0 {
				if !errors.As(err, &le) || le.Line != c.line || !strings.Contains(err.Error(), filepath.Join(dir, MetricsName)) {
					t.Fatalf("error %v, want a *LineError at line %d naming the file", err, c.line)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(l.Steps) != c.steps || (l.Config == nil) != c.noConfig {
				t.Errorf("%d steps, config %v; want %d", len(l.Steps), l.Config != nil, c.steps)
			}
			notes := strings.Join(l.Notes, "\n")
			for _, n := range c.notes {
				if !strings.Contains(notes, n) {
					t.Errorf("notes %q lack %q", l.Notes, n)
				}
			}
			if len(l.Notes) != len(c.notes) {
				t.Errorf("notes %q, want %d", l.Notes, len(c.notes))
			}
		})
	}
	t.Run("no metrics", func(t *testing.T) {
		if _, err := Read(t.TempDir()); !errors.Is(err, ErrNoMetrics) {
			t.Errorf("error %v, want ErrNoMetrics", err)
		}
	})
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestRewind: the log is cut back to a checkpoint's position, and what
// is kept reads back as the run up to there.
func TestRewind(t *testing.T) {
	steps, epochs, test := sampleRecords(6) // 2 epochs of 5 steps
	_, full := writeRun(t, sampleConfig(t), steps, epochs, &test)
	for _, c := range []struct {
		name              string
		globalStep, epoch int
		steps, epochs     int
	}{
		{"start", 0, 1, 0, 0},
		{"mid first epoch", 3, 1, 3, 0},
		{"first epoch's end", 5, 2, 5, 1},
		{"mid second epoch", 7, 2, 7, 1},
		{"finished, before the test", 10, 3, 10, 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			src := append(append([]byte(nil), full...), `{"step": 11, "epo`...) // cut by the stop
			var dst bytes.Buffer
			if err := Rewind(&dst, bytes.NewReader(src), c.globalStep, c.epoch); err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			os.WriteFile(filepath.Join(dir, MetricsName), dst.Bytes(), 0o644)
			l, err := Read(dir)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(l.Steps, steps[:c.steps]) || !slices.Equal(l.Epochs, epochs[:c.epochs]) || l.Test != nil {
				t.Errorf("kept %d steps, %d epochs, test %v; want %d, %d, none", len(l.Steps), len(l.Epochs), l.Test, c.steps, c.epochs)
			}
		})
	}
	t.Run("a line past the limit", func(t *testing.T) {
		long := bytes.Repeat([]byte("x"), 1<<17)
		if err := Rewind(&bytes.Buffer{}, bytes.NewReader(long), 1, 1); err == nil || !strings.Contains(err.Error(), "not a lenetkit log") {
			t.Errorf("error %v", err)
		}
	})
}

// TestWriterStickyError: after a failed write nothing more is written and
// every call reports the first error.
func TestWriterStickyError(t *testing.T) {
	fail := errors.New("disk full")
	w := NewWriter(failWriter{fail})
	for i := range 10000 { // past the buffer
		w.Step(Step{Step: i + 1, Epoch: 1})
	}
	if err := w.Flush(); !errors.Is(err, fail) {
		t.Errorf("Flush: %v, want %v", err, fail)
	}
	if err := w.Test(Test{}); !errors.Is(err, fail) {
		t.Errorf("Test after the failure: %v", err)
	}
}

type failWriter struct{ err error }

func (f failWriter) Write([]byte) (int, error) { return 0, f.err }
