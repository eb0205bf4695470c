package onnxtrain

import (
	"fmt"
	"hash"
	"hash/fnv"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// layer is one ONNX node's computation. forward writes y from the inputs;
// backward writes, for every input i with dx[i] != nil, the gradient of the
// loss with respect to input i, given the output y and its gradient dy.
// Layers may keep what forward computed (a max pool's winners, BatchNorm's
// batch statistics) for backward: one step runs forward then backward.
type layer interface {
	forward(y []float32, x [][]float32)
	backward(dx [][]float32, dy, y []float32, x [][]float32)
}

// op is the Gorgonia side shared by the ops of this package: the shapes of
// the inputs and the output, and an output buffer written on every run, so
// that a compiled tape machine runs a training step without allocating.
type op struct {
	name   string
	shapes [][]int // of the inputs; nil for a scalar
	shape  []int   // of the output; nil for a scalar
	out    G.Value
}

func newOp(name string, inShapes [][]int, shape []int) op {
	o := op{name: name, shapes: inShapes, shape: shape}
	if shape == nil {
		o.out = G.NewF32(0)
	} else {
		o.out = tensor.New(tensor.WithShape(shape...), tensor.Of(tensor.Float32))
	}
	return o
}

func typeOfRank(d int) hm.Type {
	if d == 0 {
		return tensor.Float32
	}
	return G.TensorType{Dims: d, Of: tensor.Float32}
}

func (o *op) Arity() int { return len(o.shapes) }

func (o *op) Type() hm.Type {
	ts := make([]hm.Type, 0, len(o.shapes)+1)
	for _, s := range o.shapes {
		ts = append(ts, typeOfRank(len(s)))
	}
	ts = append(ts, typeOfRank(len(o.shape)))
	return hm.NewFnType(ts...)
}

func (o *op) InferShape(...G.DimSizer) (tensor.Shape, error) {
	if o.shape == nil {
		return tensor.ScalarShape(), nil
	}
	return tensor.Shape(o.shape).Clone(), nil
}

func (o *op) ReturnsPtr() bool     { return false }
func (o *op) CallsExtern() bool    { return false }
func (o *op) OverwritesInput() int { return -1 }
func (o *op) String() string       { return o.name }

// WriteHash makes every op distinct, so Gorgonia never merges two nodes
// that happen to have the same shapes.
func (o *op) WriteHash(h hash.Hash) { fmt.Fprintf(h, "onnxtrain.%s@%p", o.name, o) }

func (o *op) Hashcode() uint32 {
	h := fnv.New32a()
	o.WriteHash(h)
	return h.Sum32()
}

func (o *op) outData() []float32 { return data(o.out) }

// data returns the float32 elements of a tensor or scalar value.
func data(v G.Value) []float32 {
	switch v := v.(type) {
	case *G.F32:
		return []float32{float32(*v)}
	case tensor.Tensor:
		return v.Data().([]float32)
	}
	return nil
}

func apply(o G.Op, inputs ...*G.Node) (*G.Node, error) {
	n, err := G.ApplyOp(o, inputs...)
	if err != nil {
		return nil, fmt.Errorf("onnxtrain: build %v: %w", o, err)
	}
	return n, nil
}

// noDiff marks the backward ops: nothing differentiates twice.
type noDiff struct{}

func (noDiff) DiffWRT(n int) []bool { return make([]bool, n) }
func (noDiff) SymDiff(G.Nodes, *G.Node, *G.Node) (G.Nodes, error) {
	return nil, fmt.Errorf("onnxtrain: second derivatives are not supported")
}

// nodeOp runs a layer forward; its SymDiff adds the layer's backward op and
// one view per input that needs a gradient.
type nodeOp struct {
	op
	l    layer
	need []bool // inputs whose gradient the loss needs
	ins  [][]float32
}

func newNodeOp(name string, l layer, inShapes [][]int, shape []int, need []bool) *nodeOp {
	return &nodeOp{op: newOp(name, inShapes, shape), l: l, need: need, ins: make([][]float32, len(inShapes))}
}

func (o *nodeOp) Do(in ...G.Value) (G.Value, error) {
	for i, v := range in {
		o.ins[i] = data(v)
	}
	o.l.forward(o.outData(), o.ins)
	return o.out, nil
}

func (o *nodeOp) DiffWRT(int) []bool { return o.need }

func (o *nodeOp) SymDiff(in G.Nodes, out, grad *G.Node) (G.Nodes, error) {
	b := &backOp{fwd: o, dx: make([][]float32, len(o.shapes))}
	total := 0
	for i, s := range o.shapes {
		if o.need[i] {
			total += size(s)
		}
	}
	b.op = newOp(o.name+".grad", [][]int{o.shape}, []int{total})
	buf := b.outData()
	bwd, err := apply(b, grad)
	if err != nil {
		return nil, err
	}
	grads := make(G.Nodes, len(o.shapes))
	off := 0
	for i, s := range o.shapes {
		if !o.need[i] {
			continue
		}
		n := size(s)
		b.dx[i] = buf[off : off+n]
		v := &viewOp{op: op{name: fmt.Sprintf("%s.d%d", o.name, i), shapes: [][]int{{total}}, shape: s}}
		v.out = tensor.New(tensor.WithShape(s...), tensor.WithBacking(b.dx[i]))
		if grads[i], err = apply(v, bwd); err != nil {
			return nil, err
		}
		off += n
	}
	return grads, nil
}

// backOp runs a layer backward into one buffer holding the gradients of
// all the inputs that need one; viewOps give Gorgonia each as a tensor.
// It reads the forward op's inputs and output as that op last saw them.
type backOp struct {
	op
	noDiff
	fwd *nodeOp
	dx  [][]float32
}

func (o *backOp) Do(in ...G.Value) (G.Value, error) {
	o.fwd.l.backward(o.dx, data(in[0]), o.fwd.outData(), o.fwd.ins)
	return o.out, nil
}

// viewOp is a window on a backOp's buffer; its input only orders it.
type viewOp struct {
	op
	noDiff
}

func (o *viewOp) Do(...G.Value) (G.Value, error) { return o.out, nil }

func size(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}
