package infer

import (
	"fmt"
	"os"
	"strings"
	"sync"

	onnxgo "github.com/owulveryck/onnx-go"
	"github.com/owulveryck/onnx-go/backend/x/gorgonnx"
	"gorgonia.org/tensor"

	_ "github.com/lenetkit/lenetkit/convert" // the .pth and .safetensors formats
	"github.com/lenetkit/lenetkit/dataset"
	"github.com/lenetkit/lenetkit/internal/kernel"
	"github.com/lenetkit/lenetkit/internal/safeio"
	"github.com/lenetkit/lenetkit/lenet"
	"github.com/lenetkit/lenetkit/mnist"
	"github.com/lenetkit/lenetkit/modelfile"
	"github.com/lenetkit/lenetkit/onnx"
	"github.com/lenetkit/lenetkit/onnx/backend"
)

// Backends that run a model.
const (
	// Kernels compiles an ONNX graph, any image classifier's, into a plan
	// of lenetkit's kernels (onnx/backend): the default. The seed's
	// weights in another format run as the graph lenetkit exports for
	// them, made in memory.
	Kernels = "lenetkit"
	// Native runs the seed's LeNet from its weights through lenet's own
	// forward pass; it reads any format.
	Native = "native"
	// Gorgonia runs an ONNX graph of the seed's LeNet through onnx-go's
	// Gorgonia backend (gorgonnx), after onnx.Normalize has rewritten what
	// that backend lacks: a cross-check, slow.
	Gorgonia = "gorgonia"
)

// Model is a loaded model file, ready to classify batches of 1x32x32
// images prepared as MNIST was (ToTensor, then Pad(2)): it converts them to
// what the model declares it takes.
type Model struct {
	Path    string
	Format  string // "pth", "safetensors" or "onnx"
	Backend string
	// Input is the model's image size; Preprocess how images are made
	// into its input (see Preprocessing).
	Input      Geometry
	Preprocess Preprocessing
	// PreprocessFrom says where Preprocess came from: whether its mean
	// and std are known or assumed.
	PreprocessFrom PreprocessSource
	// Classes is the number of scores the model gives an image: MNIST's
	// 10, or with OpenOptions.AnyClasses the graph's outputs.
	Classes int
	// Labels name the classes, in order, as the file declares them (its
	// onnx.MetaClasses metadata, which lenetkit train writes); nil when it
	// declares none.
	Labels []string
	// Probabilities says the model's own output is probabilities (an ONNX
	// graph that ends in Softmax); Logits returns their logarithm.
	Probabilities bool
	// Notes say how the file was read where it is worth knowing: nodes
	// sorted into topological order, kernels fused.
	Notes []string

	run         mnist.Classifier
	scratch     []float32
	anyInput    bool // opened with OpenOptions.AnyInput
	anyChannels bool // and AnyChannels
	// copies is how many equal channels each grey image goes in as: 3 for
	// a model that takes colour and is given grey images, as torchvision's
	// Grayscale(num_output_channels=3) makes them; 1 otherwise.
	copies int
}

// GreyCopies is the number of input channels a model given grey images
// takes them as, each channel the same image: an RGB model of digits,
// such as one trained on MNIST turned to 3 channels.
const GreyCopies = dataset.GreyChannels

// Geometry is the size of a model's input image.
type Geometry struct{ Channels, Height, Width int }

// Open loads the model at path. backendName "" picks Kernels. The
// preprocessing is what the model declares (the seed's for its weights in
// a .pth or .safetensors file);
// a caller may change Preprocess.Mean and Std before the first Logits.
func Open(path, backendName string) (*Model, error) {
	return OpenWith(path, backendName, modelfile.ReadOptions{})
}

// OpenWith is Open reading the file with the given options.
func OpenWith(path, backendName string, opt modelfile.ReadOptions) (*Model, error) {
	return OpenClassifier(path, backendName, OpenOptions{ReadOptions: opt})
}

// MaxClasses is the most scores per image OpenClassifier admits.
const MaxClasses = 1000

// MaxSide is the largest input side, in pixels, OpenOptions.AnyInput admits.
const MaxSide = 4096

// MaxChannels is the most input channels OpenOptions.AnyChannels admits:
// an image's colours, with room for alpha and a few more.
const MaxChannels = 16

// OpenOptions say which models OpenClassifier admits besides the seed's
// digit classifiers (10 scores for an MNIST digit of 28x28, or 32x32
// padded), and how it reads the file.
type OpenOptions struct {
	modelfile.ReadOptions
	// AnyClasses admits an ONNX graph of any number of outputs from 2 to
	// MaxClasses, such as one lenetkit train --classes wrote: a
	// classifier of a person's own data. Model.Classes says how many.
	AnyClasses bool
	// AnyInput admits an ONNX graph of any grey input size up to MaxSide
	// pixels a side, with any padding that fits it: images made to its
	// size (a data set's, resized) go to InputLogits, not Logits. Without
	// a preprocess metadata entry the padding is the one lenetkit train
	// assumes (AssumedPad): MNIST's 28 centred in a square input up to
	// the seed's 32, else none.
	AnyInput bool
	// AnyChannels admits, with AnyInput, an input of any number of
	// channels (colour): for a caller that gives the model tensors of its
	// own shape through InputLogits (serve's tensor routes), since
	// lenetkit's images are grey.
	AnyChannels bool
}

// ClassesError is a model whose number of scores per image the caller did
// not admit: a graph of other than 10 outputs opened without
// OpenOptions.AnyClasses, or one outside [2, MaxClasses].
type ClassesError struct {
	Path    string
	Outputs int // the graph's values per image
	Any     bool
}

func (e *ClassesError) Error() string {
	if !e.Any {
		return fmt.Sprintf("infer: %s: the graph gives %d values per image; a digit classifier gives %d", e.Path, e.Outputs, mnist.Classes)
	}
	return fmt.Sprintf("infer: %s: the graph gives %d values per image; a classifier gives 2 to %d", e.Path, e.Outputs, MaxClasses)
}

// OpenClassifier is OpenWith admitting the models opt says.
func OpenClassifier(path, backendName string, opt OpenOptions) (*Model, error) {
	if fi, err := os.Stat(path); err == nil && !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a model file: %s", path, safeio.Kind(fi.Mode()))
	}
	f, err := modelfile.Lookup(path)
	if err != nil {
		return nil, err
	}
	// The ONNX backends decode without modelfile's readers, which sniff
	// the content: a .pth renamed .onnx is told as such here.
	if err := modelfile.CheckContent(path, f.Name); err != nil {
		return nil, err
	}
	format, graph := f.Name, f.Graph
	if backendName == "" {
		backendName = Kernels
	}
	if backendName == "onnx-go" {
		backendName = Gorgonia // the name before onnx-go had lenetkit's backend
	}
	m := &Model{Path: path, Format: format, Backend: backendName, Input: Geometry{1, mnist.Side, mnist.Side},
		Preprocess: SeedPreprocessing, PreprocessFrom: PreprocessSeed, Classes: mnist.Classes, anyInput: opt.AnyInput,
		anyChannels: opt.AnyInput && opt.AnyChannels, copies: 1}
	switch {
	case backendName == Kernels && graph:
		var p *backend.Plan
		if p, err = openKernels(path, opt); err == nil {
			m.run, m.Probabilities, m.Classes = p, p.EndsInSoftmax, p.Outputs
			m.Input = Geometry{p.Channels, p.Height, p.Width}
			m.Notes = planNotes(p)
			m.Preprocess, m.PreprocessFrom, err = declaredPreprocess(path, m.Input, p.Metadata, opt.AnyInput)
		}
		if err == nil {
			m.Labels, err = declaredClasses(path, p.Metadata, m.Classes)
		}
	case backendName == Kernels:
		var p *backend.Plan
		if p, err = seedPlan(path, opt.ReadOptions); err == nil {
			m.run, m.Notes = p, planNotes(p)
		}
	case backendName == Gorgonia && graph:
		m.run, err = openOnnxGo(path, opt.ReadOptions)
	case backendName == Gorgonia:
		return nil, fmt.Errorf("infer: %s: the %s backend runs .onnx files only", path, backendName)
	case backendName == Native:
		var sd lenet.StateDict
		if sd, err = modelfile.ReadWith(path, opt.ReadOptions); err == nil {
			m.run, err = lenet.NewModel(sd)
		}
	default:
		return nil, fmt.Errorf("infer: backend %q: want %s, %s or %s", backendName, Kernels, Native, Gorgonia)
	}
	if err != nil {
		return nil, err
	}
	if m.Input.Channels == GreyCopies && !m.anyChannels {
		m.copies = GreyCopies
		m.Notes = append(m.Notes, fmt.Sprintf("it takes %d channels: lenetkit's images are grey (a colour picture is made grey), each going in as %[1]d equal channels, as torchvision's Grayscale(num_output_channels=%[1]d) makes them", GreyCopies))
	}
	if err := m.checkInput(); err != nil {
		return nil, fmt.Errorf("infer: %s: %w", path, err)
	}
	return m, nil
}

// seedPlan compiles the graph lenetkit exports for the seed's weights in
// the file at path (a .pth or .safetensors), made in memory: the same plan
// as for that ONNX file, twice as fast as lenet's own forward pass where
// its 3x3 convolutions run by Winograd's transforms.
func seedPlan(path string, opt modelfile.ReadOptions) (*backend.Plan, error) {
	sd, err := modelfile.ReadWith(path, opt)
	if err != nil {
		return nil, err
	}
	return backend.OpenStateDict(sd, path, backend.Options{ReadOptions: opt})
}

func openKernels(path string, opt OpenOptions) (*backend.Plan, error) {
	p, err := backend.OpenWith(path, opt.ReadOptions)
	if err != nil {
		return nil, err
	}
	if opt.AnyClasses && (p.Outputs < 2 || p.Outputs > MaxClasses) || !opt.AnyClasses && p.Outputs != mnist.Classes {
		return nil, &ClassesError{Path: path, Outputs: p.Outputs, Any: opt.AnyClasses}
	}
	return p, nil
}

// checkInput refuses models whose input MNIST's digits cannot become, or
// with OpenOptions.AnyInput, grey images of their size.
func (m *Model) checkInput() error {
	g := m.Input
	if m.anyInput {
		pad := m.Preprocess.Pad
		switch {
		case g.Channels != 1 && !m.anyChannels && m.copies == 1:
			return fmt.Errorf("the model takes %d channels; lenetkit's images are grey (1 channel, or %d equal ones)", g.Channels, GreyCopies)
		case g.Channels < 1 || g.Channels > MaxChannels:
			return fmt.Errorf("the model takes %d channels; lenetkit takes 1 to %d", g.Channels, MaxChannels)
		case g.Height < 1 || g.Width < 1 || g.Height > MaxSide || g.Width > MaxSide:
			return fmt.Errorf("the model takes %dx%d images; lenetkit makes images of 1 to %d pixels a side", g.Height, g.Width, MaxSide)
		case pad < 0 || 2*pad >= min(g.Height, g.Width):
			return fmt.Errorf("preprocessing: padding %d does not fit the input's %dx%d", pad, g.Height, g.Width)
		}
		return m.checkPreprocess()
	}
	if g.Channels != 1 && m.copies == 1 {
		return fmt.Errorf("the model takes %d channels; MNIST digits are grey (1 channel, or %d equal ones)", g.Channels, GreyCopies)
	}
	if g.Height != g.Width || g.Height != mnist.Side && g.Height != mnist.Side-2*mnist.Pad {
		return fmt.Errorf("the model takes %dx%d images; lenetkit gives MNIST digits as 28x28, or padded to 32x32", g.Height, g.Width)
	}
	return m.checkPreprocess()
}

// checkPreprocess refuses a preprocessing that is out of range, or whose
// orientation does not fit the input (a transpose of a non-square image).
func (m *Model) checkPreprocess() error {
	if err := m.Preprocess.Check(); err != nil {
		return fmt.Errorf("preprocessing: %w", err)
	}
	if o, _ := dataset.ParseOrientation(m.Preprocess.Orient); !o.Fits(m.Input.Height, m.Input.Width) {
		return fmt.Errorf("preprocessing: orientation %s: the model's %dx%d images are not square", o, m.Input.Height, m.Input.Width)
	}
	return nil
}

// CheckPreprocess is checkInput's check of the preprocessing, for a caller
// that changed Preprocess after opening the model.
func (m *Model) CheckPreprocess() error { return m.checkPreprocess() }

// Logits runs the model on n images of 1x32x32 floats, each MNIST's 28x28
// digit padded by 2 with values in [0, 1], converting them first to the
// model's declared input. It writes n rows of Classes logits. A model
// opened with OpenOptions.AnyInput whose input is no MNIST digit padded
// (28x28 and 32x32 as its padding says) takes its images through
// InputLogits instead.
func (m *Model) Logits(logits, x []float32, n int) error {
	side := m.Input.Height
	pp := m.Preprocess
	if g := m.Input; m.anyInput && (g.Channels != m.copies || g.Height != g.Width || g.Height != mnist.Side-2*mnist.Pad+2*pp.Pad ||
		side != mnist.Side && side != mnist.Side-2*mnist.Pad) {
		return fmt.Errorf("infer: %s takes %dx%d images padded by %d, not MNIST's digits: give them to InputLogits", m.Path, g.Height, g.Width, pp.Pad)
	}
	orient := pp.orienter(m.Input)
	if side == mnist.Side && pp.Mean == 0 && pp.Std == 1 && m.copies == 1 && orient == nil {
		return m.run.Logits(logits, x, n)
	}
	if len(x) < n*mnist.PixelCount {
		return fmt.Errorf("infer: %d images need %d floats, got %d", n, n*mnist.PixelCount, len(x))
	}
	crop := (mnist.Side - side) / 2
	inv := 1 / pp.Std
	identity := pp.Mean == 0 && pp.Std == 1
	plane := side * side
	fill := func(dst []float32, lo, hi int) {
		for i := lo; i < hi; i++ {
			src := x[i*mnist.PixelCount : (i+1)*mnist.PixelCount]
			img := dst[(i-lo)*m.copies*plane : (i-lo+1)*m.copies*plane]
			for r := 0; r < side; r++ {
				row, out := src[(r+crop)*mnist.Side+crop:][:side], img[r*side:(r+1)*side]
				if identity {
					copy(out, row)
					continue
				}
				for c, v := range row {
					out[c] = (v - pp.Mean) * inv
				}
			}
			orient.Planes(img[:plane], nil)
			if m.copies > 1 {
				dataset.AsChannels(img, img, 1, plane, m.copies, false)
			}
		}
	}
	if p, ok := m.run.(*backend.Plan); ok {
		// Each image prepared as the plan's workers take it.
		return p.LogitsFunc(logits, n, fill)
	}
	if need := n * m.copies * plane; len(m.scratch) < need {
		m.scratch = make([]float32, need)
	}
	fill(m.scratch, 0, n)
	return m.run.Logits(logits, m.scratch[:n*m.copies*plane], n)
}

// Copies is how many equal channels each grey image goes in as:
// GreyCopies for a colour model given grey images, 1 otherwise.
func (m *Model) Copies() int { return m.copies }

// InputSize is the floats of one image InputLogits takes: Channels x
// Height x Width, or Height x Width for a model given grey images as
// equal channels (GreyCopies).
func (m *Model) InputSize() int { return m.Input.Channels / m.copies * m.Input.Height * m.Input.Width }

// InputLogits runs the model on n images already of its input's size,
// InputSize floats each, values in [0, 1] (torchvision's ToTensor) with the
// padding Preprocess.Pad says around them, as a data set's images filled
// at that size are; it applies the model's normalisation, Preprocess.Mean
// and Std, gives a grey image to a colour model as equal channels, and
// writes n rows of Classes logits.
func (m *Model) InputLogits(logits, x []float32, n int) error {
	size := m.InputSize()
	if n < 0 || len(x) < n*size || len(logits) < n*m.Classes {
		return fmt.Errorf("infer: %d images need %d input and %d output floats, got %d and %d", n, n*size, n*m.Classes, len(x), len(logits))
	}
	pp := m.Preprocess
	orient := pp.orienter(m.Input)
	if pp.Mean == 0 && pp.Std == 1 && m.copies == 1 && orient == nil {
		return m.run.Logits(logits, x[:n*size], n)
	}
	full := n * size * m.copies
	if len(m.scratch) < full {
		m.scratch = make([]float32, full)
	}
	inv := 1 / pp.Std
	for i, v := range x[:n*size] {
		m.scratch[i] = (v - pp.Mean) * inv
	}
	orient.Planes(m.scratch[:n*size], nil)
	if m.copies > 1 {
		dataset.AsChannels(m.scratch, m.scratch, n, size, m.copies, false)
	}
	return m.run.Logits(logits, m.scratch[:full], n)
}

// AtInputSize is m as a mnist.Classifier whose Logits is m's InputLogits:
// for mnist.EvaluateClasses and ClassifySource over images of the model's
// own size.
func (m *Model) AtInputSize() mnist.Classifier { return atInputSize{m} }

type atInputSize struct{ m *Model }

func (a atInputSize) Logits(logits, x []float32, n int) error { return a.m.InputLogits(logits, x, n) }

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

func openOnnxGo(path string, opt modelfile.ReadOptions) (*onnxGoModel, error) {
	// Refuse graphs of other networks with the importer's clear message
	// before onnx-go gets to fail on them less clearly.
	if _, err := onnx.ReadStateDictWith(path, opt); err != nil {
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

// planNotes says what a plan did with its file that a user may want to
// know.
func planNotes(p *backend.Plan) []string {
	var notes []string
	if p.Upgraded != 0 {
		notes = append(notes, fmt.Sprintf("its opset, %d, is older than ONNX 1.2's; its nodes are read in their opset 7 forms, which compute the same", p.Upgraded))
	}
	if p.FixedBatch > 0 {
		notes = append(notes, fmt.Sprintf("its input fixes the batch at %d; lenetkit runs any number of images, one at a time", p.FixedBatch))
	}
	if p.Reordered {
		notes = append(notes, "its nodes are not in topological order (as keras2onnx 1.5 writes them); sorted, as ONNX Runtime does")
	}
	for _, chain := range p.Fused {
		notes = append(notes, "runs "+strings.Join(chain, " + ")+" as one fused kernel")
	}
	return notes
}
