package onnxtrain

import (
	"fmt"
	"math"

	"github.com/lenetkit/lenetkit/onnx"
)

func init() { register(buildSoftmax, "Softmax", "LogSoftmax") }

// softmax is Softmax or LogSoftmax over the last axis, rows of cols.
// Before opset 13 the axis flattens the input into a matrix, which for the
// last axis is the same thing. A graph's final Softmax is not one of
// these: the loss reads the scores before it (net.go).
type softmax struct {
	rows, cols int
	log        bool
}

func buildSoftmax(b *builder, n *onnx.Node, in []*value) (layer, []int, error) {
	s := in[0].shape
	def := int64(-1)
	if b.opset < 13 {
		def = 1
	}
	axis, err := n.Attrs.Int("axis", def)
	if err != nil {
		return nil, nil, err
	}
	if axis < 0 {
		axis += int64(len(s))
	}
	if axis != int64(len(s)-1) {
		return nil, nil, fmt.Errorf("axis %d of a rank-%d input: lenetkit trains softmax over the last axis only", axis, len(s))
	}
	return &softmax{rows: size(s) / s[len(s)-1], cols: s[len(s)-1], log: n.OpType == "LogSoftmax"}, s, nil
}

func (l *softmax) forward(y []float32, in [][]float32) {
	for r := range l.rows {
		row, out := in[0][r*l.cols:(r+1)*l.cols], y[r*l.cols:(r+1)*l.cols]
		mx := math.Inf(-1)
		for _, v := range row {
			mx = math.Max(mx, float64(v))
		}
		var s float64
		for _, v := range row {
			s += math.Exp(float64(v) - mx)
		}
		for j, v := range row {
			if l.log {
				out[j] = float32(float64(v) - mx - math.Log(s))
			} else {
				out[j] = float32(math.Exp(float64(v)-mx) / s)
			}
		}
	}
}

func (l *softmax) backward(dx [][]float32, dy, y []float32, _ [][]float32) {
	for r := range l.rows {
		g, out, d := dy[r*l.cols:(r+1)*l.cols], y[r*l.cols:(r+1)*l.cols], dx[0][r*l.cols:(r+1)*l.cols]
		var s float64
		for j := range g {
			if l.log {
				s += float64(g[j])
			} else {
				s += float64(g[j]) * float64(out[j])
			}
		}
		for j := range g {
			if l.log {
				d[j] = g[j] - float32(math.Exp(float64(out[j]))*s)
			} else {
				d[j] = out[j] * (g[j] - float32(s))
			}
		}
	}
}
