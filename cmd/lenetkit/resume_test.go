package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lenetkit/lenetkit/internal/testtool"
)

// TestTrainResume interrupts a run with SIGINT after its first checkpoint,
// resumes it, and has PyTorch compare the result with an uninterrupted
// run's: torch.equal on every tensor. The checkpoint itself must be a dict
// torch.load(weights_only=True) reads, whose model LeNet loads strictly.
func TestTrainResume(t *testing.T) {
	t.Parallel()
	skipShort(t)
	// MNIST's first 1,000 training images (800 trained on, 200
	// validated) and 500 test images, apart from the default MNIST:
	// --resume, given no --data, must go on with the data of the run it
	// resumes, which the checkpoint records, for the weights to match.
	// Four epochs of 50 steps, BatchNorm frozen in the second.
	data := smallData(t, 1000, 500)
	dir := t.TempDir()
	args := func(out string) []string {
		return []string{"train", "--data", data, "--skip-checksum", "--epochs", "4", "--batch-size", "16",
			"--limit", "800", "--val-size", "200", "--recipe", "published", "--freeze-bn-after", "75", "--out", out}
	}
	whole := filepath.Join(dir, "whole", "parameter.pth")
	os.MkdirAll(filepath.Dir(whole), 0o755)
	if r := run(t, args(whole)...); r.code != 0 {
		t.Fatalf("uninterrupted run: exit %d:\n%s", r.code, r.stderr)
	}

	logDir := filepath.Join(dir, "log")
	resumed := filepath.Join(dir, "resumed", "parameter.pth")
	os.MkdirAll(filepath.Dir(resumed), 0o755)
	cmd := exec.Command(lenetkitBin, append(args(resumed), "--log-dir", logDir)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ckpt := filepath.Join(logDir, "checkpoint.pth")
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if _, err := os.Stat(ckpt); err == nil {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("no checkpoint after 2 minutes:\n%s", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGINT)
	err := cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 130 {
		t.Fatalf("after SIGINT: exit %d (%v), want 130 (the run ended before the signal?):\n%s", code, err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "lenetkit train --resume "+logDir) || !strings.Contains(stderr.String(), ckpt) {
		t.Errorf("the stop does not say where the checkpoint is and how to resume:\n%s", stderr.String())
	}
	if _, err := os.Stat(resumed); err == nil {
		t.Fatal("a stopped run wrote its model")
	}
	var chk struct {
		Keys        []string       `json:"keys"`
		Format      string         `json:"format"`
		ModelLoaded bool           `json:"model_loaded"`
		Optimizer   map[string]int `json:"optimizer"`
		GlobalStep  int            `json:"global_step"`
	}
	if err := json.Unmarshal(testtool.MustRunScript(t, testtool.Reference("checkpoint_check.py"), ckpt), &chk); err != nil {
		t.Fatal(err)
	}
	if !chk.ModelLoaded || chk.Format == "" || chk.Optimizer["exp_avg"] != 16 || chk.Optimizer["exp_avg_sq"] != 16 || chk.GlobalStep < 50 {
		t.Errorf("torch.load of the checkpoint: %+v", chk)
	}

	// Other training data is refused before anything is written.
	if r := run(t, "train", "--resume", logDir, "--data", smallData(t, 900, 100), "--skip-checksum"); r.code == 0 ||
		!strings.Contains(r.stderr, "trained on 1000 images") || !strings.Contains(r.stderr, "nothing was written") {
		t.Errorf("resume on 900 training images: exit %d, want a refusal naming the run's 1,000:\n%s", r.code, r.stderr)
	}
	r := run(t, "train", "--resume", logDir)
	if r.code != 0 {
		t.Fatalf("resume: exit %d:\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "resuming from "+ckpt) {
		t.Errorf("resume does not say where it starts:\n%s", r.stderr)
	}
	// The checkpoint chooses no path outside its run (issue 19): the
	// model goes beside it, and the note says how to have it elsewhere.
	if _, err := os.Stat(resumed); err == nil {
		t.Errorf("resume wrote %s, outside its run, which only the checkpoint named", resumed)
	}
	if !strings.Contains(r.stderr, "--out "+resumed+" writes there") {
		t.Errorf("resume does not say where the model went instead:\n%s", r.stderr)
	}
	resumed = filepath.Join(logDir, "parameter.pth")
	var cmp struct {
		Equal bool     `json:"equal"`
		Diffs []string `json:"diffs"`
	}
	if err := json.Unmarshal(testtool.MustRunScript(t, testtool.Reference("pth_check.py"), resumed, "--compare", whole), &cmp); err != nil {
		t.Fatal(err)
	}
	if !cmp.Equal {
		t.Errorf("resumed run's weights differ from the uninterrupted run's: %v", cmp.Diffs)
	}
	// The log reads as one run's: every step once, in order.
	b, _ := os.ReadFile(filepath.Join(logDir, "metrics.jsonl"))
	next := 1
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var m struct {
			Step *int `json:"step"`
		}
		json.Unmarshal([]byte(line), &m)
		if m.Step != nil {
			if *m.Step != next {
				t.Fatalf("metrics.jsonl: step %d where %d was due", *m.Step, next)
			}
			next++
		}
	}
	if next != 201 {
		t.Errorf("metrics.jsonl logs %d steps, want 200", next-1)
	}
	if r := run(t, "train", "--resume", logDir, "--epochs", "3"); r.code != 2 {
		t.Errorf("--resume with --epochs: exit %d, want 2:\n%s", r.code, r.stderr)
	}
}

// TestConvertNewFileRace: converts racing for one new OUT without --force:
// exactly one wins, the others say it exists, and no temporary file is left.
func TestConvertNewFileRace(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	out := filepath.Join(dir, "model.onnx")
	const n = 6
	codes := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i] = run(t, "convert", trainedPTH, out, "-q").code
		}()
	}
	wg.Wait()
	wins := 0
	for _, c := range codes {
		if c == 0 {
			wins++
		}
	}
	if wins != 1 {
		t.Errorf("exit codes %v: %d converts created %s, want exactly 1", codes, wins, out)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("left in the directory: %v", names)
	}
}

// TestSignalLeavesNoTemporaryFiles interrupts converts at random moments:
// each ends with exit 130 or 0, and nothing but a whole OUT is left.
// (internal/atomicfile's TestInterruptAtEveryStep interrupts at each step
// of a write in turn; this is the whole program, signal handler and all.)
func TestSignalLeavesNoTemporaryFiles(t *testing.T) {
	t.Parallel()
	whole := filepath.Join(t.TempDir(), "model.onnx")
	if r := run(t, "convert", trainedPTH, whole, "-q"); r.code != 0 {
		t.Fatalf("convert: exit %d\n%s", r.code, r.stderr)
	}
	want, err := os.ReadFile(whole)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 12 {
		dir := t.TempDir()
		out := filepath.Join(dir, "model.onnx")
		cmd := exec.Command(lenetkitBin, "convert", trainedPTH, out, "-q")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(20+i*5) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGINT)
		cmd.Wait()
		code := cmd.ProcessState.ExitCode()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			code = 130 // the signal came before Go's runtime took over: nothing was written yet
		}
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if e.Name() != "model.onnx" {
				t.Errorf("try %d (exit %d): %s left behind", i, code, e.Name())
			} else if b, _ := os.ReadFile(out); !bytes.Equal(b, want) {
				t.Errorf("try %d (exit %d): OUT has %d bytes, not the %d of a whole convert", i, code, len(b), len(want))
			}
		}
		if code != 0 && code != 130 {
			t.Errorf("try %d: exit %d, want 130 (or 0 if it had finished)", i, code)
		}
	}
}
