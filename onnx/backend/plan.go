package backend

import (
	"fmt"
	"sync"

	onnxgo "github.com/owulveryck/onnx-go"

	"github.com/lenetkit/lenetkit/internal/kernel"
	"github.com/lenetkit/lenetkit/onnx"
)

// Plan is a compiled graph: steps over preallocated buffers, run for one
// image at a time on each CPU. It is safe for use by one goroutine at a
// time.
type Plan struct {
	// Channels, Height and Width are the image size the graph takes, from
	// its input's declared shape.
	Channels, Height, Width int
	// Outputs is the number of values per image of the first output.
	Outputs int
	// LogProbabilities says the output is log-probabilities (the graph
	// ends in Softmax or LogSoftmax), not logits; both read the same.
	LogProbabilities bool
	// EndsInSoftmax says the graph's own output is probabilities, which
	// the plan returns as their logarithm.
	EndsInSoftmax bool
	// Metadata is the model's metadata_props.
	Metadata map[string]string

	steps   []step
	sizes   []int
	in, out int
	outNHWC bool
	consts  int // bytes of constants, for Bytes

	mu   sync.Mutex
	work [][][]float32 // per worker, one buffer per value
}

// compile decodes data, an ONNX model, through onnx-go into a Graph and
// compiles it. m is the same model as lenetkit's own protobuf types read
// it (onnx.Unmarshal), checked by check and checkInference and with
// external data resolved: the compiler takes node inputs, the graph's input
// shape and the opset from it.
func compile(data []byte, m *onnx.ModelProto) (p *Plan, err error) {
	g := NewGraph()
	defer func() {
		// onnx-go's decoder panics on some malformed tensors.
		if r := recover(); r != nil {
			p, err = nil, fmt.Errorf("onnx-go cannot decode the model: %v", r)
		}
	}()
	if err := onnxgo.NewModel(g).UnmarshalBinary(data); err != nil {
		return nil, fmt.Errorf("onnx-go: %w", err)
	}
	g.index()
	if len(g.ops) != len(m.Graph.Node) {
		return nil, fmt.Errorf("onnx-go decoded %d operators of %d", len(g.ops), len(m.Graph.Node))
	}
	return compileGraph(g, m)
}

func compileGraph(g *Graph, m *onnx.ModelProto) (*Plan, error) {
	c := &compiler{g: g, m: m, opset: Opset(m), vals: map[string]*val{}, uses: map[string]int{}, nchwOf: map[*val]*val{}}
	for _, n := range m.Graph.Node {
		for _, in := range n.Input {
			c.uses[in]++
		}
	}
	consts := 0
	for _, t := range m.Graph.Initializer {
		n := g.byName[t.Name]
		if n == nil || n.value == nil {
			return nil, fmt.Errorf("initializer %q was not decoded", t.Name)
		}
		k, err := fromTensor(n.value)
		if err != nil {
			return nil, fmt.Errorf("initializer %q: %w", t.Name, err)
		}
		c.vals[t.Name] = &val{shape: k.shape, c: k}
		consts += 4 * max(len(k.f), 2*len(k.i))
	}
	p := &Plan{consts: consts, Metadata: map[string]string{}}
	for _, kv := range m.MetadataProps {
		p.Metadata[kv.Key] = kv.Value
	}
	var input string
	for _, in := range m.Graph.Input {
		if c.vals[in.Name] == nil {
			input = in.Name
			shape, err := imageShape(in)
			if err != nil {
				return nil, err
			}
			p.Channels, p.Height, p.Width = shape[1], shape[2], shape[3]
			v := c.runtime(shape)
			p.in = v.buf
			c.vals[in.Name] = v
			break
		}
	}
	if input == "" {
		return nil, fmt.Errorf("the graph has no input that is not a weight")
	}
	if len(m.Graph.Output) == 0 {
		return nil, fmt.Errorf("the graph has no output")
	}
	if err := c.compile(); err != nil {
		return nil, err
	}
	out := c.vals[m.Graph.Output[0].Name]
	if out == nil || out.c != nil {
		return nil, fmt.Errorf("output %q is not computed from the input", m.Graph.Output[0].Name)
	}
	out = c.chw(out)
	p.out, p.Outputs = out.buf, numel(out.shape)
	p.EndsInSoftmax, p.LogProbabilities = out.logProb, out.logProb || lastOp(m) == "LogSoftmax"
	p.steps, p.sizes = c.steps, c.sizes
	return p, nil
}

// lastOp is the operator that writes the graph's first output.
func lastOp(m *onnx.ModelProto) string {
	for _, n := range m.Graph.Node {
		for _, o := range n.Output {
			if o == m.Graph.Output[0].Name {
				return n.OpType
			}
		}
	}
	return ""
}

// Opset is the model's operator set of the default domain.
func Opset(m *onnx.ModelProto) int64 {
	for _, o := range m.OpsetImport {
		if o.Domain == "" || o.Domain == "ai.onnx" {
			return o.Version
		}
	}
	return 0
}

// imageShape reads an input declared [batch, C, H, W] and returns the
// shape of one image, [1, C, H, W].
func imageShape(in *onnx.ValueInfoProto) ([]int, error) {
	t := in.GetType().GetTensorType()
	if t == nil || t.Shape == nil {
		return nil, fmt.Errorf("input %q has no declared shape", in.Name)
	}
	if onnx.TensorProto_DataType(t.ElemType) != onnx.TensorProto_FLOAT {
		return nil, fmt.Errorf("input %q is %s; only float32 images are supported", in.Name, onnx.TensorProto_DataType(t.ElemType))
	}
	dims := t.Shape.Dim
	if len(dims) != 4 {
		return nil, fmt.Errorf("input %q has %d dimensions; an image classifier takes [batch, channels, height, width]", in.Name, len(dims))
	}
	shape := []int{1, 0, 0, 0}
	for i := 1; i < 4; i++ {
		v := dims[i].GetDimValue()
		if v < 1 || v > 4096 {
			return nil, fmt.Errorf("input %q: dimension %d is %q; channels, height and width must be fixed sizes", in.Name, i, dims[i].String())
		}
		shape[i] = int(v)
	}
	if b := dims[0].GetDimValue(); b > 1 {
		return nil, fmt.Errorf("input %q has a fixed batch of %d; only 1 or a symbolic batch is supported", in.Name, b)
	}
	return shape, nil
}

// Bytes estimates the plan's memory: constants and one workspace a CPU.
func (p *Plan) Bytes() int {
	n := 0
	for _, s := range p.sizes {
		n += 4 * s
	}
	return p.consts + n*kernel.Workers()
}

func (p *Plan) workspace() [][]float32 {
	b := make([][]float32, len(p.sizes))
	for i, s := range p.sizes {
		b[i] = make([]float32, s)
	}
	return b
}

// Logits writes n rows of Outputs values for n images of Channels x
// Height x Width floats in x: the graph's first output, or the logarithm
// of it when the graph ends in Softmax.
func (p *Plan) Logits(out, x []float32, n int) error {
	px := p.Channels * p.Height * p.Width
	if len(x) < n*px || len(out) < n*p.Outputs {
		return fmt.Errorf("backend: %d images need %d input and %d output floats, got %d and %d",
			n, n*px, n*p.Outputs, len(x), len(out))
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.work) < kernel.MaxWorkers() {
		p.work = append(p.work, p.workspace())
	}
	if n < 2*kernel.Workers() {
		// Too few images for every CPU to take whole ones: the steps
		// that can, split each image between them.
		b := p.work[0]
		for i := 0; i < n; i++ {
			copy(b[p.in], x[i*px:(i+1)*px])
			for _, s := range p.steps {
				if sp, ok := s.(splitter); ok && kernel.Workers() > 1 {
					sp.runSplit(b)
				} else {
					s.run(b)
				}
			}
			copy(out[i*p.Outputs:(i+1)*p.Outputs], b[p.out])
		}
		return nil
	}
	kernel.Parallel(n, func(w, lo, hi int) {
		b := p.work[w]
		for i := lo; i < hi; i++ {
			copy(b[p.in], x[i*px:(i+1)*px])
			for _, s := range p.steps {
				s.run(b)
			}
			copy(out[i*p.Outputs:(i+1)*p.Outputs], b[p.out])
		}
	})
	return nil
}
