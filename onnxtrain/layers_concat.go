package onnxtrain

import (
	"fmt"

	"github.com/lenetkit/lenetkit/onnx"
)

func init() { register(computed(buildConcat), "Concat") }

// concat joins its inputs along one axis: the output is outer rows, each
// row input 0's part then input 1's, and so on; the gradient of each
// input is its parts of dy. (Concat of constants alone, shapes, is
// evaluated while the graph is built: const.go.)
type concat struct {
	outer int
	parts []int // elements of one row of each input
}

func buildConcat(b *builder, n *onnx.Node, in []*value) (layer, []int, error) {
	if len(in) == 0 {
		return nil, nil, fmt.Errorf("Concat of no inputs")
	}
	a, err := n.Attrs.Int("axis", 0)
	if err != nil {
		return nil, nil, err
	}
	ax, err := normAxis(a, len(in[0].shape))
	if err != nil {
		return nil, nil, err
	}
	shape := append([]int(nil), in[0].shape...)
	shape[ax] = 0
	l := &concat{outer: size(shape[:ax])}
	for i, v := range in {
		if v == nil || v.node == nil {
			return nil, nil, fmt.Errorf("input %d is not a float tensor", i)
		}
		if len(v.shape) != len(shape) {
			return nil, nil, fmt.Errorf("ranks of %v and %v differ", in[0].shape, v.shape)
		}
		for d := range shape {
			if d != ax && v.shape[d] != shape[d] {
				return nil, nil, fmt.Errorf("%v and %v differ outside axis %d", in[0].shape, v.shape, ax)
			}
		}
		shape[ax] += v.shape[ax]
		l.parts = append(l.parts, size(v.shape[ax:]))
	}
	return l, shape, nil
}

func (l *concat) forward(y []float32, in [][]float32) {
	at := 0
	for r := range l.outer {
		for k, p := range l.parts {
			at += copy(y[at:], in[k][r*p:(r+1)*p])
		}
	}
}

func (l *concat) backward(dx [][]float32, dy, _ []float32, _ [][]float32) {
	at := 0
	for r := range l.outer {
		for k, p := range l.parts {
			if dx[k] != nil {
				copy(dx[k][r*p:(r+1)*p], dy[at:at+p])
			}
			at += p
		}
	}
}
