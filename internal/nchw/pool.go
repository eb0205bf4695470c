package nchw

import (
	"math"

	"github.com/lenetkit/lenetkit/internal/poolk"
)

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
	// Relu makes max pooling that of max(x, 0): a ReLU before a MaxPool,
	// which commute, applied to the pooled values, a quarter as many for
	// 2x2 windows. A window of NaN alone gives 0.
	Relu            bool
	CountIncludePad bool // average only: divide by the full window (padding counted) instead of the valid elements
}

// OutH is the height of the output by ONNX's formula,
// floor or ceil((H+PadTop+PadBottom-KH)/StrideH) + 1 as CeilMode says. In
// ceil mode a last window that would start in the bottom padding is
// dropped, as PyTorch and ONNX Runtime do, so that every window covers at
// least one input row.
func (p Pool2D) OutH() int { return PoolOut(p.H, p.KH, p.StrideH, p.PadTop, p.PadBottom, p.CeilMode) }

// OutW is the width of the output, computed as OutH is.
func (p Pool2D) OutW() int { return PoolOut(p.W, p.KW, p.StrideW, p.PadLeft, p.PadRight, p.CeilMode) }

// PoolOut is the number of windows of extent k (a dilated kernel's
// span) along one axis of size n, by ONNX's formula: in ceil mode a last
// window that would start in the end padding is dropped.
func PoolOut(n, k, stride, padBegin, padEnd int, ceil bool) int {
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
	if p.inside(oh, ow) {
		if p.Max {
			p.maxInside(y, x, oh, ow)
		} else {
			p.avgInside(y, x, oh, ow)
		}
		return
	}
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
					if p.Relu && !(v > 0) {
						v = 0
					}
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

// inside reports whether every window lies wholly inside the input: no
// window reaches into the padding, so none needs clipping.
func (p Pool2D) inside(oh, ow int) bool {
	return p.PadTop == 0 && p.PadLeft == 0 && (oh-1)*p.StrideH+p.KH <= p.H && (ow-1)*p.StrideW+p.KW <= p.W
}

// maxInside is Forward's max pooling when every window lies inside the
// input, the common case (2x2 windows at stride 2, no padding), without
// the clipping of each window; 2x2 at stride 2 has a loop of its own, and
// with Relu a vector kernel of poolk's.
// NaN is skipped as maxWindow skips it.
func (p Pool2D) maxInside(y, x []float32, oh, ow int) {
	hw := p.H * p.W
	floor := float32(math.Inf(-1))
	if p.Relu {
		floor = 0
	}
	for c := range p.C {
		img := x[c*hw : (c+1)*hw]
		out := y[c*oh*ow : (c+1)*oh*ow]
		if p.Relu && p.KH == 2 && p.KW == 2 && p.StrideW == 2 {
			poolk.ReluMax2x2(out, img, p.W, p.StrideH*p.W, oh, ow)
			continue
		}
		for r := range oh {
			row := out[r*ow : (r+1)*ow]
			top := img[r*p.StrideH*p.W:]
			if p.KH == 2 && p.KW == 2 && p.StrideW == 2 {
				a, b := top[:2*ow:2*ow], top[p.W:p.W+2*ow:p.W+2*ow]
				for j := range row {
					// Branch-free; max gives NaN for a NaN, rare, which
					// the window's loop then skips as maxWindow does.
					m := max(floor, max(a[2*j], a[2*j+1]), max(b[2*j], b[2*j+1]))
					if m != m {
						m = floor
						for _, v := range [4]float32{a[2*j], a[2*j+1], b[2*j], b[2*j+1]} {
							if v > m {
								m = v
							}
						}
					}
					row[j] = m
				}
				continue
			}
			for j := range row {
				m := floor
				for kh := 0; kh < p.KH; kh++ {
					start := kh*p.W + j*p.StrideW
					for _, v := range top[start : start+p.KW] {
						if v > m {
							m = v
						}
					}
				}
				row[j] = m
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

// avgInside is Forward's average pooling where every window lies inside
// the input (inside): each window's n = KH*KW values, padding counted or
// not, summed in avgWindow's order.
func (p Pool2D) avgInside(y, x []float32, oh, ow int) {
	hw, n := p.H*p.W, float32(p.KH*p.KW)
	for c := range p.C {
		img := x[c*hw : (c+1)*hw]
		out := y[c*oh*ow : (c+1)*oh*ow]
		if p.KH == 2 && p.KW == 2 && p.StrideW == 2 {
			poolk.Avg2x2(out, img, p.W, p.StrideH*p.W, oh, ow)
			continue
		}
		for r := range oh {
			row := out[r*ow : (r+1)*ow]
			top := img[r*p.StrideH*p.W:]
			for j := range row {
				var s float32
				for h := range p.KH {
					for _, v := range top[h*p.W+j*p.StrideW : h*p.W+j*p.StrideW+p.KW] {
						s += v
					}
				}
				row[j] = s / n
			}
		}
	}
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
