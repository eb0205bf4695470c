package onnxtrain

import (
	"fmt"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/lenetkit/lenetkit/internal/gop"
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

// data returns the float32 elements of a tensor or scalar value.
func data(v G.Value) []float32 { return gop.Data(v) }

func apply(o G.Op, inputs ...*G.Node) (*G.Node, error) {
	n, err := gop.Apply(o, inputs...)
	if err != nil {
		return nil, fmt.Errorf("onnxtrain: %w", err)
	}
	return n, nil
}

// newOp is an op (internal/gop, which the seed's training ops share) over
// inputs of the given shapes, its output of shape; nil is a scalar.
func newOp(name string, inShapes [][]int, shape []int) gop.Op {
	ranks := make([]int, len(inShapes))
	for i, s := range inShapes {
		ranks[i] = len(s)
	}
	return gop.New(name, ranks, shape...)
}

// nodeOp runs a layer forward; its SymDiff adds the layer's backward op and
// one view per input that needs a gradient.
type nodeOp struct {
	gop.Op
	shapes [][]int // of the inputs
	l      layer
	need   []bool // inputs whose gradient the loss needs
	ins    [][]float32
	// aliased: the output is the input's own buffer (aliasInput), and
	// the input's gradient may be the output's (SymDiff).
	aliased bool
}

// aliasInput makes o's output the buffer of in, one input of the same
// size that another layer writes, for a layer that only copies (reshape):
// Gorgonia's ops only read their inputs, so the copy can be skipped.
func (o *nodeOp) aliasInput(in *G.Node) {
	src, ok := in.Op().(*nodeOp)
	if !ok || len(o.shapes) != 1 || len(src.OutData()) != size(o.Shape) {
		return
	}
	o.Out = tensor.New(tensor.WithShape(o.Shape...), tensor.WithBacking(src.OutData()))
	o.aliased = true
}

func newNodeOp(name string, l layer, inShapes [][]int, shape []int, need []bool) *nodeOp {
	return &nodeOp{Op: newOp(name, inShapes, shape), shapes: inShapes, l: l, need: need, ins: make([][]float32, len(inShapes))}
}

func (o *nodeOp) Do(in ...G.Value) (G.Value, error) {
	for i, v := range in {
		o.ins[i] = data(v)
	}
	o.l.forward(o.OutData(), o.ins)
	return o.Out, nil
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
	b.Op = newOp(o.Name+".grad", [][]int{o.Shape}, []int{total})
	if v, ok := grad.Op().(*viewOp); ok && o.aliased && len(v.OutData()) == total {
		// The output's gradient is one layer's alone (not a sum of
		// several): the input's is the same buffer.
		b.Out = tensor.New(tensor.WithShape(total), tensor.WithBacking(v.OutData()))
	}
	buf := b.OutData()
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
		v := &viewOp{Op: newOp(fmt.Sprintf("%s.d%d", o.Name, i), [][]int{{total}}, s)}
		v.Out = tensor.New(tensor.WithShape(s...), tensor.WithBacking(b.dx[i]))
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
	gop.Op
	gop.NoDiff
	fwd *nodeOp
	dx  [][]float32
}

func (o *backOp) Do(in ...G.Value) (G.Value, error) {
	o.fwd.l.backward(o.dx, data(in[0]), o.fwd.OutData(), o.fwd.ins)
	return o.Out, nil
}

// viewOp is a window on a backOp's buffer; its input only orders it.
type viewOp struct {
	gop.Op
	gop.NoDiff
}

func (o *viewOp) Do(...G.Value) (G.Value, error) { return o.Out, nil }

func size(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}
