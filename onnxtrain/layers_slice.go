package onnxtrain

import (
	"fmt"
	"math"

	G "gorgonia.org/gorgonia"

	"github.com/lenetkit/lenetkit/onnx"
)

// Slice, Split, Gather and Expand move elements without changing them:
// each output element reads one input element, so one layer, indexMap,
// runs them all, and its gradient adds every output's gradient into the
// element it read (Expand's repeated elements sum theirs).

func init() {
	register(computed(buildSlice), "Slice")
	register(computed(buildSplit), "Split")
	register(computed(buildGather), "Gather")
	register(computed(buildExpand), "Expand")
	for _, op := range []string{"Slice", "Split", "Expand"} {
		constants[op] = evalMoved
	}
}

// evalMoved evaluates Slice, Split and Expand of constants while the graph
// is built, integers as integers: exporters slice a Shape's output (the
// batch dimension, to Concat with -1 for a Reshape).
func evalMoved(b *builder, n *onnx.Node, in []*value) ([]*onnx.Tensor, error) {
	var srcs [][][]int
	s := in[0].shape
	var err error
	switch n.OpType {
	case "Slice":
		var src [][]int
		s, src, err = sliceSrc(b, n, in)
		srcs = [][][]int{src}
	case "Expand":
		var src [][]int
		s, src, err = expandSrc(b, n, in)
		srcs = [][][]int{src}
	default:
		srcs, err = splitSrcs(b, n, in)
	}
	if err != nil {
		return nil, err
	}
	x := in[0].konst
	var outs []*onnx.Tensor
	for _, src := range srcs {
		t := &onnx.Tensor{DType: x.DType}
		for _, c := range src {
			t.Shape = append(t.Shape, len(c))
		}
		for _, i := range axisIndex(s, src).idx {
			if x.DType.IsFloat() {
				t.Float = append(t.Float, x.Float[i])
			} else {
				t.Int = append(t.Int, x.Int[i])
			}
		}
		outs = append(outs, t)
	}
	return outs, nil
}

// indexMap sets y[e] = x[idx[e]].
type indexMap struct{ idx []int32 }

func (m *indexMap) forward(y []float32, in [][]float32) {
	for e, i := range m.idx {
		y[e] = in[0][i]
	}
}

func (m *indexMap) backward(dx [][]float32, dy, _ []float32, _ [][]float32) {
	clear(dx[0])
	for e, i := range m.idx {
		dx[0][i] += dy[e]
	}
}

// axisIndex maps each element of the output whose axis a holds len(src[a])
// coordinates to the element of x (of shape in, the same rank) at input
// coordinate src[a][c] along every axis a.
func axisIndex(in []int, src [][]int) *indexMap {
	out := make([]int, len(src))
	for a, s := range src {
		out[a] = len(s)
	}
	strides := make([]int, len(in))
	st := 1
	for a := len(in) - 1; a >= 0; a-- {
		strides[a], st = st, st*in[a]
	}
	idx := make([]int32, size(out))
	coord := make([]int, len(out))
	for e := range idx {
		off := 0
		for a, c := range coord {
			off += src[a][c] * strides[a]
		}
		idx[e] = int32(off)
		for a := len(out) - 1; a >= 0; a-- {
			if coord[a]++; coord[a] < out[a] {
				break
			}
			coord[a] = 0
		}
	}
	return &indexMap{idx: idx}
}

// identityAxes are src for axisIndex that copy every coordinate of shape.
func identityAxes(shape []int) [][]int {
	src := make([][]int, len(shape))
	for a, d := range shape {
		src[a] = make([]int, d)
		for c := range src[a] {
			src[a][c] = c
		}
	}
	return src
}

// constInts reads input i, which must be a constant integer tensor when
// present; nil when it is absent.
func constInts(in []*value, i int, what string) ([]int64, error) {
	if i >= len(in) || in[i] == nil {
		return nil, nil
	}
	if k := in[i].konst; k == nil || k.DType.IsFloat() {
		return nil, fmt.Errorf("the %s must be a constant integer tensor", what)
	}
	return in[i].konst.Ints(), nil
}

// normAxis resolves a possibly negative axis against a rank.
func normAxis(a int64, rank int) (int, error) {
	if a < -int64(rank) || a >= int64(rank) {
		return 0, fmt.Errorf("axis %d outside a rank of %d", a, rank)
	}
	if a < 0 {
		a += int64(rank)
	}
	return int(a), nil
}

// sliceRange is ONNX Slice's clamping of start and end against a dimension
// of d for a step's sign: the first coordinate and how many there are.
func sliceRange(start, end, step int64, d int) (first int64, n int) {
	dd := int64(d)
	if start < 0 {
		start += dd
	}
	if end < 0 {
		end += dd
	}
	var span int64
	if step > 0 {
		start, end = min(max(start, 0), dd), min(max(end, 0), dd)
		span = end - start
	} else {
		start, end = min(max(start, 0), dd-1), min(max(end, -1), dd-1)
		span, step = start-end, -max(step, -math.MaxInt64)
	}
	if span <= 0 {
		return start, 0
	}
	k := span / step
	if span%step != 0 {
		k++
	}
	return start, int(k)
}

func buildSlice(b *builder, n *onnx.Node, in []*value) (layer, []int, error) {
	s, src, err := sliceSrc(b, n, in)
	if err != nil {
		return nil, nil, err
	}
	return outputOf(s, src)
}

// sliceSrc reads Slice's starts, ends and axes, attributes before opset
// 10 and constant inputs, with steps, from it on, as axisIndex's src.
func sliceSrc(b *builder, n *onnx.Node, in []*value) ([]int, [][]int, error) {
	var starts, ends, axes, steps []int64
	var err error
	if b.opset < 10 {
		for _, a := range []struct {
			name string
			to   *[]int64
		}{{"starts", &starts}, {"ends", &ends}, {"axes", &axes}} {
			if *a.to, err = n.Attrs.Ints(a.name); err != nil {
				return nil, nil, err
			}
		}
	} else {
		for i, p := range []*[]int64{&starts, &ends, &axes, &steps} {
			if *p, err = constInts(in, i+1, []string{"starts", "ends", "axes", "steps"}[i]); err != nil {
				return nil, nil, err
			}
		}
	}
	s := in[0].shape
	if axes == nil {
		for i := range starts {
			axes = append(axes, int64(i))
		}
	}
	if len(ends) != len(starts) || len(axes) != len(starts) || steps != nil && len(steps) != len(starts) {
		return nil, nil, fmt.Errorf("%d starts, %d ends, %d axes and %d steps", len(starts), len(ends), len(axes), len(steps))
	}
	src := identityAxes(s)
	seen := make([]bool, len(s))
	for j, a := range axes {
		ax, err := normAxis(a, len(s))
		if err != nil {
			return nil, nil, err
		}
		if seen[ax] {
			return nil, nil, fmt.Errorf("axis %d repeated in %v", ax, axes)
		}
		seen[ax] = true
		step := int64(1)
		if steps != nil {
			step = steps[j]
		}
		if step == 0 {
			return nil, nil, fmt.Errorf("step 0")
		}
		first, k := sliceRange(starts[j], ends[j], step, s[ax])
		src[ax] = make([]int, k)
		for c := range src[ax] {
			src[ax][c] = int(first + int64(c)*step)
		}
	}
	return s, src, nil
}

// outputOf is the indexMap layer for src and its output's shape, which
// must hold an element: an empty tensor has nothing to train.
func outputOf(in []int, src [][]int) (layer, []int, error) {
	out := make([]int, len(src))
	for a, c := range src {
		out[a] = len(c)
	}
	if size(out) == 0 || len(out) == 0 {
		return nil, nil, fmt.Errorf("an output of shape %v is not supported in training", out)
	}
	return axisIndex(in, src), out, nil
}

// buildSplit makes a layer per output: the first is returned, the others
// become nodes of their own here.
func buildSplit(b *builder, n *onnx.Node, in []*value) (layer, []int, error) {
	srcs, err := splitSrcs(b, n, in)
	if err != nil {
		return nil, nil, err
	}
	s := in[0].shape
	var first layer
	var firstShape []int
	for k, src := range srcs {
		if n.Outputs[k] == "" {
			continue
		}
		l, shape, err := outputOf(s, src)
		if err != nil {
			return nil, nil, fmt.Errorf("output %d: %w", k, err)
		}
		if k == 0 {
			first, firstShape = l, shape
		} else if err := b.extraOutput(n, k, l, in, shape); err != nil {
			return nil, nil, err
		}
	}
	if first == nil {
		// The first output is unnamed: a copy nothing reads.
		return reshape{}, s, nil
	}
	return first, firstShape, nil
}

// splitSrcs is axisIndex's src of each output. The sizes are the split
// attribute before opset 13, a constant input from it on, or equal parts
// (the last one smaller from opset 18, whose num_outputs may say how
// many).
func splitSrcs(b *builder, n *onnx.Node, in []*value) ([][][]int, error) {
	s := in[0].shape
	a, err := n.Attrs.Int("axis", 0)
	if err != nil {
		return nil, err
	}
	ax, err := normAxis(a, len(s))
	if err != nil {
		return nil, err
	}
	split, err := splitSizes(b, n, in, s[ax])
	if err != nil {
		return nil, err
	}
	var srcs [][][]int
	at := 0
	for _, part := range split {
		src := identityAxes(s)
		src[ax] = src[ax][at : at+part]
		at += part
		srcs = append(srcs, src)
	}
	return srcs, nil
}

func splitSizes(b *builder, n *onnx.Node, in []*value, d int) ([]int, error) {
	var split []int64
	var err error
	if b.opset < 13 {
		split, err = n.Attrs.Ints("split")
	} else {
		split, err = constInts(in, 1, "split")
	}
	if err != nil {
		return nil, err
	}
	if split == nil {
		parts := int64(len(n.Outputs))
		if b.opset >= 18 {
			if parts, err = n.Attrs.Int("num_outputs", parts); err != nil {
				return nil, err
			}
		}
		if parts < 1 || parts != int64(len(n.Outputs)) {
			return nil, fmt.Errorf("split into %d parts with %d outputs", parts, len(n.Outputs))
		}
		chunk := (int64(d) + parts - 1) / parts
		if int64(d)%parts != 0 && b.opset < 18 {
			return nil, fmt.Errorf("split of %d into %d equal parts", d, parts)
		}
		for left := int64(d); len(split) < int(parts); left -= min(chunk, left) {
			split = append(split, min(chunk, left))
		}
	}
	if len(split) != len(n.Outputs) {
		return nil, fmt.Errorf("split into %d parts with %d outputs", len(split), len(n.Outputs))
	}
	out, sum := make([]int, len(split)), int64(0)
	for i, p := range split {
		if p < 0 || p > int64(d) {
			return nil, fmt.Errorf("split %v of a dimension of %d", split, d)
		}
		out[i], sum = int(p), sum+p
	}
	if sum != int64(d) {
		return nil, fmt.Errorf("split %v does not add up to the dimension's %d", split, d)
	}
	return out, nil
}

// extraOutput adds a node for output k of n, computed by l from the same
// inputs as the node's first output, as builder.node adds that one.
func (b *builder) extraOutput(n *onnx.Node, k int, l layer, in []*value, shape []int) error {
	var nodes G.Nodes
	var shapes [][]int
	var need []bool
	grad := false
	for _, v := range in {
		if v == nil || v.node == nil {
			continue
		}
		nodes = append(nodes, v.node)
		shapes = append(shapes, v.shape)
		need = append(need, v.grad && !b.net.opts.ForwardOnly)
		grad = grad || v.grad
	}
	out, err := apply(newNodeOp(fmt.Sprintf("%s:%d", n.Label(), k), l, shapes, shape, need), nodes...)
	if err != nil {
		return err
	}
	b.vals[n.Outputs[k]] = &value{node: out, shape: shape, grad: grad}
	return nil
}

// buildGather: float data, constant integer indices along one axis; the
// output's shape is data's with that axis replaced by the indices'.
func buildGather(b *builder, n *onnx.Node, in []*value) (layer, []int, error) {
	s := in[0].shape
	if len(in) < 2 || in[1] == nil || in[1].konst == nil || in[1].konst.DType.IsFloat() {
		return nil, nil, fmt.Errorf("the indices must be a constant integer tensor")
	}
	a, err := n.Attrs.Int("axis", 0)
	if err != nil {
		return nil, nil, err
	}
	ax, err := normAxis(a, len(s))
	if err != nil {
		return nil, nil, err
	}
	idx := in[1].konst
	rows := make([]int, idx.Len())
	for k, i := range idx.Ints() {
		if i < 0 {
			i += int64(s[ax])
		}
		if i < 0 || i >= int64(s[ax]) {
			return nil, nil, fmt.Errorf("index %d outside %d values", idx.Ints()[k], s[ax])
		}
		rows[k] = int(i)
	}
	out := append(append(append([]int(nil), s[:ax]...), idx.Shape...), s[ax+1:]...)
	if len(out) == 0 || size(out) == 0 {
		return nil, nil, fmt.Errorf("an output of shape %v is not supported in training", out)
	}
	outer, inner, d := size(s[:ax]), size(s[ax+1:]), s[ax]
	m := &indexMap{idx: make([]int32, 0, size(out))}
	for o := range outer {
		for _, r := range rows {
			for i := range inner {
				m.idx = append(m.idx, int32((o*d+r)*inner+i))
			}
		}
	}
	return m, out, nil
}

func buildExpand(b *builder, n *onnx.Node, in []*value) (layer, []int, error) {
	s, src, err := expandSrc(b, n, in)
	if err != nil {
		return nil, nil, err
	}
	return outputOf(s, src)
}

// expandSrc broadcasts X to the shape given (a constant), both ways as
// NumPy does: the output has the larger of each dimension. It returns
// X's shape with leading 1s up to the output's rank, and axisIndex's src.
func expandSrc(b *builder, n *onnx.Node, in []*value) ([]int, [][]int, error) {
	target, err := constInts(in, 1, "shape")
	if err != nil {
		return nil, nil, err
	}
	if target == nil {
		return nil, nil, fmt.Errorf("the shape is missing")
	}
	t := make([]int, len(target))
	for i, d := range target {
		if d < 0 {
			return nil, nil, fmt.Errorf("shape %v has a negative dimension", target)
		}
		t[i] = int(d)
	}
	s := in[0].shape
	out, err := broadcastShape(s, t)
	if err != nil {
		return nil, nil, err
	}
	// X seen with leading dimensions of 1 up to the output's rank.
	padded := append(make([]int, len(out)-len(s)), s...)
	src := make([][]int, len(out))
	for a, d := range out {
		if a < len(out)-len(s) {
			padded[a] = 1
		}
		src[a] = make([]int, d)
		if padded[a] != 1 {
			for c := range src[a] {
				src[a][c] = c
			}
		}
	}
	return padded, src, nil
}
