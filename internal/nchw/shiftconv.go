package nchw

import (
	"fmt"

	"github.com/lenetkit/lenetkit/internal/gemm"
	"github.com/lenetkit/lenetkit/internal/poolk"
)

// ShiftConv is a Conv2D computed without an im2col matrix.
//
// The input is laid out padded, each channel a plane of rows Wp = InW +
// PadLeft + PadRight wide, and the output is first computed "flat": for
// each flat position q = oh*Wp + ow, of which those with ow < OutW are
// the output's and the rest land in the padding columns and are dropped.
// In that layout the value tap (kh, kw) multiplies at q is the padded
// plane's element q + kh*Wp + kw, so that the im2col row of a tap is the
// plane itself, shifted by the tap's offset, and the matrix kernel
// (gemm.Shifted) reads it there. A few padding columns per row are
// computed for nothing (Wp-OutW of every Wp); im2col would instead cost a
// pass writing the whole matrix and Sgemm a second one packing it.
//
// A stride of S along an axis splits each padded plane into S phases
// along it, phase a holding the padded rows (or columns) a, a+S, a+2S...:
// output (oh, ow) reads at tap (kh, kw) phase (kh%SH, kw%SW) at (oh +
// kh/SH, ow + kw/SW), so that each phase plane is read as a stride-1
// plane is, Wp being then a phase plane's width, ceil(padded width/SW).
// Every tap is still one row of the product: none is computed for
// nothing.
type ShiftConv struct {
	Conv2D
	g *gemm.Shifted
	// wp is the flat output's row width, a (phase) plane's; n the flat
	// output's columns (OutH*wp rounded up to whole tiles); plane a
	// (phase) plane's floats, and phases the planes of a channel.
	wp, n, plane, phases int
}

// NewShiftConv packs the weights w, [OutC][InC][KH][KW], and the bias,
// [OutC] or nil for none, for a convolution c. It returns an error for a
// shape without an output or a stride over maxShiftStride.
func NewShiftConv(c Conv2D, w, bias []float32) (ShiftConv, error) {
	if c.StrideH < 1 || c.StrideW < 1 || c.StrideH > maxShiftStride || c.StrideW > maxShiftStride ||
		c.InC < 1 || c.OutC < 1 || c.KH < 1 || c.KW < 1 || c.OutH() < 1 || c.OutW() < 1 {
		return ShiftConv{}, fmt.Errorf("nchw: ShiftConv of %+v: only strides up to %d, and shapes that leave an output", c, maxShiftStride)
	}
	k := c.InC * c.KH * c.KW
	if len(w) < c.OutC*k {
		return ShiftConv{}, fmt.Errorf("nchw: ShiftConv: %d weights for %d", len(w), c.OutC*k)
	}
	sh, sw := c.StrideH, c.StrideW
	hp, wpad := c.InH+c.PadTop+c.PadBottom, c.InW+c.PadLeft+c.PadRight
	s := ShiftConv{Conv2D: c, wp: (wpad + sw - 1) / sw, phases: sh * sw}
	// The offsets depend on the plane, the plane on the tile's width: a
	// first Shifted tells the width.
	off := make([]int, k)
	g, err := gemm.NewShifted(c.OutC, k, w, k, off, bias)
	if err != nil {
		return ShiftConv{}, fmt.Errorf("nchw: ShiftConv: %w", err)
	}
	nr := g.Width()
	s.n = (c.OutH()*s.wp + nr - 1) / nr * nr
	// A plane holds its phase's rows of the padded image, and what the
	// last tile reads past the flat output.
	s.plane = max(s.n+(c.KH-1)/sh*s.wp+(c.KW-1)/sw, (hp+sh-1)/sh*s.wp)
	l := 0
	for ic := range c.InC {
		for kh := range c.KH {
			for kw := range c.KW {
				phase := kh%sh*sw + kw%sw
				off[l] = (ic*s.phases+phase)*s.plane + kh/sh*s.wp + kw/sw
				l++
			}
		}
	}
	if s.g, err = gemm.NewShifted(c.OutC, k, w, k, off, bias); err != nil {
		return ShiftConv{}, fmt.Errorf("nchw: ShiftConv: %w", err)
	}
	return s, nil
}

// maxShiftStride bounds ShiftConv's strides: a stride of S splits every
// channel into S*S planes.
const maxShiftStride = 4

// Tiles is the number of tiles of the flat output: Multiply's range.
func (s ShiftConv) Tiles() int { return s.n / s.g.Width() }

// PaddedSize is the floats of the padded input Pad writes.
func (s ShiftConv) PaddedSize() int { return s.InC * s.phases * s.plane }

// FlatSize is the floats of the flat output: FlatStride for each channel,
// and for a few more past OutC when the kernel's tile has more rows.
func (s ShiftConv) FlatSize() int { return s.g.Rows() * s.n }

// FlatStride is the flat output's channel stride; its rows are
// FlatWidth apart, of which the first OutW are the output's.
func (s ShiftConv) FlatStride() int { return s.n }

// FlatWidth is the flat output's row stride: the padded input's width,
// or with a stride a phase plane's.
func (s ShiftConv) FlatWidth() int { return s.wp }

// WeightBytes is the memory the packed weights take.
func (s ShiftConv) WeightBytes() int64 { return 4 * int64(s.g.Rows()*(s.InC*s.KH*s.KW+1)) }

// Pad writes the image x, [InC][InH][InW], into xp, PaddedSize floats,
// each channel a padded plane, or its phase planes. zeroed says xp's
// padding is zero already, as a previous call left it (Pad writes only
// the image's values then).
func (s ShiftConv) Pad(xp, x []float32, zeroed bool) {
	xp = xp[:s.PaddedSize()]
	if !zeroed {
		clear(xp)
	}
	if s.phases > 1 {
		s.padPhases(xp, x)
		return
	}
	hw := s.InH * s.InW
	for ic := range s.InC {
		img, dst := x[ic*hw:(ic+1)*hw], xp[ic*s.plane:]
		d := s.PadTop*s.wp + s.PadLeft
		for r := range s.InH {
			copy(dst[d:d+s.InW], img[r*s.InW:(r+1)*s.InW])
			d += s.wp
		}
	}
}

// padPhases is Pad for strides: each channel split into its phase planes
// (SplitPhases).
func (s ShiftConv) padPhases(xp, x []float32) {
	hw := s.InH * s.InW
	for ic := range s.InC {
		SplitPhases(xp[ic*s.phases*s.plane:], s.plane, s.wp, x[ic*hw:(ic+1)*hw], s.InH, s.InW, s.PadTop, s.PadLeft, s.StrideH, s.StrideW)
	}
}

// SplitPhases writes the image x, h rows of w, padded by top rows and
// left columns, into the sh*sw phase planes of a strided convolution,
// phase (a, b) at dst[(a*sw+b)*plane:] with rows wq wide: padded row pr
// goes to row pr/sh of the phases pr%sh, padded column pc to column
// pc/sw of the phases pc%sw. There every tap of the convolution reads one
// plane as a stride-1 tap does. It writes the image's values alone: the
// padding keeps what dst held, zero as a caller leaves it.
func SplitPhases(dst []float32, plane, wq int, x []float32, h, w, top, left, sh, sw int) {
	// Per column phase b: the first image column in it, how many there
	// are, and where in the phase's row the first lands.
	var first, count, at [maxShiftStride]int
	for b := range sw {
		first[b] = ((b-left)%sw + sw) % sw
		count[b] = max(0, (w-first[b]+sw-1)/sw)
		at[b] = (first[b] + left) / sw
	}
	for r := range h {
		src := x[r*w : (r+1)*w]
		pr := r + top
		row := pr%sh*sw*plane + pr/sh*wq
		if sw == 2 {
			// Image columns 0, 2, 4... to one phase, 1, 3, 5... to
			// the other, a pair at a time.
			even, odd := dst[row+left%2*plane+at[left%2]:], dst[row+(1-left%2)*plane+at[1-left%2]:]
			pairs := w / 2
			even, odd = even[:pairs+w%2], odd[:pairs]
			for j := range odd {
				p := src[2*j : 2*j+2 : 2*j+2]
				even[j], odd[j] = p[0], p[1]
			}
			if w%2 == 1 {
				even[pairs] = src[w-1]
			}
			continue
		}
		for b := range sw {
			d := dst[row+b*plane+at[b]:][:count[b]]
			from := src[first[b]:]
			for j := range d {
				d[j] = from[j*sw]
			}
		}
	}
}

// Multiply computes tiles lo <= j < hi of the flat output yf, FlatSize
// floats, from the padded input xp: yf[oc][q] is the bias plus the sum
// over taps of the weight times xp's plane at q shifted by the tap.
func (s ShiftConv) Multiply(yf, xp []float32, lo, hi int) {
	nr := s.g.Width()
	for j := lo; j < hi; j++ {
		s.g.Mul(xp, j*nr, yf[j*nr:], s.n)
	}
}

// Crop writes output channels lo <= oc < hi of y, [OutC][OutH][OutW],
// from the flat output yf.
func (s ShiftConv) Crop(y, yf []float32, lo, hi int) {
	oh, ow := s.OutH(), s.OutW()
	for oc := lo; oc < hi; oc++ {
		src, dst := yf[oc*s.n:], y[oc*oh*ow:(oc+1)*oh*ow]
		for r := range oh {
			copy(dst[r*ow:(r+1)*ow], src[r*s.wp:r*s.wp+ow])
		}
	}
}

// TileWidth is the flat positions one tile covers: 32 or 16 with the
// assembly kernels, 4 with the pure-Go one.
func (s ShiftConv) TileWidth() int { return s.g.Width() }

// ReluMaxPool writes output channels lo <= oc < hi of y, [OutC][PH][PW],
// the max pooling of ReLU of the convolution in yf over windows of k x k
// at stride k, without padding: PH = (OutH-k)/k + 1, PW likewise (ONNX's
// floor mode). It reads the flat output in place of a Crop and a
// Pool2D with Relu, and agrees with them: NaN is skipped, and a window of
// NaN alone gives 0.
//
// ReLU and max commute, and from a floor of +0 no negative float wins,
// while the others order as their bits do as integers: each window is a
// few integer maxima, without a branch. A NaN (bits above +Inf's) would
// win; its window is pooled again skipping NaN. Windows of 2 and 3 run
// poolk's kernels, a plane a call.
func (s ShiftConv) ReluMaxPool(y, yf []float32, k, lo, hi int) {
	ph, pw := (s.OutH()-k)/k+1, (s.OutW()-k)/k+1
	for oc := lo; oc < hi; oc++ {
		out := y[oc*ph*pw : (oc+1)*ph*pw]
		switch k {
		case 2:
			poolk.ReluMax2x2(out, yf[oc*s.n:], s.wp, 2*s.wp, ph, pw)
			continue
		case 3:
			poolk.ReluMax3x3(out, yf[oc*s.n:], s.wp, 3*s.wp, ph, pw)
			continue
		}
		for r := range ph {
			row := out[r*pw : (r+1)*pw]
			top := yf[oc*s.n+r*k*s.wp:]
			for j := range row {
				row[j] = poolk.ReluMaxWindow(top[j*k:], s.wp, k)
			}
		}
	}
}

// ActCrop is Crop followed by act (an elementwise function such as Tanh
// or Relu, y and x the same slice) on the channels it wrote.
func (s ShiftConv) ActCrop(y, yf []float32, act func(y, x []float32), lo, hi int) {
	s.Crop(y, yf, lo, hi)
	hw := s.OutH() * s.OutW()
	act(y[lo*hw:hi*hw], y[lo*hw:hi*hw])
}

// ActAvgPool writes output channels lo <= oc < hi of y, [OutC][PH][PW],
// the average pooling over windows of k x k at stride k, without
// padding, of act applied to the convolution in yf, as ReluMaxPool's
// windows: LeNet-5's Tanh and AveragePool. act (nil for none) runs on yf
// in place, padding columns and all, which no window reads. Each window
// is summed row by row from zero and divided by k*k, as Pool2D sums it,
// so that the two agree bit for bit.
func (s ShiftConv) ActAvgPool(y, yf []float32, act func(y, x []float32), k, lo, hi int) {
	ph, pw := (s.OutH()-k)/k+1, (s.OutW()-k)/k+1
	n := float32(k * k)
	for oc := lo; oc < hi; oc++ {
		src := yf[oc*s.n : oc*s.n+ph*k*s.wp]
		if act != nil {
			act(src, src)
		}
		out := y[oc*ph*pw : (oc+1)*ph*pw]
		if k == 2 {
			poolk.Avg2x2(out, src, s.wp, 2*s.wp, ph, pw)
			continue
		}
		for r := range ph {
			row := out[r*pw : (r+1)*pw]
			top := src[r*k*s.wp:]
			for j := range row {
				var sum float32
				for dr := range k {
					for _, v := range top[dr*s.wp+j*k : dr*s.wp+j*k+k] {
						sum += v
					}
				}
				row[j] = sum / n
			}
		}
	}
}
