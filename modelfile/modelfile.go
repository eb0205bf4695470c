// Package modelfile reads and writes a network's weights in every file
// format lenetkit knows, chosen by file extension. Formats register
// themselves, as image formats do with image.RegisterFormat: the convert
// package registers PyTorch's .pth/.pt and .safetensors, the onnx package
// .onnx. A program imports the packages of the formats it wants.
package modelfile

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/lenetkit/lenetkit/lenet"
)

// The formats' names.
const (
	PTH         = "pth"
	Safetensors = "safetensors"
	ONNX        = "onnx"
)

// A Format is one file format of a network's weights.
type Format struct {
	Name       string
	Extensions []string // with the dot, lower case
	// Graph says the file holds a computation graph that a backend can
	// run, not only weights.
	Graph bool
	// Read returns the file's tensors, unchecked; when info is not nil it
	// also fills in what the format records beside them (producer, opset,
	// metadata) and, for a file that is not the seed's network but is
	// well formed, sets info.NotSeedNetwork and returns what tensors it can.
	Read func(path string, info *Info) (lenet.StateDict, error)
	// Write writes sd, checked, to path, whole or not at all.
	Write func(path string, sd lenet.StateDict, opt WriteOptions) error
}

// WriteOptions are what some formats record beside the weights.
type WriteOptions struct {
	Opset        int    // ONNX operator set; 0: the format's default
	Producer     string // lenetkit's version, for ONNX's producer_version
	SourceSHA256 string // of the file the weights came from, kept in metadata
}

var (
	mu      sync.RWMutex
	formats []Format
)

// RegisterFormat adds a format; the formats' packages call it from init.
func RegisterFormat(f Format) {
	mu.Lock()
	defer mu.Unlock()
	formats = append(formats, f)
}

// Lookup returns the format of a file from its extension.
func Lookup(path string) (Format, error) {
	ext := strings.ToLower(filepath.Ext(path))
	mu.RLock()
	defer mu.RUnlock()
	var known []string
	for _, f := range formats {
		if slices.Contains(f.Extensions, ext) {
			return f, nil
		}
		known = append(known, f.Extensions...)
	}
	return Format{}, fmt.Errorf("%s: unknown model format %q (want %s)", path, filepath.Ext(path), strings.Join(known, ", "))
}

// Read reads the network's weights from a file of any registered format
// and checks them against the network as PyTorch's strict load_state_dict
// would. NaN and infinite weights are refused (ReadWith can allow them).
func Read(path string) (lenet.StateDict, error) {
	return ReadWith(path, ReadOptions{})
}

// ReadWith is Read with the given options.
func ReadWith(path string, opt ReadOptions) (lenet.StateDict, error) {
	f, err := Lookup(path)
	if err != nil {
		return nil, err
	}
	if err := CheckContent(path, f.Name); err != nil {
		return nil, err
	}
	sd, err := f.Read(path, nil)
	if err != nil {
		return nil, err
	}
	if err := CheckFinite(sd, opt); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
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

// Write writes sd to path in the format its extension names. The file
// appears whole or not at all.
func Write(path string, sd lenet.StateDict, opt WriteOptions) error {
	f, err := Lookup(path)
	if err != nil {
		return err
	}
	return f.Write(path, sd, opt)
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
