package nhwc

import "fmt"

// dwBlock is the channels one depthwise kernel call takes, and what a
// packed weight row is rounded up to.
const dwBlock = 16

// Depthwise3x3 is a depthwise 3x3 convolution of padding 1 and stride 1
// or 2 over one H x W map of C channels, channels-last, with a bias and
// the output clamped to [lo, hi] (a Relu or a Relu6 fused into it).
type Depthwise3x3 struct {
	H, W, C, Stride int
}

// Check reports whether d is a shape the kernels take.
func (d Depthwise3x3) Check() error {
	if d.H < 1 || d.W < 1 || d.C < 1 || d.Stride < 1 || d.Stride > 2 {
		return fmt.Errorf("nhwc: depthwise 3x3 of %dx%d, %d channels, stride %d", d.H, d.W, d.C, d.Stride)
	}
	return nil
}

// OutH and OutW are the output's rows and columns.
func (d Depthwise3x3) OutH() int { return (d.H-1)/d.Stride + 1 }
func (d Depthwise3x3) OutW() int { return (d.W-1)/d.Stride + 1 }

// ldx is a padded row's floats.
func (d Depthwise3x3) ldx() int { return (d.W + 2) * d.C }

// PaddedSize is the floats of the padded input: one pixel of zeros on
// every side (the last output's taps reach no further at stride 2).
func (d Depthwise3x3) PaddedSize() int { return (d.H + 2) * d.ldx() }

// OutSize is the output's floats.
func (d Depthwise3x3) OutSize() int { return d.OutH() * d.OutW() * d.C }

// packedC is C rounded up to a dwBlock.
func (d Depthwise3x3) packedC() int { return (d.C + dwBlock - 1) / dwBlock * dwBlock }

// WeightsSize is the floats PackWeights writes.
func (d Depthwise3x3) WeightsSize() int { return 10 * d.packedC() }

// PackWeights writes ONNX's weights w, [C][3][3], and bias (nil: none)
// as the kernels read them: nine rows of C weights, one a tap, then the
// bias, each padded with zeros to a dwBlock.
func (d Depthwise3x3) PackWeights(dst, w, bias []float32) {
	pc := d.packedC()
	dst = dst[:10*pc]
	clear(dst)
	for c := range d.C {
		for t := range 9 {
			dst[t*pc+c] = w[c*9+t]
		}
		if bias != nil {
			dst[9*pc+c] = bias[c]
		}
	}
}

// Pad writes map x, H x W x C, into the interior of xp (PaddedSize): its
// border, zero from its making, is never written.
func (d Depthwise3x3) Pad(xp, x []float32) {
	row, ldx := d.W*d.C, d.ldx()
	for r := range d.H {
		copy(xp[(r+1)*ldx+d.C:][:row], x[r*row:][:row])
	}
}

// Forward writes output rows lo..hi-1 to y, OutH x OutW x C, from the
// padded input xp and the packed weights wp.
func (d Depthwise3x3) Forward(y, xp, wp []float32, lo, hi float32, r0, r1 int) {
	if r0 >= r1 {
		return
	}
	ow, ldy := d.OutW(), d.OutW()*d.C
	y = y[r0*ldy : r1*ldy]
	xp = xp[r0*d.Stride*d.ldx() : d.PaddedSize()]
	depthwise(d, y, ldy, xp, wp[:d.WeightsSize()], r1-r0, ow, lo, hi)
}

// depthwiseGo computes channels c0..C-1 of the output.
func depthwiseGo(d Depthwise3x3, y []float32, ldy int, xp, wp []float32, rows, cols int, lo, hi float32, c0 int) {
	taps3x3Go(y, ldy, xp, d.ldx(), d.C, 1, wp, d.packedC(), d.C, d.Stride, rows, cols, lo, hi, c0)
}

// taps3x3Go computes channels c0..c-1 of rows x cols outputs of a 3x3
// convolution of the given stride, as the kernels of writeDepthwise do
// from one description: each output its bias plus the nine taps, in
// order, clamped to [lo, hi]. Input channel ch of padded pixel (i, j) is
// xp[i*ldx+j*pixel+ch*perChannel]: a depthwise convolution's own channel
// (pixel c, perChannel 1), or the stem's one channel (pixel 1, perChannel
// 0); tap t's weights are wp[t*pc:], the bias wp[9*pc:].
func taps3x3Go(y []float32, ldy int, xp []float32, ldx, pixel, perChannel int, wp []float32, pc, c, stride, rows, cols int, lo, hi float32, c0 int) {
	for r := range rows {
		for j := range cols {
			out := y[r*ldy+j*c:]
			for ch := c0; ch < c; ch++ {
				acc := wp[9*pc+ch]
				for ki := range 3 {
					in := xp[(r*stride+ki)*ldx+j*stride*pixel+ch*perChannel:]
					for kj := range 3 {
						acc += wp[(3*ki+kj)*pc+ch] * in[kj*pixel]
					}
				}
				out[ch] = clamp(acc, lo, hi)
			}
		}
	}
}

// clamp is min(max(v, lo), hi) as the kernels compute it: a NaN stays
// NaN.
func clamp(v, lo, hi float32) float32 {
	if v < lo {
		v = lo
	}
	if v > hi {
		v = hi
	}
	return v
}
