package backend

// fuseQDQ, the pass that runs a QDQ graph (ONNX Runtime's
// quantize_static with QuantFormat.QDQ, PyTorch's and TensorFlow's
// exporters) as int8 kernels rather than as float arithmetic between
// conversions. A stage of its own on the decoded graph, after
// onnx.FuseConvBias and before compilation:
//
//	DQ(x) DQ(w int8 const) [DQ(b int32 const)] -> Conv [-> Relu] -> Q
//	    becomes QLinearConv(x, ..., b): one int8 convolution;
//	DQ(x) DQ(w) [DQ(b)] -> Gemm (or MatMul) [-> Relu] -> Q
//	    becomes QLinearMatMul, with Gemm's bias and transB;
//	DQ(x) -> MaxPool (or a reshape, a Transpose) -> Q of the same scale
//	    and zero point becomes the operator on the 8-bit values; of
//	    other ones (the Flatten ONNX Runtime's quantizer gives a range of
//	    its own), the operator then a table of the 256 values each byte
//	    gives, computed at load by the graph's own arithmetic;
//	DQ(x) -> BatchNormalization -> Q becomes a table per channel of the
//	    256 values each input byte gives, computed at load by the very
//	    steps the graph as written runs (the seed's BatchNorm follows its
//	    Relu, so it cannot fold into the Conv).
//
// A Relu taken in clamps the output at its zero point, which is what
// quantizing its output does (Q(relu(v)) = max(Q(v), zero point)). What
// it does not match (Softmax between DQ and Q, a BatchNormalization of
// parameters computed at run time) runs in float between DequantizeLinear
// and QuantizeLinear steps, as written.

import (
	"math"
	"slices"

	"github.com/lenetkit/lenetkit/onnx"
)

// quantFusion is what fuseQDQ says of a node it wrote, beyond what ONNX's
// operator of that type carries.
type quantFusion struct {
	relu   bool // a Relu taken in: clamp the output at its zero point
	transB bool // a Gemm's weights, stored [N][K]
	bias   bool // a Gemm's int32 bias, input 8 of the QLinearMatMul
	// table: a BatchNormalization between DQ and Q, the DQ's scale and
	// zero point its inputs 5 and 6, the Q's 7 and 8.
	table bool
	// requant: an operator between DQ and Q of other parameters, the
	// DQ's scale and zero point its last inputs but two, the Q's its last
	// two (requantPass).
	requant bool
}

// qdqPassThrough are the operators that commute with quantization when
// the scale and zero point are the same on both sides.
var qdqPassThrough = map[string]bool{
	"MaxPool": true, "Reshape": true, "Flatten": true, "Transpose": true,
	"Squeeze": true, "Unsqueeze": true, "Identity": true,
}

// qdqFuser holds the graph fuseQDQ rewrites and what it learned.
type qdqFuser struct {
	g         *onnx.Graph
	producer  map[string]*onnx.Node
	consumers map[string][]*onnx.Node
	uses      map[string]int
	replace   map[*onnx.Node]*onnx.Node // nil: removed
	fused     map[*onnx.Node]quantFusion
	chains    [][]string
}

// fuseQDQ rewrites g's QDQ patterns in place and returns what it says of
// the nodes it wrote, and the chains of nodes each replaces, by label.
func fuseQDQ(g *onnx.Graph) (map[*onnx.Node]quantFusion, [][]string) {
	f := &qdqFuser{g: g, producer: g.Producers(), consumers: map[string][]*onnx.Node{}, uses: g.Uses(),
		replace: map[*onnx.Node]*onnx.Node{}, fused: map[*onnx.Node]quantFusion{}}
	for _, n := range g.Nodes {
		for _, in := range n.Inputs {
			f.consumers[in] = append(f.consumers[in], n)
		}
	}
	for _, n := range g.Nodes {
		if _, done := f.replace[n]; done || n.Domain != "" {
			continue
		}
		switch {
		case n.OpType == "Conv" || n.OpType == "Gemm" || n.OpType == "MatMul":
			f.product(n)
		case qdqPassThrough[n.OpType]:
			f.passThrough(n)
		case n.OpType == "BatchNormalization":
			f.affine(n)
		}
	}
	if len(f.chains) == 0 {
		return nil, nil
	}
	nodes := g.Nodes[:0:0]
	for _, n := range g.Nodes {
		r, ok := f.replace[n]
		switch {
		case !ok:
			nodes = append(nodes, n)
		case r != nil:
			nodes = append(nodes, r)
		}
	}
	g.Nodes = dropDeadDQ(g, nodes)
	return f.fused, f.chains
}

// dropDeadDQ removes the DequantizeLinear nodes that nothing reads any
// more.
func dropDeadDQ(g *onnx.Graph, nodes []*onnx.Node) []*onnx.Node {
	read := map[string]bool{}
	for _, n := range nodes {
		for _, in := range n.Inputs {
			read[in] = true
		}
	}
	return slices.DeleteFunc(nodes, func(n *onnx.Node) bool {
		return isDQ(n) && len(n.Outputs) == 1 && !read[n.Outputs[0]] && !g.IsOutput(n.Outputs[0])
	})
}

func isDQ(n *onnx.Node) bool {
	return n.OpType == "DequantizeLinear" && (n.Domain == "" || n.Domain == contribDomain)
}

func isQ(n *onnx.Node) bool {
	return n.OpType == "QuantizeLinear" && (n.Domain == "" || n.Domain == contribDomain)
}

// only returns the one node that reads value name, when the graph has
// exactly one reader and does not output it.
func (f *qdqFuser) only(name string) *onnx.Node {
	if f.uses[name] != 1 || f.g.IsOutput(name) || len(f.consumers[name]) != 1 {
		return nil
	}
	n := f.consumers[name][0]
	if _, done := f.replace[n]; done {
		return nil
	}
	return n
}

// qdqParams is a DequantizeLinear's or QuantizeLinear's constant scale and
// zero point.
type qdqParams struct {
	scale []float32
	zero  []int64
	dt    onnx.DType // the zero point's: the quantized type
	axis  int        // resolved against the data's rank; -1 per tensor
}

// params reads node n's scale and zero point, which must be initializers,
// for data of the given rank; ok false when they are not.
func (f *qdqFuser) params(n *onnx.Node, rank int) (qdqParams, bool) {
	p := qdqParams{dt: onnx.Uint8, axis: -1}
	s := f.g.Initializers[n.Input(1)]
	if s == nil || s.DType != onnx.Float || len(s.Shape) > 1 || len(s.Float) == 0 {
		return p, false
	}
	if bs, _ := n.Attrs.Int("block_size", 0); bs != 0 || n.Attrs.Has("output_dtype") {
		return p, false
	}
	p.scale = s.Float
	if zn := n.Input(2); zn != "" {
		z := f.g.Initializers[zn]
		if z == nil || len(z.Int) != len(p.scale) {
			return p, false
		}
		p.zero, p.dt = z.Int, z.DType
	} else {
		p.zero = make([]int64, len(p.scale))
	}
	if len(p.scale) > 1 {
		a, _ := n.Attrs.Int("axis", 1)
		if a < 0 {
			a += int64(rank)
		}
		if a < 0 || a >= int64(rank) {
			return p, false
		}
		p.axis = int(a)
	}
	return p, true
}

// dqInput returns the DequantizeLinear that produces value name and its
// parameters, with its data an initializer (weights, const) or not.
func (f *qdqFuser) dqInput(name string, const_ bool) (*onnx.Node, qdqParams, bool) {
	d := f.producer[name]
	if d == nil || !isDQ(d) || len(d.Outputs) != 1 {
		return nil, qdqParams{}, false
	}
	rank := 0
	if t := f.g.Initializers[d.Input(0)]; t != nil {
		if !const_ {
			return nil, qdqParams{}, false
		}
		rank = len(t.Shape)
	} else if const_ {
		return nil, qdqParams{}, false
	}
	p, ok := f.params(d, rank)
	if !const_ && ok && d.Input(2) == "" && !f.quantized(d.Input(0)) {
		// No zero point to say the type: the data may be int32, which
		// the int8 operators do not take.
		return nil, p, false
	}
	return d, p, ok
}

// quantized reports whether value name is a QuantizeLinear's output, or
// a graph input declared uint8 or int8.
func (f *qdqFuser) quantized(name string) bool {
	if p := f.producer[name]; p != nil {
		return isQ(p)
	}
	return slices.ContainsFunc(f.g.Inputs, func(v *onnx.Value) bool { return v.Name == name && isQuant8(v.DType) })
}

// tail finds the QuantizeLinear, per tensor and of an 8-bit type, that
// alone reads value name, or reads the output of a Relu that alone reads
// it; nil when there is none.
func (f *qdqFuser) tail(name string) (relu, q *onnx.Node) {
	next := f.only(name)
	if next != nil && next.OpType == "Relu" && next.Domain == "" && len(next.Outputs) == 1 {
		relu, next = next, f.only(next.Outputs[0])
	}
	if next == nil || !isQ(next) || next.Input(0) == "" {
		return nil, nil
	}
	if p, ok := f.params(next, 0); !ok || len(p.scale) != 1 || !isQuant8(p.dt) {
		return nil, nil
	}
	return relu, next
}

// label names a node in Plan.Fused.
func label(n *onnx.Node) string { return nodeName(n) }

// product rewrites a quantized Conv, Gemm or MatMul: n with DQ inputs and
// a Q (after an optional Relu) as its one reader.
func (f *qdqFuser) product(n *onnx.Node) {
	dx, px, ok := f.dqInput(n.Input(0), false)
	if !ok || len(px.scale) != 1 || !isQuant8(px.dt) {
		return
	}
	dw, pw, ok := f.dqInput(n.Input(1), true)
	if !ok || !isQuant8(f.g.Initializers[dw.Input(0)].DType) || len(n.Outputs) != 1 {
		return
	}
	relu, q := f.tail(n.Outputs[0])
	if q == nil {
		return
	}
	fu, ok := f.productForm(n, pw)
	if !ok {
		return
	}
	var db *onnx.Node
	if n.OpType != "MatMul" && n.Input(2) != "" {
		var pb qdqParams
		if db, pb, ok = f.dqInput(n.Input(2), true); !ok || !biasMatches(f.g.Initializers[db.Input(0)], pb, px.scale[0], pw.scale) {
			return
		}
		fu.bias = n.OpType == "Gemm"
	}
	typ := "QLinearMatMul"
	attrs := onnx.Attrs{}
	if n.OpType == "Conv" {
		typ, attrs = "QLinearConv", n.Attrs
	}
	w := &onnx.Node{Name: n.Name, OpType: typ, Attrs: attrs, Index: n.Index, Outputs: slices.Clone(q.Outputs),
		Inputs: []string{dx.Input(0), dx.Input(1), dx.Input(2), dw.Input(0), dw.Input(1), dw.Input(2), q.Input(1), q.Input(2)}}
	chain := []string{label(dx), label(dw)}
	if db != nil {
		w.Inputs = append(w.Inputs, db.Input(0))
		chain = append(chain, label(db))
	}
	chain = append(chain, label(n))
	f.replace[n] = w
	if relu != nil {
		f.replace[relu] = nil
		chain = append(chain, label(relu))
		fu.relu = true
	}
	f.replace[q] = nil
	f.fused[w] = fu
	f.chains = append(f.chains, append(chain, label(q)))
}

// productForm checks the attributes of Conv, Gemm or MatMul n and the
// axis of its weights' scales (pw): one per output channel or column, or
// one for all.
func (f *qdqFuser) productForm(n *onnx.Node, pw qdqParams) (quantFusion, bool) {
	var fu quantFusion
	wt := f.g.Initializers[f.producer[n.Input(1)].Input(0)]
	switch n.OpType {
	case "Conv":
		return fu, pw.axis < 0 || pw.axis == 0
	case "MatMul":
		return fu, len(wt.Shape) == 2 && (pw.axis < 0 || pw.axis == 1)
	}
	ta, err1 := n.Attrs.Int("transA", 0)
	tb, err2 := n.Attrs.Int("transB", 0)
	alpha, err3 := n.Attrs.Float("alpha", 1)
	beta, err4 := n.Attrs.Float("beta", 1)
	fu.transB = tb != 0
	col := 1 // the weights' axis of the product's columns
	if fu.transB {
		col = 0
	}
	ok := err1 == nil && err2 == nil && err3 == nil && err4 == nil && ta == 0 && alpha == 1 && beta == 1 &&
		len(wt.Shape) == 2 && (pw.axis < 0 || pw.axis == col)
	return fu, ok
}

// biasMatches reports whether a DequantizeLinear of bias b (parameters p)
// is the int32 bias of a product of scales xs and ws: zero point 0 and
// scale xs*ws, per column or one, as ONNX Runtime's quantizer writes it;
// the fused kernel adds it to the int32 sum as it is.
func biasMatches(b *onnx.Tensor, p qdqParams, xs float32, ws []float32) bool {
	if b.DType != onnx.Int32 || len(b.Shape) != 1 || slices.ContainsFunc(p.zero, func(z int64) bool { return z != 0 }) {
		return false
	}
	if len(p.scale) != 1 && len(p.scale) != b.Shape[0] || len(ws) != 1 && len(ws) != b.Shape[0] {
		return false
	}
	for j := range b.Shape[0] {
		want := float64(xs * ws[j%len(ws)])
		if got := float64(p.scale[j%len(p.scale)]); math.Abs(got-want) > 1e-6*want {
			return false
		}
	}
	return true
}

// passThrough rewrites DQ -> n -> Q, the two of one scale and zero point,
// as n on the quantized values.
func (f *qdqFuser) passThrough(n *onnx.Node) {
	d, pd, ok := f.dqInput(n.Input(0), false)
	if !ok || len(pd.scale) != 1 || len(n.Outputs) == 0 || slices.ContainsFunc(n.Outputs[1:], func(o string) bool { return o != "" }) {
		return
	}
	relu, q := f.tail(n.Outputs[0])
	if q == nil || relu != nil {
		return
	}
	pq, _ := f.params(q, 0)
	same := pq.dt == pd.dt && math.Float32bits(pq.scale[0]) == math.Float32bits(pd.scale[0]) && pq.zero[0] == pd.zero[0]
	if !same && (!isQuant8(pd.dt) || len(n.Outputs) != 1) {
		return
	}
	w := *n
	w.Inputs = slices.Clone(n.Inputs)
	w.Inputs[0] = d.Input(0)
	w.Outputs = slices.Clone(q.Outputs)
	if !same {
		w.Inputs = append(w.Inputs, d.Input(1), d.Input(2), q.Input(1), q.Input(2))
		f.fused[&w] = quantFusion{requant: true}
	}
	f.replace[n] = &w
	f.replace[q] = nil
	f.chains = append(f.chains, []string{label(d), label(n), label(q)})
}

// constant reports whether value name is known at load: an initializer,
// or the DequantizeLinear of initializers (ONNX Runtime's quantizer
// stores a BatchNormalization's scale and bias quantized).
func (f *qdqFuser) constant(name string) bool {
	if f.g.Initializers[name] != nil {
		return true
	}
	d := f.producer[name]
	return d != nil && isDQ(d) && !slices.ContainsFunc(d.Inputs, func(in string) bool { return in != "" && f.g.Initializers[in] == nil })
}

// affine rewrites DQ -> BatchNormalization -> Q, the normalization's
// parameters initializers, as a BatchNormalization of the 8-bit values
// that carries both quantizations (quantFusion.table).
func (f *qdqFuser) affine(n *onnx.Node) {
	d, pd, ok := f.dqInput(n.Input(0), false)
	if !ok || len(pd.scale) != 1 || !isQuant8(pd.dt) || len(n.Inputs) != 5 || len(n.Outputs) != 1 {
		return
	}
	for _, p := range n.Inputs[1:] {
		if !f.constant(p) {
			return
		}
	}
	relu, q := f.tail(n.Outputs[0])
	if q == nil || relu != nil {
		return
	}
	w := *n
	w.Inputs = append(slices.Clone(n.Inputs), d.Input(1), d.Input(2), q.Input(1), q.Input(2))
	w.Inputs[0] = d.Input(0)
	w.Outputs = slices.Clone(q.Outputs)
	f.replace[n] = &w
	f.replace[q] = nil
	f.fused[&w] = quantFusion{table: true}
	f.chains = append(f.chains, []string{label(d), label(n), label(q)})
}
