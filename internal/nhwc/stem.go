package nhwc

// Stem3x3 is a 3x3 convolution of padding 1 and stride 1 or 2 from an
// H x W map of one channel to C channels, channels-last, with a bias and
// the output clamped to [lo, hi]: a MobileNet's first layer on a gray
// image. It is the depthwise convolution with each tap's input broadcast
// to every channel, and its weights are packed as Depthwise3x3's.
type Stem3x3 struct {
	H, W, C, Stride int
}

// Check reports whether s is a shape the kernels take.
func (s Stem3x3) Check() error { return s.dw().Check() }

// dw is the depthwise convolution of the same shape and weights.
func (s Stem3x3) dw() Depthwise3x3 { return Depthwise3x3(s) }

// OutH and OutW are the output's rows and columns.
func (s Stem3x3) OutH() int { return s.dw().OutH() }
func (s Stem3x3) OutW() int { return s.dw().OutW() }

// PaddedSize is the floats of the padded one-channel input.
func (s Stem3x3) PaddedSize() int { return (s.H + 2) * (s.W + 2) }

// WeightsSize is the floats PackWeights writes.
func (s Stem3x3) WeightsSize() int { return s.dw().WeightsSize() }

// PackWeights writes ONNX's weights w, [C][1][3][3], and bias (nil:
// none) as the kernels read them.
func (s Stem3x3) PackWeights(dst, w, bias []float32) { s.dw().PackWeights(dst, w, bias) }

// Pad writes the image x, H x W, into the interior of xp (PaddedSize):
// its border, zero from its making, is never written.
func (s Stem3x3) Pad(xp, x []float32) {
	for r := range s.H {
		copy(xp[(r+1)*(s.W+2)+1:][:s.W], x[r*s.W:][:s.W])
	}
}

// Forward writes output rows r0..r1-1, each OutW pixels of C channels,
// ldy floats apart in y (which may be the interior of the next layer's
// padded map; at least a row's floats), from the padded input xp and
// the packed weights wp.
func (s Stem3x3) Forward(y []float32, ldy int, xp, wp []float32, lo, hi float32, r0, r1 int) {
	if r0 >= r1 {
		return
	}
	y = y[r0*ldy : (r1-1)*ldy+s.OutW()*s.C]
	xp = xp[r0*s.Stride*(s.W+2) : s.PaddedSize()]
	stem(s, y, ldy, xp, wp[:s.WeightsSize()], r1-r0, s.OutW(), lo, hi)
}

// stemGo computes channels c0..C-1 of the output.
func stemGo(s Stem3x3, y []float32, ldy int, xp, wp []float32, rows, cols int, lo, hi float32, c0 int) {
	taps3x3Go(y, ldy, xp, s.W+2, 1, 0, wp, s.dw().packedC(), s.C, s.Stride, rows, cols, lo, hi, c0)
}
