package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/lenetkit/lenetkit/train"
)

// Issue 19: a run directory is input, and what it holds must never decide
// where lenetkit writes, nor cost a run its records.

// finishedRun trains the quick run into dir (its log dir) and returns the
// data it trained on.
func finishedRun(t *testing.T, dir string) string {
	t.Helper()
	data := synthData(t)
	args := append([]string{"train", "--data", data}, quickTrain...)
	args = append(args, "--log-dir", dir, "--out", filepath.Join(dir, "parameter.pth"))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if r := run(t, args...); r.code != 0 {
		t.Fatalf("train: exit %d:\n%s", r.code, r.stderr)
	}
	return data
}

// rewriteCheckpoint loads the checkpoint at from, lets edit change it and
// saves it at to.
func rewriteCheckpoint(t *testing.T, from, to string, edit func(*train.State)) {
	t.Helper()
	st, err := train.LoadCheckpoint(from)
	if err != nil {
		t.Fatal(err)
	}
	edit(st)
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := train.SaveCheckpoint(to, st); err != nil {
		t.Fatal(err)
	}
}

func readOr(t *testing.T, path string) string {
	t.Helper()
	b, _ := os.ReadFile(path)
	return string(b)
}

// TestResumeCheckpointChoosesNoPath: a checkpoint whose caller entries name
// another run's log dir and a file outside its own directory writes
// neither: the model goes beside the checkpoint, its log is its own.
func TestResumeCheckpointChoosesNoPath(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	victim := filepath.Join(root, "victim")
	data := finishedRun(t, victim)
	metrics := readOr(t, filepath.Join(victim, "metrics.jsonl"))
	report := readOr(t, filepath.Join(victim, "report.html"))
	outside := filepath.Join(root, "outside", "evil.pth")
	os.MkdirAll(filepath.Dir(outside), 0o755)
	attack := filepath.Join(root, "attack", "checkpoint.pth")
	rewriteCheckpoint(t, filepath.Join(victim, "checkpoint.pth"), attack, func(st *train.State) {
		st.Config.Epochs = 2 // one epoch left to run
		st.Caller = map[string]string{"out": outside, "log_dir": victim}
	})
	// A copied run: its own log beside the checkpoint.
	os.WriteFile(filepath.Join(root, "attack", "metrics.jsonl"), []byte(metrics), 0o644)
	r := run(t, "train", "--data", data, "--skip-checksum", "--resume", attack)
	if _, err := os.Stat(outside); err == nil {
		t.Errorf("the checkpoint's caller.out was written: %s", outside)
	}
	if got := readOr(t, filepath.Join(victim, "metrics.jsonl")); got != metrics {
		t.Errorf("another run's metrics.jsonl was rewritten (%d lines, was %d)", strings.Count(got, "\n"), strings.Count(metrics, "\n"))
	}
	if got := readOr(t, filepath.Join(victim, "report.html")); got != report {
		t.Error("another run's report.html was rewritten")
	}
	if r.code != 0 {
		t.Fatalf("exit %d:\n%s", r.code, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(root, "attack", "parameter.pth")); err != nil {
		t.Errorf("the model is not beside the checkpoint: %v\n%s", err, r.stderr)
	}
}

// TestResumeMismatchWritesNothing: a checkpoint that does not fit its run
// is refused before its metrics.jsonl is touched.
func TestResumeMismatchWritesNothing(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "run")
	data := finishedRun(t, dir)
	os.Remove(filepath.Join(dir, "parameter.pth"))
	ckpt := filepath.Join(dir, "checkpoint.pth")
	rewriteCheckpoint(t, ckpt, ckpt, func(st *train.State) {
		st.Config.Epochs = 2
		st.Epoch, st.GlobalStep = 2, 3 // not where epoch 2 starts
	})
	metrics := readOr(t, filepath.Join(dir, "metrics.jsonl"))
	r := run(t, "train", "--data", data, "--skip-checksum", "--resume", dir)
	if r.code == 0 {
		t.Fatal("a checkpoint that does not fit its run was resumed")
	}
	if !strings.Contains(r.stderr, "does not fit") {
		t.Errorf("stderr:\n%s", r.stderr)
	}
	if got := readOr(t, filepath.Join(dir, "metrics.jsonl")); got != metrics {
		t.Errorf("metrics.jsonl changed before the refusal: %d lines, was %d", strings.Count(got, "\n"), strings.Count(metrics, "\n"))
	}
}

// TestLogDirSymlink: a metrics.jsonl that is a symbolic link is refused,
// --force or not, and neither its target nor a dangling link's is written.
func TestLogDirSymlink(t *testing.T) {
	t.Parallel()
	data := synthData(t)
	for _, dangling := range []bool{false, true} {
		root := t.TempDir()
		target := filepath.Join(root, "precious.txt")
		if !dangling {
			os.WriteFile(target, []byte("keep me\n"), 0o644)
		}
		logDir := filepath.Join(root, "log")
		os.MkdirAll(logDir, 0o755)
		if err := os.Symlink(target, filepath.Join(logDir, "metrics.jsonl")); err != nil {
			t.Fatal(err)
		}
		args := append([]string{"train", "--data", data}, quickTrain...)
		r := run(t, append(args, "--log-dir", logDir, "--out", filepath.Join(root, "m.pth"), "--force")...)
		got, err := os.ReadFile(target)
		switch {
		case dangling && err == nil:
			t.Errorf("a dangling metrics.jsonl link created its target")
		case !dangling && string(got) != "keep me\n":
			t.Errorf("the link's target was overwritten: %q", got)
		}
		if r.code == 0 || !strings.Contains(r.stderr, "symbolic link") {
			t.Errorf("dangling %v: exit %d:\n%s", dangling, r.code, r.stderr)
		}
		if n := strings.Count(strings.TrimRight(r.stderr, "\n"), "\n"); r.code != 0 && n > 0 &&
			!bytes.Contains([]byte(r.stderr), []byte("lenetkit: ")) {
			t.Errorf("not one line:\n%s", r.stderr)
		}
	}
}

// TestRunDirNotRegular: a run directory's files that are not regular
// files (a FIFO, a link to /dev/zero) are refused at once, by train
// --resume and by sweep collect.
func TestRunDirNotRegular(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "run")
	data := finishedRun(t, dir)
	os.Remove(filepath.Join(dir, "parameter.pth"))
	ckpt := filepath.Join(dir, "checkpoint.pth")
	os.Remove(ckpt)
	if err := syscall.Mkfifo(ckpt, 0o644); err != nil {
		t.Skip(err)
	}
	r := run(t, "train", "--data", data, "--skip-checksum", "--resume", dir)
	if r.code == 0 || !strings.Contains(r.stderr, "not a regular file") {
		t.Errorf("FIFO checkpoint: exit %d:\n%s", r.code, r.stderr)
	}
	os.Remove(ckpt)
	os.Symlink("/dev/zero", ckpt)
	r = run(t, "train", "--data", data, "--skip-checksum", "--resume", ckpt)
	if r.code == 0 || !strings.Contains(r.stderr, "not a regular file") {
		t.Errorf("/dev/zero checkpoint: exit %d:\n%s", r.code, r.stderr)
	}
}

// fakeSweep writes a sweep directory of one finished run whose result.json
// is result.
func fakeSweep(t *testing.T, result string) string {
	t.Helper()
	dir := t.TempDir()
	run := filepath.Join(dir, "runs", "dropout0-wd0-seed0")
	os.MkdirAll(run, 0o755)
	os.WriteFile(filepath.Join(run, "config.json"), []byte(`{"epochs": 1, "batch_size": 16, "lr": 0.0001, "max_lr": 0.01,
 "weight_decay": 0, "dropout": 0, "dropout_mode": "row", "val_size": 100, "limit": 32, "seed": 0,
 "recipe": "standard", "freeze_bn_after": null}`), 0o644)
	os.WriteFile(filepath.Join(run, "result.json"), []byte(result), 0o644)
	return dir
}

// TestSweepCollectRecords: sweep collect refuses figures no run gives and
// files that are not regular files, at once.
func TestSweepCollectRecords(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ result, want string }{
		{`{"dropout": 0, "weight_decay": 0, "seed": 0, "accuracy": 500, "loss": 0.1, "seconds": 1}`, "accuracy 500 % outside [0, 100]"},
		{`{"dropout": 0, "weight_decay": 0, "seed": 0, "accuracy": 99, "loss": -3, "seconds": 1}`, "loss -3 is not a finite number >= 0"},
	} {
		dir := fakeSweep(t, c.result)
		r := run(t, "sweep", "collect", dir, "--out", filepath.Join(dir, "table"))
		if r.code != 1 || !strings.Contains(r.stderr, c.want) {
			t.Errorf("exit %d, want 1 and %q:\n%s", r.code, c.want, r.stderr)
		}
	}
	good := `{"dropout": 0, "weight_decay": 0, "seed": 0, "accuracy": 99, "loss": 0.03, "seconds": 1}`
	for _, name := range []string{"config.json", "result.json"} {
		dir := fakeSweep(t, good)
		path := filepath.Join(dir, "runs", "dropout0-wd0-seed0", name)
		os.Remove(path)
		if err := syscall.Mkfifo(path, 0o644); err != nil {
			t.Skip(err)
		}
		r := run(t, "sweep", "collect", dir, "--out", filepath.Join(dir, "table"))
		if r.code != 1 || !strings.Contains(r.stderr, "not a regular file") {
			t.Errorf("%s a FIFO: exit %d:\n%s", name, r.code, r.stderr)
		}
		os.Remove(path)
		os.Symlink("/dev/zero", path)
		r = run(t, "sweep", "collect", dir, "--out", filepath.Join(dir, "table"))
		if r.code != 1 || !strings.Contains(r.stderr, "not a regular file") {
			t.Errorf("%s a link to /dev/zero: exit %d:\n%s", name, r.code, r.stderr)
		}
	}
}

// TestTrainFlagBounds: flags no run can use are usage errors (exit 2)
// before MNIST is read or a log dir created.
func TestTrainFlagBounds(t *testing.T) {
	t.Parallel()
	many := strings.TrimSuffix(strings.Repeat("0.1,", 2000), ",")
	seeds := make([]string, 2000)
	for i := range seeds {
		seeds[i] = strconv.Itoa(i)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"train", "--max-lr", "NaN"}, "max-lr NaN"},
		{[]string{"train", "--lr", "Inf"}, "lr +Inf"},
		{[]string{"train", "--dropout", "NaN"}, "dropout NaN"},
		{[]string{"train", "--weight-decay", "NaN"}, "weight decay NaN"},
		{[]string{"train", "--val-size", "-5"}, "validation size -5"},
		{[]string{"train", "--batch-size", "55000"}, "batch size 55000"},
		{[]string{"train", "--epochs", "9223372036854775807"}, "epochs 9223372036854775807"},
		{[]string{"train", "extra"}, `train takes no arguments, got "extra"`},
		{[]string{"sweep", "colect"}, "collect"},
		{[]string{"sweep", "--out", "x", "--dropout", many, "--weight-decay", many, "--seeds", strings.Join(seeds, ",")}, "more than 10000 runs"},
		{[]string{"sweep", "--out", "x", "--weight-decay", "NaN"}, "weight decay NaN"},
	} {
		dir := t.TempDir()
		log := filepath.Join(dir, "log")
		args := c.args
		if args[0] == "train" {
			args = append(args, "--log-dir", log, "--data", filepath.Join(dir, "nodata"))
		}
		r := runIn(t, dir, nil, args...)
		if r.code != 2 || !strings.Contains(r.stderr, c.want) {
			t.Errorf("%.80q: exit %d, want 2 and %q:\n%.500s", c.args, r.code, c.want, r.stderr)
		}
		if _, err := os.Stat(log); err == nil {
			t.Errorf("%.80q left a log dir", c.args)
		}
	}
}
