// Package gop holds what lenetkit's Gorgonia ops share: the seed's fused
// training ops (package train) and the per-node ops of any ONNX graph
// (package onnxtrain) are both ops that own their output buffer, write it
// on every run, and state their types from the ranks of their inputs; and
// both end in the same cross-entropy.
package gop

import (
	"fmt"
	"hash"
	"hash/fnv"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/lenetkit/lenetkit/internal/kernel"
)

// Op carries an op's name, the ranks of its inputs (0 for a float32
// scalar) and the output buffer it owns. Each op writes its result into
// that buffer on every run, so a compiled tape machine executes a whole
// training step without allocating tensors. Embed it and add Do, DiffWRT
// and SymDiff.
type Op struct {
	Name  string
	Ranks []int
	Out   G.Value
	Shape tensor.Shape
}

// New returns an Op whose output has the given shape; no shape is a scalar.
func New(name string, ranks []int, shape ...int) Op {
	o := Op{Name: name, Ranks: ranks, Shape: tensor.Shape(shape)}
	if len(shape) == 0 {
		o.Out = G.NewF32(0)
	} else {
		o.Out = tensor.New(tensor.WithShape(shape...), tensor.Of(tensor.Float32))
	}
	return o
}

func typeOfRank(d int) hm.Type {
	if d == 0 {
		return tensor.Float32
	}
	return G.TensorType{Dims: d, Of: tensor.Float32}
}

func (o *Op) Arity() int { return len(o.Ranks) }

func (o *Op) Type() hm.Type {
	ts := make([]hm.Type, 0, len(o.Ranks)+1)
	for _, d := range o.Ranks {
		ts = append(ts, typeOfRank(d))
	}
	ts = append(ts, typeOfRank(len(o.Shape)))
	return hm.NewFnType(ts...)
}

func (o *Op) InferShape(...G.DimSizer) (tensor.Shape, error) {
	if len(o.Shape) == 0 {
		return tensor.ScalarShape(), nil
	}
	return o.Shape.Clone(), nil
}

func (o *Op) ReturnsPtr() bool     { return false }
func (o *Op) CallsExtern() bool    { return false }
func (o *Op) OverwritesInput() int { return -1 }
func (o *Op) String() string       { return o.Name }

// WriteHash makes every op instance distinct, so Gorgonia never merges two
// layers that happen to have the same shapes into one node.
func (o *Op) WriteHash(h hash.Hash) { fmt.Fprintf(h, "lenetkit.%s@%p", o.Name, o) }

func (o *Op) Hashcode() uint32 {
	h := fnv.New32a()
	o.WriteHash(h)
	return h.Sum32()
}

// OutData is the op's own output buffer.
func (o *Op) OutData() []float32 { return Data(o.Out) }

// Data returns the float32 elements of a tensor or scalar value.
func Data(v G.Value) []float32 {
	switch v := v.(type) {
	case *G.F32:
		return []float32{float32(*v)}
	case tensor.Tensor:
		return v.Data().([]float32)
	}
	return nil
}

// Apply adds o to the graph as a node over the given inputs.
func Apply(o G.Op, inputs ...*G.Node) (*G.Node, error) {
	n, err := G.ApplyOp(o, inputs...)
	if err != nil {
		return nil, fmt.Errorf("build %v: %w", o, err)
	}
	return n, nil
}

// NoDiff marks the backward ops: lenetkit never differentiates twice.
type NoDiff struct{}

func (NoDiff) DiffWRT(n int) []bool { return make([]bool, n) }
func (NoDiff) SymDiff(G.Nodes, *G.Node, *G.Node) (G.Nodes, error) {
	return nil, fmt.Errorf("second derivatives are not supported")
}

// CrossEntropy is the mean cross-entropy of [N][Classes] logits against
// Labels, set before each run; it keeps d(loss)/d(logits) for its gradient.
type CrossEntropy struct {
	Op
	N, Classes int
	Labels     []int64
	dz         []float32
}

// NewCrossEntropy is the loss of n rows of the given number of classes.
func NewCrossEntropy(n, classes int) *CrossEntropy {
	return &CrossEntropy{Op: New("cross_entropy", []int{2}), N: n, Classes: classes,
		Labels: make([]int64, n), dz: make([]float32, n*classes)}
}

func (o *CrossEntropy) Do(in ...G.Value) (G.Value, error) {
	for _, l := range o.Labels {
		if l < 0 || int(l) >= o.Classes {
			return nil, fmt.Errorf("label %d outside 0..%d", l, o.Classes-1)
		}
	}
	loss := kernel.CrossEntropy(o.dz, Data(in[0]), o.Labels, o.N, o.Classes)
	*o.Out.(*G.F32) = G.F32(loss)
	return o.Out, nil
}

// Loss is the last run's loss.
func (o *CrossEntropy) Loss() float64 { return float64(*o.Out.(*G.F32)) }

func (o *CrossEntropy) DiffWRT(int) []bool { return []bool{true} }

func (o *CrossEntropy) SymDiff(_ G.Nodes, _, grad *G.Node) (G.Nodes, error) {
	dz, err := Apply(&crossEntropyGrad{Op: New(o.Name+".dz", []int{0}, o.N, o.Classes), fwd: o}, grad)
	return G.Nodes{dz}, err
}

type crossEntropyGrad struct {
	Op
	NoDiff
	fwd *CrossEntropy
}

func (o *crossEntropyGrad) Do(in ...G.Value) (G.Value, error) {
	g := Data(in[0])[0]
	dz := o.OutData()
	for i, v := range o.fwd.dz {
		dz[i] = v * g
	}
	return o.Out, nil
}
