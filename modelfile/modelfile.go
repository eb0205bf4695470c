// Package modelfile reads and writes the network's weights in every format
// lenetkit knows, chosen by file extension: PyTorch's .pth/.pt, .safetensors
// and .onnx. It is the one place that maps extensions to the convert and
// onnx packages, which each know one format family.
package modelfile

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"lenetkit/convert"
	"lenetkit/lenet"
	"lenetkit/onnx"
)

// The formats, as Format names them.
const (
	PTH         = "pth"
	Safetensors = "safetensors"
	ONNX        = "onnx"
)

// Format names a model file's format from its extension.
func Format(path string) (string, error) {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".pth", ".pt":
		return PTH, nil
	case ".safetensors":
		return Safetensors, nil
	case ".onnx":
		return ONNX, nil
	}
	return "", fmt.Errorf("%s: unknown model format %q (want .pth, .pt, .safetensors or .onnx)", path, filepath.Ext(path))
}

// Read reads the network's weights from a file of any supported format
// and checks them against the network as PyTorch's strict
// load_state_dict would.
func Read(path string) (lenet.StateDict, error) {
	format, err := Format(path)
	if err != nil {
		return nil, err
	}
	var sd lenet.StateDict
	switch format {
	case PTH:
		sd, err = convert.ReadPTHStateDict(path)
	case Safetensors:
		sd, _, err = convert.ReadSafetensors(path)
	case ONNX:
		sd, err = onnx.ReadStateDict(path)
	}
	if err != nil {
		return nil, err
	}
	if err := lenet.Check(sd); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return canonicalOrder(sd), nil
}

// canonicalOrder puts a checked state dict in PyTorch's order, which
// formats without an order of their own (safetensors' JSON header) lose.
func canonicalOrder(sd lenet.StateDict) lenet.StateDict {
	out := make(lenet.StateDict, 0, len(sd))
	for _, p := range lenet.Params() {
		out = append(out, sd.Lookup(p.Name))
	}
	return out
}

// WriteOptions are what some formats record beside the weights.
type WriteOptions struct {
	Opset        int    // ONNX operator set; 0: onnx.DefaultOpset
	Producer     string // lenetkit's version, for ONNX's producer_version
	SourceSHA256 string // of the file the weights came from, kept in metadata
}

// Write writes sd to path in the format its extension names. The file
// appears whole or not at all.
func Write(path string, sd lenet.StateDict, opt WriteOptions) error {
	format, err := Format(path)
	if err != nil {
		return err
	}
	switch format {
	case PTH:
		return convert.SavePTH(path, sd)
	case Safetensors:
		meta := map[string]string{"format": "pt"}
		if opt.SourceSHA256 != "" {
			meta["source_sha256"] = opt.SourceSHA256
		}
		return convert.SaveSafetensors(path, sd, meta)
	}
	m, err := onnx.FromStateDict(sd, onnx.ExportOptions{Opset: opt.Opset, ProducerVersion: opt.Producer, SourceSHA256: opt.SourceSHA256})
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return onnx.Write(path, m)
}

// SHA256 is the hex SHA-256 of a file's bytes.
func SHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
