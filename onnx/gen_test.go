package onnx

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/lenetkit/lenetkit/internal/testtool"
)

// TestGeneratedCode regenerates onnx.pb.go from onnx.proto as go generate
// does, into a temporary directory, and requires the committed file to be
// identical: the .proto and the Go code must not drift apart.
func TestGeneratedCode(t *testing.T) {
	protoc, err := exec.LookPath("protoc")
	if err != nil {
		testtool.Missing(t, "protoc not found (install Debian's protobuf-compiler)")
	}
	if testing.Short() {
		t.Skip("compiles the protoc plugin")
	}
	// gen.go's command, writing elsewhere.
	dir := t.TempDir()
	cmd := exec.Command(protoc, "--plugin=protoc-gen-gogofaster=gogofaster.sh",
		"--gogofaster_out=paths=source_relative:"+dir, "onnx.proto")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("protoc: %v\n%s", err, out)
	}
	got, err := os.ReadFile(filepath.Join(dir, "onnx.pb.go"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("onnx.pb.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		version, _ := exec.Command(protoc, "--version").Output()
		t.Errorf("onnx.pb.go differs from what onnx.proto generates with %s; run go generate in onnx/", bytes.TrimSpace(version))
	}
}
