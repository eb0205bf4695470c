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
