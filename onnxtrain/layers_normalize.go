package onnxtrain

import (
	"fmt"
	"math"
	"slices"

	"github.com/lenetkit/lenetkit/onnx"
)

func init() {
	register(computed(buildInstanceNorm), "InstanceNormalization")
	register(computed(buildLayerNorm), "LayerNormalization")
	register(computed(buildLRN), "LRN")
	register(computed(buildMVN), "MeanVarianceNormalization")
}

// normalize standardises each of rows rows of cols values by the row's
// own mean and population variance (float64, two passes, as the
// backend), then scales and shifts it: InstanceNormalization (a row is a
// channel's plane, its parameters the channel's) and LayerNormalization
// (a row is the trailing axes, each parameter per column or one for all).
type normalize struct {
	rows, cols int
	eps        float64
	channels   int    // InstanceNorm: parameter r % channels for row r
	nparam     [2]int // LayerNorm: scale's and shift's values, cols or 1
	shift      bool
	mean, inv  []float64
}

// param is input k's (1 scale, 2 shift) index for row r's column j.
func (l *normalize) param(k, r, j int) int {
	switch {
	case l.channels > 0:
		return r % l.channels
	case l.nparam[k-1] == 1:
		return 0
	}
	return j
}

func buildInstanceNorm(b *builder, n *onnx.Node, in []*value) (layer, []int, error) {
	s := in[0].shape
	if len(s) < 3 || len(in) != 3 || in[1] == nil || in[2] == nil {
		return nil, nil, fmt.Errorf("want X of [N, C, spatial...], scale and B")
	}
	for i := 1; i < 3; i++ {
		if len(in[i].shape) != 1 || in[i].shape[0] != s[1] {
			return nil, nil, fmt.Errorf("input %d of shape %v for %d channels", i, in[i].shape, s[1])
		}
	}
	eps, err := n.Attrs.Float("epsilon", 1e-5)
	if err != nil {
		return nil, nil, err
	}
	return newNormalize(s[0]*s[1], size(s[2:]), float64(eps), s[1], [2]int{}, true), s, nil
}

func newNormalize(rows, cols int, eps float64, channels int, nparam [2]int, shift bool) *normalize {
	return &normalize{rows: rows, cols: cols, eps: eps, channels: channels, nparam: nparam, shift: shift,
		mean: make([]float64, rows), inv: make([]float64, rows)}
}

// buildLayerNorm normalises over the axes from axis on. Scale and B hold
// one value or one per normalised element (leading 1s aside), as the
// backend takes them; the Mean and InvStdDev outputs are not trained.
func buildLayerNorm(b *builder, n *onnx.Node, in []*value) (layer, []int, error) {
	s := in[0].shape
	if len(s) < 2 || len(in) < 2 || in[1] == nil {
		return nil, nil, fmt.Errorf("want X of two dimensions or more and a scale")
	}
	uses := b.g.Uses()
	for _, o := range n.Outputs[1:] {
		if o != "" && uses[o] > 0 {
			return nil, nil, fmt.Errorf("its output %q (the mean or inverse deviation) is not supported in training", o)
		}
	}
	a, err := n.Attrs.Int("axis", -1)
	if err != nil {
		return nil, nil, err
	}
	ax, err := normAxis(a, len(s))
	if err != nil {
		return nil, nil, err
	}
	eps, err := n.Attrs.Float("epsilon", 1e-5)
	if err != nil {
		return nil, nil, err
	}
	norm := s[ax:]
	trim := func(s []int) []int {
		for len(s) > 0 && s[0] == 1 {
			s = s[1:]
		}
		return s
	}
	shift := len(in) > 2 && in[2] != nil
	var nparam [2]int
	for i := 1; i <= 2 && i < len(in) && in[i] != nil; i++ {
		p := in[i].shape
		if size(p) != 1 && !slices.Equal(trim(p), trim(norm)) {
			return nil, nil, fmt.Errorf("input %d of shape %v for normalised axes %v", i, p, norm)
		}
		nparam[i-1] = size(p)
	}
	return newNormalize(size(s[:ax]), size(norm), float64(eps), 0, nparam, shift), s, nil
}

func (l *normalize) forward(y []float32, in [][]float32) {
	x, scale := in[0], in[1]
	for r := range l.rows {
		row := x[r*l.cols : (r+1)*l.cols]
		var m, ss float64
		for _, v := range row {
			m += float64(v)
		}
		m /= float64(l.cols)
		for _, v := range row {
			ss += (float64(v) - m) * (float64(v) - m)
		}
		inv := 1 / math.Sqrt(ss/float64(l.cols)+l.eps)
		l.mean[r], l.inv[r] = m, inv
		for j, v := range row {
			t := 0.0
			if l.shift {
				t = float64(in[2][l.param(2, r, j)])
			}
			y[r*l.cols+j] = float32((float64(v)-m)*inv*float64(scale[l.param(1, r, j)]) + t)
		}
	}
}

// backward: with xhat the standardised row and g = dy*scale, the input's
// gradient is inv * (g - mean(g) - xhat * mean(g*xhat)).
func (l *normalize) backward(dx [][]float32, dy, _ []float32, in [][]float32) {
	x, scale := in[0], in[1]
	for _, d := range dx[1:] {
		clear(d)
	}
	for r := range l.rows {
		m, inv := l.mean[r], l.inv[r]
		var sg, sgx float64
		for j := range l.cols {
			e := r*l.cols + j
			p := l.param(1, r, j)
			xhat := (float64(x[e]) - m) * inv
			g := float64(dy[e]) * float64(scale[p])
			sg += g
			sgx += g * xhat
			if dx[1] != nil {
				dx[1][p] += float32(float64(dy[e]) * xhat)
			}
			if l.shift && dx[2] != nil {
				dx[2][l.param(2, r, j)] += dy[e]
			}
		}
		if dx[0] == nil {
			continue
		}
		c := float64(l.cols)
		for j := range l.cols {
			e := r*l.cols + j
			xhat := (float64(x[e]) - m) * inv
			g := float64(dy[e]) * float64(scale[l.param(1, r, j)])
			dx[0][e] = float32(inv * (g - sg/c - xhat*sgx/c))
		}
	}
}

// lrn is LocalResponseNormalization across channels: with S the sum of
// squares over the size channels around c, d = bias + alpha/size * S and
// y = x * d^-beta. d is kept for backward.
type lrn struct {
	n, c, hw, size    int
	alpha, beta, bias float64
	d                 []float64
}

func buildLRN(b *builder, n *onnx.Node, in []*value) (layer, []int, error) {
	s := in[0].shape
	if len(s) < 2 {
		return nil, nil, fmt.Errorf("input of shape %v: want [N, C, ...]", s)
	}
	if !n.Attrs.Has("size") {
		return nil, nil, fmt.Errorf("the size attribute is missing")
	}
	sz, err := n.Attrs.Int("size", 0)
	if err != nil {
		return nil, nil, err
	}
	if sz < 1 {
		return nil, nil, fmt.Errorf("size %d", sz)
	}
	l := &lrn{n: s[0], c: s[1], hw: size(s[2:]), size: int(sz), d: make([]float64, size(s))}
	for _, a := range []struct {
		name string
		def  float32
		to   *float64
	}{{"alpha", 1e-4, &l.alpha}, {"beta", 0.75, &l.beta}, {"bias", 1, &l.bias}} {
		v, err := n.Attrs.Float(a.name, a.def)
		if err != nil {
			return nil, nil, err
		}
		*a.to = float64(v)
	}
	return l, s, nil
}

// window is the channels whose squares normalise channel i: from i-lo to
// i+hi, lo and hi the floor and ceiling of (size-1)/2, as ONNX says.
func (l *lrn) window(i int) (int, int) {
	lo, hi := (l.size-1)/2, l.size/2
	return max(0, i-lo), min(l.c-1, i+hi)
}

func (l *lrn) forward(y []float32, in [][]float32) {
	x := in[0]
	k := l.alpha / float64(l.size)
	for b := range l.n {
		img := b * l.c * l.hw
		for i := range l.c {
			lo, hi := l.window(i)
			for j := range l.hw {
				var s float64
				for ch := lo; ch <= hi; ch++ {
					v := float64(x[img+ch*l.hw+j])
					s += v * v
				}
				e := img + i*l.hw + j
				l.d[e] = l.bias + k*s
				y[e] = float32(float64(x[e]) * math.Pow(l.d[e], -l.beta))
			}
		}
	}
}

// backward: dx_m = dy_m d_m^-beta - 2 beta alpha/size x_m sum over the
// channels i whose window holds m of dy_i x_i d_i^(-beta-1).
func (l *lrn) backward(dx [][]float32, dy, _ []float32, in [][]float32) {
	x := in[0]
	k := 2 * l.beta * l.alpha / float64(l.size)
	lo, hi := (l.size-1)/2, l.size/2
	for b := range l.n {
		img := b * l.c * l.hw
		for m := range l.c {
			// Channel i's window holds m when i-lo <= m <= i+hi.
			first, last := max(0, m-hi), min(l.c-1, m+lo)
			for j := range l.hw {
				var s float64
				for i := first; i <= last; i++ {
					e := img + i*l.hw + j
					s += float64(dy[e]) * float64(x[e]) * math.Pow(l.d[e], -l.beta-1)
				}
				e := img + m*l.hw + j
				dx[0][e] = float32(float64(dy[e])*math.Pow(l.d[e], -l.beta) - k*float64(x[e])*s)
			}
		}
	}
}

// mvn is MeanVarianceNormalization: each group of elements (those equal
// along the axes kept) standardised as the backend does it,
//
//	y = d / (s + 1e-9), d = x - mean, s = sqrt(E[x^2] - mean^2),
//
// whose gradient, with n the group's size, is
//
//	dx = (dy - mean(dy)) / (s + e) - d * sum(dy * d) / (n * s * (s + e)^2).
type mvn struct {
	group     []int32
	n         float64
	mean, std []float64 // per group: the mean and s
}

func buildMVN(b *builder, n *onnx.Node, in []*value) (layer, []int, error) {
	s := in[0].shape
	axes, err := n.Attrs.Ints("axes")
	if err != nil {
		return nil, nil, err
	}
	if axes == nil {
		axes = []int64{0, 2, 3}
	}
	kept := slices.Clone(s)
	for _, a := range axes {
		ax, err := normAxis(a, len(s))
		if err != nil {
			return nil, nil, err
		}
		kept[ax] = 1
	}
	groups := size(kept)
	return &mvn{group: broadcastIndex(kept, s), n: float64(size(s) / max(groups, 1)),
		mean: make([]float64, groups), std: make([]float64, groups)}, s, nil
}

func (l *mvn) forward(y []float32, in [][]float32) {
	x := in[0]
	sq := make([]float64, len(l.mean))
	clear(l.mean)
	for i, g := range l.group {
		l.mean[g] += float64(x[i])
		sq[g] += float64(x[i]) * float64(x[i])
	}
	for g := range l.mean {
		l.mean[g] /= l.n
		l.std[g] = math.Sqrt(max(sq[g]/l.n-l.mean[g]*l.mean[g], 0))
	}
	for i, g := range l.group {
		y[i] = float32((float64(x[i]) - l.mean[g]) / (l.std[g] + mvnEpsilon))
	}
}

// mvnEpsilon is what MeanVarianceNormalization's body adds to the std.
const mvnEpsilon = 1e-9

func (l *mvn) backward(dx [][]float32, dy, _ []float32, in [][]float32) {
	if dx[0] == nil {
		return
	}
	x := in[0]
	sdy, sdyd := make([]float64, len(l.mean)), make([]float64, len(l.mean))
	for i, g := range l.group {
		d := float64(x[i]) - l.mean[g]
		sdy[g] += float64(dy[i])
		sdyd[g] += float64(dy[i]) * d
	}
	for i, g := range l.group {
		s, d := l.std[g], float64(x[i])-l.mean[g]
		v := (float64(dy[i]) - sdy[g]/l.n) / (s + mvnEpsilon)
		if s > 0 {
			v -= d * sdyd[g] / (l.n * s * (s + mvnEpsilon) * (s + mvnEpsilon))
		}
		dx[0][i] = float32(v)
	}
}
