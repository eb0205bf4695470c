package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lenetkit/lenetkit/internal/testtool"
	"github.com/lenetkit/lenetkit/lenet"
	"github.com/lenetkit/lenetkit/runlog"
	"github.com/lenetkit/lenetkit/train"
)

// copyModel copies src to dst, or fails the test.
func copyModel(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestTrainModelResume interrupts a --model run with SIGINT after its
// first checkpoint and resumes it with --resume alone: the graph and the
// state dict it writes are byte for byte an uninterrupted run's, its log
// reads as one run's, and PyTorch reads the checkpoint (torch.load with
// weights_only=True) and finds the final weights in it.
func TestTrainModelResume(t *testing.T) {
	t.Parallel()
	skipShort(t)
	data := smallData(t, 2200, 200)
	dir := t.TempDir()
	model := filepath.Join(dir, "dwbn.onnx")
	copyModel(t, testtool.Testdata("onnx/dwbn.onnx"), model)
	args := func(out string, more ...string) []string {
		return append([]string{"train", "--model", model, "--data", data, "--skip-checksum", "--epochs", "4", "--limit", "2048",
			"--batch-size", "32", "--val", "128", "--augment", "rotate=10", "--out", out}, more...)
	}
	whole := filepath.Join(dir, "whole", "dwbn.pth")
	os.MkdirAll(filepath.Dir(whole), 0o755)
	if r := run(t, args(whole)...); r.code != 0 {
		t.Fatalf("uninterrupted run: exit %d:\n%s", r.code, r.stderr)
	}

	logDir := filepath.Join(dir, "log")
	cmd := exec.Command(lenetkitBin, args(filepath.Join(logDir, "dwbn.pth"), "--log-dir", logDir)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ckpt := filepath.Join(logDir, "checkpoint.pth")
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(ckpt); err == nil {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("no checkpoint after 2 minutes:\n%s", stderr.String())
		}
	}
	cmd.Process.Signal(syscall.SIGINT)
	err := cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 130 {
		t.Fatalf("after SIGINT: exit %d (%v), want 130 (the run ended before the signal?):\n%s", code, err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "lenetkit train --resume "+logDir) {
		t.Errorf("the stop does not say how to resume:\n%s", stderr.String())
	}
	r := run(t, "train", "--resume", logDir)
	if r.code != 0 || !strings.Contains(r.stderr, "resuming from "+ckpt) {
		t.Fatalf("resume: exit %d:\n%s", r.code, r.stderr)
	}
	for _, name := range []string{"dwbn.onnx", "dwbn.pth"} {
		a, errA := os.ReadFile(filepath.Join(filepath.Dir(whole), name))
		b, errB := os.ReadFile(filepath.Join(logDir, name))
		if errA != nil || errB != nil || !bytes.Equal(a, b) {
			t.Errorf("%s: the resumed run's differs from the uninterrupted run's (%v, %v)", name, errA, errB)
		}
	}
	log, err := runlog.Read(logDir)
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range log.Steps {
		if s.Step != i+1 {
			t.Fatalf("metrics.jsonl: step %d where %d was due", s.Step, i+1)
		}
	}
	if len(log.Steps) != 256 || len(log.Epochs) != 4 || log.Test == nil {
		t.Errorf("metrics.jsonl: %d steps, %d epochs, test %v; want 256, 4 and a test", len(log.Steps), len(log.Epochs), log.Test)
	}
	var chk struct {
		Kind       string         `json:"kind"`
		Optimizer  map[string]int `json:"optimizer"`
		MomentsFit bool           `json:"moments_fit"`
		Equal      bool           `json:"equal"`
		Diffs      []string       `json:"diffs"`
		GlobalStep int            `json:"global_step"`
	}
	out := testtool.MustRunScript(t, testtool.Reference("graph_checkpoint_check.py"), ckpt, filepath.Join(logDir, "dwbn.pth"))
	if err := json.Unmarshal(out, &chk); err != nil {
		t.Fatal(err)
	}
	if chk.Kind != "graph" || !chk.MomentsFit || chk.Optimizer["exp_avg"] == 0 || !chk.Equal || chk.GlobalStep != 256 {
		t.Errorf("torch.load of the final checkpoint: %+v", chk)
	}
}

// TestTrainModelResumeRefuses: --resume of a --model run refuses, in one
// line and before anything is written, what it cannot continue: a damaged
// or foreign checkpoint, another model, a changed model file, other data,
// a flag the checkpoint fixes, and the seed's checkpoint with --model. The
// run, finished but its model gone, then resumes to write the model.
func TestTrainModelResumeRefuses(t *testing.T) {
	t.Parallel()
	data := smallData(t, 128, 64)
	dir := t.TempDir()
	model := filepath.Join(dir, "dwbn.onnx")
	copyModel(t, testtool.Testdata("onnx/dwbn.onnx"), model)
	logDir := filepath.Join(dir, "log")
	out := filepath.Join(logDir, "m.onnx")
	if r := run(t, "train", "--model", model, "--data", data, "--skip-checksum", "--epochs", "1", "--limit", "64", "--batch-size", "32",
		"--val", "32", "--log-dir", logDir, "--out", out); r.code != 0 {
		t.Fatalf("train: exit %d:\n%s", r.code, r.stderr)
	}
	os.Remove(out)
	ckpt := filepath.Join(logDir, "checkpoint.pth")
	good, _ := os.ReadFile(ckpt)
	metrics, _ := os.ReadFile(filepath.Join(logDir, runlog.MetricsName))

	truncated, foreign, seed := filepath.Join(dir, "truncated.pth"), filepath.Join(dir, "foreign.pth"), filepath.Join(dir, "seed.pth")
	os.WriteFile(truncated, good[:len(good)/2], 0o644)
	os.WriteFile(foreign, []byte("not a checkpoint\n"), 0o644)
	if err := train.SaveCheckpoint(seed, &train.State{Config: train.DefaultConfig(), Epoch: 1, Model: lenet.Init(0)}); err != nil {
		t.Fatal(err)
	}
	fewer := smallData(t, 80, 64)
	changed := smallData(t, 128, 64)
	images := filepath.Join(changed, "train-images-idx3-ubyte")
	b, _ := os.ReadFile(images)
	for i := 16 + 400; i < len(b); i += 784 { // a pixel of every image
		b[i] ^= 0xff
	}
	os.WriteFile(images, b, 0o644)

	for _, tc := range []struct {
		name   string
		args   []string
		before func() // undone by after
		after  func()
		code   int
		want   string
	}{
		{name: "truncated", args: []string{"--resume", truncated}, code: 1, want: "damaged"},
		{name: "foreign", args: []string{"--resume", foreign}, code: 1, want: "not a lenetkit checkpoint"},
		{name: "missing", args: []string{"--resume", filepath.Join(dir, "none")}, code: 1, want: "no run to resume"},
		{name: "another model", args: []string{"--resume", logDir, "--model", testtool.Testdata("onnx/cnn28.onnx")}, code: 1, want: "is not the model the run"},
		{name: "model changed", args: []string{"--resume", logDir},
			before: func() { copyModel(t, testtool.Testdata("onnx/mlp.onnx"), model) },
			after:  func() { copyModel(t, testtool.Testdata("onnx/dwbn.onnx"), model) }, code: 1, want: "has changed since the run started"},
		{name: "fewer images", args: []string{"--resume", logDir, "--data", fewer}, code: 1, want: "nothing was written"},
		{name: "other images", args: []string{"--resume", logDir, "--data", changed}, code: 1, want: "other images or labels"},
		{name: "config flag", args: []string{"--resume", logDir, "--epochs", "2"}, code: 2, want: "--epochs with --resume"},
		{name: "seed's checkpoint with --model", args: []string{"--resume", seed, "--model", model}, code: 2, want: "the seed's LeNet"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.before != nil {
				tc.before()
				defer tc.after()
			}
			r := run(t, append([]string{"train"}, tc.args...)...)
			t.Log(lastLineOf(r.stderr))
			if r.code != tc.code || !strings.Contains(lastLineOf(r.stderr), tc.want) || strings.Count(strings.TrimSpace(r.stderr), "\n") > 2 {
				t.Errorf("exit %d, stderr %q: want exit %d and a line with %q", r.code, r.stderr, tc.code, tc.want)
			}
			nowCkpt, _ := os.ReadFile(ckpt)
			nowMetrics, _ := os.ReadFile(filepath.Join(logDir, runlog.MetricsName))
			if _, err := os.Stat(out); err == nil || !bytes.Equal(nowCkpt, good) || !bytes.Equal(nowMetrics, metrics) {
				t.Errorf("a refused resume wrote something")
			}
		})
	}
	if r := run(t, "train", "--resume", logDir); r.code != 0 {
		t.Fatalf("resume of the finished run without its model: exit %d:\n%s", r.code, r.stderr)
	}
	if _, err := os.Stat(out); err != nil {
		t.Errorf("the resumed run did not write its model: %v", err)
	}
	if r := run(t, "train", "--resume", logDir); r.code == 0 || !strings.Contains(r.stderr, "finished already") {
		t.Errorf("a second resume: exit %d, %s", r.code, r.stderr)
	}
}
