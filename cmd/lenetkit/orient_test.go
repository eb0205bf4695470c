package main

import (
	"encoding/json"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/lenetkit/lenetkit/internal/testtool"
	"github.com/lenetkit/lenetkit/onnx"
)

// transposedMNIST is a copy of MNIST whose every image is transposed, as
// EMNIST's files store theirs.
func transposedMNIST(t *testing.T) string {
	dir := dataCopy(t)
	for _, name := range []string{"train-images-idx3-ubyte", "t10k-images-idx3-ubyte"} {
		path := filepath.Join(dir, name)
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		const side, header = 28, 16
		img := make([]byte, side*side)
		for at := header; at+len(img) <= len(b); at += len(img) {
			copy(img, b[at:])
			for r := range side {
				for c := range side {
					b[at+c*side+r] = img[r*side+c]
				}
			}
		}
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestOrientTranspose: --orient transpose on MNIST's upright digits gives
// what ONNX Runtime gives on the same digits transposed, and what
// lenetkit gives on a transposed copy of the files without it; quantize
// calibrates on the turned images, so that the int8 files of both ways
// hold the same numbers, and the file of --orient declares it.
func TestOrientTranspose(t *testing.T) {
	t.Parallel()
	testtool.SkipShort(t)
	turned, model := transposedMNIST(t), testtool.Testdata("onnx/lenet5.onnx")
	figures := func(args ...string) (f struct{ Accuracy, Loss float64 }) {
		r := run(t, append(args, "--format", "json", "-q")...)
		if err := json.Unmarshal([]byte(r.stdout), &f); r.code != 0 || err != nil {
			t.Fatalf("%v: exit %d, %v: %s", args, r.code, err, r.stderr)
		}
		return f
	}
	oriented := figures("eval", model, "--orient", "transpose")
	onCopy := figures("eval", model, "--data", turned, "--skip-checksum")
	upright := figures("eval", model)
	// --data's images go through the model's InputLogits, MNIST's built
	// in through its Logits: turned back, the copy is upright.
	if twice := figures("eval", model, "--data", turned, "--skip-checksum", "--orient", "transpose"); twice != upright {
		t.Errorf("the transposed copy with --orient transpose %+v, upright MNIST %+v", twice, upright)
	}
	acc, loss := ortFigures(t, model, turned)
	t.Logf("--orient transpose %+v; the transposed copy %+v; ONNX Runtime on it %.2f %% %.6f; upright %+v", oriented, onCopy, acc, loss, upright)
	if oriented != onCopy || acc != oriented.Accuracy || math.Abs(loss-oriented.Loss) > 1e-4 || upright.Accuracy-oriented.Accuracy < 20 {
		t.Errorf("--orient transpose %+v; the transposed copy %+v; ONNX Runtime on it %.2f %% %.6f; upright %+v", oriented, onCopy, acc, loss, upright)
	}

	dir := t.TempDir()
	a, b := filepath.Join(dir, "oriented.onnx"), filepath.Join(dir, "copy.onnx")
	for _, args := range [][]string{{"quantize", model, a, "--orient", "transpose"}, {"quantize", model, b, "--data", turned, "--skip-checksum"}} {
		if r := run(t, args...); r.code != 0 {
			t.Fatalf("%v: exit %d: %s", args, r.code, r.stderr)
		}
	}
	qa, err := onnx.Load(a)
	if err != nil {
		t.Fatal(err)
	}
	qb, err := onnx.Load(b)
	if err != nil {
		t.Fatal(err)
	}
	names := slices.Sorted(maps.Keys(qa.Graph.Initializers))
	if !slices.Equal(names, slices.Sorted(maps.Keys(qb.Graph.Initializers))) {
		t.Fatalf("the int8 files' initializers differ in name")
	}
	for _, name := range names {
		x, y := qa.Graph.Initializers[name], qb.Graph.Initializers[name]
		if !slices.Equal(x.Float, y.Float) || !slices.Equal(x.Int, y.Int) {
			t.Errorf("initializer %q: %v calibrated with --orient, %v on the transposed copy", name, x.Float, y.Float)
		}
	}
	if got := qa.Metadata[onnx.MetaPreprocess]; !json.Valid([]byte(got)) || !strings.Contains(got, `"orient":"transpose"`) {
		t.Errorf("the int8 file of --orient declares %s", got)
	}
	// Without flags the int8 file turns the digits as it declares: it
	// scores as the float model given --orient, not as on upright ones.
	if again := figures("eval", a); math.Abs(again.Accuracy-oriented.Accuracy) > 1 {
		t.Errorf("the int8 file of --orient: %+v; the float model with --orient %+v, upright %+v", again, oriented, upright)
	}
}
