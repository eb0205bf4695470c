package lenet

import (
	"fmt"
	"strings"
)

// DType is the element type of a state-dict tensor. A LeNet state dict holds
// float32 weights and statistics, and one int64 scalar per BatchNorm layer.
type DType int

const (
	Float32 DType = iota
	Int64
)

func (d DType) String() string {
	switch d {
	case Float32:
		return "float32"
	case Int64:
		return "int64"
	}
	return fmt.Sprintf("DType(%d)", int(d))
}

// Tensor is one named entry of a state dict, stored densely in row-major
// (C-contiguous) order. Exactly one of F32 and I64 is used, as DType says.
type Tensor struct {
	Name  string
	Shape []int
	DType DType
	F32   []float32
	I64   []int64
}

// NumElements is the product of the shape; 1 for a scalar.
func (t *Tensor) NumElements() int { return numElements(t.Shape) }

func numElements(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// Clone returns a deep copy.
func (t *Tensor) Clone() *Tensor {
	c := &Tensor{Name: t.Name, Shape: append([]int(nil), t.Shape...), DType: t.DType}
	if t.F32 != nil {
		c.F32 = append([]float32(nil), t.F32...)
	}
	if t.I64 != nil {
		c.I64 = append([]int64(nil), t.I64...)
	}
	return c
}

// StateDict is an ordered list of named tensors: what PyTorch's
// Module.state_dict() returns. Order matters, as in PyTorch, because it is the
// order torch.save writes and load_state_dict reports.
type StateDict []*Tensor

// Lookup returns the tensor with the given name, or nil.
func (sd StateDict) Lookup(name string) *Tensor {
	for _, t := range sd {
		if t.Name == name {
			return t
		}
	}
	return nil
}

// Clone returns a deep copy.
func (sd StateDict) Clone() StateDict {
	c := make(StateDict, len(sd))
	for i, t := range sd {
		c[i] = t.Clone()
	}
	return c
}

// shapeString formats a shape as PyTorch prints it: torch.Size([32, 1, 3, 3]).
func shapeString(shape []int) string {
	parts := make([]string, len(shape))
	for i, d := range shape {
		parts[i] = fmt.Sprint(d)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}
