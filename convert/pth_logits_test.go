package convert

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/lenetkit/lenetkit/internal/testtool"
	"github.com/lenetkit/lenetkit/lenet"
)

// plausibleLeNet has weights of the size PyTorch initialises and positive
// running variances, so that logits stay finite.
func plausibleLeNet(seed uint64) lenet.StateDict {
	r := rand.New(rand.NewPCG(seed, 2))
	sd := randomLeNet(seed)
	for _, t := range sd {
		for i := range t.F32 {
			t.F32[i] = float32(r.Float64()*0.2 - 0.1)
		}
		if filepath.Ext(t.Name) == ".running_var" {
			for i := range t.F32 {
				t.F32[i] += 1
			}
		}
	}
	return sd
}

func writeFloats(t *testing.T, path string, vs []float32) {
	t.Helper()
	b := make([]byte, 0, 4*len(vs))
	for _, v := range vs {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func readFloats(t *testing.T, path string) []float32 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	vs := make([]float32, len(b)/4)
	for i := range vs {
		vs[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return vs
}

// TestPTHLogitsScript checks reference/pth_logits.py itself: one row of ten
// logits per image, each depending on its own image only (eval mode: no
// batch statistics, no dropout), and a strict load.
func TestPTHLogitsScript(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(dir, "model.pth")
	if err := SavePTH(model, plausibleLeNet(7)); err != nil {
		t.Fatal(err)
	}
	const n = 5
	r := rand.New(rand.NewPCG(7, 3))
	images := make([]float32, n*32*32)
	for i := range images {
		images[i] = r.Float32()
	}
	in5, in2 := filepath.Join(dir, "in5.f32"), filepath.Join(dir, "in2.f32")
	writeFloats(t, in5, images)
	writeFloats(t, in2, images[:2*32*32])
	out5, out2 := filepath.Join(dir, "out5.f32"), filepath.Join(dir, "out2.f32")
	runPython(t, "pth_logits.py", model, in5, "5", out5)
	runPython(t, "pth_logits.py", model, in2, "2", out2)

	all, first := readFloats(t, out5), readFloats(t, out2)
	if len(all) != n*10 || len(first) != 2*10 {
		t.Fatalf("wrote %d and %d logits, want %d and %d", len(all), len(first), n*10, 20)
	}
	for i, v := range all {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			t.Fatalf("logit %d is %v", i, v)
		}
	}
	for i := range first {
		if d := math.Abs(float64(first[i] - all[i])); d > 1e-5*(1+math.Abs(float64(all[i]))) {
			t.Errorf("logit %d of image %d: %v in a batch of 2, %v in a batch of 5", i%10, i/10, first[i], all[i])
		}
	}
	same := true
	for i := range 10 {
		same = same && all[i] == all[10+i]
	}
	if same {
		t.Error("two different images give the same logits")
	}

	// A state dict LeNet does not accept exactly is an error, not a guess.
	partial := filepath.Join(dir, "partial.pth")
	if err := SavePTH(partial, plausibleLeNet(7)[1:]); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{partial, in2, "2", filepath.Join(dir, "x.f32")},
		{model, in2, "3", filepath.Join(dir, "y.f32")},
	} {
		if out, err := testtool.RunScript(t, nil, testtool.Reference("pth_logits.py"), args...); err == nil {
			t.Errorf("pth_logits.py %v succeeded:\n%s", args[1:], out)
		}
		if _, err := os.Stat(args[3]); err == nil {
			t.Errorf("pth_logits.py %v left %s behind after failing", args[1:], args[3])
		}
	}
}
