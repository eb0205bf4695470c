package main

import (
	"encoding/json"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// logDir writes a small run as train --log-dir keeps it: 2 epochs of 20
// steps, then the test line unless stopped.
func logDir(t *testing.T, parent, name string, stopped bool) string {
	t.Helper()
	dir := filepath.Join(parent, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	conf := `{"epochs": 2, "batch_size": 128, "recipe": "published", "seed": 1, "val_size": 5000}` + "\n"
	var b strings.Builder
	for s := 1; s <= 40; s++ {
		e := (s-1)/20 + 1
		fmt.Fprintf(&b, `{"step": %d, "epoch": %d, "train_loss": %g, "learning_rate": %g, "beta1": %g, "eval_mode": %t}`+"\n",
			s, e, 2.3/float64(s), 0.01*float64(s%20+1)/20, 0.95-0.1*float64(s%20)/20, s > 30)
		if s%20 == 0 {
			fmt.Fprintf(&b, `{"epoch": %d, "train_loss": %g, "val_loss": %g, "val_acc": %g, "seconds": 3.5}`+"\n",
				e, 0.5/float64(e), 0.1/float64(e), 97+float64(e))
		}
	}
	if !stopped {
		b.WriteString(`{"test_acc": 99.1, "test_loss": 0.027, "test_images": 9984, "test_acc_full": 99.09, "test_loss_full": 0.0271}` + "\n")
	}
	for f, s := range map[string]string{"config.json": conf, "metrics.jsonl": b.String()} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// wantReportFiles checks that dir holds report.html and five charts that
// decode as PNG.
func wantReportFiles(t *testing.T, dir string) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(dir, "report.html")); err != nil {
		t.Error(err)
	}
	charts, _ := filepath.Glob(filepath.Join(dir, "charts", "*.png"))
	if len(charts) != 5 {
		t.Errorf("%d charts in %s, want 5", len(charts), dir)
	}
	for _, c := range charts {
		f, err := os.Open(c)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := png.Decode(f); err != nil {
			t.Errorf("%s: %v", c, err)
		}
		f.Close()
	}
}

func TestReportCommand(t *testing.T) {
	t.Parallel()
	parent := t.TempDir()
	one, two := logDir(t, parent, "seed1", false), logDir(t, parent, "seed2", true)

	t.Run("one run", func(t *testing.T) {
		r := run(t, "report", one)
		if r.code != 0 {
			t.Fatalf("exit %d:\n%s", r.code, r.stderr)
		}
		lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
		if len(lines) != 6 || lines[0] != filepath.Join(one, "report.html") {
			t.Errorf("stdout %q, want report.html and 5 charts", r.stdout)
		}
		wantReportFiles(t, one)
	})
	t.Run("a stopped run, json", func(t *testing.T) {
		r := run(t, "report", two, "--format", "json")
		if r.code != 0 {
			t.Fatalf("exit %d:\n%s", r.code, r.stderr)
		}
		var got reportResult
		if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
			t.Fatalf("stdout is not JSON: %v\n%s", err, r.stdout)
		}
		if got.HTML != filepath.Join(two, "report.html") || len(got.Charts) != 5 || len(got.Runs) != 1 {
			t.Errorf("printed %+v", got)
		}
		if !strings.Contains(r.stderr, "no test figures") {
			t.Errorf("no note of the missing test figures on stderr: %q", r.stderr)
		}
		wantReportFiles(t, two)
	})
	t.Run("overlay", func(t *testing.T) {
		out := filepath.Join(parent, "compare")
		r := run(t, "report", one, two, "--out", out, "-q")
		if r.code != 0 || r.stderr != "" {
			t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
		}
		wantReportFiles(t, out)
		page, _ := os.ReadFile(filepath.Join(out, "report.html"))
		if !strings.Contains(string(page), "<th>seed1</th><th>seed2</th>") {
			t.Error("the page does not show both runs side by side")
		}
	})
	t.Run("help", func(t *testing.T) {
		r := run(t, "report", "--help")
		if r.code != 0 || !strings.Contains(r.stdout, "Examples:") || !strings.Contains(r.stdout, "--out") {
			t.Errorf("exit %d, help:\n%s", r.code, r.stdout)
		}
	})
}

func TestReportCommandBadInput(t *testing.T) {
	t.Parallel()
	parent := t.TempDir()
	good := logDir(t, parent, "good", false)
	bad := logDir(t, parent, "bad", false)
	metrics := filepath.Join(bad, "metrics.jsonl")
	f, err := os.OpenFile(metrics, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("{\"step\": 41, \"epoch\": \"three\"}\n{}\n")
	f.Close()
	empty := t.TempDir()
	for _, c := range []struct {
		name  string
		args  []string
		code  int
		wants []string
	}{
		{"no directory", nil, 2, []string{"report takes one or more run directories"}},
		{"two runs without --out", []string{good, good}, 2, []string{"--out"}},
		{"bad format", []string{good, "--format", "yaml"}, 2, []string{`--format "yaml"`}},
		{"not a run", []string{empty}, 1, []string{empty, "no metrics.jsonl"}},
		{"a malformed line", []string{bad}, 1, []string{metrics + ":44:"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := run(t, append([]string{"report"}, c.args...)...)
			if r.code != c.code {
				t.Errorf("exit %d, want %d; stderr %q", r.code, c.code, r.stderr)
			}
			if r.stdout != "" || strings.Count(strings.TrimSpace(r.stderr), "\n") > 0 {
				t.Errorf("want one line on stderr and nothing on stdout; stdout %q, stderr %q", r.stdout, r.stderr)
			}
			for _, w := range c.wants {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr %q lacks %q", r.stderr, w)
				}
			}
		})
	}
}

// TestTrainReport: a short training run with --log-dir leaves its report,
// the test line included.
func TestTrainReport(t *testing.T) {
	t.Parallel()
	// Raw IDX of MNIST's first images: the 256 trained on and 256
	// validated, and 512 to test, the test at the end being most of the
	// run; the whole training set, gzipped, would take longer to read.
	data := smallData(t, 512, 512)
	parent := t.TempDir()
	dir := filepath.Join(parent, "run")
	r := run(t, "train", "--data", data, "--skip-checksum", "--out", filepath.Join(parent, "m.pth"), "--epochs", "1",
		"--limit", "256", "--batch-size", "64", "--val-size", "256", "--log-dir", dir)
	if r.code != 0 {
		t.Fatalf("exit %d:\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "Report: "+filepath.Join(dir, "report.html")) || strings.Contains(r.stderr, "warning") {
		t.Errorf("stderr does not name the report, or warns:\n%s", r.stderr)
	}
	wantReportFiles(t, dir)
	page, _ := os.ReadFile(filepath.Join(dir, "report.html"))
	if strings.Contains(string(page), "no test figures") || !strings.Contains(string(page), "1 of 1") {
		t.Error("the report lacks the run's test figures or its epoch")
	}
}
