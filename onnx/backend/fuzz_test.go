package backend

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lenetkit/lenetkit/internal/testtool"
	"github.com/lenetkit/lenetkit/onnx"
)

// FuzzOpenCompile: no input makes the backend panic, or take more than
// 2 s or 256 MB to open, check, compile and classify one image with what
// it compiled; whatever it refuses, it refuses in one line naming the
// file. External data is read from a folder holding w.bin, 4 KB.
func FuzzOpenCompile(f *testing.F) {
	add := func(m *onnx.ModelProto) {
		if b, err := onnx.Marshal(m); err == nil {
			f.Add(b)
		}
	}
	for _, c := range hostileCases() {
		add(c.m)
	}
	for i, gc := range graphCases {
		add(gc.model(uint64(i)))
	}
	for _, m := range quantCorpus() {
		add(m)
	}
	paths, _ := filepath.Glob(filepath.Join("..", "..", "testdata", "onnx", "*.onnx"))
	old, _ := filepath.Glob(filepath.Join("..", "..", "testdata", "onnx", "producers", "*.onnx")) // opsets 1 to 13
	paths = append(paths, old...)
	for _, p := range paths {
		if b, err := os.ReadFile(p); err == nil && len(b) < 128<<10 {
			f.Add(b)
		}
	}
	dir := hostileDir(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		var err error
		testtool.Bounded(t, "open and classify", testtool.FuzzSeconds, func() {
			var p *Plan
			if p, err = open(b, "fuzz.onnx", dir, Options{}); err != nil {
				return
			}
			x := make([]float32, p.Channels*p.Height*p.Width)
			y := make([]float32, p.Outputs)
			if e := p.Logits(y, x, 1); e != nil {
				t.Errorf("Logits: %v", e)
			}
		})
		if err != nil && (!strings.HasPrefix(err.Error(), "onnx: fuzz.onnx: ") || strings.Contains(err.Error(), "\n")) {
			t.Fatalf("error is not one line naming the file: %q", err)
		}
		// quantize's rewrite of an older opset takes any graph Decode
		// takes: it refuses or writes a graph Encode writes.
		if pm, err := onnx.Unmarshal(b, "fuzz.onnx"); err == nil {
			if m, err := onnx.Decode(pm); err == nil && onnx.UpgradeTo13(m) == nil {
				if _, err := onnx.Encode(m); err != nil && !errors.Is(err, onnx.ErrUnsupported) {
					t.Errorf("Encode after UpgradeTo13: %v", err)
				}
			}
		}
	})
}
