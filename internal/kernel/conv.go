package kernel

// Conv3x3 describes a 3x3 convolution, stride 1, padding 1, on NHWC data.
//
// It runs directly on the input, without im2col: the input is first given
// a border of one zero pixel (Pad), and then, for each row of taps, the
// 3*In values under a pixel's three taps are contiguous and the next
// pixel's start In values later. The kernels walk the input in place,
// broadcasting its values against vectors of weights, [3][3][In][Out]
// (DirectWeights), and keep a tile of outputs in registers.
type Conv3x3 struct {
	H, W, In, Out int
}

// K is the number of weights of one output channel: 3*3*In.
func (c Conv3x3) K() int { return 9 * c.In }

// PaddedSize is the length of one image of ch channels with its border of
// one zero pixel.
func (c Conv3x3) PaddedSize(ch int) int { return (c.H + 2) * (c.W + 2) * ch }

// Pad copies n images x of ch channels into xp, each with a border of one
// zero pixel.
func (c Conv3x3) Pad(xp, x []float32, n, ch int) {
	H, W := c.H, c.W
	row, prow := W*ch, (W+2)*ch
	for img := 0; img < n; img++ {
		d := xp[img*c.PaddedSize(ch) : (img+1)*c.PaddedSize(ch)]
		s := x[img*H*row : (img+1)*H*row]
		clear(d[:prow+ch])
		for y := 0; y < H; y++ {
			copy(d[(y+1)*prow+ch:(y+1)*prow+ch+row], s[y*row:(y+1)*row])
			clear(d[(y+1)*prow+ch+row : (y+2)*prow+ch])
		}
		clear(d[(H+1)*prow+ch:])
	}
}

// DirectWeights copies PyTorch's [Out][In][3][3] weights into the layout
// Forward uses: [3][3][In][Out].
func (c Conv3x3) DirectWeights(dst, src []float32) {
	for o := 0; o < c.Out; o++ {
		for i := 0; i < c.In; i++ {
			for k := 0; k < 9; k++ {
				dst[(k*c.In+i)*c.Out+o] = src[(o*c.In+i)*9+k]
			}
		}
	}
}

// UndirectWeights is the inverse of DirectWeights.
func (c Conv3x3) UndirectWeights(dst, src []float32) {
	for o := 0; o < c.Out; o++ {
		for i := 0; i < c.In; i++ {
			for k := 0; k < 9; k++ {
				dst[(o*c.In+i)*9+k] = src[(k*c.In+i)*c.Out+o]
			}
		}
	}
}

// FlippedWeights copies PyTorch's weights into the layout BackwardInput
// uses: the gradient of the input is the convolution of the output's
// gradient with the weights turned by half a circle, In and Out swapped,
// [3][3][Out][In].
func (c Conv3x3) FlippedWeights(dst, src []float32) {
	for o := 0; o < c.Out; o++ {
		for i := 0; i < c.In; i++ {
			for k := 0; k < 9; k++ {
				dst[((8-k)*c.Out+o)*c.In+i] = src[(o*c.In+i)*9+k]
			}
		}
	}
}

// Forward computes y = conv(x) + bias for n images given padded (Pad):
// y is [n][H][W][Out], wd holds DirectWeights.
func (c Conv3x3) Forward(y, xp, wd, bias []float32, n int) {
	c.ForwardRows(y, xp, wd, bias, n, 0, c.H)
}

// ForwardRows is Forward for output rows lo..hi-1 of each image, so that
// an image can be split between CPUs.
func (c Conv3x3) ForwardRows(y, xp, wd, bias []float32, n, lo, hi int) {
	if hi <= lo {
		return
	}
	out, ps := c.H*c.W*c.Out, c.PaddedSize(c.In)
	for img := 0; img < n; img++ {
		yi := y[img*out+lo*c.W*c.Out : img*out+hi*c.W*c.Out]
		if c.In == 1 {
			// Nine multiply-adds per output: a kernel of its own.
			conv1Rows(yi, xp[img*ps+lo*(c.W+2):(img+1)*ps], wd, bias, hi-lo, c.W, c.Out)
			continue
		}
		convDirect(yi, xp[img*ps+lo*(c.W+2)*c.In:(img+1)*ps], wd, bias, hi-lo, c.W, c.In, c.Out, 1, c.W+2)
	}
}

// BackwardWeights adds to dwd, in DirectWeights' layout, the weight
// gradient from dy for n images given padded (Pad).
func (c Conv3x3) BackwardWeights(dwd, dy, xp []float32, n int) {
	if c.In == 1 {
		hw, ps := c.H*c.W, c.PaddedSize(1)
		for img := 0; img < n; img++ {
			conv1GradRows(dwd, xp[img*ps:(img+1)*ps], dy[img*hw*c.Out:(img+1)*hw*c.Out], c.H, c.W, c.Out)
		}
		return
	}
	convGradDirect(dwd, xp, dy, n, c.H, c.W, c.In, c.Out)
}

// ScratchSize is the length of the scratch space BackwardInput needs for n
// images.
func (c Conv3x3) ScratchSize(n int) int { return n * c.PaddedSize(c.Out) }

// BackwardInput writes dx for n images from dy: the convolution of dy with
// wf, the FlippedWeights.
func (c Conv3x3) BackwardInput(dx, dy, wf, scratch []float32, n int) {
	back := Conv3x3{H: c.H, W: c.W, In: c.Out, Out: c.In}
	back.Pad(scratch, dy, n, c.Out)
	back.Forward(dx, scratch, wf, nil, n)
}
