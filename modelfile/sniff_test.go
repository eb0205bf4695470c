package modelfile_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/lenetkit/lenetkit/convert"
	"github.com/lenetkit/lenetkit/internal/testtool"
	"github.com/lenetkit/lenetkit/lenet"
	"github.com/lenetkit/lenetkit/modelfile"
	_ "github.com/lenetkit/lenetkit/onnx"
)

// TestSniff: every layout a writer of each format produces is told by its
// first bytes, and files of no model format are not claimed.
func TestSniff(t *testing.T) {
	dir := t.TempDir()
	sd := lenet.Init(1)
	for _, name := range []string{"w.safetensors", "w.onnx", "w.pth"} {
		if err := modelfile.Write(filepath.Join(dir, name), sd, modelfile.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	files := map[string]string{
		filepath.Join(dir, "w.safetensors"):         modelfile.Safetensors,
		filepath.Join(dir, "w.onnx"):                modelfile.ONNX,
		filepath.Join(dir, "w.pth"):                 modelfile.PTH,
		testtool.Testdata("pth/lenet_zip.pth"):      modelfile.PTH,
		testtool.Testdata("pth/lenet_legacy.pth"):   modelfile.PTH,
		testtool.Testdata("pth/protocol4.pth"):      modelfile.PTH,
		testtool.Testdata("pth/torch2_records.pth"): modelfile.PTH,
	}
	// torch.onnx.export's files, every opset, and other tools' graphs.
	onnxFiles, _ := filepath.Glob(testtool.Testdata("onnx/*.onnx"))
	for _, f := range onnxFiles {
		files[f] = modelfile.ONNX
	}
	for path, want := range files {
		got, err := modelfile.SniffFile(path)
		if err != nil {
			t.Errorf("%s: %v", path, err)
		} else if got != want {
			t.Errorf("%s sniffed as %q, want %q", filepath.Base(path), got, want)
		}
	}
	for _, head := range []string{"", "P", "hello, world\n", "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "\x1f\x8b\x08\x00",
		"\x08\x00\x12", "\x80\x01", "{\"a\": 1}", "\x02\x00\x00\x00\x00\x00\x00\x00[]"} {
		if got := modelfile.Sniff([]byte(head)); got != "" {
			t.Errorf("%q sniffed as %q, want nothing", head, got)
		}
	}
}

// TestMismatch: a file renamed to another format's extension is refused
// with the format it is and the name to give it, by every reader; a file
// of no known format keeps its reader's own error.
func TestMismatch(t *testing.T) {
	dir := t.TempDir()
	sd := lenet.Init(1)
	write := func(name string) []byte {
		p := filepath.Join(dir, "src", name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := modelfile.Write(p, sd, modelfile.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	content := map[string][]byte{modelfile.PTH: write("m.pth"), modelfile.Safetensors: write("m.safetensors"), modelfile.ONNX: write("m.onnx")}
	cases := []struct{ name, content, want string }{
		{"x.pth", modelfile.ONNX, "x.pth looks like an ONNX file, not a PyTorch one: rename it to x.onnx"},
		{"x.pt", modelfile.Safetensors, "x.pt looks like a safetensors file, not a PyTorch one: rename it to x.safetensors"},
		{"x.onnx", modelfile.PTH, "x.onnx looks like a PyTorch file, not an ONNX one: rename it to x.pth"},
		{"x.safetensors", modelfile.PTH, "x.safetensors looks like a PyTorch file, not a safetensors one: rename it to x.pth"},
		{"y.safetensors", modelfile.ONNX, "y.safetensors looks like an ONNX file, not a safetensors one: rename it to y.onnx"},
		{"y.onnx", modelfile.Safetensors, "y.onnx looks like a safetensors file, not an ONNX one: rename it to y.safetensors"},
	}
	wd, _ := os.Getwd()
	defer os.Chdir(wd)
	if err := os.Chdir(dir); err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		if err := os.WriteFile(c.name, content[c.content], 0o644); err != nil {
			t.Fatal(err)
		}
		for what, read := range map[string]func() error{
			"Read":    func() error { _, err := modelfile.Read(c.name); return err },
			"Inspect": func() error { _, err := modelfile.Inspect(c.name); return err },
		} {
			err := read()
			var me *modelfile.MismatchError
			if !errors.As(err, &me) || err.Error() != c.want {
				t.Errorf("%s(%s holding %s): %v, want %q", what, c.name, c.content, err, c.want)
			}
		}
	}
	if err := os.WriteFile("text.pth", []byte("this is not a model\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := modelfile.Read("text.pth")
	var me *modelfile.MismatchError
	if err == nil || errors.As(err, &me) || !strings.Contains(err.Error(), "not a PyTorch file") {
		t.Errorf("a text file: %v, want the reader's own error", err)
	}
}
