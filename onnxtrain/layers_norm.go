package onnxtrain

import (
	"fmt"
	"math"

	"github.com/lenetkit/lenetkit/internal/dwconv"
	"github.com/lenetkit/lenetkit/internal/kernel"
	"github.com/lenetkit/lenetkit/onnx"
)

func init() {
	register(buildBatchNorm, "BatchNormalization")
	register(buildDropout, "Dropout")
}

// batchNorm is BatchNormalization as PyTorch trains it: in training mode
// each channel is normalised with the batch's mean and (biased) variance,
// and the running statistics move by momentum towards the batch's mean
// and unbiased variance; in eval mode the running statistics normalise.
// Its inputs are x, scale, bias, and the running mean and variance, which
// are the model's initializers and are updated in place.
type batchNorm struct {
	n, c, hw      int
	eps, momentum float64
	train         *bool
	mean, invStd  []float64 // of the last forward, per channel
	// relu is set where the Relu that reads the output alone is fused in
	// (bnrelu.go): the output is relu'd, and the gradient masked where
	// a*x+b, recomputed from the last forward's a and b, was cut.
	relu  bool
	a, sh []float32 // the last forward's map, per channel
}

func buildBatchNorm(b *builder, n *onnx.Node, in []*value) (layer, []int, error) {
	if len(in) != 5 || in[3] == nil || in[4] == nil || in[3].node == nil || in[4].node == nil {
		return nil, nil, fmt.Errorf("want five float inputs: x, scale, bias, mean, var")
	}
	if len(n.Outputs) > 1 && n.Outputs[1] != "" {
		return nil, nil, fmt.Errorf("a training-mode export (running statistics as outputs) is not a model to train: export it in eval mode")
	}
	if in[3].grad || in[4].grad {
		return nil, nil, fmt.Errorf("the running statistics are computed values, not initializers")
	}
	s := in[0].shape
	if len(s) < 2 {
		return nil, nil, fmt.Errorf("input of shape %v: want [N, C, ...]", s)
	}
	c := s[1]
	for i := 1; i < 5; i++ {
		if size(in[i].shape) != c {
			return nil, nil, fmt.Errorf("input %d has %d values for %d channels", i, size(in[i].shape), c)
		}
	}
	eps, err := n.Attrs.Float("epsilon", 1e-5)
	if err != nil {
		return nil, nil, err
	}
	mom, err := n.Attrs.Float("momentum", 0.9)
	if err != nil {
		return nil, nil, err
	}
	bn := &batchNorm{n: s[0], c: c, hw: size(s[2:]), eps: float64(eps), momentum: float64(mom), train: &b.net.train,
		mean: make([]float64, c), invStd: make([]float64, c)}
	return bn, s, nil
}

func (l *batchNorm) forward(y []float32, in [][]float32) {
	x, scale, bias, runMean, runVar := in[0], in[1], in[2], in[3], in[4]
	m := float64(l.n * l.hw)
	if len(l.a) != l.c { // on first use, so that a literal batchNorm works too
		l.a, l.sh = make([]float32, l.c), make([]float32, l.c)
	}
	kernel.Parallel(l.c, func(_, lo, hi int) {
		for c := lo; c < hi; c++ {
			mean, variance := float64(runMean[c]), float64(runVar[c])
			if *l.train {
				mean, variance = l.stats(x, c)
				unbiased := variance
				if m > 1 {
					unbiased = variance * m / (m - 1)
				}
				runMean[c] = float32(l.momentum*float64(runMean[c]) + (1-l.momentum)*mean)
				runVar[c] = float32(l.momentum*float64(runVar[c]) + (1-l.momentum)*unbiased)
			}
			inv := 1 / math.Sqrt(variance+l.eps)
			l.mean[c], l.invStd[c] = mean, inv
			a := float32(float64(scale[c]) * inv)
			sh := bias[c] - float32(mean)*a
			l.a[c], l.sh[c] = a, sh
			for i := range l.n {
				o := (i*l.c + c) * l.hw
				if l.relu {
					dwconv.AffineRelu(y[o:o+l.hw], x[o:o+l.hw], a, sh)
				} else {
					dwconv.Affine(y[o:o+l.hw], x[o:o+l.hw], a, sh)
				}
			}
		}
	})
}

// stats returns channel c's batch mean and biased variance in one pass.
// The sums are taken around a rough mean, the first plane's, so that the
// variance is not the difference of two large numbers; each plane is
// summed in float32 (dwconv's vector kernels), the planes in float64.
func (l *batchNorm) stats(x []float32, c int) (mean, variance float64) {
	var shift float32
	if l.hw > 0 {
		first := x[c*l.hw : (c+1)*l.hw]
		s, _ := dwconv.Stats(first, 0)
		shift = s / float32(l.hw)
	}
	var s, ss float64
	for i := range l.n {
		o := (i*l.c + c) * l.hw
		ps, pss := dwconv.Stats(x[o:o+l.hw], shift)
		s += float64(ps)
		ss += float64(pss)
	}
	m := float64(l.n * l.hw)
	d := s / m
	return float64(shift) + d, max(ss/m-d*d, 0)
}

func (l *batchNorm) backward(dx [][]float32, dy, _ []float32, in [][]float32) {
	x, scale := in[0], in[1]
	m := float64(l.n * l.hw)
	kernel.Parallel(l.c, func(_, lo, hi int) {
		for c := lo; c < hi; c++ {
			mean, inv := l.mean[c], l.invStd[c]
			// sdyx = sum(dy * xhat) = inv * (sum(dy * x) - mean * sum(dy)):
			// one pass, each plane summed in float32, the planes in float64.
			var sdy, sdyxRaw float64
			for i := range l.n {
				o := (i*l.c + c) * l.hw
				var s, sx float32
				if l.relu {
					s, sx = dwconv.ReluGradSums(dy[o:o+l.hw], x[o:o+l.hw], l.a[c], l.sh[c])
				} else {
					s, sx = dwconv.GradSums(dy[o:o+l.hw], x[o:o+l.hw])
				}
				sdy += float64(s)
				sdyxRaw += float64(sx)
			}
			sdyx := inv * (sdyxRaw - mean*sdy)
			if dx[1] != nil {
				dx[1][c] = float32(sdyx)
			}
			if dx[2] != nil {
				dx[2][c] = float32(sdy)
			}
			if dx[0] == nil {
				continue
			}
			// dx = gi * (dy - sdy/m - xhat * sdyx/m), as a*dy + b*x + k.
			gi := float64(scale[c]) * inv
			a, b, k := float32(gi), float32(0), float32(0)
			if *l.train {
				b = float32(-gi * inv * sdyx / m)
				k = float32(-gi*sdy/m + gi*mean*inv*sdyx/m)
			}
			for i := range l.n {
				o := (i*l.c + c) * l.hw
				if l.relu {
					dwconv.ReluAffine2(dx[0][o:o+l.hw], dy[o:o+l.hw], x[o:o+l.hw], a, b, k, l.a[c], l.sh[c])
				} else {
					dwconv.Affine2(dx[0][o:o+l.hw], dy[o:o+l.hw], x[o:o+l.hw], a, b, k)
				}
			}
		}
	})
}

// dropout zeroes each input with probability ratio in training mode and
// scales the rest by 1/(1-ratio); in eval mode it passes x through.
type dropout struct {
	ratio float64
	train *bool
	mask  []float32
	b     *builder
}

func buildDropout(b *builder, n *onnx.Node, in []*value) (layer, []int, error) {
	ratio := 0.5
	if b.opset < 12 {
		r, err := n.Attrs.Float("ratio", 0.5)
		if err != nil {
			return nil, nil, err
		}
		ratio = float64(r)
	} else if r := in[1:]; len(r) > 0 && r[0] != nil {
		if r[0].konst == nil || len(r[0].konst.Float) != 1 {
			return nil, nil, fmt.Errorf("the ratio must be one constant")
		}
		ratio = float64(r[0].konst.Float[0])
	}
	if len(in) > 2 && in[2] != nil {
		return nil, nil, fmt.Errorf("the training_mode input is not supported: lenetkit sets the mode")
	}
	if ratio < 0 || ratio >= 1 {
		return nil, nil, fmt.Errorf("ratio %g outside [0, 1)", ratio)
	}
	return &dropout{ratio: ratio, train: &b.net.train, mask: make([]float32, size(in[0].shape)), b: b}, in[0].shape, nil
}

func (d *dropout) forward(y []float32, in [][]float32) {
	x := in[0]
	if !*d.train || d.ratio == 0 {
		copy(y, x)
		return
	}
	keep := float32(1 / (1 - d.ratio))
	for i := range d.mask {
		d.mask[i] = 0
		if d.b.rng.Float64() >= d.ratio {
			d.mask[i] = keep
		}
		y[i] = x[i] * d.mask[i]
	}
}

func (d *dropout) backward(dx [][]float32, dy, _ []float32, _ [][]float32) {
	if !*d.train || d.ratio == 0 {
		copy(dx[0], dy)
		return
	}
	for i, g := range dy {
		dx[0][i] = g * d.mask[i]
	}
}
