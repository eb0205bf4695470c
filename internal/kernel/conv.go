package kernel

import "lenetkit/internal/gemm"

// Conv3x3 describes a 3x3 convolution, stride 1, padding 1, on NHWC data.
type Conv3x3 struct {
	H, W, In, Out int
}

// K is the length of one im2col row: 3*3*In.
func (c Conv3x3) K() int { return 9 * c.In }

// PermuteWeights copies PyTorch's [Out][In][3][3] weights into [Out][3][3][In],
// the order of an NHWC im2col row.
func (c Conv3x3) PermuteWeights(dst, src []float32) {
	for o := 0; o < c.Out; o++ {
		for i := 0; i < c.In; i++ {
			for k := 0; k < 9; k++ {
				dst[(o*9+k)*c.In+i] = src[(o*c.In+i)*9+k]
			}
		}
	}
}

// UnpermuteWeights is the inverse of PermuteWeights.
func (c Conv3x3) UnpermuteWeights(dst, src []float32) {
	for o := 0; o < c.Out; o++ {
		for i := 0; i < c.In; i++ {
			for k := 0; k < 9; k++ {
				dst[(o*c.In+i)*9+k] = src[(o*9+k)*c.In+i]
			}
		}
	}
}

// Im2col writes, for each pixel of n images, the 3x3xIn neighbourhood
// (zeros outside the image) as one row of col.
func (c Conv3x3) Im2col(col, x []float32, n int) {
	H, W, C := c.H, c.W, c.In
	K := 9 * C
	for img := 0; img < n; img++ {
		xi := x[img*H*W*C : (img+1)*H*W*C]
		ci := col[img*H*W*K : (img+1)*H*W*K]
		for y := 0; y < H; y++ {
			for xx := 0; xx < W; xx++ {
				row := ci[(y*W+xx)*K : (y*W+xx+1)*K]
				for ky := 0; ky < 3; ky++ {
					sy := y + ky - 1
					for kx := 0; kx < 3; kx++ {
						sx := xx + kx - 1
						dst := row[(ky*3+kx)*C : (ky*3+kx+1)*C]
						if sy < 0 || sy >= H || sx < 0 || sx >= W {
							clear(dst)
							continue
						}
						copy(dst, xi[(sy*W+sx)*C:(sy*W+sx+1)*C])
					}
				}
			}
		}
	}
}

// Col2imAdd is the adjoint of Im2col: it adds every col entry back onto the
// input pixel it was copied from. dx must be zeroed by the caller.
func (c Conv3x3) Col2imAdd(dx, col []float32, n int) {
	H, W, C := c.H, c.W, c.In
	K := 9 * C
	for img := 0; img < n; img++ {
		xi := dx[img*H*W*C : (img+1)*H*W*C]
		ci := col[img*H*W*K : (img+1)*H*W*K]
		for y := 0; y < H; y++ {
			for xx := 0; xx < W; xx++ {
				row := ci[(y*W+xx)*K : (y*W+xx+1)*K]
				for ky := 0; ky < 3; ky++ {
					sy := y + ky - 1
					if sy < 0 || sy >= H {
						continue
					}
					for kx := 0; kx < 3; kx++ {
						sx := xx + kx - 1
						if sx < 0 || sx >= W {
							continue
						}
						src := row[(ky*3+kx)*C : (ky*3+kx+1)*C]
						dst := xi[(sy*W+sx)*C : (sy*W+sx+1)*C]
						for i, v := range src {
							dst[i] += v
						}
					}
				}
			}
		}
	}
}

// Forward computes y = conv(x) + bias for n images: x is [n][H][W][In],
// y is [n][H][W][Out], wp the permuted weights, col scratch of n*H*W*K.
func (c Conv3x3) Forward(y, x, wp, bias, col []float32, n int) {
	P := n * c.H * c.W
	K := c.K()
	c.Im2col(col, x, n)
	for p := 0; p < P; p++ {
		copy(y[p*c.Out:(p+1)*c.Out], bias)
	}
	gemm.Sgemm(false, true, P, c.Out, K, 1, col, K, wp, K, 1, y, c.Out)
}

// BackwardWeights adds to dwp ([Out][K], permuted) the weight gradient
// from dy for n images whose im2col rows are in col.
func (c Conv3x3) BackwardWeights(dwp, dy, col []float32, n int) {
	P := n * c.H * c.W
	K := c.K()
	gemm.Sgemm(true, false, c.Out, K, P, 1, dy, c.Out, col, K, 1, dwp, K)
}

// BackwardInput writes dx for n images from dy; dcol is scratch of n*H*W*K.
func (c Conv3x3) BackwardInput(dx, dy, wp, dcol []float32, n int) {
	P := n * c.H * c.W
	K := c.K()
	gemm.Sgemm(false, false, P, K, c.Out, 1, dy, c.Out, wp, K, 0, dcol, K)
	clear(dx[:n*c.H*c.W*c.In])
	c.Col2imAdd(dx, dcol, n)
}
