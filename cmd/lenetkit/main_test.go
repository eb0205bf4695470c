package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/lenetkit/lenetkit/convert"
	"github.com/lenetkit/lenetkit/internal/testtool"
	"github.com/lenetkit/lenetkit/lenet"
	"github.com/lenetkit/lenetkit/mnist"
)

var lenetkitBin string

// TestMain builds the command once; the tests run it as a user would.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "lenetkit-cmd")
	if err != nil {
		panic(err)
	}
	lenetkitBin = filepath.Join(dir, "lenetkit")
	if err := buildCommand(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	flag.Parse() // for testing.Short
	if !testing.Short() {
		startSlurmProbe() // about 10 s of sinfo where no Slurm runs
	}
	code := m.Run()
	stopSlurmProbe()
	os.RemoveAll(dir)
	os.Exit(code)
}

type result struct {
	stdout, stderr string
	code           int
}

func run(t *testing.T, args ...string) result {
	t.Helper()
	return runArgv(t, "", append([]string{lenetkitBin}, args...)...)
}

// runArgv runs the command line argv in dir ("": the test's own) and
// returns what it printed and its exit code.
func runArgv(t *testing.T, dir string, argv ...string) result {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{stdout.String(), stderr.String(), code}
}

// realData returns the directory of the real MNIST files.
func realData(t *testing.T) string {
	t.Helper()
	src, err := mnist.Locate(context.Background(), "")
	if err != nil {
		testtool.Missing(t, "MNIST not available: "+err.Error())
	}
	return src.Dir
}

var files = []string{"train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"}

// gunzipped holds the real files' contents, decompressed once per test
// binary: 55 MB that each dataCopy writes out, where decompressing them
// again cost about half a CPU second a copy.
var gunzipped struct {
	once  sync.Once
	files map[string][]byte
	err   error
}

// dataCopy copies the real files into a fresh directory, gunzipped so a
// test can damage them byte by byte.
func dataCopy(t *testing.T) string {
	t.Helper()
	src := realData(t)
	gunzipped.once.Do(func() {
		gunzipped.files = map[string][]byte{}
		for _, f := range files {
			b, err := gunzip(filepath.Join(src, f+".gz"))
			if err != nil {
				gunzipped.err = err
				return
			}
			gunzipped.files[f] = b
		}
	})
	if gunzipped.err != nil {
		t.Fatal(gunzipped.err)
	}
	dst := t.TempDir()
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(dst, f), gunzipped.files[f], 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

func gunzip(path string) ([]byte, error) {
	in, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer in.Close()
	zr, err := gzip.NewReader(in)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(zr)
}

func TestTrainBadInput(t *testing.T) {
	t.Parallel()
	damage := func(name string, fn func([]byte) []byte) func(t *testing.T) string {
		return func(t *testing.T) string {
			dir := dataCopy(t)
			p := filepath.Join(dir, name)
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, fn(b), 0o644); err != nil {
				t.Fatal(err)
			}
			return dir
		}
	}
	cases := []struct {
		name  string
		data  func(t *testing.T) string
		out   func(t *testing.T) string
		wants []string // all must appear in the one error line
	}{
		{"missing data dir", func(t *testing.T) string { return filepath.Join(t.TempDir(), "nowhere") }, nil,
			[]string{"nowhere"}},
		{"truncated images", damage("t10k-images-idx3-ubyte", func(b []byte) []byte { return b[:len(b)/2] }), nil,
			[]string{"t10k-images-idx3-ubyte", "truncated"}},
		{"wrong magic", damage("train-labels-idx1-ubyte", func(b []byte) []byte { b[3] = 0x03; return b }), nil,
			[]string{"train-labels-idx1-ubyte", "magic"}},
		{"checksum mismatch", damage("t10k-labels-idx1-ubyte", func(b []byte) []byte { b[100] = (b[100] + 1) % 10; return b }), nil,
			[]string{"t10k-labels-idx1-ubyte", "checksum"}},
		{"out under a file", nil, func(t *testing.T) string {
			f := filepath.Join(t.TempDir(), "file")
			os.WriteFile(f, nil, 0o644)
			return filepath.Join(f, "parameter.pth")
		}, []string{"--out", "parameter.pth"}},
		{"out is a directory", nil, func(t *testing.T) string { return t.TempDir() }, []string{"--out", "is a directory"}},
		{"out exists, no --force", nil, func(t *testing.T) string {
			f := filepath.Join(t.TempDir(), "parameter.pth")
			os.WriteFile(f, []byte("keep me"), 0o644)
			return f
		}, []string{"--out", "parameter.pth", "exists", "--force"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "parameter.pth")
			if c.out != nil {
				out = c.out(t)
			}
			data := ""
			if c.data != nil {
				data = c.data(t)
			} else {
				data = realData(t)
			}
			r := run(t, "train", "--data", data, "--out", out, "--epochs", "1", "--limit", "256")
			if r.code != 1 {
				t.Fatalf("exit code %d, want 1; stderr:\n%s", r.code, r.stderr)
			}
			lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
			last := lines[len(lines)-1]
			if !strings.HasPrefix(last, "lenetkit: ") || strings.Contains(r.stderr, "goroutine ") {
				t.Errorf("error is not one plain line:\n%s", r.stderr)
			}
			for _, w := range c.wants {
				if !strings.Contains(last, w) {
					t.Errorf("error %q does not mention %q", last, w)
				}
			}
			if strings.Contains(r.stderr, "epoch 1") {
				t.Errorf("training started before the error:\n%s", r.stderr)
			}
			if b, err := os.ReadFile(out); err == nil && string(b) != "keep me" {
				t.Errorf("%s was written", out)
			}
			if ents, _ := os.ReadDir(filepath.Dir(out)); len(ents) > 0 && c.out == nil {
				t.Errorf("left behind in the output directory: %v", ents)
			}
		})
	}
}

// TestTrainRecipes: each recipe trains in train mode for as many steps as it
// says, and the written file's num_batches_tracked counts them: 2 epochs of
// 100 steps, the notebook's switch after the first epoch, the published
// file's after 79 steps.
func TestTrainRecipes(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("three short training runs")
	}
	// What is counted is steps, whatever the images: the 1,600 trained on
	// and 500 validated come from MNIST's first 2,100, and the test after
	// training is on 500 images, not a pass over 10,000 per recipe.
	data := smallData(t, 2100, 500)
	for _, c := range []struct {
		recipe  string
		tracked int64
	}{{"standard", 200}, {"notebook", 100}, {"published", 79}} {
		t.Run(c.recipe, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "parameter.pth")
			r := run(t, "train", "--data", data, "--skip-checksum", "--out", out, "--epochs", "2", "--batch-size", "16", "--limit", "1600", "--val-size", "500",
				"--recipe", c.recipe, "--format", "json")
			if r.code != 0 {
				t.Fatalf("exit %d:\n%s", r.code, r.stderr)
			}
			if !strings.Contains(r.stderr, "recipe "+c.recipe+": ") {
				t.Errorf("no line saying what recipe %s does:\n%s", c.recipe, r.stderr)
			}
			var sum struct {
				Recipe  string `json:"recipe"`
				Tracked int64  `json:"num_batches_tracked"`
			}
			if err := json.Unmarshal([]byte(r.stdout), &sum); err != nil {
				t.Fatal(err)
			}
			sd, err := convert.ReadPTH(out)
			if err != nil {
				t.Fatal(err)
			}
			for _, b := range lenet.Blocks {
				if got := sd.Lookup(b.BatchNorm.Param("num_batches_tracked")).I64[0]; got != c.tracked {
					t.Errorf("%s.num_batches_tracked = %d, want %d", b.BatchNorm.Name, got, c.tracked)
				}
			}
			if sum.Recipe != c.recipe || sum.Tracked != c.tracked {
				t.Errorf("summary says recipe %q, num_batches_tracked %d; want %q, %d", sum.Recipe, sum.Tracked, c.recipe, c.tracked)
			}
		})
	}
}

// TestTrainWritesWhatPyTorchLoads trains a small model through the command,
// then has real PyTorch load the file strictly and compute logits, which
// must equal lenetkit's own for the same images.
func TestTrainWritesWhatPyTorchLoads(t *testing.T) {
	t.Parallel()
	testtool.RequirePython(t, "torch") // before the training, not after it
	data := realData(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "parameter.pth")
	logDir := filepath.Join(dir, "log")
	r := run(t, "train", "--data", data, "--out", out, "--epochs", "2", "--limit", "1024", "--val-size", "1000",
		"--log-dir", logDir, "--format", "json")
	if r.code != 0 {
		t.Fatalf("exit %d:\n%s", r.code, r.stderr)
	}
	var sum struct {
		Accuracy     float64 `json:"accuracy"`
		Loss         float64 `json:"loss"`
		FullAccuracy float64 `json:"full_accuracy"`
		FullLoss     float64 `json:"full_loss"`
		Images       int     `json:"images"`
		Epochs       []struct {
			ValAcc float64 `json:"val_acc"`
		} `json:"epochs"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &sum); err != nil {
		t.Fatalf("--format json printed %q: %v", r.stdout, err)
	}
	if sum.Images != 9984 || len(sum.Epochs) != 2 || sum.Accuracy <= 10 || sum.Loss <= 0 {
		t.Errorf("summary %+v", sum)
	}
	// train's test figures are eval's for the file it wrote, to the last
	// bit, under both protocols.
	for _, want := range []struct {
		protocol       string
		accuracy, loss float64
	}{{"seed", sum.Accuracy, sum.Loss}, {"full", sum.FullAccuracy, sum.FullLoss}} {
		e := run(t, "eval", out, "--data", data, "--protocol", want.protocol, "--format", "json")
		var got struct{ Accuracy, Loss float64 }
		if err := json.Unmarshal([]byte(e.stdout), &got); e.code != 0 || err != nil {
			t.Fatalf("eval --protocol %s: exit %d, %v\n%s", want.protocol, e.code, err, e.stderr)
		}
		if got.Accuracy != want.accuracy || got.Loss != want.loss {
			t.Errorf("--protocol %s: eval gives %v %%, loss %v; train gave %v %%, loss %v", want.protocol, got.Accuracy, got.Loss, want.accuracy, want.loss)
		}
	}
	metrics, err := os.ReadFile(filepath.Join(logDir, "metrics.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(metrics), "\"learning_rate\""); n != 16 {
		t.Errorf("metrics.jsonl has %d learning_rate records, want one per step: 2 epochs x 8 steps", n)
	}
	if n := strings.Count(string(metrics), "\"val_acc\""); n != 2 {
		t.Errorf("metrics.jsonl has %d val_acc records, want 2", n)
	}

	testtool.RequirePython(t, "torch")
	sd, err := convert.ReadPTH(out)
	if err != nil {
		t.Fatal(err)
	}
	m, err := lenet.NewModel(sd)
	if err != nil {
		t.Fatal(err)
	}
	test, err := mnist.Load(data, "test", mnist.Options{})
	if err != nil {
		t.Fatal(err)
	}
	const n = 64
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i * 150
	}
	x := make([]float32, n*mnist.PixelCount)
	if err := test.Fill(idx, x, nil); err != nil {
		t.Fatal(err)
	}
	ours := make([]float32, n*lenet.Classes)
	if err := m.Logits(ours, x, n); err != nil {
		t.Fatal(err)
	}
	in, got := filepath.Join(dir, "x.f32"), filepath.Join(dir, "logits.f32")
	if err := os.WriteFile(in, float32Bytes(x), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := testtool.RunScript(t, nil, testtool.Reference("pth_logits.py"), out, in, "64", got); err != nil {
		t.Fatalf("PyTorch could not load %s strictly: %v", out, err)
	}
	b, err := os.ReadFile(got)
	if err != nil {
		t.Fatal(err)
	}
	theirs := make([]float32, len(b)/4)
	binary.Read(bytes.NewReader(b), binary.LittleEndian, theirs)
	if len(theirs) != len(ours) {
		t.Fatalf("PyTorch gave %d logits, want %d", len(theirs), len(ours))
	}
	for i := range ours {
		if d := math.Abs(float64(ours[i] - theirs[i])); d > 1e-4*(1+math.Abs(float64(theirs[i]))) {
			t.Fatalf("logit %d: lenetkit %g, PyTorch %g", i, ours[i], theirs[i])
		}
	}
}

func float32Bytes(v []float32) []byte {
	var buf bytes.Buffer
	binary.Write(&buf, binary.LittleEndian, v)
	return buf.Bytes()
}

// TestTrainInterrupt: Ctrl-C ends training after the current step, says
// where, exits 130 and writes no model.
func TestTrainInterrupt(t *testing.T) {
	t.Parallel()
	data := realData(t)
	out := filepath.Join(t.TempDir(), "parameter.pth")
	cmd := exec.Command(lenetkitBin, "train", "--data", data, "--out", out, "--epochs", "1")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The interrupt comes once train has said what it trains, which it
	// does after taking over SIGINT: the first step is then under way or
	// about to be, and the stop comes after it. Waiting for the first
	// progress line, 50 steps in, showed nothing more for its seconds.
	var log strings.Builder
	buf := make([]byte, 4096)
	for !strings.Contains(log.String(), "LeNet, ") {
		n, err := stderr.Read(buf)
		log.Write(buf[:n])
		if err != nil {
			t.Fatalf("no progress line before %v:\n%s", err, log.String())
		}
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	rest, _ := io.ReadAll(stderr)
	log.Write(rest)
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 130 {
		t.Fatalf("exit %v, want 130:\n%s", err, log.String())
	}
	if !strings.Contains(log.String(), "stopped by signal after epoch 1, step ") || !strings.Contains(log.String(), "not written") {
		t.Errorf("does not say where it stopped:\n%s", log.String())
	}
	if _, err := os.Stat(out); err == nil {
		t.Errorf("%s written after an interrupt", out)
	}
}

// TestTrainRefusesUsedLogDir: a second run into the same --log-dir would
// truncate the first one's metrics; without --force it is refused before
// training.
func TestTrainRefusesUsedLogDir(t *testing.T) {
	data := realData(t)
	dir := t.TempDir()
	metrics := filepath.Join(dir, "metrics.jsonl")
	if err := os.WriteFile(metrics, []byte("{\"step\": 1}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := run(t, "train", "--data", data, "--out", filepath.Join(t.TempDir(), "m.pth"), "--epochs", "1", "--limit", "256", "--log-dir", dir)
	line := wantError(t, r, "--log-dir", "--force")
	if strings.Contains(r.stderr, "epoch 1") {
		t.Errorf("training started before the error %q", line)
	}
	if b, _ := os.ReadFile(metrics); string(b) != "{\"step\": 1}\n" {
		t.Errorf("metrics.jsonl changed to %q", b)
	}
}

// TestTrainOutIsCheckpoint: an --out naming the checkpoint the run keeps
// in its --log-dir (the seed's run, and a --model run's .pth beside its
// .onnx) is refused in one line before anything is written, where each
// would have overwritten the other.
func TestTrainOutIsCheckpoint(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"train"}, {"train", "--model", testtool.Testdata("onnx/lenet5.onnx")}} {
		dir := t.TempDir()
		log := filepath.Join(dir, "run")
		r := run(t, append(args, "--log-dir", log, "--out", filepath.Join(log, "checkpoint.pth"), "--epochs", "1", "--limit", "256")...)
		lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
		last := lines[len(lines)-1]
		if r.code != 1 || !strings.HasPrefix(last, "lenetkit: --out ") || !strings.Contains(last, "checkpoint this run keeps") {
			t.Errorf("%v: exit %d, last line %q", args, r.code, last)
		}
		if ents, _ := os.ReadDir(dir); len(ents) > 0 {
			t.Errorf("%v: left behind %v", args, ents)
		}
	}
}
