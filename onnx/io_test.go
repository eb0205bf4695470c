package onnx

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lenetkit/lenetkit/lenet"
)

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "model.onnx")
	for _, seed := range []uint64{1, 2} { // the second write replaces the first
		m, err := FromStateDict(lenet.Init(seed), ExportOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if err := Write(path, m); err != nil {
			t.Fatal(err)
		}
		sd, err := ReadStateDict(path)
		if err != nil {
			t.Fatal(err)
		}
		equalStateDicts(t, sd, lenet.Init(seed), false)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only model.onnx", len(entries))
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("model.onnx: %v, mode %v, want 0644", err, fi.Mode())
	}

	m, _ := FromStateDict(lenet.Init(1), ExportOptions{})
	missing := filepath.Join(dir, "no such dir", "model.onnx")
	err = Write(missing, m)
	if err == nil || !strings.Contains(err.Error(), "no such dir") || strings.Contains(err.Error(), "\n") {
		t.Errorf("Write into a missing directory: %v", err)
	}
	if _, err := ReadStateDict(missing); err == nil || !strings.HasPrefix(err.Error(), "onnx: ") {
		t.Errorf("ReadStateDict of a missing file: %v", err)
	}
}

// TestUnknownFields reads a model carrying fields onnx.proto here leaves
// out (training_info, functions): they are skipped.
func TestUnknownFields(t *testing.T) {
	sd := lenet.Init(4)
	m, err := FromStateDict(sd, ExportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	// Field 20 (training_info) and field 25 (functions), length-delimited,
	// holding a message with one string field.
	b = append(b, 20<<3|2, 1, 5, 1<<3|2, 3, 'a', 'b', 'c')
	b = append(b, 25<<3|2, 1, 3, 1<<3|2, 1, 'f')
	got, err := Unmarshal(b, "extended.onnx")
	if err != nil {
		t.Fatal(err)
	}
	sd2, err := ToStateDict(got)
	if err != nil {
		t.Fatal(err)
	}
	equalStateDicts(t, sd2, sd, false)
}

// TestNotBinary: what people commit in place of a model, a Git LFS
// pointer, a placeholder, a model whose bytes went through a UTF-8
// decode, is named as such; a model cut short is not mistaken for any.
func TestNotBinary(t *testing.T) {
	model, err := os.ReadFile(filepath.Join("..", "testdata", "onnx", "mlp.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"lfs", []byte("version https://git-lfs.example/spec/v1\noid sha256:4d7a2146e1f6bd35\nsize 26454\n"), "a Git LFS pointer, not the model: fetch the file itself"},
		{"placeholder", []byte("Real ONNX model would go here..."), `a text file (it starts "Real ONNX model would go here..."), not the binary model`},
		{"mangled", []byte(strings.ToValidUTF8(string(model), "\uFFFD")), "UTF-8 replacement characters (EF BF BD): its bytes went through a text encoding"},
		{"truncated", model[:len(model)/2], "truncated protobuf data"},
	}
	for _, c := range cases {
		_, err := Unmarshal(c.data, c.name)
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: %v, want one line saying %q", c.name, err, c.want)
		}
	}
}
