package backend

import (
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lenetkit/lenetkit/modelfile"
	"github.com/lenetkit/lenetkit/onnx"
)

// TestChecked: sums and products are refused, not wrapped, at the edges of
// their limit and of int64, and negative sizes are malformed.
func TestChecked(t *testing.T) {
	const top = math.MaxInt64
	for _, c := range []struct {
		a, b, limit int64
		mul, add    error // nil: the result is exact
	}{
		{3, 4, 12, nil, nil},
		{3, 4, 11, modelfile.ErrLimit, nil},
		{0, top, top, nil, nil},
		{top, 1, top, nil, modelfile.ErrLimit},
		{1 << 32, 1 << 30, top, nil, nil},
		{1 << 32, 1 << 31, top, modelfile.ErrLimit, nil},
		{1 << 62, 1<<62 - 1, top, modelfile.ErrLimit, nil},
		{0x6DB6DB6DB6DB6DB7, 7, top, modelfile.ErrLimit, nil},
		{1 << 62, 1 << 62, top, modelfile.ErrLimit, modelfile.ErrLimit},
		{1 << 62, 3 << 61, top, modelfile.ErrLimit, modelfile.ErrLimit},
		{-1, 2, top, modelfile.ErrFormat, modelfile.ErrFormat},
	} {
		check := func(op string, got int64, err, want error, exact int64) {
			if want == nil && (err != nil || got != exact) || want != nil && !errors.Is(err, want) {
				t.Errorf("%d %s %d (limit %d): %d, %v; want %v", c.a, op, c.b, c.limit, got, err, want)
			}
		}
		p, err := mulChecked(c.a, c.b, c.limit)
		check("x", p, err, c.mul, c.a*c.b)
		s, err := addChecked(c.a, c.b, c.limit)
		check("+", s, err, c.add, c.a+c.b)
	}
	for _, c := range []struct {
		shape []int64
		n     int
		err   error
	}{
		{nil, 1, nil},
		{[]int64{1, 0, 1 << 40}, 0, modelfile.ErrLimit}, // each size is bounded, even after a 0
		{[]int64{2, 3, 4}, 24, nil},
		{[]int64{1, 784, 7, 0x6DB6DB6DB6DB6DB7}, 0, modelfile.ErrLimit},
		{[]int64{1 << 16, 1 << 15}, 0, modelfile.ErrLimit},
		{[]int64{1 << 15, 1 << 15, 2}, 1 << 31, modelfile.ErrLimit},
		{[]int64{1<<31 - 1}, 1<<31 - 1, nil},
		{[]int64{4, -1}, 0, modelfile.ErrFormat},
		{make([]int64, modelfile.MaxRank+1), 0, modelfile.ErrLimit},
	} {
		n, err := elements(c.shape)
		if c.err == nil && (err != nil || n != c.n) || c.err != nil && !errors.Is(err, c.err) {
			t.Errorf("elements(%v): %d, %v; want %d, %v", c.shape, n, err, c.n, c.err)
		}
	}
}

// TestGemmC: Gemm's C is broadcast to (M, N) as ONNX's unidirectional
// broadcasting allows, and nothing else is accepted.
func TestGemmC(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		dims []int64
		ok   bool
	}{
		{nil, true}, {[]int64{1}, true}, {[]int64{10}, true}, {[]int64{1, 10}, true}, {[]int64{1, 1}, true},
		{[]int64{5, 10}, false}, {[]int64{10, 1}, false}, {[]int64{1, 1, 10}, false}, {[]int64{5}, false},
	} {
		m := small(13, "x", nil)
		m.Graph.Initializer[1] = floatInit("head_b", c.dims, 0.5)
		path := filepath.Join(dir, "c.onnx")
		writeModel(t, m, path)
		_, err := Open(path)
		if c.ok != (err == nil) || err != nil && !errors.Is(err, modelfile.ErrFormat) {
			t.Errorf("C of shape %v: %v", c.dims, err)
		}
	}
}

// TestWorkspacesWithinBudget: a plan whose budget holds fewer workspaces
// than there are CPUs classifies a batch with the ones it has, and gives
// what it gives with one a CPU.
func TestWorkspacesWithinBudget(t *testing.T) {
	gc := graphCases[1]
	path := filepath.Join(t.TempDir(), "m.onnx")
	writeModel(t, gc.model(3), path)
	x := randomImages(24, gc.side)
	run := func(p *Plan) []float32 {
		y := make([]float32, 24*p.Outputs)
		if err := p.Logits(y, x, 24); err != nil {
			t.Fatal(err)
		}
		return y
	}
	p, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	want := run(p)
	if p.Bytes() > p.maxBytes {
		t.Errorf("Bytes %d, more than the budget %d", p.Bytes(), p.maxBytes)
	}
	tight, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	tight.maxBytes = tight.consts + tight.workspaceBytes() // one workspace
	compare(t, "one workspace against one a CPU", run(tight), want)
	if len(tight.work) != 1 || tight.Bytes() != tight.maxBytes {
		t.Errorf("%d workspaces, %d bytes; want 1 and %d", len(tight.work), tight.Bytes(), tight.maxBytes)
	}
}

// TestExternalRegions: external data is read once per byte, and each
// region is exactly its tensor's bytes inside its file.
func TestExternalRegions(t *testing.T) {
	dir := hostileDir(t)
	if err := os.Symlink(hostileBin, filepath.Join(dir, "alias.bin")); err != nil {
		t.Skip(err)
	}
	// Two tensors, back to back: both read.
	ok := small(13, "x", nil, externalInit("a", []int64{512}, 0, 2048), externalInit("b", []int64{512}, 2048, 2048))
	aliased := small(13, "x", nil, externalInit("a", []int64{512}, 0, 2048), externalInit("b", []int64{512}, 2044, 2048))
	aliased.Graph.Initializer[1].ExternalData[0].Value = "alias.bin"
	noLength := small(13, "x", nil, externalInit("a", []int64{1024}, 0, 0))
	noLength.Graph.Initializer[0].ExternalData = noLength.Graph.Initializer[0].ExternalData[:2]
	for _, c := range []struct {
		name string
		m    *onnx.ModelProto
		want string
	}{
		{"back to back", ok, ""},
		{"to the end of the file, no length", noLength, ""},
		{"overlapping through a link", aliased, `initializers "a" and "b": their external data overlap in alias.bin (bytes 0 to 2048 and 2044 to 4092)`},
		{"past the end", small(13, "x", nil, externalInit("a", []int64{512}, 4000, 2048)), "2048 bytes at 4000 do not fit the file (4096 bytes)"},
		{"negative offset", small(13, "x", nil, externalInit("a", []int64{512}, -1, 2048)), `external data offset="-1"`},
	} {
		path := filepath.Join(dir, "m.onnx")
		writeModel(t, c.m, path)
		_, err := Open(path)
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
}

// TestWholeBudgetSaysFewerImages: a plan of whole tensors (lenetkit run)
// past its budget says so of the inputs given, and what to do; a
// classifier's plan counts one image.
func TestWholeBudgetSaysFewerImages(t *testing.T) {
	b := &builder{rng: rand.New(rand.NewPCG(5, 6))}
	b.node("Conv", []string{"x", b.weight(4, 1, 3, 3)}, "y", ints("kernel_shape", 3, 3), ints("pads", 1, 1, 1, 1))
	m := &onnx.ModelProto{IrVersion: 8, OpsetImport: []*onnx.OperatorSetIdProto{{Version: 13}},
		Graph: &onnx.GraphProto{Node: b.nodes, Initializer: b.inits, Input: []*onnx.ValueInfoProto{imageInput("x", 28)},
			Output: []*onnx.ValueInfoProto{{Name: "y"}}}}
	path := filepath.Join(t.TempDir(), "m.onnx")
	writeModel(t, m, path)
	_, err := OpenOptions(path, Options{Shapes: map[string][]int{"x": {20000, 1, 28, 28}}})
	if !errors.Is(err, modelfile.ErrLimit) || !strings.Contains(err.Error(), "the operations for these inputs pass") ||
		!strings.Contains(err.Error(), "fewer images at once") {
		t.Errorf("20,000 images at once: %v, want a limit error naming these inputs and what to do", err)
	}
	if _, err := OpenOptions(path, Options{Shapes: map[string][]int{"x": {2, 1, 28, 28}}}); err != nil {
		t.Errorf("2 images at once: %v", err)
	}
}
