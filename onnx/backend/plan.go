package backend

import (
	"fmt"
	"strings"
	"sync"

	onnxgo "github.com/owulveryck/onnx-go"

	"github.com/lenetkit/lenetkit/internal/kernel"
	"github.com/lenetkit/lenetkit/modelfile"
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
	consts  int64 // bytes of constants
	// maxBytes is the plan's budget (modelfile.MaxPlanBytes): it holds
	// the constants and one workspace, and as many more workspaces, up to
	// one a CPU, as fit.
	maxBytes int64

	mu   sync.Mutex
	work [][][]float32 // per worker, one buffer per value
}

// compile decodes data, an ONNX model, through onnx-go into a Graph and
// compiles it. m is the same model as lenetkit's own protobuf types read
// it (onnx.Unmarshal), checked by check and checkInference and with
// external data resolved: the compiler takes node inputs, the graph's input
// shape and the opset from it. size is the model's bytes, its file and
// external data, which the plan's budget is proportional to.
func compile(data []byte, m *onnx.ModelProto, size int64, opt modelfile.ReadOptions) (*Plan, error) {
	g, err := decode(data)
	if err != nil {
		return nil, err
	}
	if len(g.ops) != len(m.Graph.Node) {
		return nil, fmt.Errorf("onnx-go decoded %d operators of %d", len(g.ops), len(m.Graph.Node))
	}
	return compileGraph(g, m, newBudget(size), opt)
}

// decode runs onnx-go's decoder on data. It panics on some malformed
// tensors; only its panics are recovered, so that one of the compiler's
// own is a crash the fuzz target finds rather than an error it hides.
func decode(data []byte) (g *Graph, err error) {
	g = NewGraph()
	defer func() {
		if r := recover(); r != nil {
			g, err = nil, fmt.Errorf("onnx-go cannot decode the model: %s", oneLine(fmt.Sprint(r)))
		}
	}()
	if err := onnxgo.NewModel(g).UnmarshalBinary(data); err != nil {
		return nil, fmt.Errorf("onnx-go: %s", oneLine(err.Error()))
	}
	g.index()
	return g, nil
}

// oneLine joins the lines of a message from another library, for errors
// of one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

func compileGraph(g *Graph, m *onnx.ModelProto, b *budget, opt modelfile.ReadOptions) (*Plan, error) {
	c := &compiler{g: g, m: m, opset: Opset(m), vals: map[string]*val{}, uses: map[string]int{}, nchwOf: map[*val]*val{},
		b: b, allowNonFinite: opt.AllowNonFinite}
	for _, n := range m.Graph.Node {
		for _, in := range n.Input {
			c.uses[in]++
		}
	}
	for _, t := range m.Graph.Initializer {
		n := g.byName[t.Name]
		if n == nil || n.value == nil {
			return nil, fmt.Errorf("initializer %q was not decoded", t.Name)
		}
		k, err := fromTensor(n.value)
		if err != nil {
			return nil, fmt.Errorf("initializer %q: %w", t.Name, err)
		}
		if err := b.constBytes(k.bytes()); err != nil {
			return nil, err
		}
		c.vals[t.Name] = &val{shape: k.shape, c: k}
	}
	p := &Plan{Metadata: map[string]string{}, maxBytes: b.maxBytes}
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
			v, err := c.runtime(shape)
			if err != nil {
				return nil, fmt.Errorf("input %q: %w", in.Name, err)
			}
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
	out, err := c.chw(out)
	if err != nil {
		return nil, err
	}
	p.out, p.Outputs = out.buf, numel(out.shape)
	p.EndsInSoftmax, p.LogProbabilities = out.logProb, out.logProb || lastOp(m) == "LogSoftmax"
	p.steps, p.sizes = c.steps, c.sizes
	p.consts = b.bytes - p.workspaceBytes()
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
	// Each size is at most 4096, their product need not be small: runtime
	// checks it against the limits and the plan's budget.
	if b := dims[0].GetDimValue(); b > 1 {
		return nil, fmt.Errorf("input %q has a fixed batch of %d; only 1 or a symbolic batch is supported", in.Name, b)
	}
	return shape, nil
}

// Bytes is the plan's memory: its constants and the workspaces Logits
// keeps, one a CPU as far as the plan's budget allows, at least one.
func (p *Plan) Bytes() int64 {
	return p.consts + int64(p.workspaces(kernel.MaxWorkers()))*p.workspaceBytes()
}

// workspaceBytes is one worker's buffers.
func (p *Plan) workspaceBytes() int64 {
	n := int64(0)
	for _, s := range p.sizes {
		n += 4 * int64(s)
	}
	return n
}

// workspaces is how many workspaces, at most want, the budget holds: at
// least one, which compile checked that it holds.
func (p *Plan) workspaces(want int) int {
	ws := p.workspaceBytes()
	if ws == 0 {
		return want
	}
	return int(max(1, min(int64(want), (p.maxBytes-p.consts)/ws)))
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
	if n < 2*kernel.Workers() {
		// Too few images for every CPU to take whole ones: the steps
		// that can, split each image between them.
		p.grow(1)
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
	// One share of the images per workspace: as many as there are CPUs,
	// unless the budget holds fewer.
	shares := p.workspaces(kernel.Workers())
	p.grow(shares)
	kernel.Parallel(shares, func(_, lo, hi int) {
		for w := lo; w < hi; w++ {
			b := p.work[w]
			for i := w * n / shares; i < (w+1)*n/shares; i++ {
				copy(b[p.in], x[i*px:(i+1)*px])
				for _, s := range p.steps {
					s.run(b)
				}
				copy(out[i*p.Outputs:(i+1)*p.Outputs], b[p.out])
			}
		}
	})
	return nil
}

// grow allocates workspaces until there are n: only as many as a call
// uses, so that classifying one image takes one.
func (p *Plan) grow(n int) {
	for len(p.work) < n {
		p.work = append(p.work, p.workspace())
	}
}
