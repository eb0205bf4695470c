package onnx

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"unicode/utf8"

	"github.com/lenetkit/lenetkit/internal/atomicfile"
	"github.com/lenetkit/lenetkit/lenet"
	"github.com/lenetkit/lenetkit/modelfile"
)

// Marshal encodes m in ONNX's binary format, the content of a .onnx file.
func Marshal(m *ModelProto) ([]byte, error) {
	b, err := m.Marshal()
	if err != nil {
		return nil, fmt.Errorf("onnx: encode model: %w", err)
	}
	return b, nil
}

// Unmarshal decodes a .onnx file's content; name identifies it in errors.
// Data that is not protobuf, or is protobuf without a graph, is refused, as
// is a graph that Validate refuses. Before the protobuf decoder runs, the
// data's nesting and node count are checked against modelfile's limits.
func Unmarshal(data []byte, name string) (*ModelProto, error) {
	if err := checkWire(data); err != nil {
		if why := notBinary(data); why != "" {
			return nil, fmt.Errorf("onnx: %s: not an ONNX model: %s", name, why)
		}
		return nil, fmt.Errorf("onnx: %s: %w", name, err)
	}
	m := &ModelProto{}
	if err := m.Unmarshal(data); err != nil {
		if why := notBinary(data); why != "" {
			return nil, fmt.Errorf("onnx: %s: not an ONNX model: %s", name, why)
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("onnx: %s: not an ONNX model: truncated protobuf data (%d bytes)", name, len(data))
		}
		return nil, fmt.Errorf("onnx: %s: not an ONNX model: %v", name, err)
	}
	if m.Graph == nil || len(m.Graph.Node) == 0 {
		return nil, fmt.Errorf("onnx: %s: not an ONNX model: no graph", name)
	}
	if err := Validate(m); err != nil {
		return nil, fmt.Errorf("onnx: %s: invalid graph: %w", name, err)
	}
	return m, nil
}

// notBinary says what data that does not decode is when it is text, or
// binary that went through a text encoding, which a person can then
// fetch again rather than suspect the exporter: a Git LFS pointer
// committed in place of the model, a placeholder, or a model whose bytes
// were decoded as UTF-8 and written back (each invalid byte becoming
// U+FFFD, EF BF BD). "" otherwise.
func notBinary(data []byte) string {
	head := data[:min(len(data), 512)]
	text := len(head) > 0 && utf8.Valid(head) && !bytes.ContainsFunc(head, func(r rune) bool {
		return r < ' ' && r != '\n' && r != '\r' && r != '\t'
	})
	switch {
	case text && bytes.HasPrefix(data, []byte("version ")) && bytes.Contains(head, []byte("\noid sha256:")):
		return "a Git LFS pointer, not the model: fetch the file itself (git lfs pull)"
	case text:
		line, _, _ := bytes.Cut(head, []byte("\n"))
		return fmt.Sprintf("a text file (it starts %q), not the binary model", string(line[:min(len(line), 60)]))
	}
	if n := bytes.Count(data, []byte("\uFFFD")); n >= 16 && 3*n*100 >= len(data) { // 1 % of the bytes
		return fmt.Sprintf("it holds %d UTF-8 replacement characters (EF BF BD): its bytes went through a text encoding, which destroys binary data; fetch the file again as binary", n)
	}
	return ""
}

// Read reads and decodes the .onnx file at path.
func Read(path string) (*ModelProto, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("onnx: %w", err)
	}
	return Unmarshal(b, path)
}

// ReadStateDict reads the .onnx file at path and extracts the network's
// state dict, as ToStateDict does. NaN and infinite weights are refused
// (ReadStateDictWith can allow them).
func ReadStateDict(path string) (lenet.StateDict, error) {
	return ReadStateDictWith(path, modelfile.ReadOptions{})
}

// ReadStateDictWith is ReadStateDict with the given options.
func ReadStateDictWith(path string, opt modelfile.ReadOptions) (lenet.StateDict, error) {
	sd, err := readStateDict(path)
	if err != nil {
		return nil, err
	}
	if err := modelfile.CheckFinite(sd, opt); err != nil {
		return nil, fmt.Errorf("onnx: %s: %w", path, err)
	}
	return sd, nil
}

// readStateDict is ReadStateDict without the check of the values, which
// modelfile makes with its caller's options.
func readStateDict(path string) (lenet.StateDict, error) {
	m, err := Read(path)
	if err != nil {
		return nil, err
	}
	sd, err := toStateDict(m)
	if err != nil {
		return nil, fmt.Errorf("onnx: %s: %w", path, err)
	}
	return sd, nil
}

// Write encodes m to path. It writes a temporary file in the same directory
// and renames it into place, so path is never left half-written.
func Write(path string, m *ModelProto) error {
	b, err := Marshal(m)
	if err != nil {
		return err
	}
	err = atomicfile.Write(path, func(w io.Writer) error {
		_, err := w.Write(b)
		return err
	})
	if err != nil {
		return fmt.Errorf("onnx: write %s: %w", path, err)
	}
	return nil
}
