// Package parity reads the training-step fixtures that
// reference/onnx_train_parity.py writes to testdata/train_parity/: for an
// ONNX graph, PyTorch's one training step from the file's weights on a
// fixed batch of 8 images (logits, loss, the gradient of every trainable
// initializer, the weights after one Adam step, BatchNorm's updated running
// statistics). onnxtrain's parity tests compare against them; this package
// only reads them, so that those tests and the fixtures' own
// self-consistency test share one reader.
//
// Everything is keyed by ONNX initializer name, as in the graph, not by the
// sanitised file names the manifest maps them to.
package parity

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/lenetkit/lenetkit/internal/safeio"
	"github.com/lenetkit/lenetkit/onnx"
	"github.com/lenetkit/lenetkit/onnx/tensorfile"
)

// ManifestName is the fixture folder's description, which names every
// other file in it.
const ManifestName = "manifest.json"

// maxManifestBytes bounds manifest.json; the script writes a few KB.
const maxManifestBytes = 1 << 20

// Tensor is a float32 tensor, row-major.
type Tensor struct {
	Shape []int
	Data  []float32
}

// Optimizer is the step the fixture took: Adam, once, from the ONNX
// file's weights.
type Optimizer struct {
	Name        string     `json:"name"`
	LR          float64    `json:"lr"`
	Betas       [2]float64 `json:"betas"`
	Eps         float64    `json:"eps"`
	WeightDecay float64    `json:"weight_decay"`
	Steps       int        `json:"steps"`
}

// BatchNorm describes one BatchNormalization node run in training mode:
// its initializers, epsilon, its ONNX momentum m (running = m * running +
// (1 - m) * batch) and PyTorch's, 1 - m, and Count, the values per
// channel (N*H*W). PyTorch updates the running variance with the unbiased
// batch variance, Count / (Count - 1) times the biased one that
// normalises; Running holds PyTorch's.
type BatchNorm struct {
	Node          string  `json:"node"`
	Scale         string  `json:"scale"`
	Bias          string  `json:"bias"`
	Mean          string  `json:"mean"`
	Var           string  `json:"var"`
	Epsilon       float64 `json:"epsilon"`
	ONNXMomentum  float64 `json:"onnx_momentum"`
	TorchMomentum float64 `json:"torch_momentum"`
	Count         int     `json:"count"`
}

// Preprocess is what turned the batch's ToTensor pixels into the graph
// input: Pad zero pixels on every side, then (x - Mean) / Std.
type Preprocess struct {
	Pad  int     `json:"pad"`
	Mean float64 `json:"mean"`
	Std  float64 `json:"std"`
}

// Fixture is one graph's training step, as PyTorch took it.
type Fixture struct {
	// Name is the fixture's (its folder's) name; Dir the folder read.
	Name, Dir string
	// Model is the ONNX file the step started from, relative to the
	// repository root with forward slashes; ModelSHA256 its checksum in
	// hex, so that a test can tell a fixture made from another file.
	Model, ModelSHA256 string
	// Contract is the manifest's statement of what the files mean.
	Contract string

	// InputName is the graph input's name; Input the batch as the graph
	// takes it, preprocessed and in its layout (Layout: NCHW or NHWC).
	InputName, Layout string
	Input             Tensor
	Preprocess        Preprocess
	// BatchSource says where the images and labels came from.
	BatchSource string
	Labels      []int64

	// Logits [N, classes]: the graph's output, or the input of its
	// closing Softmax or LogSoftmax (Head names it; "" when none).
	// LogitsValue is the ONNX value they are.
	Logits      Tensor
	LogitsValue string
	Head        string
	// Loss is the mean cross-entropy of Logits and Labels.
	Loss float32

	// OutputName is the graph output's name; Output its value in
	// inference mode (BatchNorm on the file's running statistics) from
	// the file's weights, before the step.
	OutputName string
	Output     Tensor

	// Grads: d Loss / d w for every trainable initializer. Updated: the
	// initializer after the Adam step. Running: BatchNorm's running
	// statistics after the step. All keyed by ONNX initializer name.
	Grads, Updated, Running map[string]Tensor

	Optimizer Optimizer
	BatchNorm []BatchNorm
	// ParityTol is what an implementation of the step must meet against
	// these values; SelfTol what the files meet against each other.
	ParityTol, SelfTol float64
	// Dropout says how the step treated dropout (p = 0).
	Dropout string
}

// Params returns the trainable initializers' names, sorted.
func (f *Fixture) Params() []string {
	names := make([]string, 0, len(f.Grads))
	for k := range f.Grads {
		names = append(names, k)
	}
	slices.Sort(names)
	return names
}

type fileShape struct {
	File  string `json:"file"`
	Shape []int  `json:"shape"`
}

type manifest struct {
	Fixture     string `json:"fixture"`
	Model       string `json:"model"`
	ModelSHA256 string `json:"model_sha256"`
	Contract    string `json:"contract"`
	Input       struct {
		Name   string `json:"name"`
		File   string `json:"file"`
		Shape  []int  `json:"shape"`
		Layout string `json:"layout"`
	} `json:"input"`
	Batch struct {
		Source     string      `json:"source"`
		Preprocess *Preprocess `json:"preprocess"`
	} `json:"batch"`
	Labels string `json:"labels"`
	Logits struct {
		File  string  `json:"file"`
		Value string  `json:"value"`
		Head  *string `json:"head"`
	} `json:"logits"`
	Loss struct {
		File string `json:"file"`
	} `json:"loss"`
	Output struct {
		Name string `json:"name"`
		File string `json:"file"`
	} `json:"output"`
	Optimizer *Optimizer `json:"optimizer"`
	Tolerance struct {
		Parity          float64 `json:"parity"`
		SelfConsistency float64 `json:"self_consistency"`
	} `json:"tolerance"`
	BatchNorm struct {
		Nodes []BatchNorm `json:"nodes"`
	} `json:"batchnorm"`
	Dropout string `json:"dropout"`
	Params  map[string]struct {
		Shape []int  `json:"shape"`
		Grad  string `json:"grad"`
		Adam  string `json:"adam"`
	} `json:"params"`
	Buffers map[string]fileShape `json:"buffers"`
}

// Load reads the fixture in dir: its manifest.json and every file it
// names. It refuses a manifest that misses a part, names a file outside
// dir, or whose files disagree with it or with each other in shape or
// element type.
func Load(dir string) (*Fixture, error) {
	f, err := load(dir)
	if err != nil {
		return nil, fmt.Errorf("parity: %s: %w", dir, err)
	}
	return f, nil
}

func load(dir string) (*Fixture, error) {
	raw, err := safeio.ReadFile(filepath.Join(dir, ManifestName), maxManifestBytes)
	if err != nil {
		return nil, err
	}
	var m manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", ManifestName, err)
	}
	if err := m.complete(); err != nil {
		return nil, fmt.Errorf("%s: %w", ManifestName, err)
	}
	fx := &Fixture{
		Name: m.Fixture, Dir: dir, Model: m.Model, ModelSHA256: m.ModelSHA256, Contract: m.Contract,
		InputName: m.Input.Name, Layout: m.Input.Layout, Preprocess: *m.Batch.Preprocess,
		BatchSource: m.Batch.Source, LogitsValue: m.Logits.Value, OutputName: m.Output.Name,
		Optimizer: *m.Optimizer, BatchNorm: m.BatchNorm.Nodes, ParityTol: m.Tolerance.Parity,
		SelfTol: m.Tolerance.SelfConsistency, Dropout: m.Dropout,
		Grads: map[string]Tensor{}, Updated: map[string]Tensor{}, Running: map[string]Tensor{},
	}
	if m.Logits.Head != nil {
		fx.Head = *m.Logits.Head
	}
	r := reader{dir: dir}
	fx.Input = r.float(m.Input.File, m.Input.Shape)
	fx.Logits = r.float(m.Logits.File, nil)
	fx.Output = r.float(m.Output.File, nil)
	loss := r.float(m.Loss.File, []int{})
	fx.Labels = r.labels(m.Labels)
	for _, name := range sortedKeys(m.Params) {
		p := m.Params[name]
		fx.Grads[name] = r.float(p.Grad, p.Shape)
		fx.Updated[name] = r.float(p.Adam, p.Shape)
	}
	for _, name := range sortedKeys(m.Buffers) {
		b := m.Buffers[name]
		fx.Running[name] = r.float(b.File, b.Shape)
	}
	if r.err != nil {
		return nil, r.err
	}
	fx.Loss = loss.Data[0]
	return fx, fx.consistent()
}

// complete refuses a manifest that lacks what every fixture has.
func (m *manifest) complete() error {
	var missing []string
	need := func(ok bool, what string) {
		if !ok {
			missing = append(missing, what)
		}
	}
	need(m.Fixture != "", "fixture")
	need(m.Model != "", "model")
	need(m.Input.Name != "" && m.Input.File != "" && len(m.Input.Shape) > 0, "input")
	need(m.Batch.Preprocess != nil, "batch.preprocess")
	need(m.Labels != "", "labels")
	need(m.Logits.File != "" && m.Logits.Value != "", "logits")
	need(m.Loss.File != "", "loss")
	need(m.Output.Name != "" && m.Output.File != "", "output")
	need(m.Optimizer != nil, "optimizer")
	need(m.Tolerance.Parity > 0 && m.Tolerance.SelfConsistency > 0, "tolerance")
	need(len(m.Params) > 0, "params")
	if len(missing) > 0 {
		return fmt.Errorf("missing or empty: %s", strings.Join(missing, ", "))
	}
	if m.Input.Layout != "NCHW" && m.Input.Layout != "NHWC" {
		return fmt.Errorf("input layout %q, want NCHW or NHWC", m.Input.Layout)
	}
	if o := m.Optimizer; o.Name != "Adam" || o.Steps != 1 || o.LR <= 0 || o.Eps <= 0 ||
		o.Betas[0] < 0 || o.Betas[0] >= 1 || o.Betas[1] < 0 || o.Betas[1] >= 1 {
		return fmt.Errorf("optimizer %+v: want one Adam step with lr and eps > 0 and betas in [0, 1)", *o)
	}
	for _, bn := range m.BatchNorm.Nodes {
		for _, name := range []string{bn.Scale, bn.Bias} {
			if _, ok := m.Params[name]; !ok {
				return fmt.Errorf("BatchNormalization %s: %q is not among params", bn.Node, name)
			}
		}
		for _, name := range []string{bn.Mean, bn.Var} {
			if _, ok := m.Buffers[name]; !ok {
				return fmt.Errorf("BatchNormalization %s: %q is not among buffers", bn.Node, name)
			}
		}
	}
	return nil
}

// consistent checks the files against each other: one label per image,
// one row of logits and of output per image.
func (f *Fixture) consistent() error {
	n := f.Input.Shape[0]
	if len(f.Labels) != n {
		return fmt.Errorf("%d labels for %d images", len(f.Labels), n)
	}
	for _, t := range []struct {
		what string
		t    Tensor
	}{{"logits", f.Logits}, {"output", f.Output}} {
		if len(t.t.Shape) != 2 || t.t.Shape[0] != n {
			return fmt.Errorf("%s of shape %v, want [%d, classes]", t.what, t.t.Shape, n)
		}
	}
	if !slices.Equal(f.Logits.Shape, f.Output.Shape) {
		return fmt.Errorf("logits of shape %v but output of shape %v", f.Logits.Shape, f.Output.Shape)
	}
	classes := f.Logits.Shape[1]
	for i, y := range f.Labels {
		if y < 0 || y >= int64(classes) {
			return fmt.Errorf("label %d of image %d outside [0, %d)", y, i, classes)
		}
	}
	return nil
}

// reader reads the fixture's files, keeping the first error.
type reader struct {
	dir string
	err error
}

// path resolves a manifest's file name, which must be a relative path
// inside the fixture's folder, written with forward slashes.
func (r *reader) path(name string) (string, error) {
	if name == "" || path.IsAbs(name) || strings.Contains(name, `\`) || !filepath.IsLocal(filepath.FromSlash(name)) {
		return "", fmt.Errorf("file %q is not a path inside the fixture's folder", name)
	}
	return filepath.Join(r.dir, filepath.FromSlash(name)), nil
}

func (r *reader) read(name string) *onnx.Tensor {
	if r.err != nil {
		return nil
	}
	p, err := r.path(name)
	if err != nil {
		r.err = err
		return nil
	}
	t, err := tensorfile.Read(p)
	if err != nil {
		r.err = err
		return nil
	}
	return t
}

// float reads a float32 tensor; a non-nil shape is the one the manifest
// declares for it.
func (r *reader) float(name string, shape []int) Tensor {
	t := r.read(name)
	if t == nil {
		return Tensor{}
	}
	if t.DType != onnx.Float {
		r.err = fmt.Errorf("%s: element type %v, want float32", name, t.DType)
		return Tensor{}
	}
	if shape != nil && !slices.Equal(t.Shape, shape) {
		r.err = fmt.Errorf("%s: shape %v, the manifest says %v", name, t.Shape, shape)
		return Tensor{}
	}
	for i, v := range t.Float {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			r.err = fmt.Errorf("%s: element %d is %v", name, i, v)
			return Tensor{}
		}
	}
	return Tensor{Shape: t.Shape, Data: t.Float}
}

func (r *reader) labels(name string) []int64 {
	t := r.read(name)
	if t == nil {
		return nil
	}
	if t.DType != onnx.Int64 || len(t.Shape) != 1 {
		r.err = fmt.Errorf("%s: %v of shape %v, want int64 [N]", name, t.DType, t.Shape)
		return nil
	}
	return t.Int
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// LoadAll loads every fixture folder under root (each subfolder holding a
// manifest.json), sorted by name.
func LoadAll(root string) ([]*Fixture, error) {
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil, fmt.Errorf("parity: %w", err)
	}
	var out []*Fixture
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		dir := filepath.Join(root, e.Name())
		if _, err := os.Stat(filepath.Join(dir, ManifestName)); errors.Is(err, os.ErrNotExist) {
			continue
		}
		f, err := Load(dir)
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("parity: no fixture folders under %s", root)
	}
	return out, nil
}

// AdamStep is the weight after the first Adam step from w with gradient g,
// in float64 as PyTorch's formula reads (no weight decay): m = (1 - beta1)
// g, v = (1 - beta2) g^2, w - lr * m_hat / (sqrt(v_hat) + eps) with m_hat
// = m / (1 - beta1), v_hat = v / (1 - beta2). Beside a fixture's Updated
// it shows the file holds one Adam step of its Grads.
func AdamStep(w, g []float32, o Optimizer) ([]float64, error) {
	if len(w) != len(g) {
		return nil, fmt.Errorf("parity: %d weights but %d gradients", len(w), len(g))
	}
	b1, b2 := o.Betas[0], o.Betas[1]
	out := make([]float64, len(w))
	for i := range w {
		gi := float64(g[i])
		m := (1 - b1) * gi / (1 - b1)
		v := (1 - b2) * gi * gi / (1 - b2)
		out[i] = float64(w[i]) - o.LR*m/(math.Sqrt(v)+o.Eps)
	}
	return out, nil
}

// CrossEntropy is the mean over rows of logsumexp(logits) - logits[label],
// in float64: F.cross_entropy's definition.
func CrossEntropy(logits Tensor, labels []int64) (float64, error) {
	if len(logits.Shape) != 2 || logits.Shape[0] != len(labels) || logits.Shape[0] == 0 {
		return 0, fmt.Errorf("parity: logits of shape %v for %d labels", logits.Shape, len(labels))
	}
	n, c := logits.Shape[0], logits.Shape[1]
	var sum float64
	for i := range n {
		row := logits.Data[i*c : (i+1)*c]
		y := labels[i]
		if y < 0 || y >= int64(c) {
			return 0, fmt.Errorf("parity: label %d outside [0, %d)", y, c)
		}
		top := math.Inf(-1)
		for _, v := range row {
			top = max(top, float64(v))
		}
		var s float64
		for _, v := range row {
			s += math.Exp(float64(v) - top)
		}
		sum += top + math.Log(s) - float64(row[y])
	}
	return sum / float64(n), nil
}
