package infer

import (
	"fmt"
	"sync"

	onnxgo "github.com/owulveryck/onnx-go"
	"github.com/owulveryck/onnx-go/backend/x/gorgonnx"
	"gorgonia.org/tensor"

	"lenetkit/internal/kernel"
	"lenetkit/lenet"
	"lenetkit/modelfile"
	"lenetkit/onnx"
)

// Backends that run a model.
const (
	// Native runs the weights through lenet's own forward pass; it reads
	// any format.
	Native = "native"
	// OnnxGo runs an ONNX graph through onnx-go's Gorgonia backend, after
	// onnx.Normalize has rewritten what that backend lacks.
	OnnxGo = "onnx-go"
)

// Model is a loaded model file, ready to classify batches of 1x32x32 images.
type Model struct {
	Path    string
	Format  string // "pth", "safetensors" or "onnx"
	Backend string
	lenet.Classifier
}

// Open loads the model at path. backend "" picks onnx-go for ONNX files
// and native otherwise.
func Open(path, backend string) (*Model, error) {
	format, err := modelfile.Format(path)
	if err != nil {
		return nil, err
	}
	if backend == "" {
		backend = Native
		if format == "onnx" {
			backend = OnnxGo
		}
	}
	m := &Model{Path: path, Format: format, Backend: backend}
	switch {
	case backend == OnnxGo && format == "onnx":
		m.Classifier, err = openOnnxGo(path)
	case backend == OnnxGo:
		return nil, fmt.Errorf("infer: %s: the onnx-go backend runs .onnx files only", path)
	case backend == Native:
		var sd lenet.StateDict
		if sd, err = modelfile.Read(path); err == nil {
			m.Classifier, err = lenet.NewModel(sd)
		}
	default:
		return nil, fmt.Errorf("infer: backend %q: want %s or %s", backend, Native, OnnxGo)
	}
	if err != nil {
		return nil, err
	}
	return m, nil
}

// onnxGoModel runs an ONNX graph with onnx-go. A graph built by onnx-go
// has the batch size of its first input fixed, so one graph is kept per
// batch size and per worker.
type onnxGoModel struct {
	data    []byte // the normalised model
	mu      sync.Mutex
	workers []map[int]*onnxGoGraph
}

type onnxGoGraph struct {
	model   *onnxgo.Model
	backend *gorgonnx.Graph
	in      []float32
}

// onnxGoBatch is the most images one onnx-go run takes; larger requests
// are cut into batches of this size.
const onnxGoBatch = 128

func openOnnxGo(path string) (*onnxGoModel, error) {
	// Refuse graphs of other networks with the importer's clear message
	// before onnx-go gets to fail on them less clearly.
	if _, err := onnx.ReadStateDict(path); err != nil {
		return nil, err
	}
	pm, err := onnx.Read(path)
	if err != nil {
		return nil, err
	}
	norm, err := onnx.Normalize(pm)
	if err != nil {
		return nil, fmt.Errorf("onnx: %s: %w", path, err)
	}
	b, err := onnx.Marshal(norm)
	if err != nil {
		return nil, err
	}
	m := &onnxGoModel{data: b}
	for i := 0; i < kernel.Workers(); i++ {
		m.workers = append(m.workers, map[int]*onnxGoGraph{})
	}
	return m, nil
}

func (m *onnxGoModel) graph(worker, n int) (g *onnxGoGraph, err error) {
	if g := m.workers[worker][n]; g != nil {
		return g, nil
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("onnx-go cannot build the graph: %v", r)
		}
	}()
	backend := gorgonnx.NewGraph()
	model := onnxgo.NewModel(backend)
	if err := model.UnmarshalBinary(m.data); err != nil {
		return nil, fmt.Errorf("onnx-go: %w", err)
	}
	g = &onnxGoGraph{model: model, backend: backend, in: make([]float32, n*lenet.InputSize*lenet.InputSize)}
	in := tensor.New(tensor.WithShape(n, 1, lenet.InputSize, lenet.InputSize), tensor.WithBacking(g.in))
	if err := model.SetInput(0, in); err != nil {
		return nil, fmt.Errorf("onnx-go: %w", err)
	}
	m.workers[worker][n] = g
	return g, nil
}

// Logits runs the images in batches of up to onnxGoBatch, spread over the
// CPUs.
func (m *onnxGoModel) Logits(logits, x []float32, n int) error {
	const px = lenet.InputSize * lenet.InputSize
	if len(x) < n*px || len(logits) < n*lenet.Classes {
		return fmt.Errorf("infer: %d images need %d input and %d output floats", n, n*px, n*lenet.Classes)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	batches := (n + onnxGoBatch - 1) / onnxGoBatch
	errs := make([]error, kernel.Workers())
	// With one batch, split it so both CPUs work.
	size := onnxGoBatch
	if batches < kernel.Workers() && n > 1 {
		size = (n + kernel.Workers() - 1) / kernel.Workers()
		batches = (n + size - 1) / size
	}
	kernel.Parallel(batches, func(w, lo, hi int) {
		for b := lo; b < hi && errs[w] == nil; b++ {
			first := b * size
			k := min(size, n-first)
			errs[w] = m.run(w, logits[first*lenet.Classes:(first+k)*lenet.Classes], x[first*px:(first+k)*px], k)
		}
	})
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func (m *onnxGoModel) run(worker int, logits, x []float32, n int) (err error) {
	// onnx-go's graph for a batch of one image computes BatchNormalization
	// on its own path, which gives wrong logits from the second run of the
	// same graph on (it keeps state between runs). One image therefore
	// runs as a batch of two copies.
	g, err := m.graph(worker, max(n, 2))
	if err != nil {
		return err
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("onnx-go: run: %v", r)
		}
	}()
	copy(g.in, x)
	if n == 1 {
		// The second image only pads the batch: see run's caller.
		copy(g.in[len(x):], x)
	}
	if err := g.backend.Run(); err != nil {
		return fmt.Errorf("onnx-go: run: %w", err)
	}
	out, err := g.model.GetOutputTensors()
	if err != nil {
		return fmt.Errorf("onnx-go: %w", err)
	}
	if len(out) != 1 {
		return fmt.Errorf("onnx-go: %d outputs, want 1", len(out))
	}
	v, ok := out[0].Data().([]float32)
	if !ok || len(v) != max(n, 2)*lenet.Classes {
		return fmt.Errorf("onnx-go: output of %d values, want %d float32", len(v), max(n, 2)*lenet.Classes)
	}
	copy(logits, v[:n*lenet.Classes])
	return nil
}
