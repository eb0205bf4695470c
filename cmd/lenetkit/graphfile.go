package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/lenetkit/lenetkit/onnx"
	"github.com/lenetkit/lenetkit/onnx/backend"
)

// readGraph decodes the ONNX file at path with its external data (the
// files beside it that torch's exports of 2 GB and more, and its dynamo
// exports by default, keep the weights in), whether or not the backend
// runs it: for its input's shape, batch and quantized tensors.
func readGraph(path string) (*onnx.Model, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("onnx: %w", err)
	}
	m, _, err := backend.Decode(b, path, filepath.Dir(path))
	return m, err
}
