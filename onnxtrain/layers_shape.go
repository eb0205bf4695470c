package onnxtrain

import (
	"fmt"
	"math"
	"slices"

	"github.com/lenetkit/lenetkit/internal/nchw"
	"github.com/lenetkit/lenetkit/onnx"
)

func init() {
	register(buildIdentity, "Identity")
	register(buildReshape, "Reshape", "Flatten", "Squeeze", "Unsqueeze")
	register(buildTranspose, "Transpose")
	register(buildPad, "Pad")
}

func buildIdentity(*builder, *onnx.Node, []*value) (layer, []int, error) { return nil, nil, nil }

// reshape copies its input under another shape; its gradient is dy's copy.
// Where the builder made its output the input's own buffer, and its input's
// gradient dy's (alias), there is nothing to copy.
type reshape struct{}

func (reshape) forward(y []float32, in [][]float32)                     { copyUnlessSame(y, in[0]) }
func (reshape) backward(dx [][]float32, dy, _ []float32, _ [][]float32) { copyUnlessSame(dx[0], dy) }

func copyUnlessSame(dst, src []float32) {
	if len(dst) > 0 && len(src) > 0 && &dst[0] == &src[0] {
		return
	}
	copy(dst, src)
}

func buildReshape(b *builder, n *onnx.Node, in []*value) (layer, []int, error) {
	out, err := reshaped(b, n, in)
	if err != nil {
		return nil, nil, err
	}
	if size(out) != size(in[0].shape) {
		return nil, nil, fmt.Errorf("%v cannot be reshaped to %v", in[0].shape, out)
	}
	return reshape{}, out, nil
}

// reshaped is the output shape of Reshape, Flatten, Squeeze or Unsqueeze.
func reshaped(b *builder, n *onnx.Node, in []*value) ([]int, error) {
	s := in[0].shape
	switch n.OpType {
	case "Flatten":
		axis, err := n.Attrs.Int("axis", 1)
		if err != nil {
			return nil, err
		}
		a := int(axis)
		if a < 0 {
			a += len(s)
		}
		if a < 0 || a > len(s) {
			return nil, fmt.Errorf("axis %d for rank %d", axis, len(s))
		}
		return []int{size(s[:a]), size(s[a:])}, nil
	case "Reshape":
		k := in[1]
		if k == nil || k.konst == nil || k.konst.Int == nil {
			return nil, fmt.Errorf("the shape must be a constant integer tensor")
		}
		spec := k.konst.Int
		if fixed := b.fixedBatch(); fixed >= 1 && in[0].konst == nil && len(spec) > 0 && spec[0] == fixed && len(s) > 0 {
			// A shape the exporter folded from the input's fixed batch
			// ([10, -1] from x.view(x.size(0), -1)): its first dimension
			// is the batch, the training's.
			spec = append([]int64{int64(s[0])}, spec[1:]...)
		}
		return reshapeTo(s, spec)
	}
	axes, err := axesOf(b, n, in)
	if err != nil {
		return nil, err
	}
	if n.OpType == "Squeeze" {
		var out []int
		for i, d := range s {
			if (axes == nil && d == 1) || slices.Contains(axes, i) || slices.Contains(axes, i-len(s)) {
				if d != 1 {
					return nil, fmt.Errorf("cannot squeeze dimension %d of size %d", i, d)
				}
				continue
			}
			out = append(out, d)
		}
		return out, nil
	}
	r := len(s) + len(axes)
	out := make([]int, 0, r)
	src := 0
	for i := range r {
		if slices.Contains(axes, i) || slices.Contains(axes, i-r) {
			out = append(out, 1)
		} else if src < len(s) {
			out = append(out, s[src])
			src++
		}
	}
	return out, nil
}

// axesOf reads Squeeze's or Unsqueeze's axes: an attribute before opset
// 13, a constant input from it on.
func axesOf(b *builder, n *onnx.Node, in []*value) ([]int, error) {
	var raw []int64
	if b.opset < 13 {
		a, err := n.Attrs.Ints("axes")
		if err != nil {
			return nil, err
		}
		raw = a
	} else if len(in) > 1 && in[1] != nil {
		if in[1].konst == nil || in[1].konst.Int == nil {
			return nil, fmt.Errorf("the axes must be a constant integer tensor")
		}
		raw = in[1].konst.Int
	}
	if raw == nil {
		return nil, nil
	}
	axes := make([]int, len(raw))
	for i, a := range raw {
		axes[i] = int(a)
	}
	return axes, nil
}

// reshapeTo applies ONNX Reshape's rules: 0 copies the input's dimension,
// -1 takes what is left.
func reshapeTo(s []int, spec []int64) ([]int, error) {
	out := make([]int, len(spec))
	infer := -1
	known := 1
	for i, d := range spec {
		switch {
		case d == 0 && i < len(s):
			out[i] = s[i]
		case d == -1 && infer < 0:
			infer = i
			continue
		case d > 0:
			out[i] = int(d)
		default:
			return nil, fmt.Errorf("shape %v is not a valid reshape of %v", spec, s)
		}
		known *= out[i]
	}
	if infer >= 0 {
		if known == 0 || size(s)%known != 0 {
			return nil, fmt.Errorf("shape %v is not a valid reshape of %v", spec, s)
		}
		out[infer] = size(s) / known
	}
	return out, nil
}

// transpose permutes the axes; its gradient is dy under the inverse
// permutation.
type transpose struct {
	shape, perm, outShape, inv []int
}

func buildTranspose(b *builder, n *onnx.Node, in []*value) (layer, []int, error) {
	s := in[0].shape
	p64, err := n.Attrs.Ints("perm")
	if err != nil {
		return nil, nil, err
	}
	perm := make([]int, len(s))
	for i := range perm {
		perm[i] = len(s) - 1 - i
	}
	if p64 != nil {
		if len(p64) != len(s) {
			return nil, nil, fmt.Errorf("perm %v for rank %d", p64, len(s))
		}
		for i, p := range p64 {
			perm[i] = int(p)
		}
	}
	t := &transpose{shape: s, perm: perm, inv: make([]int, len(s)), outShape: make([]int, len(s))}
	seen := make([]bool, len(s))
	for i, p := range perm {
		if p < 0 || p >= len(s) || seen[p] {
			return nil, nil, fmt.Errorf("perm %v is not a permutation", p64)
		}
		seen[p] = true
		t.inv[p] = i
		t.outShape[i] = s[p]
	}
	return t, t.outShape, nil
}

func (t *transpose) forward(y []float32, in [][]float32) { nchw.Transpose(y, in[0], t.shape, t.perm) }
func (t *transpose) backward(dx [][]float32, dy, _ []float32, _ [][]float32) {
	nchw.Transpose(dx[0], dy, t.outShape, t.inv)
}

// pad surrounds the input with a constant; its gradient is dy cropped.
// The input's rows (its last axis) land whole in the output's, so both
// passes copy row by row.
type pad struct {
	shape, out, before []int
	value              float32
	row                int     // the input's row length
	starts             []int32 // the output element each input row starts at
}

func buildPad(b *builder, n *onnx.Node, in []*value) (layer, []int, error) {
	mode, err := n.Attrs.Str("mode", "constant")
	if err != nil {
		return nil, nil, err
	}
	if mode != "constant" {
		return nil, nil, fmt.Errorf("mode %q: lenetkit trains constant padding only", mode)
	}
	s := in[0].shape
	var pads []int64
	value := float32(0)
	if b.opset < 11 {
		if pads, err = n.Attrs.Ints("pads"); err != nil {
			return nil, nil, err
		}
		if value, err = n.Attrs.Float("value", 0); err != nil {
			return nil, nil, err
		}
	} else {
		if len(in) < 2 || in[1] == nil || in[1].konst == nil || in[1].konst.Int == nil {
			return nil, nil, fmt.Errorf("the pads must be a constant integer tensor")
		}
		pads = in[1].konst.Int
		if len(in) > 2 && in[2] != nil {
			if in[2].konst == nil || len(in[2].konst.Float) != 1 {
				return nil, nil, fmt.Errorf("the constant_value must be a constant scalar")
			}
			value = in[2].konst.Float[0]
		}
		if len(in) > 3 && in[3] != nil {
			return nil, nil, fmt.Errorf("the axes input is not supported")
		}
	}
	if len(pads) != 2*len(s) {
		return nil, nil, fmt.Errorf("%d pads for rank %d", len(pads), len(s))
	}
	if !slices.ContainsFunc(pads, func(v int64) bool { return v != 0 }) {
		// A Pad of nothing (torch's export of LeNet-5 has one before each
		// AveragePool) is a reshape to the same shape: the builder makes
		// its output the input's buffer, where it cleared and copied the
		// map forward and copied its gradient back.
		return reshape{}, s, nil
	}
	p := &pad{shape: s, out: make([]int, len(s)), before: make([]int, len(s)), value: value}
	for i, d := range s {
		p.before[i] = int(pads[i])
		p.out[i] = d + int(pads[i]) + int(pads[i+len(s)])
		if pads[i] < 0 || pads[i+len(s)] < 0 {
			return nil, nil, fmt.Errorf("negative pads %v are not supported", pads)
		}
	}
	p.row = 1
	if len(s) > 0 {
		p.row = s[len(s)-1]
	}
	if p.row > 0 {
		p.starts = make([]int32, size(s)/p.row)
	}
	coord := make([]int, len(s))
	for r := range p.starts {
		off := 0
		for i, c := range coord {
			off = off*p.out[i] + c + p.before[i]
		}
		p.starts[r] = int32(off)
		for i := len(s) - 2; i >= 0; i-- {
			if coord[i]++; coord[i] < s[i] {
				break
			}
			coord[i] = 0
		}
	}
	return p, p.out, nil
}

func (p *pad) forward(y []float32, in [][]float32) {
	if math.Float32bits(p.value) == 0 {
		clear(y)
	} else {
		for i := range y {
			y[i] = p.value
		}
	}
	for r, o := range p.starts {
		copy(y[o:][:p.row], in[0][r*p.row:][:p.row])
	}
}

func (p *pad) backward(dx [][]float32, dy, _ []float32, _ [][]float32) {
	for r, o := range p.starts {
		copy(dx[0][r*p.row:][:p.row], dy[o:][:p.row])
	}
}
