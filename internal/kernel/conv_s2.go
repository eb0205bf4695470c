package kernel

// Conv3x3S2 describes a 3x3 convolution of stride 2 and padding 1 on NHWC
// data, H x W in (any sizes), OutH x OutW out: Conv3x3's kernels, stepping
// two pixels and two rows of the padded input from one output to the
// next. It is the first convolution of a ResNet's stage, which halves the
// map; run in place on the channels-last input, it needs neither the
// channels-first layout nor phase planes.
type Conv3x3S2 struct {
	H, W, In, Out int
}

// OutH is the output's height, ONNX's and PyTorch's floor((H+2-3)/2)+1.
func (c Conv3x3S2) OutH() int { return (c.H-1)/2 + 1 }

// OutW is the output's width, as OutH.
func (c Conv3x3S2) OutW() int { return (c.W-1)/2 + 1 }

// plain is the stride-1 convolution of the same input, whose padding and
// weight layout c shares.
func (c Conv3x3S2) plain() Conv3x3 { return Conv3x3{H: c.H, W: c.W, In: c.In, Out: c.Out} }

// PaddedSize is the length of one input image with its border of one
// zero pixel.
func (c Conv3x3S2) PaddedSize() int { return c.plain().PaddedSize(c.In) }

// Pad copies n input images x into xp, each with a border of one zero
// pixel.
func (c Conv3x3S2) Pad(xp, x []float32, n int) { c.plain().Pad(xp, x, n, c.In) }

// DirectWeights copies PyTorch's [Out][In][3][3] weights into the layout
// Forward uses: [3][3][In][Out].
func (c Conv3x3S2) DirectWeights(dst, src []float32) { c.plain().DirectWeights(dst, src) }

// Forward computes y = conv(x) + bias for n images given padded (Pad): y
// is [n][OutH][OutW][Out], wd holds DirectWeights, a nil bias is zero.
func (c Conv3x3S2) Forward(y, xp, wd, bias []float32, n int) {
	c.ForwardRows(y, xp, wd, bias, n, 0, c.OutH())
}

// ForwardRows is Forward for output rows lo..hi-1 of each image, so that
// an image can be split between CPUs.
func (c Conv3x3S2) ForwardRows(y, xp, wd, bias []float32, n, lo, hi int) {
	if hi <= lo {
		return
	}
	oh, ow := c.OutH(), c.OutW()
	out, ps, wp := oh*ow*c.Out, c.PaddedSize(), c.W+2
	for img := 0; img < n; img++ {
		yi := y[img*out+lo*ow*c.Out : img*out+hi*ow*c.Out]
		xi := xp[img*ps+2*lo*wp*c.In : (img+1)*ps]
		convDirect(yi, xi, wd, bias, hi-lo, ow, c.In, c.Out, 2, wp)
	}
}

// Vectorized reports whether this CPU runs c in assembly rather than in
// the Go fallback, which is slower than the other ways callers have.
func (c Conv3x3S2) Vectorized() bool {
	return directTile(c.OutH(), c.OutW(), c.In, c.Out, 2) != nil
}
