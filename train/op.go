package train

import (
	"fmt"

	G "gorgonia.org/gorgonia"

	"github.com/lenetkit/lenetkit/internal/gop"
)

// The seed's ops share internal/gop's base with onnxtrain's: an output
// buffer each op owns and writes on every run, so that a compiled tape
// machine executes the whole training step without allocating tensors.
type (
	op     = gop.Op
	noDiff = gop.NoDiff
)

func newOp(name string, inDims []int, shape ...int) op { return gop.New(name, inDims, shape...) }

// data returns the float32 elements of a tensor or scalar value.
func data(v G.Value) []float32 { return gop.Data(v) }

// apply adds o to the graph as a node over the given inputs.
func apply(o G.Op, inputs ...*G.Node) (*G.Node, error) {
	n, err := gop.Apply(o, inputs...)
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	return n, nil
}
