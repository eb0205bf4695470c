package tensorfile

import (
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/lenetkit/lenetkit/internal/testtool"
	"github.com/lenetkit/lenetkit/modelfile"
	"github.com/lenetkit/lenetkit/onnx"
)

// samples are a tensor of every type both formats write, scalars and
// empty tensors among them.
func samples() []*onnx.Tensor {
	return []*onnx.Tensor{
		{Name: "f", DType: onnx.Float, Shape: []int{2, 3}, Float: []float32{1, -2.5, float32(math.Inf(1)), float32(math.NaN()), 0, 1e-30}},
		{Name: "d", DType: onnx.Double, Shape: []int{3}, Float: []float32{0.5, 1, -3}},
		{Name: "i64", DType: onnx.Int64, Shape: []int{2, 1}, Int: []int64{math.MinInt64, math.MaxInt64}},
		{Name: "i32", DType: onnx.Int32, Shape: []int{2}, Int: []int64{-7, math.MaxInt32}},
		{Name: "b", DType: onnx.Bool, Shape: []int{4}, Int: []int64{1, 0, 1, 1}},
		{Name: "u8", DType: onnx.Uint8, Shape: []int{1, 2}, Int: []int64{0, 255}},
		{Name: "i8", DType: onnx.Int8, Shape: []int{2}, Int: []int64{-128, 127}},
		{Name: "scalar", DType: onnx.Float, Shape: []int{}, Float: []float32{3}},
		{Name: "empty", DType: onnx.Float, Shape: []int{0, 3}, Float: []float32{}},
	}
}

func sameTensor(t *testing.T, got, want *onnx.Tensor) {
	t.Helper()
	if got.DType != want.DType || !slices.Equal(got.Shape, want.Shape) || len(got.Int) != len(want.Int) {
		t.Fatalf("got %s %v (%d ints), want %s %v (%d ints)", got.DType, got.Shape, len(got.Int), want.DType, want.Shape, len(want.Int))
	}
	if err := Compare(got, want, 0, 0); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Int, want.Int) {
		t.Fatalf("ints %v, want %v", got.Int, want.Int)
	}
}

func TestRoundTrip(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []Format{PB, NPY} {
		for _, want := range samples() {
			t.Run(f.String()+"/"+want.Name, func(t *testing.T) {
				path := filepath.Join(dir, want.Name+f.Ext())
				if err := Write(path, want); err != nil {
					t.Fatal(err)
				}
				got, err := Read(path)
				if err != nil {
					t.Fatal(err)
				}
				sameTensor(t, got, want)
				if f == PB && got.Name != want.Name {
					t.Errorf("name %q, want %q", got.Name, want.Name)
				}
				if f == NPY {
					b, _ := os.ReadFile(path)
					if start := len(b) - len(mustRaw(t, want)); start%64 != 0 {
						t.Errorf("data starts at %d, not a multiple of 64", start)
					}
				}
			})
		}
	}
}

func mustRaw(t *testing.T, x *onnx.Tensor) []byte {
	b, err := raw(x)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func npyFile(header string, body []byte) []byte {
	h := header + "\n"
	b := append([]byte(npyMagic), 1, 0, byte(len(h)), byte(len(h)>>8))
	return append(append(b, h...), body...)
}

func TestNPYRefusals(t *testing.T) {
	four := make([]byte, 4*6)
	for _, c := range []struct {
		name string
		data []byte
		kind error
		msg  string
	}{
		{"fortran", npyFile("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", four), onnx.ErrUnsupported, "Fortran order"},
		{"object", npyFile("{'descr': '|O', 'fortran_order': False, 'shape': (2,), }", []byte("\x80\x02")), onnx.ErrUnsupported, "pickled"},
		{"big-endian", npyFile("{'descr': '>f4', 'fortran_order': False, 'shape': (2, 3), }", four), onnx.ErrUnsupported, "element type"},
		{"structured", npyFile("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }", four), onnx.ErrUnsupported, "structured"},
		{"version", append([]byte(npyMagic), 9, 0, 0, 0), onnx.ErrUnsupported, "version 9.0"},
		{"short data", npyFile("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 4), }", four), modelfile.ErrFormat, "expected 32"},
		{"long data", npyFile("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }", four), modelfile.ErrFormat, "expected 16"},
		{"no magic", []byte("NUMPY"), modelfile.ErrFormat, "magic"},
		{"header past end", append([]byte(npyMagic), 1, 0, 0xff, 0xff, '{'), modelfile.ErrFormat, "header of 65535 bytes"},
		{"huge header", append([]byte(npyMagic), 2, 0, 0xff, 0xff, 0xff, 0x7f), modelfile.ErrLimit, "more than"},
		{"missing key", npyFile("{'descr': '<f4', 'shape': (2, 3), }", four), modelfile.ErrFormat, "no fortran_order"},
		{"extra key", npyFile("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), 'x': 1}", four), modelfile.ErrFormat, "unexpected key"},
		{"not a tuple", npyFile("{'descr': '<f4', 'fortran_order': False, 'shape': (6), }", four), modelfile.ErrFormat, "tuple"},
		{"negative", npyFile("{'descr': '<f4', 'fortran_order': False, 'shape': (-6,), }", four), modelfile.ErrFormat, "tuple"},
		{"too many elements", npyFile("{'descr': '<f4', 'fortran_order': False, 'shape': (65536, 65536), }", four), modelfile.ErrLimit, "elements"},
		{"too many dimensions", npyFile("{'descr': '<f4', 'fortran_order': False, 'shape': ("+strings.Repeat("1, ", 40)+"), }", four), modelfile.ErrLimit, "dimensions"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Decode(c.data, NPY)
			if err == nil {
				t.Fatal("accepted")
			}
			if !errors.Is(err, c.kind) || !strings.Contains(err.Error(), c.msg) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %q, want one line wrapping %v and saying %q", err, c.kind, c.msg)
			}
		})
	}
}

func TestPBRefusals(t *testing.T) {
	for _, c := range []struct {
		name string
		data []byte
		kind error
	}{
		{"empty", nil, modelfile.ErrFormat},
		{"garbage", []byte{0xff, 0xff, 0xff}, modelfile.ErrFormat},
		{"short raw data", mustMarshal(t, &onnx.TensorProto{DataType: int32(onnx.Float), Dims: []int64{4}, RawData: []byte{0, 0, 0, 0}}), modelfile.ErrFormat},
		{"string", mustMarshal(t, &onnx.TensorProto{DataType: int32(onnx.String), Dims: []int64{1}, StringData: [][]byte{[]byte("a")}}), onnx.ErrUnsupported},
		{"huge", mustMarshal(t, &onnx.TensorProto{DataType: int32(onnx.Float), Dims: []int64{1 << 20, 1 << 20}}), modelfile.ErrLimit},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Decode(c.data, PB)
			if !errors.Is(err, c.kind) {
				t.Fatalf("error %v, want one wrapping %v", err, c.kind)
			}
		})
	}
}

func mustMarshal(t *testing.T, p *onnx.TensorProto) []byte {
	b, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestReadErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := Read(filepath.Join(dir, "x.txt")); err == nil || !strings.Contains(err.Error(), "want .pb or .npy") {
		t.Errorf("extension: %v", err)
	}
	if _, err := Read(dir + "/d.npy"); err == nil {
		t.Error("a missing file read")
	}
	os.Mkdir(filepath.Join(dir, "d.pb"), 0o755)
	if _, err := Read(filepath.Join(dir, "d.pb")); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("folder: %v", err)
	}
	bad := filepath.Join(dir, "bad.npy")
	os.WriteFile(bad, []byte("nope"), 0o644)
	if _, err := Read(bad); err == nil || !strings.HasPrefix(err.Error(), bad+": ") {
		t.Errorf("error %v does not name the file", err)
	}
	// A tensor that does not hold its shape's values is not written, and
	// nothing is left behind.
	out := filepath.Join(dir, "out.npy")
	if err := Write(out, &onnx.Tensor{DType: onnx.Float, Shape: []int{3}, Float: []float32{1}}); err == nil {
		t.Error("a tensor of 1 value for shape [3] written")
	}
	if err := Write(filepath.Join(dir, "h.npy"), &onnx.Tensor{DType: onnx.Float16, Shape: []int{1}, Float: []float32{1}}); !errors.Is(err, onnx.ErrUnsupported) {
		t.Errorf("float16 to .npy: %v", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 2 {
		t.Errorf("left behind: %v", ents)
	}
}

func TestCompare(t *testing.T) {
	f := func(shape []int, v ...float32) *onnx.Tensor {
		return &onnx.Tensor{DType: onnx.Float, Shape: shape, Float: v}
	}
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	want := f([]int{2, 3}, 1, 2, 3, nan, inf, -1000)
	if err := Compare(f([]int{2, 3}, 1.0009, 2, 3, nan, inf, -1000.9), want, 1e-3, 1e-7); err != nil {
		t.Errorf("within tolerance: %v", err)
	}
	err := Compare(f([]int{2, 3}, 1.01, 2, 3.1, nan, inf, -1000), want, 1e-3, 1e-7)
	var me *MismatchError
	if !errors.As(err, &me) {
		t.Fatalf("got %v, want a MismatchError", err)
	}
	if me.Mismatched != 2 || me.Flat != 2 || !slices.Equal(me.Index, []int{0, 2}) || float32(me.Got) != 3.1 || me.Want != 3 {
		t.Errorf("%+v: want 2 mismatched, the worst at [0, 2], 3.1 for 3", me)
	}
	if !strings.Contains(err.Error(), "worst at [0, 2]: got 3.1, want 3") {
		t.Errorf("message %q", err)
	}
	// A NaN against a number is the worst of all.
	err = Compare(f([]int{2, 3}, 100, 2, 3, 4, inf, -1000), want, 1e-3, 1e-7)
	if !errors.As(err, &me) || me.Flat != 3 {
		t.Errorf("NaN for a number: %v", err)
	}
	if err := Compare(f([]int{3, 2}, 1, 2, 3, nan, inf, -1000), want, 1, 1); err == nil || !strings.Contains(err.Error(), "shape [3, 2], want [2, 3]") {
		t.Errorf("shapes: %v", err)
	}
	ints := &onnx.Tensor{DType: onnx.Int64, Shape: []int{2}, Int: []int64{1 << 60, 3}}
	if err := Compare(ints, ints, 0, 0); err != nil {
		t.Error(err)
	}
	if err := Compare(f(nil, 0), f(nil, 1e-8), 0, 1e-7); err != nil {
		t.Errorf("atol: %v", err)
	}
}

// TestNumpyReadsAndWrites checks the .npy files against numpy itself:
// what numpy.save writes reads back, and what Write writes numpy.load
// reads.
func TestNumpyReadsAndWrites(t *testing.T) {
	py := testtool.RequirePython(t, "numpy")
	dir := t.TempDir()
	script := `
import sys, numpy as np
d = sys.argv[1]
np.save(d + "/np_f4.npy", np.arange(6, dtype="<f4").reshape(2, 3) / 4)
np.save(d + "/np_b1.npy", np.array([[True, False]]))
np.save(d + "/np_i8.npy", np.array(-5, dtype="<i8"))
np.save(d + "/np_f8.npy", np.linspace(0, 1, 3))
np.save(d + "/np_fortran.npy", np.asfortranarray(np.ones((2, 3), "<f4")))
np.save(d + "/np_object.npy", np.array([{}, 1], dtype=object), allow_pickle=True)
for name in ["lk_f", "lk_i64", "lk_u8", "lk_scalar"]:
    a = np.load(d + "/" + name + ".npy")
    print(name, a.dtype.str, a.shape, a.ravel().tolist())
`
	for _, x := range samples() {
		if strings.Contains("f i64 u8 scalar", x.Name) {
			if err := Write(filepath.Join(dir, "lk_"+x.Name+".npy"), x); err != nil {
				t.Fatal(err)
			}
		}
	}
	out, err := exec.Command(py, "-c", script, dir).CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	for _, line := range []string{
		"lk_f <f4 (2, 3) [1.0, -2.5, inf, nan, 0.0, 1.0000000031710769e-30]",
		"lk_i64 <i8 (2, 1) [-9223372036854775808, 9223372036854775807]",
		"lk_u8 |u1 (1, 2) [0, 255]",
		"lk_scalar <f4 () [3.0]",
	} {
		if !strings.Contains(string(out), line+"\n") {
			t.Errorf("numpy read %q, want a line %q", out, line)
		}
	}
	for name, want := range map[string]*onnx.Tensor{
		"np_f4": {DType: onnx.Float, Shape: []int{2, 3}, Float: []float32{0, 0.25, 0.5, 0.75, 1, 1.25}},
		"np_b1": {DType: onnx.Bool, Shape: []int{1, 2}, Int: []int64{1, 0}},
		"np_i8": {DType: onnx.Int64, Shape: []int{}, Int: []int64{-5}},
		"np_f8": {DType: onnx.Double, Shape: []int{3}, Float: []float32{0, 0.5, 1}},
	} {
		got, err := Read(filepath.Join(dir, name+".npy"))
		if err != nil {
			t.Fatal(err)
		}
		sameTensor(t, got, want)
	}
	for _, name := range []string{"np_fortran", "np_object"} {
		if _, err := Read(filepath.Join(dir, name+".npy")); !errors.Is(err, onnx.ErrUnsupported) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func FuzzRead(f *testing.F) {
	for _, x := range samples() {
		for _, format := range []Format{PB, NPY} {
			if b, err := Encode(x, format); err == nil {
				f.Add(b, format == NPY)
			}
		}
	}
	f.Add(npyFile("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", make([]byte, 24)), true)
	f.Fuzz(func(t *testing.T, data []byte, npy bool) {
		format := PB
		if npy {
			format = NPY
		}
		x, err := Decode(data, format)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error of more than one line: %q", err)
			}
			return
		}
		n, err := count(x.Shape)
		if err != nil || n != x.Len() {
			t.Fatalf("shape %v (%v) for %d values", x.Shape, err, x.Len())
		}
		// What reads writes back and reads the same, where the type is one
		// the format writes.
		b, err := Encode(x, format)
		if err != nil {
			return
		}
		y, err := Decode(b, format)
		if err != nil {
			t.Fatalf("reading back: %v", err)
		}
		if err := Compare(y, x, 0, 0); err != nil {
			t.Fatalf("reading back: %v", err)
		}
	})
}
