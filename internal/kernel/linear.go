package kernel

import "github.com/lenetkit/lenetkit/internal/gemm"

// Linear is y = x W^T + b on a batch of rows, with PyTorch's [Out][In] W.
type Linear struct {
	In, Out int
}

// Forward computes y[n][Out] from x[n][In].
func (l Linear) Forward(y, x, w, b []float32, n int) {
	for i := 0; i < n; i++ {
		copy(y[i*l.Out:(i+1)*l.Out], b)
	}
	gemm.Sgemm(false, true, n, l.Out, l.In, 1, x, l.In, w, l.In, 1, y, l.Out)
}

// BackwardWeights writes dw = dy^T x.
func (l Linear) BackwardWeights(dw, dy, x []float32, n int) {
	gemm.Sgemm(true, false, l.Out, l.In, n, 1, dy, l.Out, x, l.In, 0, dw, l.In)
}

// SumRows writes the column sums of the rows of length len(dst) in src:
// the gradient of a bias added to every row.
func SumRows(dst, src []float32) {
	clear(dst)
	c := len(dst)
	for p := 0; p+c <= len(src); p += c {
		for i, v := range src[p : p+c] {
			dst[i] += v
		}
	}
}

// BackwardInput writes dx = dy W.
func (l Linear) BackwardInput(dx, dy, w []float32, n int) {
	gemm.Sgemm(false, false, n, l.In, l.Out, 1, dy, l.Out, w, l.In, 0, dx, l.In)
}

// FlattenCHW turns n NHWC maps of HxWxC into PyTorch's Flatten order
// (C, H, W) rows.
func FlattenCHW(dst, src []float32, n, h, w, c int) {
	per := h * w * c
	for img := 0; img < n; img++ {
		s, d := src[img*per:(img+1)*per], dst[img*per:(img+1)*per]
		for p := 0; p < h*w; p++ {
			for ch := 0; ch < c; ch++ {
				d[ch*h*w+p] = s[p*c+ch]
			}
		}
	}
}

// UnflattenCHW is the inverse of FlattenCHW, for gradients.
func UnflattenCHW(dst, src []float32, n, h, w, c int) {
	per := h * w * c
	for img := 0; img < n; img++ {
		s, d := src[img*per:(img+1)*per], dst[img*per:(img+1)*per]
		for p := 0; p < h*w; p++ {
			for ch := 0; ch < c; ch++ {
				d[p*c+ch] = s[ch*h*w+p]
			}
		}
	}
}
