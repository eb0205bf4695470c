package backend

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/lenetkit/lenetkit/internal/gemm"
	"github.com/lenetkit/lenetkit/internal/kernel"
	"github.com/lenetkit/lenetkit/internal/nchw"
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
	// Reordered says the file's nodes were out of topological order.
	Reordered bool
	// staleShapes are declared shapes the computed values do not have
	// (compiler.staleValueInfo), for Diagnose.
	staleShapes []string
	// Upgraded is the file's opset when it was older than 7 and the graph
	// was read in opset 7's forms (onnx.Upgrade); 0 otherwise.
	Upgraded int64
	// FixedBatch is the batch the input declares when it is a number
	// above 1 (an export without a dynamic batch axis): the plan still
	// takes any number of images, one at a time, and a Reshape to that
	// batch reshapes one image; 0 otherwise.
	FixedBatch int
	// Fused lists the chains of nodes the plan runs as one fused kernel,
	// each by its nodes' names (or first outputs); a quantized graph's
	// DequantizeLinear -> Conv -> QuantizeLinear run as one int8
	// convolution among them (quant_fuse.go).
	Fused [][]string
	// Int8Kernel names the int8 matrix kernels (qgemm's) the plan's
	// quantized convolutions and products run, ", " between two: "" when
	// it has none.
	Int8Kernel string

	steps   []step
	sizes   []int
	in, out int
	// ins and outs are a plan of whole tensors' inputs and outputs.
	ins, outs []wholeValue
	// rows, when not nil, runs a batch's dense layer for many images at
	// once (rows.go).
	rows    *rowBatch
	outNHWC bool
	consts  int64 // bytes of constants
	// maxBytes is the plan's budget (modelfile.MaxPlanBytes): it holds
	// the constants and one workspace, and as many more workspaces, up to
	// one a CPU, as fit.
	maxBytes int64

	mu   sync.Mutex
	work [][][]float32 // per worker, one buffer per value
}

// Options says how a model is compiled.
type Options struct {
	modelfile.ReadOptions
	// Shapes, when set, makes a plan of whole tensors (lenetkit run): each
	// graph input takes exactly the shape given here (by input name), or
	// its declared one when it is fixed, dimension 0 being an ordinary one
	// rather than a batch of images, and Run computes every output. When
	// nil, the plan classifies images: one input [batch, C, H, W] (or
	// [batch, H, W, C] transposed by the graph), Logits.
	Shapes map[string][]int
	// Constants, in a plan of whole tensors, are graph inputs given their
	// values at compile time: integer inputs (shapes, axes, indices, pads),
	// which the plan folds as it folds initializers. They are not among
	// Inputs.
	Constants map[string]*onnx.Tensor
	// NoQuantFusion runs a quantized graph's QDQ form as written: every
	// DequantizeLinear and QuantizeLinear a step and the operators
	// between them in float, the reference the fused int8 plan is
	// checked against.
	NoQuantFusion bool
}

// compile compiles a decoded model, checked by Load, with external data
// read in. size is the model's bytes, its file and
// external data, which the plan's budget is proportional to.
func compile(m *onnx.Model, size int64, opt Options) (*Plan, error) {
	b := newBudget(size)
	b.whole = opt.Shapes != nil
	preFused := onnx.FuseConvBias(m.Graph)
	// After the bias Adds, so that a Conv, Add, BatchNormalization chain
	// folds whole.
	preFused = append(preFused, onnx.FoldConvBatchNorm(m.Graph)...)
	var qfused map[*onnx.Node]quantFusion
	if !opt.NoQuantFusion {
		var chains [][]string
		qfused, chains = fuseQDQ(m.Graph)
		preFused = append(preFused, chains...)
	}
	c := &compiler{m: m, g: m.Graph, opset: m.Opset, vals: map[string]*val{}, uses: m.Graph.Uses(), nchwOf: map[*val]*val{}, nhwcOf: map[*val]*val{},
		b: b, allowNonFinite: opt.AllowNonFinite, whole: opt.Shapes != nil, qfused: qfused}
	// In name order, so that a model past the budget is refused at the
	// same initializer every time.
	for _, name := range slices.Sorted(maps.Keys(m.Graph.Initializers)) {
		k, err := fromTensor(m.Graph.Initializers[name])
		if err != nil {
			return nil, fmt.Errorf("initializer %q: %w", name, err)
		}
		if err := b.constBytes(k.bytes()); err != nil {
			return nil, err
		}
		c.vals[name] = &val{shape: k.shape, c: k}
	}
	p := &Plan{Metadata: m.Metadata, maxBytes: b.maxBytes, Reordered: m.Graph.Reordered, Upgraded: m.Upgraded}
	if p.Metadata == nil {
		p.Metadata = map[string]string{}
	}
	if len(m.Graph.Outputs) == 0 {
		return nil, modelfile.FormatErrorf("the graph has no output")
	}
	if c.whole {
		if err := c.wholeInputs(p, opt.Shapes, opt.Constants); err != nil {
			return nil, err
		}
		if err := c.typedInputs(); err != nil {
			return nil, err
		}
	} else if err := c.imageInput(p); err != nil {
		return nil, err
	}
	if err := c.compile(); err != nil {
		return nil, err
	}
	p.staleShapes = c.staleValueInfo()
	if err := c.numberOutputs(); err != nil {
		return nil, err
	}
	if c.whole {
		if err := c.wholeOutputs(p); err != nil {
			return nil, err
		}
	} else {
		name := m.Graph.Outputs[0].Name
		out := c.vals[name]
		if out == nil || out.c != nil {
			return nil, fmt.Errorf("output %q is not computed from the input", name)
		}
		out, err := c.chw(out)
		if err != nil {
			return nil, err
		}
		p.out, p.Outputs = out.buf, numel(out.shape)
		p.EndsInSoftmax, p.LogProbabilities = out.logProb, out.logProb || lastOp(m.Graph) == "LogSoftmax"
		if p.rows, err = c.batchRows(); err != nil {
			return nil, err
		}
	}
	p.Int8Kernel = c.int8Kernel // batchRows names what a batch runs
	p.steps, p.sizes = c.steps, c.sizes
	p.Fused = joinChains(append(preFused, c.fusedChains()...))
	p.consts = b.bytes - p.workspaceBytes()
	return p, nil
}

// imageInput makes the run-time value of a classifier's one image input.
// An input declared channels-last, [batch, H, W, C], as Keras exporters
// write it, is taken when every node that reads it is a Transpose to
// channels-first (perm [0, 3, 1, 2]): the caller still hands the plan NCHW
// images, and the buffer it fills is those Transposes' output, so that
// the input's layout costs nothing.
func (c *compiler) imageInput(p *Plan) error {
	if len(c.g.Inputs) == 0 {
		return fmt.Errorf("the graph has no input that is not a weight")
	}
	in := c.g.Inputs[0]
	c.skipIdentities(in.Name)
	if len(in.Dims) > 0 && in.Dims[0] > 1 && in.Dims[0] <= modelfile.MaxElements {
		c.fixedBatch = int(in.Dims[0])
		p.FixedBatch = c.fixedBatch
	}
	if h, w, err := greyPlane(in); h > 0 || err != nil {
		if err != nil {
			return err
		}
		// A grey image without its channel axis, [batch, H, W] (a model
		// that flattens or unsqueezes 28x28 arrays itself): the same
		// bytes as the [1, 1, H, W] image callers give.
		p.Channels, p.Height, p.Width = 1, h, w
		v, err := c.runtime([]int{1, h, w})
		if err != nil {
			return fmt.Errorf("input %q: %w", in.Name, err)
		}
		p.in = v.buf
		c.vals[in.Name] = v
		return nil
	}
	if side, err := SquareSide(in); side > 0 || err != nil {
		if err != nil {
			return c.rowsOnBatch(in, err)
		}
		// A square grey image flattened row by row, [batch, H*W] (an MLP
		// exported from torch after x.view(-1, 784)): the same bytes as
		// the [1, 1, H, W] image callers give.
		p.Channels, p.Height, p.Width = 1, side, side
		shape := []int{1, side * side}
		if len(in.Dims) == 3 {
			shape = []int{1, 1, side * side}
		}
		v, err := c.runtime(shape)
		if err != nil {
			return fmt.Errorf("input %q: %w", in.Name, err)
		}
		p.in = v.buf
		c.vals[in.Name] = v
		return nil
	}
	transposes := c.nhwcTransposes(in.Name)
	flattened := transposes == nil && len(in.Dims) == 4 && looksChannelsLast(in.Dims) && c.onlyReshaped(in.Name)
	shape, err := imageShape(in, transposes != nil || flattened)
	if err != nil {
		return err
	}
	p.Channels, p.Height, p.Width = shape[1], shape[2], shape[3]
	if flattened && p.Channels > 1 {
		return c.flattenedColour(p, in.Name, shape)
	}
	if flattened {
		// One channel last, flattened as declared (a Keras MLP): the
		// same bytes as the [1, 1, H, W] image callers give.
		shape = []int{1, p.Height, p.Width, 1}
	}
	v, err := c.runtime(shape)
	if err != nil {
		return fmt.Errorf("input %q: %w", in.Name, err)
	}
	p.in = v.buf
	if transposes != nil {
		// The Transposes' handler finds its output made and the input
		// itself absent: nothing else reads it.
		for _, n := range transposes {
			c.vals[n.Outputs[0]] = v
		}
		return nil
	}
	c.vals[in.Name] = v
	return nil
}

// joinChains joins fused chains that start with the same node into one,
// in order: CNTK's Conv whose bias Add was folded into it before
// compiling, then fused with its Relu and MaxPool, is one chain
// "Conv + Add + Relu + MaxPool", not two that name the Conv twice.
func joinChains(chains [][]string) [][]string {
	var out [][]string
	at := map[string]int{}
	for _, ch := range chains {
		if len(ch) == 0 {
			continue
		}
		i, seen := at[ch[0]]
		if !seen {
			at[ch[0]] = len(out)
			out = append(out, slices.Clone(ch))
			continue
		}
		for _, name := range ch[1:] {
			if !slices.Contains(out[i], name) {
				out[i] = append(out[i], name)
			}
		}
	}
	return out
}

// looksChannelsLast reports whether an input's declared dims look like
// [batch, H, W, C]: a last axis of up to 4 channels after two larger.
func looksChannelsLast(d []int64) bool { return d[3] >= 1 && d[3] <= 4 && d[1] > 4 && d[2] > 4 }

// flattenedColour makes the input name of a graph that only flattens its
// channels-last colour images (a Keras MLP on [28, 28, 3]): the buffer
// callers fill, [1, C, H, W] as for any image, and a step that lays it
// out channels-last, the value the graph's Reshape or Flatten reads.
func (c *compiler) flattenedColour(p *Plan, name string, shape []int) error {
	ch, h, w := shape[1], shape[2], shape[3]
	x, err := c.runtime(shape)
	if err != nil {
		return fmt.Errorf("input %q: %w", name, err)
	}
	y, err := c.runtime([]int{1, h, w, ch})
	if err != nil {
		return fmt.Errorf("input %q: %w", name, err)
	}
	if err := c.b.ops(ch * h * w); err != nil {
		return err
	}
	p.in = x.buf
	c.steps = append(c.steps, stridedStep{s: nchw.NewStrided([]int{1, h, w, ch}, 0, []int{ch * h * w, w, 1, h * w}), in: x.buf, out: y.buf})
	c.vals[name] = y
	return nil
}

// nhwcTransposes returns the nodes that read input name when every one is
// a Transpose of perm [0, 3, 1, 2] reading it as its data, and it is not a
// graph output; nil otherwise.
func (c *compiler) nhwcTransposes(name string) []*onnx.Node {
	if c.g.IsOutput(name) {
		return nil
	}
	var out []*onnx.Node
	for _, n := range c.g.Nodes {
		for i, x := range n.Inputs {
			if x != name {
				continue
			}
			if n.OpType != "Transpose" || n.Domain != "" || i != 0 || len(n.Outputs) == 0 || n.Outputs[0] == "" {
				return nil
			}
			p, err := n.Attrs.Ints("perm")
			if err != nil || !slices.Equal(p, []int64{0, 3, 1, 2}) {
				return nil
			}
			out = append(out, n)
		}
	}
	return out
}

// rowsOnBatch is the error for a flat input that is no square image,
// err, made plainer where the graph's first node reshapes it to [-1,
// W*W]: torch exported it with a dummy of one W x W image, (W, W), so
// that its batch axis holds the image's rows, which no batch of images
// fills.
func (c *compiler) rowsOnBatch(in *onnx.Value, err error) error {
	if len(in.Dims) != 2 || in.Dims[1] < 2 {
		return err
	}
	w := in.Dims[1]
	prod := c.g.Producers()
	for _, n := range c.g.Nodes {
		if n.OpType != "Reshape" || n.Input(0) != in.Name {
			continue
		}
		t := c.g.Initializers[n.Input(1)]
		if p := prod[n.Input(1)]; t == nil && p != nil && p.OpType == "Constant" {
			t, _ = p.Attrs.ConstantValue()
		}
		if t != nil && len(t.Int) == 2 && t.Int[0] == -1 && t.Int[1] == w*w {
			return fmt.Errorf("input %q is [%s, %d] and %s makes it [-1, %d]: the export's dummy input was one %dx%d image, (%d, %d), whose rows the first axis holds; "+
				"export it again with a dummy of shape (1, %d, %d), or (1, 1, %d, %d), and a dynamic batch axis: %w",
				in.Name, dimName(in, 0), w, n.Describe(), w*w, w, w, w, w, w, w, w, w, onnx.ErrUnsupported)
		}
	}
	return err
}

// skipIdentities drops the Identity nodes that the value name alone
// passes through (keras2onnx 1.7 writes two after every input), their
// readers reading name, so that the layout checks of imageInput see the
// node that reads the image.
func (c *compiler) skipIdentities(name string) {
	for {
		var id *onnx.Node
		readers := 0
		for _, n := range c.g.Nodes {
			for _, x := range n.Inputs {
				if x == name {
					readers++
					if n.OpType == "Identity" && n.Domain == "" && len(n.Outputs) == 1 {
						id = n
					}
				}
			}
		}
		if readers != 1 || id == nil || c.g.IsOutput(id.Outputs[0]) || c.g.IsOutput(name) {
			return
		}
		out := id.Outputs[0]
		c.g.Nodes = slices.DeleteFunc(c.g.Nodes, func(n *onnx.Node) bool { return n == id })
		for _, n := range c.g.Nodes {
			for i, x := range n.Inputs {
				if x == out {
					n.Inputs[i] = name
				}
			}
		}
		c.uses = c.g.Uses()
	}
}

// lastOp is the operator that writes the graph's first output.
func lastOp(g *onnx.Graph) string {
	for _, n := range g.Nodes {
		for _, o := range n.Outputs {
			if o == g.Outputs[0].Name {
				return n.OpType
			}
		}
	}
	return ""
}

// imageShape reads an input declared [batch, C, H, W], or [batch, H, W,
// C] when nhwc (the graph transposes it), and returns the shape of one
// image channels-first, [1, C, H, W]. An input that looks channels-last
// but that the graph does not transpose is refused as such.
func imageShape(in *onnx.Value, nhwc bool) ([]int, error) {
	if in.Dims == nil {
		return nil, fmt.Errorf("input %q has no declared shape", in.Name)
	}
	if !in.DType.IsFloat() {
		return nil, fmt.Errorf("input %q is %s; only float images are supported", in.Name, in.DType)
	}
	if len(in.Dims) != 4 {
		return nil, fmt.Errorf("input %q has %d dimensions; an image classifier takes [batch, channels, height, width], or a grey image as [batch, height, width] or [batch, height*width]", in.Name, len(in.Dims))
	}
	shape := []int{1, 0, 0, 0}
	// From the declared dimension to the image's: channels last moves.
	from := [4]int{0, 1, 2, 3}
	what := "channels, height and width"
	if nhwc {
		from = [4]int{0, 3, 1, 2}
		what = "height, width and channels"
	}
	for i := 1; i < 4; i++ {
		v := in.Dims[from[i]]
		if v < 1 || v > 4096 {
			return nil, fmt.Errorf("input %q: dimension %d is %s; %s must be fixed sizes", in.Name, from[i], dimName(in, from[i]), what)
		}
		shape[i] = int(v)
	}
	// Each size is at most 4096, their product need not be small: runtime
	// checks it against the limits and the plan's budget. A fixed batch
	// above 1 is read as any batch (Plan.FixedBatch).
	if !nhwc && looksChannelsLast(in.Dims) {
		return nil, fmt.Errorf("input %q of shape %v is channels-last, [batch, height, width, channels], and the graph does not transpose it to channels-first "+
			"(every node reading it a Transpose of perm [0, 3, 1, 2]), nor only flattens it: %w",
			in.Name, in, onnx.ErrUnsupported)
	}
	return shape, nil
}

// SquareSide returns the side of the square grey image a float input
// declared [batch, D] holds, D = side*side, as the plan reads it, or
// [batch, 1, D] (torch's x.view(1, 1, 784) at export) when D is a square
// of 16 or more, which no 1-pixel-high image is; 0 for an input of another
// rank or type. A D that is no square is refused: which height and width
// it flattens is not in the file.
func SquareSide(in *onnx.Value) (int, error) {
	if flatWithChannel(in) {
		return int(math.Sqrt(float64(in.Dims[2]))), nil
	}
	if len(in.Dims) != 2 || !in.DType.IsFloat() {
		return 0, nil
	}
	d := in.Dims[1]
	side := int64(math.Sqrt(float64(d)))
	for side*side < d {
		side++
	}
	switch {
	case d < 4 || d > 4096*4096:
		return 0, fmt.Errorf("input %q is [batch, %s]: %w as a flat image; an image classifier takes [batch, channels, height, width], or a square grey image flattened, [batch, height*width]", in.Name, dimName(in, 1), onnx.ErrUnsupported)
	case side*side != d:
		return 0, fmt.Errorf("input %q is [batch, %d], a flat vector that is no square image (which height and width it flattens the file does not say): %w", in.Name, d, onnx.ErrUnsupported)
	}
	return int(side), nil
}

// greyPlane returns the height and width of the grey image a float input
// declared [batch, H, W] holds, without its channel axis; 0 and 0 for an
// input of another rank or type.
func greyPlane(in *onnx.Value) (h, w int, err error) {
	if len(in.Dims) != 3 || !in.DType.IsFloat() || flatWithChannel(in) {
		return 0, 0, nil
	}
	for i := 1; i < 3; i++ {
		if v := in.Dims[i]; v < 1 || v > 4096 {
			return 0, 0, fmt.Errorf("input %q: dimension %d is %s; a grey image's height and width, [batch, height, width], must be fixed sizes", in.Name, i, dimName(in, i))
		}
	}
	return int(in.Dims[1]), int(in.Dims[2]), nil
}

// flatWithChannel reports whether a float input is declared [batch, 1,
// D], D a square of 16 or more: a square grey image flattened after its
// channel axis.
func flatWithChannel(in *onnx.Value) bool {
	if len(in.Dims) != 3 || !in.DType.IsFloat() || in.Dims[1] != 1 || in.Dims[2] < 16 || in.Dims[2] > 4096*4096 {
		return false
	}
	side := int64(math.Sqrt(float64(in.Dims[2])))
	return side*side == in.Dims[2]
}

// dimName is dimension i of v as the file gives it: a size or a name.
func dimName(v *onnx.Value, i int) string {
	switch {
	case v.Dims[i] >= 0:
		return fmt.Sprint(v.Dims[i])
	case v.Params[i] != "":
		return fmt.Sprintf("%q", v.Params[i])
	}
	return "unknown"
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
	return p.logits(out, source{x: x, px: px}, n)
}

// LogitsFunc is Logits for n images that fill writes where the plan
// reads them: fill(dst, lo, hi) writes images lo to hi-1, one after
// another, Channels x Height x Width floats each, into dst, which holds
// exactly them. Calls come from several goroutines at once, for ranges
// that do not overlap, and each image is asked for once: a caller that
// crops or normalises its images does so in the plan's workers, as they
// take them, rather than in a pass of its own before.
func (p *Plan) LogitsFunc(out []float32, n int, fill func(dst []float32, lo, hi int)) error {
	if n < 0 || len(out) < n*p.Outputs {
		return fmt.Errorf("backend: %d images need %d output floats, got %d", n, n*p.Outputs, len(out))
	}
	return p.logits(out, source{fill: fill, px: p.Channels * p.Height * p.Width}, n)
}

// source is where a call's images come from: a slice, or a function that
// writes them.
type source struct {
	x    []float32
	fill func(dst []float32, lo, hi int)
	px   int // floats an image
}

// images returns images lo to hi-1: where they lie in x, or written into
// dst by fill.
func (s source) images(dst []float32, lo, hi int) []float32 {
	if s.fill == nil {
		return s.x[lo*s.px : hi*s.px]
	}
	dst = dst[:(hi-lo)*s.px]
	s.fill(dst, lo, hi)
	return dst
}

// image puts image i in dst.
func (s source) image(dst []float32, i int) {
	if s.fill == nil {
		copy(dst, s.x[i*s.px:(i+1)*s.px])
		return
	}
	s.fill(dst[:s.px], i, i+1)
}

func (p *Plan) logits(out []float32, src source, n int) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if n < 2*kernel.Workers() {
		// Too few images for every CPU to take whole ones: the steps
		// that can, split each image between them.
		p.grow(1)
		b := p.work[0]
		for i := 0; i < n; i++ {
			src.image(b[p.in], i)
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
	// One workspace per CPU, unless the budget holds fewer, each taking
	// the next chunk of images until none is left: on a shared machine a
	// CPU that others' work slows takes fewer chunks, where equal shares
	// left the other waiting for it.
	shares := p.workspaces(kernel.Workers())
	p.grow(shares)
	chunk := imageChunk
	if p.rows != nil {
		chunk = p.rows.take()
	}
	chunk = max(1, min(chunk, n/(2*shares)))
	var next atomic.Int64
	kernel.Parallel(shares, func(_, lo, hi int) {
		for w := lo; w < hi; w++ {
			b := p.work[w]
			for {
				first := int(next.Add(int64(chunk))) - chunk
				if first >= n {
					break
				}
				p.runImages(b, out, src, first, min(first+chunk, n))
			}
		}
	})
	return nil
}

// logitsChunk is how many images a CPU takes at a time: enough to fill
// the batched dense layer's tiles, few enough to even out the CPUs.
const logitsChunk = 16

// mlpChunk is logitsChunk for a plan that is products and elementwise
// steps only (an MLP): there the products are the whole run, and four of
// the matrix kernel's tiles of rows (24 rows on AVX2, 32 on AVX-512) ran
// its batch of 128 a sixth faster than 16 on an AVX2 EPYC, and 32 a tenth
// faster than 24 on an AVX-512 Xeon, where each chunk reads all the
// weights once; where convolutions run image by image before them, 24 made
// the CPUs finish apart and cost a tenth.
var mlpChunk = max(24, 4*gemm.TileRows())

// imageChunk is how many images a CPU takes at a time where no layer
// runs for many at once: few, so that the CPUs finish together (with 16,
// one waited for the other's last half chunk, 6% of MobileNet's batch of
// 128).
const imageChunk = 4

// runImages classifies images first..end-1 of src into out with
// workspace b.
func (p *Plan) runImages(b [][]float32, out []float32, src source, first, end int) {
	if p.rows != nil {
		p.rows.run(p, b, out, src, first, end)
		return
	}
	for i := first; i < end; i++ {
		src.image(b[p.in], i)
		for _, s := range p.steps {
			s.run(b)
		}
		copy(out[i*p.Outputs:(i+1)*p.Outputs], b[p.out])
	}
}

// grow allocates workspaces until there are n: only as many as a call
// uses, so that classifying one image takes one.
func (p *Plan) grow(n int) {
	for len(p.work) < n {
		p.work = append(p.work, p.workspace())
	}
}

// onlyReshaped reports whether every node that reads value name only
// reshapes it (Flatten, Reshape), so that its layout does not matter.
func (c *compiler) onlyReshaped(name string) bool {
	readers := 0
	for _, n := range c.g.Nodes {
		for i, in := range n.Inputs {
			if in != name {
				continue
			}
			if i != 0 || n.OpType != "Flatten" && n.OpType != "Reshape" {
				return false
			}
			readers++
		}
	}
	return readers > 0 && !c.g.IsOutput(name)
}
