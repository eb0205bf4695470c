package main

import (
	"bytes"
	"os"
	"path/filepath"
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
