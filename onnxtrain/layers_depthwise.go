package onnxtrain

import (
	"sync"

	"github.com/lenetkit/lenetkit/internal/dwconv"
)

// Depthwise convolutions (one input channel per group, as MobileNet's) run
// as direct loops over each kernel tap: im2col and a matrix product of one
// row per group would spend their time packing, not multiplying.
//
// Each input plane is first copied into a zero-padded buffer, so that no
// loop meets a border, and convolved flat (package dwconv): every tap is
// one offset into the buffer. At stride s the buffer holds the padded
// plane's s x s phases (rows and columns split by their remainder mod s),
// each a plane the strided taps read at stride 1. The input gradient is
// the same correlation, of the padded output gradient with the flipped
// kernel: at stride 1 straight into dx, at other strides one correlation
// per phase with the taps that read it, scattered back into dx.

// depthwise reports whether each group reads one input channel.
func (c *conv) depthwise() bool { return c.group > 1 && c.c == c.group }

// tapSpan is, for kernel column kj, the output columns [lo, hi) whose
// window's tap falls inside the image, and the input column of lo.
func (c *conv) tapSpan(kj int) (lo, hi, ix0 int) {
	off := kj*c.dw - c.padL
	lo = max(0, ceilDiv(-off, c.sw))
	hi = min(c.ow, (c.w-1-off)/c.sw+1)
	if c.w-1-off < 0 {
		hi = 0
	}
	return lo, max(lo, hi), lo*c.sw + off
}

// tapRow is the input row of output row oy's tap ki, or -1 outside.
func (c *conv) tapRow(oy, ki int) int {
	if iy := oy*c.sh - c.padT + ki*c.dh; iy >= 0 && iy < c.h {
		return iy
	}
	return -1
}

// dwScratch holds one call's buffers; calls take them from a pool since
// the callers run on workers with no buffers of their own to lend.
var dwScratch sync.Pool

func dwGetScratch(n int) *[]float32 {
	s, _ := dwScratch.Get().(*[]float32)
	if s == nil {
		s = new([]float32)
	}
	if cap(*s) < n {
		*s = make([]float32, n)
	}
	*s = (*s)[:n]
	return s
}

// dwGeom is the layout of the buffers: P, the padded input as sh x sw
// phase planes of rows x cols (at stride 1, one: the padded plane), then
// slack for the flat loop's last taps; Q, the output gradient padded by
// qtop rows and qleft columns to qrows x qw for the input gradient, which
// comes out qw wide (at stride 1, h rows: dx's own; at other strides, rows
// per phase). off and offT are the taps' offsets into P and (stride 1) Q.
type dwGeom struct {
	rows, cols, plen int
	qrows, qw, qlen  int
	qtop, qleft      int
	// shared is where, in Q, the output gradient lies as the weight
	// gradient wants it (cols wide, zero past ow), or -1 where it does not
	// and needs its own copy: with "same" padding Q serves both.
	shared    int
	flat      bool
	off, offT []int
}

// dwTaps is the room for dwGeom's offsets that kernels up to 5x5 need, on
// the caller's stack: the offsets are computed per image, not allocated.
const dwTaps = 25

// dwGeom lays out the buffers; the offsets go into offs when they fit.
func (c *conv) dwGeom(offs []int) dwGeom {
	g := dwGeom{flat: c.sh == 1 && c.sw == 1}
	if taps := c.kh * c.kw; 2*taps <= len(offs) {
		g.off, g.offT = offs[:0:taps], offs[taps:taps:2*taps]
	}
	ekh, ekw := (c.kh-1)*c.dh, (c.kw-1)*c.dw
	g.rows = ceilDiv((c.oh-1)*c.sh+ekh+1, c.sh)
	g.cols = ceilDiv((c.ow-1)*c.sw+ekw+1, c.sw)
	plane := g.rows * g.cols
	g.plen = c.sh*c.sw*plane + ekw/c.sw
	if g.flat {
		g.qrows, g.qw, g.qtop, g.qleft = c.h+ekh, c.w+ekw, ekh-c.padT, ekw-c.padL
	} else {
		g.qtop, g.qleft = ekh/c.sh, ekw/c.sw
		g.qrows, g.qw = g.rows+g.qtop, g.cols+g.qleft
	}
	g.qlen = g.qrows*g.qw + max(ekw, g.qleft)
	g.shared = g.qtop*g.qw + g.qleft
	if g.qw != g.cols || g.qtop < 0 || g.qleft < 0 || g.shared+c.oh*g.cols > g.qlen {
		g.shared = -1
	}
	for ki := range c.kh {
		for kj := range c.kw {
			u, v := ki*c.dh, kj*c.dw
			g.off = append(g.off, ((u%c.sh)*c.sw+v%c.sw)*plane+u/c.sh*g.cols+v/c.sw)
			g.offT = append(g.offT, (ekh-u)*g.qw+ekw-v)
		}
	}
	return g
}

// dwFill writes image plane src into P.
func (c *conv) dwFill(pad, src []float32, g *dwGeom) {
	if g.flat {
		dwconv.Pad(pad, g.rows, g.cols, src, c.h, c.w, c.padT, c.padL)
		return
	}
	clear(pad)
	for a := range c.sh {
		for b := range c.sw {
			base := (a*c.sw + b) * g.rows * g.cols
			lo, hi := c.dwPhaseSpan(b, g.cols)
			for r := range g.rows {
				iy := r*c.sh + a - c.padT
				if iy < 0 || iy >= c.h || lo >= hi {
					continue
				}
				row, in := pad[base+r*g.cols:][lo:hi], src[iy*c.w+lo*c.sw+b-c.padL:]
				for j := range row {
					row[j] = in[j*c.sw]
				}
			}
		}
	}
}

// dwPhaseSpan is the columns [lo, hi) of phase b's planes that hold input
// columns, of the cols a phase row has.
func (c *conv) dwPhaseSpan(b, cols int) (lo, hi int) {
	lo = max(0, ceilDiv(c.padL-b, c.sw))
	if c.w-1+c.padL-b < 0 {
		return lo, lo
	}
	return lo, max(lo, min(cols, (c.w-1+c.padL-b)/c.sw+1))
}

// depthwiseForward convolves image i's planes into y's.
func (c *conv) depthwiseForward(y, x, w []float32, i int) {
	var offs [2 * dwTaps]int
	g := c.dwGeom(offs[:])
	mg, hw, p, taps := c.m/c.group, c.h*c.w, c.oh*c.ow, c.kh*c.kw
	s := dwGetScratch(g.plen + c.oh*g.cols)
	defer dwScratch.Put(s)
	pad, out := (*s)[:g.plen], (*s)[g.plen:]
	for ci := range c.c {
		c.dwFill(pad, x[(i*c.c+ci)*hw:][:hw], &g)
		for o := ci * mg; o < (ci+1)*mg; o++ {
			dwconv.Taps(out, pad, w[o*taps:][:taps], g.off)
			dwconv.CopyRows(y[(i*c.m+o)*p:][:p], c.ow, out, g.cols, c.oh, c.ow)
		}
	}
}

// depthwiseBackward adds image i's share of the weight gradient to dw and
// writes its input gradient into dx (when not nil).
func (c *conv) depthwiseBackward(dx, dw, dy, x, w []float32, i int) {
	var offs [2 * dwTaps]int
	g := c.dwGeom(offs[:])
	mg, hw, p, taps := c.m/c.group, c.h*c.w, c.oh*c.ow, c.kh*c.kw
	dlen := c.h * g.qw
	if !g.flat {
		dlen = g.rows * g.qw
	}
	s := dwGetScratch(g.plen + c.oh*g.cols + g.qlen + dlen)
	defer dwScratch.Put(s)
	pad, wide, q, d := dwSplit(*s, g.plen, c.oh*g.cols, g.qlen, dlen)
	var plane []float32
	for ci := range c.c {
		c.dwFill(pad, x[(i*c.c+ci)*hw:][:hw], &g)
		if dx != nil {
			plane = dx[(i*c.c+ci)*hw:][:hw]
		}
		for o := ci * mg; o < (ci+1)*mg; o++ {
			gy, k, dk := dy[(i*c.m+o)*p:][:p], w[o*taps:][:taps], dw[o*taps:][:taps]
			if plane != nil || g.shared >= 0 {
				dwconv.Pad(q, g.qrows, g.qw, gy, c.oh, c.ow, g.qtop, g.qleft)
			}
			gw := wide
			if g.shared >= 0 {
				gw = q[g.shared:][:len(wide)]
			} else {
				dwconv.Pad(wide, c.oh, g.cols, gy, c.oh, c.ow, 0, 0)
			}
			dwconv.Dots(dk, gw, pad, g.off)
			switch {
			case plane == nil:
			case !g.flat:
				c.dwPhaseGrad(plane, d, q, k, &g, o == ci*mg)
			case o == ci*mg: // the first output of the group sets the plane
				dwconv.Taps(d, q, k, g.offT)
				dwconv.CopyRows(plane, c.w, d, g.qw, c.h, c.w)
			default:
				dwconv.Taps(d, q, k, g.offT)
				dwconv.AddRows(plane, c.w, d, g.qw, c.h, c.w)
			}
		}
	}
}

// dwSplit cuts s into consecutive buffers of the given lengths.
func dwSplit(s []float32, a, b, c, d int) ([]float32, []float32, []float32, []float32) {
	return s[:a], s[a:][:b], s[a+b:][:c], s[a+b+c:][:d]
}

// dwPhaseGrad is the input gradient at strides other than 1: for each phase
// of the padded input, the correlation of Q with the flipped taps that read
// that phase, scattered into plane at the phase's positions (set when
// first, else added).
func (c *conv) dwPhaseGrad(plane, d, q, k []float32, g *dwGeom, first bool) {
	if first {
		clear(plane)
	}
	var ks [dwTaps]float32
	var offs [dwTaps]int
	for a := range c.sh {
		for b := range c.sw {
			kt, ot := ks[:0], offs[:0]
			for ki := range c.kh {
				for kj := range c.kw {
					if u, v := ki*c.dh, kj*c.dw; u%c.sh == a && v%c.sw == b {
						kt = append(kt, k[ki*c.kw+kj])
						ot = append(ot, (g.qtop-u/c.sh)*g.qw+g.qleft-v/c.sw)
					}
				}
			}
			lo, hi := c.dwPhaseSpan(b, g.cols)
			if len(kt) == 0 || lo >= hi {
				continue
			}
			dwconv.Taps(d, q, kt, ot)
			for r := range g.rows {
				iy := r*c.sh + a - c.padT
				if iy < 0 || iy >= c.h {
					continue
				}
				src, out := d[r*g.qw:][lo:hi], plane[iy*c.w+lo*c.sw+b-c.padL:]
				for j, v := range src {
					out[j*c.sw] += v
				}
			}
		}
	}
}
