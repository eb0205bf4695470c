package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lenetkit/lenetkit/internal/testtool"
)

// Bounds on one hostile file in the tests: issue 12 asks for 2 s and
// 256 MB; the wall time allows for a loaded machine.
const (
	hostileSeconds = 5
	hostileRSS     = 256 << 20
)

// hostileCase is one line of the cases.tsv that reference/hostile.py writes.
type hostileCase struct{ file, command, what string }

// hostileArgs is the command line that reads the case's file.
func hostileArgs(dir string, c hostileCase, extra ...string) []string {
	file := filepath.Join(dir, c.file)
	args := append(strings.Fields(c.command), extra...)
	switch args[0] {
	case "convert":
		out := filepath.Join(dir, "out.onnx")
		if strings.HasSuffix(c.file, ".onnx") {
			out = filepath.Join(dir, "out.pth")
		}
		return append(args, "--force", file, out)
	case "infer":
		return append(args, file, filepath.Join(dir, "digit.png"))
	}
	return append(args, file)
}

// measured runs lenetkit and returns what it printed, its exit code, wall
// time and peak resident memory.
func measured(t *testing.T, args ...string) (res result, wall time.Duration, rss int64) {
	t.Helper()
	cmd := exec.Command(lenetkitBin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	wall = time.Since(start)
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatal(err)
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		rss = ru.Maxrss << 10 // KB on Linux
	}
	return result{stdout.String(), stderr.String(), cmd.ProcessState.ExitCode()}, wall, rss
}

// TestHostileFiles runs lenetkit on every file of reference/hostile.py
// with the command that reads it: each ends in a one-line error naming the
// file, exit code 1, within the time and memory bounds. The files with
// NaN weights are read with --allow-nonfinite, and their results written
// as JSON, with null for what is not a number.
func TestHostileFiles(t *testing.T) {
	py := testtool.RequirePython(t)
	dir := t.TempDir()
	if out, err := exec.Command(py, testtool.Reference("hostile.py"), dir).CombinedOutput(); err != nil {
		t.Fatalf("hostile.py: %v\n%s", err, out)
	}
	f, err := os.Open(filepath.Join(dir, "cases.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var cases []hostileCase
	for sc := bufio.NewScanner(f); sc.Scan(); {
		if parts := strings.Split(sc.Text(), "\t"); len(parts) == 3 && parts[1] != "" {
			cases = append(cases, hostileCase{parts[0], parts[1], parts[2]})
		}
	}
	if len(cases) < 20 {
		t.Fatalf("cases.tsv lists %d cases", len(cases))
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			args := hostileArgs(dir, c)
			r, wall, rss := measured(t, args...)
			line := strings.TrimSuffix(r.stderr, "\n")
			if r.code != 1 || strings.Contains(line, "\n") || !strings.HasPrefix(line, "lenetkit: ") || !strings.Contains(line, c.file) {
				t.Errorf("lenetkit %s: exit %d, stderr %q; want exit 1 and one line naming the file", strings.Join(args, " "), r.code, r.stderr)
			}
			if wall > hostileSeconds*time.Second || rss > hostileRSS {
				t.Errorf("lenetkit %s: %v, %d MB; want at most %d s and %d MB", strings.Join(args, " "), wall, rss>>20, hostileSeconds, hostileRSS>>20)
			}
			if !strings.HasPrefix(c.file, "nan.") && !strings.HasPrefix(c.file, "inf.") {
				return
			}
			args = hostileArgs(dir, c, "--allow-nonfinite")
			r, _, _ = measured(t, args...)
			if r.code != 0 {
				t.Fatalf("lenetkit %s: exit %d: %s", strings.Join(args, " "), r.code, r.stderr)
			}
			if strings.Contains(c.command, "json") {
				var preds []struct {
					Confidence    *float64   `json:"confidence"`
					Probabilities []*float64 `json:"probabilities"`
				}
				if err := json.Unmarshal([]byte(r.stdout), &preds); err != nil || len(preds) != 1 || len(preds[0].Probabilities) != 10 {
					t.Errorf("lenetkit %s: %v\n%s", strings.Join(args, " "), err, r.stdout)
				}
			}
		})
	}
}

// TestFiniteJSON: finiteJSON writes what encoding/json writes, and null
// where encoding/json fails on NaN or an infinity.
func TestFiniteJSON(t *testing.T) {
	type inner struct {
		A float64 `json:"a"`
		B []int   `json:"b,omitempty"`
	}
	type outer struct {
		inner
		C       float32            `json:"c"`
		D       map[string]float64 `json:"d"`
		E       [2]float64         `json:"e,omitempty"`
		F       *int64             `json:"f"`
		G       any                `json:"g"`
		H       []byte             `json:"h"`
		I       string             `json:"i,omitempty"`
		private int
		Plain   bool
	}
	v := outer{inner: inner{A: 1.5}, C: 2.25, D: map[string]float64{"z": 1, "a": 2}, G: []float64{3}, H: []byte("hi"), private: 1}
	want, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	got, err := json.Marshal(finiteJSON{v})
	if err != nil || string(got) != string(want) {
		t.Errorf("finite values: %s, %v; encoding/json writes %s", got, err, want)
	}
	// The same through the fallback, with the values encoding/json refuses.
	v.A, v.C, v.D["z"], v.G = math.NaN(), float32(math.Inf(1)), math.Inf(-1), []float64{math.NaN(), 3}
	got, err = json.Marshal(finiteJSON{v})
	exp := `{"a":null,"c":null,"d":{"a":2,"z":null},"e":[0,0],"f":null,"g":[null,3],"h":"aGk=","Plain":false}`
	if err != nil || string(got) != exp {
		t.Errorf("non-finite values: %s, %v; want %s", got, err, exp)
	}
}
