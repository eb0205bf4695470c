package nhwc

import "fmt"

// Pointwise is a 1x1 convolution of In to Out channels over runs of
// channels-last pixels, with a bias and the output clamped to [lo, hi]:
// a vector of output channels times each pixel's input channels in turn,
// several pixels at once, read in place (a matrix product packed the
// pixels first, then added the bias and clamped in a pass of its own).
type Pointwise struct {
	In, Out int
}

// pwBlock is the output channels one kernel call takes: two vectors of
// AVX-512.
const pwBlock = 32

// Check reports whether p is a shape the kernels take.
func (p Pointwise) Check() error {
	if p.In < 1 || p.Out < 1 {
		return fmt.Errorf("nhwc: 1x1 convolution of %d to %d channels", p.In, p.Out)
	}
	return nil
}

// ldw is a packed weight row's floats: Out rounded up to a pwBlock.
func (p Pointwise) ldw() int { return (p.Out + pwBlock - 1) / pwBlock * pwBlock }

// WeightsSize is the floats PackWeights writes.
func (p Pointwise) WeightsSize() int { return (p.In + 1) * p.ldw() }

// PackWeights writes ONNX's weights w, [Out][In], and bias (nil: none)
// as the kernels read them: a row of the Out weights of each input
// channel, then the bias, each padded with zeros.
func (p Pointwise) PackWeights(dst, w, bias []float32) {
	ld := p.ldw()
	dst = dst[:p.WeightsSize()]
	clear(dst)
	for o := range p.Out {
		for i := range p.In {
			dst[i*ld+o] = w[o*p.In+i]
		}
		if bias != nil {
			dst[p.In*ld+o] = bias[o]
		}
	}
}

// Forward writes px pixels of Out channels to y, from px pixels of In
// channels in x, by the packed weights wp. y must not overlap x.
func (p Pointwise) Forward(y, x []float32, px int, wp []float32, lo, hi float32) {
	if px <= 0 {
		return
	}
	y, x = y[:px*p.Out], x[:px*p.In]
	pointwise(p, y, x, px, wp[:p.WeightsSize()], lo, hi)
}

// pointwiseGo computes output channels o0..Out-1 of px pixels.
func pointwiseGo(p Pointwise, y, x []float32, px int, wp []float32, lo, hi float32, o0 int) {
	ld := p.ldw()
	bias := wp[p.In*ld:]
	for q := range px {
		in, out := x[q*p.In:][:p.In], y[q*p.Out:][:p.Out]
		for o := o0; o < p.Out; o++ {
			acc := bias[o]
			for i, v := range in {
				acc += v * wp[i*ld+o]
			}
			out[o] = clamp(acc, lo, hi)
		}
	}
}
