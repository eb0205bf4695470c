package train

import (
	"fmt"
	"hash"
	"hash/fnv"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// op carries what every lenetkit Gorgonia op shares: its name, the ranks of
// its inputs, and an output buffer it owns. Each op writes its result into
// that buffer on every run, so a compiled tape machine executes the whole
// training step without allocating tensors.
type op struct {
	name   string
	inDims []int // rank of each input; 0 is a float32 scalar
	out    G.Value
	shape  tensor.Shape
}

func newOp(name string, inDims []int, shape ...int) op {
	o := op{name: name, inDims: inDims, shape: tensor.Shape(shape)}
	if len(shape) == 0 {
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

func (o *op) Arity() int { return len(o.inDims) }

func (o *op) Type() hm.Type {
	ts := make([]hm.Type, 0, len(o.inDims)+1)
	for _, d := range o.inDims {
		ts = append(ts, typeOfRank(d))
	}
	ts = append(ts, typeOfRank(len(o.shape)))
	return hm.NewFnType(ts...)
}

func (o *op) InferShape(...G.DimSizer) (tensor.Shape, error) {
	if len(o.shape) == 0 {
		return tensor.ScalarShape(), nil
	}
	return o.shape.Clone(), nil
}

func (o *op) ReturnsPtr() bool     { return false }
func (o *op) CallsExtern() bool    { return false }
func (o *op) OverwritesInput() int { return -1 }
func (o *op) String() string       { return o.name }

// WriteHash makes every op instance distinct, so Gorgonia never merges two
// layers that happen to have the same shapes into one node.
func (o *op) WriteHash(h hash.Hash) { fmt.Fprintf(h, "lenetkit.%s@%p", o.name, o) }

func (o *op) Hashcode() uint32 {
	h := fnv.New32a()
	o.WriteHash(h)
	return h.Sum32()
}

// outData is the op's own output buffer.
func (o *op) outData() []float32 { return o.out.Data().([]float32) }

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

// apply adds o to the graph as a node over the given inputs.
func apply(o G.Op, inputs ...*G.Node) (*G.Node, error) {
	n, err := G.ApplyOp(o, inputs...)
	if err != nil {
		return nil, fmt.Errorf("train: build %v: %w", o, err)
	}
	return n, nil
}

// noDiff marks the backward ops: lenetkit never differentiates twice.
type noDiff struct{}

func (noDiff) DiffWRT(n int) []bool { return make([]bool, n) }
func (noDiff) SymDiff(G.Nodes, *G.Node, *G.Node) (G.Nodes, error) {
	return nil, fmt.Errorf("train: second derivatives are not supported")
}
