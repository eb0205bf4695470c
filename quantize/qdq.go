package quantize

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"

	"github.com/lenetkit/lenetkit/onnx"
)

// Options say how Plan quantizes.
type Options struct {
	// PerTensor gives each weight one scale; by default Conv, Gemm and
	// MatMul weights get one per output channel.
	PerTensor bool
	// Activations is the activations' type, onnx.Uint8 (the default, for
	// 0) or onnx.Int8; asymmetric either way, as ONNX Runtime's default.
	Activations onnx.DType
	// ReduceRange quantizes weights to 7 bits, [-64, 64], as ONNX
	// Runtime's reduce_range: where the CPU has no VNNI, ONNX Runtime
	// multiplies uint8 activations by int8 weights with VPMADDUBSW, whose
	// sums of two products saturate in int16 beyond that range, and its
	// results then differ from the exact ones (lenetkit's, and its own
	// with VNNI).
	ReduceRange bool
}

// Errors a caller may tell apart.
var (
	// ErrOpset is the error for a model of an opset before 13 that
	// onnx.UpgradeTo13 cannot rewrite, where its own opset has no QDQ
	// form: below 10 (QuantizeLinear), or below 13 per channel
	// (DequantizeLinear's axis).
	ErrOpset = errors.New("quantize: opset")
	// ErrNothing is the error for a model with nothing to quantize: no
	// Conv, Gemm, MatMul or BatchNormalization with constant weights, or
	// a graph quantized already.
	ErrNothing = errors.New("quantize: nothing to quantize")
	// ErrRange is Apply's error for a tensor without a finite range.
	ErrRange = errors.New("quantize: no range")
)

// Plan is what the rewrite of one model will quantize, found before
// calibration: Tensors are the ranges it needs.
type Plan struct {
	m     *onnx.Model
	opt   Options
	nodes []*onnx.Node // copies of the model's nodes, removals and renames made
	// act maps each quantized activation to the tensor whose scale and
	// zero point it uses: itself, or a MaxPool's input.
	act      map[string]string
	actOrder []string
	weights  map[string]int // a weight initializer's axis; -1 per tensor
	wOrder   []string
	biases   map[string]biasOf
	bOrder   []string
	removed  []string
	opset    int64
}

type biasOf struct{ input, weight string }

// removable are the activations ONNX Runtime removes when asymmetric
// activations' range can clamp as they do (QDQRemovableActivation).
var removable = map[string]bool{"Relu": true, "Clip": true}

// direct8Bit are the operators whose output takes its input's scale and
// zero point (QDQDirect8BitOp; MaxPool from opset 12, which runs it on 8
// bits).
var direct8Bit = map[string]bool{"MaxPool": true, "Reshape": true, "Transpose": true, "Squeeze": true, "Unsqueeze": true, "AveragePool": true}

// NewPlan finds what quantizing m would quantize, by ONNX Runtime's rules
// (see the package's documentation). m is not changed.
func NewPlan(m *onnx.Model, opt Options) (*Plan, error) {
	if m == nil || m.Graph == nil {
		return nil, fmt.Errorf("quantize: the model has no graph")
	}
	switch opt.Activations {
	case 0:
		opt.Activations = onnx.Uint8
	case onnx.Uint8, onnx.Int8:
	default:
		return nil, fmt.Errorf("quantize: activations of type %s: want UINT8 or INT8", opt.Activations)
	}
	if n := QuantizedNode(m); n != nil {
		return nil, fmt.Errorf("%w: the graph is quantized already (%s): quantize its float original", ErrNothing, n.Describe())
	}
	// QuantizeLinear came at opset 10, DequantizeLinear's axis (per-channel
	// weights) at 13: an older graph is rewritten in opset 13's forms, or
	// where that fails, quantized per tensor at its own opset from 10 on.
	fileOpset := m.Opset
	var upgradeErr error
	if m.Opset < onnx.ModernOpset && (m.Opset < 10 || !opt.PerTensor) {
		up := *m
		g := *m.Graph
		up.Graph, up.Opsets = &g, maps.Clone(m.Opsets)
		if upgradeErr = onnx.UpgradeTo13(&up); upgradeErr == nil {
			m = &up
		} else if m.Opset < 10 {
			return nil, fmt.Errorf("%w %d: QuantizeLinear needs opset 10 or later, and %v: export the model again at opset 13 (torch.onnx.export's opset_version, tf2onnx's --opset)", ErrOpset, m.Opset, upgradeErr)
		}
	}
	g := m.Graph
	p := &Plan{m: m, opt: opt, act: map[string]string{}, weights: map[string]int{}, biases: map[string]biasOf{}, opset: m.Opset}
	for _, n := range g.Nodes {
		c := *n
		c.Inputs, c.Outputs = slices.Clone(n.Inputs), slices.Clone(n.Outputs)
		p.nodes = append(p.nodes, &c)
	}
	consumers := map[string]int{}
	for _, n := range p.nodes {
		for _, in := range n.Inputs {
			if in != "" {
				consumers[in]++
			}
		}
	}
	isInput := map[string]bool{}
	for _, in := range g.Inputs {
		isInput[in.Name] = true
	}
	var keep []*onnx.Node
	for _, n := range p.nodes {
		if n.Domain != "" && n.Domain != "ai.onnx" {
			keep = append(keep, n)
			continue
		}
		switch n.OpType {
		case "Conv":
			if p.weight(n.Input(1)) {
				p.activation(n.Input(0))
				p.addWeight(n.Input(1), 0)
				p.addBias(n.Input(2), n.Input(0), n.Input(1))
				p.activation(n.Outputs[0])
			}
		case "Gemm":
			if p.weight(n.Input(1)) {
				axis := 1
				if t, _ := n.Attrs.Int("transB", 0); t != 0 {
					axis = 0
				}
				p.activation(n.Input(0))
				p.addWeight(n.Input(1), axis)
				alpha, _ := n.Attrs.Float("alpha", 1)
				beta, _ := n.Attrs.Float("beta", 1)
				if alpha == 1 && beta == 1 && p.rank(n.Input(2)) == 1 {
					p.addBias(n.Input(2), n.Input(0), n.Input(1))
				}
				p.activation(n.Outputs[0])
			}
		case "MatMul":
			for _, in := range n.Inputs {
				if p.weight(in) {
					p.addWeight(in, 1)
				} else {
					p.activation(in)
				}
			}
			p.activation(n.Outputs[0])
		case "BatchNormalization":
			if p.weight(n.Input(1)) && len(n.Outputs) == 1 {
				p.activation(n.Input(0))
				p.addWeight(n.Input(1), -1) // rank 1: no axis 1 to quantize along
				p.addBias(n.Input(2), n.Input(0), n.Input(1))
				p.activation(n.Outputs[0])
			}
		case "Relu", "Clip":
			up := n.Input(0)
			src, quantized := p.act[up]
			if !quantized {
				break
			}
			if src == up && consumers[up] == 1 && !g.IsOutput(up) && !isInput[up] {
				// The node before writes this one's output, whose range
				// its Q takes: asymmetric, it clamps as the Relu did.
				p.rename(up, n.Outputs[0])
				delete(p.act, up)
				p.actOrder = slices.DeleteFunc(p.actOrder, func(s string) bool { return s == up })
				p.removed = append(p.removed, n.Label())
				p.activation(n.Outputs[0])
				continue
			}
			p.activation(n.Outputs[0])
		default:
			if direct8Bit[n.OpType] && len(n.Outputs) == 1 && (n.OpType != "MaxPool" || p.opset >= 12) {
				if src, ok := p.act[n.Input(0)]; ok {
					p.share(n.Outputs[0], src)
				}
			}
		}
		keep = append(keep, n)
	}
	p.nodes = keep
	if len(p.weights) == 0 {
		return nil, fmt.Errorf("%w: the graph has no Conv, Gemm, MatMul or BatchNormalization with constant weights", ErrNothing)
	}
	if p.opset < onnx.ModernOpset && slices.ContainsFunc(slices.Collect(maps.Values(p.weights)), func(a int) bool { return a >= 0 }) {
		return nil, fmt.Errorf("%w %d: per-channel weights need DequantizeLinear's axis (opset 13), and %v: quantize per tensor, or export the model again at opset 13 (torch.onnx.export's opset_version, tf2onnx's --opset)",
			ErrOpset, fileOpset, upgradeErr)
	}
	return p, nil
}

// weight reports whether name is a float initializer, a weight to quantize.
func (p *Plan) weight(name string) bool {
	t, ok := p.m.Graph.Initializers[name]
	return ok && name != "" && t.DType.IsFloat() && t.Len() > 0
}

// rank is an initializer's rank, -1 for anything else.
func (p *Plan) rank(name string) int {
	if !p.weight(name) {
		return -1
	}
	return len(p.m.Graph.Initializers[name].Shape)
}

func (p *Plan) activation(name string) {
	if name == "" || p.weight(name) {
		return
	}
	if _, ok := p.act[name]; !ok {
		p.act[name] = name
		p.actOrder = append(p.actOrder, name)
	}
}

func (p *Plan) share(name, src string) {
	if _, ok := p.act[name]; !ok {
		p.act[name] = src
		p.actOrder = append(p.actOrder, name)
	}
}

func (p *Plan) addWeight(name string, axis int) {
	if _, ok := p.weights[name]; ok {
		return
	}
	shape := p.m.Graph.Initializers[name].Shape
	if p.opt.PerTensor || axis >= len(shape) || (len(shape) != 2 && axis == 1) {
		axis = -1
	}
	p.weights[name] = axis
	p.wOrder = append(p.wOrder, name)
}

func (p *Plan) addBias(name, input, weight string) {
	if !p.weight(name) {
		return
	}
	if _, ok := p.biases[name]; ok {
		return
	}
	p.biases[name] = biasOf{input, weight}
	p.bOrder = append(p.bOrder, name)
}

// rename makes every node that wrote or read old use name instead.
func (p *Plan) rename(old, name string) {
	for _, n := range p.nodes {
		for k, o := range n.Outputs {
			if o == old {
				n.Outputs[k] = name
			}
		}
	}
}

// Tensors are the tensors whose ranges Apply needs, in the order the
// graph computes them: names of the float model's graph input and node
// outputs.
func (p *Plan) Tensors() []string {
	var out []string
	for _, t := range p.actOrder {
		if p.act[t] == t {
			out = append(out, t)
		}
	}
	return out
}

// Removed are the nodes the rewrite removes (Relu and Clip folded into
// the range of the node before), by label.
func (p *Plan) Removed() []string { return slices.Clone(p.removed) }

// Summary is what Apply quantized.
type Summary struct {
	Activations []ActivationParams `json:"activations"`
	Weights     []WeightParams     `json:"weights"`
	Biases      int                `json:"biases"`
	Removed     []string           `json:"removed_nodes"`
	// Widened names the weights whose scale was widened for their
	// int32 bias.
	Widened []string `json:"widened_for_int32_bias,omitempty"`
}

// ActivationParams is one quantized activation.
type ActivationParams struct {
	Tensor    string  `json:"tensor"`
	Range     Range   `json:"range"`
	Scale     float32 `json:"scale"`
	ZeroPoint int     `json:"zero_point"`
	// SharedWith names the tensor whose parameters a MaxPool's output
	// (or a reshape's) reuses; Range and Scale are that tensor's.
	SharedWith string `json:"shared_with,omitempty"`
}

// WeightParams is one quantized weight.
type WeightParams struct {
	Name     string  `json:"name"`
	Axis     *int    `json:"axis"` // nil per tensor
	Scales   int     `json:"scales"`
	ScaleMin float32 `json:"scale_min"`
	ScaleMax float32 `json:"scale_max"`
}

// Apply writes the QDQ model with the calibrated ranges, which must hold
// every tensor of Tensors. The model keeps the float model's metadata,
// inputs and outputs; its ValueInfo is dropped (the rewrite renames
// values). The Plan may be applied again with other ranges.
func (p *Plan) Apply(ranges map[string]Range) (*onnx.Model, *Summary, error) {
	g := p.m.Graph
	qmin, qmax, zpType := 0, 255, onnx.Uint8
	if p.opt.Activations == onnx.Int8 {
		qmin, qmax, zpType = -128, 127, onnx.Int8
	}
	type actParams struct {
		scale float32
		zp    int
	}
	act := map[string]actParams{}
	sum := &Summary{Removed: p.Removed(), Biases: len(p.biases)}
	for _, t := range p.Tensors() {
		r, ok := ranges[t]
		if !ok || !finite(r.Min) || !finite(r.Max) {
			return nil, nil, fmt.Errorf("%w for tensor %q", ErrRange, t)
		}
		s, z := scaleZeroPoint(r, qmin, qmax, false)
		act[t] = actParams{s, z}
	}
	for _, t := range p.actOrder {
		src := p.act[t]
		a := ActivationParams{Tensor: t, Range: ranges[src], Scale: act[src].scale, ZeroPoint: act[src].zp}
		if src != t {
			a.SharedWith = src
		}
		sum.Activations = append(sum.Activations, a)
	}

	used := map[string]bool{}
	for _, n := range g.Nodes {
		for _, s := range append(slices.Clone(n.Inputs), n.Outputs...) {
			used[s] = true
		}
	}
	for name := range g.Initializers {
		used[name] = true
	}
	for _, v := range g.Inputs {
		used[v.Name] = true
	}
	names := map[string]string{}
	// fresh is a name for base not used by the model, the same each time
	// it is asked for.
	fresh := func(base string) string {
		if s, ok := names[base]; ok {
			return s
		}
		s := base
		for k := 1; used[s]; k++ {
			s = fmt.Sprintf("%s_%d", base, k)
		}
		used[s], names[base] = true, s
		return s
	}

	inits := map[string]*onnx.Tensor{}
	for name, t := range g.Initializers {
		if _, w := p.weights[name]; w {
			continue
		}
		if _, b := p.biases[name]; b {
			continue
		}
		inits[name] = t
	}
	scalar := func(name string, dt onnx.DType, f float32, i int64) string {
		t := &onnx.Tensor{Name: name, DType: dt, Shape: []int{}}
		if dt == onnx.Float {
			t.Float = []float32{f}
		} else {
			t.Int = []int64{i}
		}
		inits[name] = t
		return name
	}
	actScale := map[string][2]string{} // param source -> scale and zero point initializers
	for _, t := range p.Tensors() {
		a := act[t]
		actScale[t] = [2]string{
			scalar(fresh(t+"_scale"), onnx.Float, a.scale, 0),
			scalar(fresh(t+"_zero_point"), zpType, 0, int64(a.zp)),
		}
	}

	// Weights, then their biases (which may widen them).
	qws := map[string]*quantizedWeight{}
	for _, w := range p.wOrder {
		t := g.Initializers[w]
		qmax := weightQMax
		if p.opt.ReduceRange {
			qmax = reducedQMax
		}
		qws[w] = quantizeWeight(t.Floats(), t.Shape, p.weights[w], qmax)
	}
	for _, b := range p.bOrder {
		bo := p.biases[b]
		src, ok := p.act[bo.input]
		if !ok {
			return nil, nil, fmt.Errorf("quantize: bias %q: its input %q is not quantized", b, bo.input)
		}
		if widenForBias(act[src].scale, qws[bo.weight], g.Initializers[b].Floats()) {
			qws[bo.weight].requantize(g.Initializers[bo.weight].Floats())
			sum.Widened = append(sum.Widened, bo.weight)
		}
	}
	weightNames := map[string][3]string{}
	for _, w := range p.wOrder {
		qw := qws[w]
		t := g.Initializers[w]
		q := fresh(w + "_quantized")
		inits[q] = &onnx.Tensor{Name: q, DType: onnx.Int8, Shape: slices.Clone(t.Shape), Int: qw.q}
		s, z := fresh(w+"_scale"), fresh(w+"_zero_point")
		if qw.axis < 0 {
			scalar(s, onnx.Float, qw.scales[0], 0)
			scalar(z, onnx.Int8, 0, 0)
		} else {
			inits[s] = &onnx.Tensor{Name: s, DType: onnx.Float, Shape: []int{len(qw.scales)}, Float: slices.Clone(qw.scales)}
			inits[z] = &onnx.Tensor{Name: z, DType: onnx.Int8, Shape: []int{len(qw.scales)}, Int: make([]int64, len(qw.scales))}
		}
		weightNames[w] = [3]string{q, s, z}
		wp := WeightParams{Name: w, Scales: len(qw.scales), ScaleMin: slices.Min(qw.scales), ScaleMax: slices.Max(qw.scales)}
		if qw.axis >= 0 {
			a := qw.axis
			wp.Axis = &a
		}
		sum.Weights = append(sum.Weights, wp)
	}
	biasNames := map[string][3]string{}
	biasAxis := map[string]int{}
	for _, b := range p.bOrder {
		bo := p.biases[b]
		qw := qws[bo.weight]
		q, scales := quantizeBias(g.Initializers[b].Floats(), act[p.act[bo.input]].scale, qw.scales)
		qn, sn, zn := fresh(b+"_quantized"), fresh(b+"_quantized_scale"), fresh(b+"_quantized_zero_point")
		inits[qn] = &onnx.Tensor{Name: qn, DType: onnx.Int32, Shape: slices.Clone(g.Initializers[b].Shape), Int: q}
		inits[sn] = &onnx.Tensor{Name: sn, DType: onnx.Float, Shape: []int{len(scales)}, Float: scales}
		if p.opt.PerTensor {
			scalar(zn, onnx.Int32, 0, 0)
		} else {
			inits[zn] = &onnx.Tensor{Name: zn, DType: onnx.Int32, Shape: []int{len(scales)}, Int: make([]int64, len(scales))}
		}
		biasNames[b] = [3]string{qn, sn, zn}
		biasAxis[b] = -1
		if qw.axis >= 0 {
			biasAxis[b] = 0
		}
	}

	isOutput := func(t string) bool { return g.IsOutput(t) }
	qIn := func(t string) string {
		if isOutput(t) {
			return fresh(t + "_QuantizeLinear_Input")
		}
		return t
	}
	dqOut := func(t string) string {
		if isOutput(t) {
			return t
		}
		return fresh(t + "_DequantizeLinear_Output")
	}
	var nodes []*onnx.Node
	add := func(n *onnx.Node) {
		n.Index = len(nodes)
		if n.Attrs == nil {
			n.Attrs = onnx.Attrs{}
		}
		nodes = append(nodes, n)
	}
	axisAttr := func(axis int) onnx.Attrs {
		if axis < 0 {
			return onnx.Attrs{}
		}
		return onnx.Attrs{"axis": {Type: onnx.AttributeProto_INT, Int: int64(axis)}}
	}
	qdq := func(t string) {
		sz := actScale[p.act[t]]
		q := fresh(t + "_QuantizeLinear_Output")
		add(&onnx.Node{Name: fresh(t + "_QuantizeLinear"), OpType: "QuantizeLinear", Inputs: []string{qIn(t), sz[0], sz[1]}, Outputs: []string{q}})
		add(&onnx.Node{Name: fresh(t + "_DequantizeLinear"), OpType: "DequantizeLinear", Inputs: []string{q, sz[0], sz[1]}, Outputs: []string{dqOut(t)}})
	}
	for _, v := range g.Inputs {
		if _, ok := p.act[v.Name]; ok {
			qdq(v.Name)
		}
	}
	emitted := map[string]bool{}
	for _, orig := range p.nodes {
		n := *orig
		n.Inputs, n.Outputs = slices.Clone(orig.Inputs), slices.Clone(orig.Outputs)
		for k, in := range n.Inputs {
			switch {
			case in == "":
			case weightNames[in] != [3]string{}:
				out := fresh(in + "_DequantizeLinear_Output")
				if !emitted[in] {
					emitted[in] = true
					wn := weightNames[in]
					add(&onnx.Node{Name: fresh(in + "_DequantizeLinear"), OpType: "DequantizeLinear", Inputs: wn[:], Outputs: []string{out}, Attrs: axisAttr(qws[in].axis)})
				}
				n.Inputs[k] = out
			case biasNames[in] != [3]string{}:
				if !emitted[in] {
					emitted[in] = true
					bn := biasNames[in]
					add(&onnx.Node{Name: fresh(in + "_DequantizeLinear"), OpType: "DequantizeLinear", Inputs: bn[:], Outputs: []string{in}, Attrs: axisAttr(biasAxis[in])})
				}
			default:
				if _, ok := p.act[in]; ok {
					n.Inputs[k] = dqOut(in)
				}
			}
		}
		var after []string
		for k, o := range n.Outputs {
			if _, ok := p.act[o]; ok && o != "" {
				n.Outputs[k] = qIn(o)
				after = append(after, o)
			}
		}
		add(&n)
		for _, o := range after {
			qdq(o)
		}
	}

	out := &onnx.Model{
		IRVersion: p.m.IRVersion,
		Opset:     p.opset,
		Opsets:    maps.Clone(p.m.Opsets),
		Producer:  p.m.Producer,
		Metadata:  maps.Clone(p.m.Metadata),
		Graph: &onnx.Graph{Name: g.Name, Nodes: nodes, Initializers: inits, ValueInfo: map[string]*onnx.Value{},
			Inputs: slices.Clone(g.Inputs), Outputs: slices.Clone(g.Outputs)},
	}
	if out.Opsets == nil {
		out.Opsets = map[string]int64{}
	}
	out.Opsets[""] = p.opset
	if p.opset >= 13 && out.IRVersion < 7 {
		out.IRVersion = 7
	}
	if out.Metadata == nil {
		out.Metadata = map[string]string{}
	}
	return out, sum, nil
}

func finite(f float32) bool { return !math.IsNaN(float64(f)) && !math.IsInf(float64(f), 0) }
