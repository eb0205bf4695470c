package nchw

import "math"

// Pool2D is max or average pooling of one image of C channels.
//
// Its fields are the input's shape [C][H][W], the window's size, the
// strides, the implicit padding on each side and ONNX's ceil_mode and
// count_include_pad attributes. Window sizes and strides must be at least
// 1 and each pad smaller than the window along its axis (as ONNX and
// PyTorch require), so that every window overlaps the input.
type Pool2D struct {
	C, H, W                              int
	KH, KW                               int
	StrideH, StrideW                     int
	PadTop, PadLeft, PadBottom, PadRight int
	CeilMode                             bool
	Max                                  bool // false: average
	CountIncludePad                      bool // average only: divide by the full window (padding counted) instead of the valid elements
}

// OutH is the height of the output by ONNX's formula,
// floor or ceil((H+PadTop+PadBottom-KH)/StrideH) + 1 as CeilMode says. In
// ceil mode a last window that would start in the bottom padding is
// dropped, as PyTorch and ONNX Runtime do, so that every window covers at
// least one input row.
func (p Pool2D) OutH() int { return poolOut(p.H, p.KH, p.StrideH, p.PadTop, p.PadBottom, p.CeilMode) }

// OutW is the width of the output, computed as OutH is.
func (p Pool2D) OutW() int { return poolOut(p.W, p.KW, p.StrideW, p.PadLeft, p.PadRight, p.CeilMode) }

// poolOut is the number of windows along one axis of size n.
func poolOut(n, k, stride, padBegin, padEnd int, ceil bool) int {
	span := n + padBegin + padEnd - k
	if !ceil {
		return span/stride + 1
	}
	out := (span+stride-1)/stride + 1
	if (out-1)*stride >= n+padBegin {
		out--
	}
	return out
}

// Forward pools one image: y is [C][OutH][OutW] and x is [C][H][W].
//
// Max pooling takes the largest input value under each window, ignoring
// the padding (as if it held -Inf). Average pooling follows ONNX's
// AveragePool: the sum of the input values under the window divided by
// their number, or, with CountIncludePad, by the number of window
// positions inside the input and its padding. A window that ceil mode lets
// run past the padding counts only the part inside input plus padding,
// as ONNX Runtime and PyTorch do.
func (p Pool2D) Forward(y, x []float32) {
	oh, ow := p.OutH(), p.OutW()
	hw := p.H * p.W
	for c := range p.C {
		img := x[c*hw : (c+1)*hw]
		out := y[c*oh*ow : (c+1)*oh*ow]
		for r := range oh {
			hs := r*p.StrideH - p.PadTop
			he := hs + p.KH
			// Rows of the window inside input plus padding, then inside
			// the input alone.
			padRows := min(he, p.H+p.PadBottom) - hs
			hs, he = max(hs, 0), min(he, p.H)
			for j := range ow {
				ws := j*p.StrideW - p.PadLeft
				we := ws + p.KW
				padCols := min(we, p.W+p.PadRight) - ws
				ws, we = max(ws, 0), min(we, p.W)
				var v float32
				if p.Max {
					v = maxWindow(img, p.W, hs, he, ws, we)
				} else {
					n := (he - hs) * (we - ws)
					if p.CountIncludePad {
						n = padRows * padCols
					}
					v = avgWindow(img, p.W, hs, he, ws, we, n)
				}
				out[r*ow+j] = v
			}
		}
	}
}

// maxWindow is the largest of img[h][w] for hs <= h < he, ws <= w < we,
// in an image of width w; -Inf for an empty window.
func maxWindow(img []float32, width, hs, he, ws, we int) float32 {
	m := float32(math.Inf(-1))
	for h := hs; h < he; h++ {
		for _, v := range img[h*width+ws : h*width+we] {
			if v > m {
				m = v
			}
		}
	}
	return m
}

// avgWindow is the sum of img[h][w] for hs <= h < he, ws <= w < we,
// divided by n; 0 when n is 0, which only a window lying wholly in the
// padding (against Pool2D's preconditions) could give.
func avgWindow(img []float32, width, hs, he, ws, we, n int) float32 {
	if n <= 0 {
		return 0
	}
	var s float32
	for h := hs; h < he; h++ {
		for _, v := range img[h*width+ws : h*width+we] {
			s += v
		}
	}
	return s / float32(n)
}

// GlobalAveragePool averages each of c channels of hw >= 1 values:
// y[i] = mean of x[i*hw : (i+1)*hw] for i < c. y holds c floats and x
// c*hw. The sums are taken in float64, since hw may be large enough for
// float32 rounding to show.
func GlobalAveragePool(y, x []float32, c, hw int) {
	y = y[:c]
	for i := range y {
		var s float64
		for _, v := range x[i*hw : (i+1)*hw] {
			s += float64(v)
		}
		y[i] = float32(s / float64(hw))
	}
}
