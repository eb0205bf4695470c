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
// loop meets a border. At stride 1 the padded plane is convolved flat
// (package dwconv): every tap is one offset into it, and the input gradient
// is the same correlation, of the padded output gradient with the flipped
// kernel. Other strides run row by row over the padded plane.

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

func getScratch(n int) *[]float32 {
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

// dwGeom is the layout of the padded planes: P, the input padded to pw
// columns (prows rows, then slack for the flat loop's last taps); Q, at
// stride 1, the output gradient padded for the transposed convolution (qw
// columns, qrows rows). off and offT are the taps' offsets into P and Q.
type dwGeom struct {
	prows, pw, plen int
	qrows, qw, qlen int
	qtop, qleft     int
	// shared is where, in Q, the output gradient lies as the weight
	// gradient wants it (pw wide, zero past ow), or -1 where it does not
	// and needs its own copy: with "same" padding Q serves both.
	shared    int
	flat      bool
	off, offT []int
}

// dwTaps is the room for dwGeom's offsets that kernels up to 5x5 need, on
// the caller's stack: the offsets are computed per image, not allocated.
const dwTaps = 25

// dwGeom lays out the planes; the offsets go into offs when they fit.
func (c *conv) dwGeom(offs []int) dwGeom {
	g := dwGeom{flat: c.sh == 1 && c.sw == 1}
	if taps := c.kh * c.kw; 2*taps <= len(offs) {
		g.off, g.offT = offs[:0:taps], offs[taps:taps:2*taps]
	}
	ekh, ekw := (c.kh-1)*c.dh, (c.kw-1)*c.dw
	g.prows, g.pw = (c.oh-1)*c.sh+ekh+1, (c.ow-1)*c.sw+ekw+1
	g.plen = g.prows*g.pw + ekw
	g.qrows, g.qw = c.h+ekh, c.w+ekw
	g.qlen = g.qrows*g.qw + ekw
	g.qtop, g.qleft = ekh-c.padT, ekw-c.padL
	g.shared = g.qtop*g.qw + g.qleft
	if g.qw != g.pw || g.qtop < 0 || g.qleft < 0 || g.shared+c.oh*g.pw > g.qlen {
		g.shared = -1
	}
	for ki := range c.kh {
		for kj := range c.kw {
			g.off = append(g.off, ki*c.dh*g.pw+kj*c.dw)
			g.offT = append(g.offT, (c.kh-1-ki)*c.dh*g.qw+(c.kw-1-kj)*c.dw)
		}
	}
	return g
}

// depthwiseForward convolves image i's planes into y's.
func (c *conv) depthwiseForward(y, x, w []float32, i int) {
	var offs [2 * dwTaps]int
	g := c.dwGeom(offs[:])
	mg, hw, p, taps := c.m/c.group, c.h*c.w, c.oh*c.ow, c.kh*c.kw
	s := getScratch(g.plen + c.oh*g.pw)
	defer dwScratch.Put(s)
	pad, out := (*s)[:g.plen], (*s)[g.plen:]
	for ci := range c.c {
		dwconv.Pad(pad, g.prows, g.pw, x[(i*c.c+ci)*hw:][:hw], c.h, c.w, c.padT, c.padL)
		for o := ci * mg; o < (ci+1)*mg; o++ {
			dst, k := y[(i*c.m+o)*p:][:p], w[o*taps:][:taps]
			if !g.flat {
				c.dwStrided(dst, pad, k, g.pw)
				continue
			}
			dwconv.Taps(out, pad, k, g.off)
			dwconv.CopyRows(dst, c.ow, out, g.pw, c.oh, c.ow)
		}
	}
}

// dwStrided is the forward pass at strides other than 1, row by row.
func (c *conv) dwStrided(y, pad, k []float32, pw int) {
	span := (c.ow-1)*c.sw + 1
	for oy := range c.oh {
		row := y[oy*c.ow:][:c.ow]
		clear(row)
		for ki := range c.kh {
			for kj := range c.kw {
				kv, src := k[ki*c.kw+kj], pad[(oy*c.sh+ki*c.dh)*pw+kj*c.dw:][:span]
				for ox := range row {
					row[ox] += kv * src[ox*c.sw]
				}
			}
		}
	}
}

// depthwiseBackward adds image i's share of the weight gradient to dw and
// writes its input gradient into dx (when not nil).
func (c *conv) depthwiseBackward(dx, dw, dy, x, w []float32, i int) {
	var offs [2 * dwTaps]int
	g := c.dwGeom(offs[:])
	mg, hw, p, taps := c.m/c.group, c.h*c.w, c.oh*c.ow, c.kh*c.kw
	s := getScratch(g.plen + max(c.oh*g.pw+g.qlen+c.h*g.qw, g.plen))
	defer dwScratch.Put(s)
	pad, rest := (*s)[:g.plen], (*s)[g.plen:]
	var plane []float32
	for ci := range c.c {
		dwconv.Pad(pad, g.prows, g.pw, x[(i*c.c+ci)*hw:][:hw], c.h, c.w, c.padT, c.padL)
		if dx != nil {
			plane = dx[(i*c.c+ci)*hw:][:hw]
			if !g.flat {
				clear(plane)
			}
		}
		for o := ci * mg; o < (ci+1)*mg; o++ {
			gy, k, dk := dy[(i*c.m+o)*p:][:p], w[o*taps:][:taps], dw[o*taps:][:taps]
			if !g.flat {
				c.dwStridedBackward(plane, rest[:g.plen], gy, pad, k, dk, g.pw)
				continue
			}
			q, d := rest[c.oh*g.pw:][:g.qlen], rest[c.oh*g.pw+g.qlen:][:c.h*g.qw]
			wide := rest[:c.oh*g.pw]
			if g.shared >= 0 {
				wide = q[g.shared:][:c.oh*g.pw]
			}
			if plane != nil || g.shared >= 0 {
				dwconv.Pad(q, g.qrows, g.qw, gy, c.oh, c.ow, g.qtop, g.qleft)
			}
			if g.shared < 0 {
				dwconv.Pad(wide, c.oh, g.pw, gy, c.oh, c.ow, 0, 0)
			}
			dwconv.Dots(dk, wide, pad, g.off)
			if plane == nil {
				continue
			}
			dwconv.Taps(d, q, k, g.offT)
			if o == ci*mg { // the first output of the group sets the plane
				dwconv.CopyRows(plane, c.w, d, g.qw, c.h, c.w)
			} else {
				dwconv.AddRows(plane, c.w, d, g.qw, c.h, c.w)
			}
		}
	}
}

// dwStridedBackward is the backward pass at strides other than 1: the
// weight gradient as a dot product per tap and row, the input gradient
// scattered into the padded plane dpad, then added into plane (when not
// nil) without the padding.
func (c *conv) dwStridedBackward(plane, dpad, gy, pad, k, dk []float32, pw int) {
	span := (c.ow-1)*c.sw + 1
	clear(dpad)
	for oy := range c.oh {
		row := gy[oy*c.ow:][:c.ow]
		for ki := range c.kh {
			for kj := range c.kw {
				t, at := ki*c.kw+kj, (oy*c.sh+ki*c.dh)*pw+kj*c.dw
				src, dst := pad[at:][:span], dpad[at:][:span]
				kv := k[t]
				var s float32
				for ox, g := range row {
					s += g * src[ox*c.sw]
					dst[ox*c.sw] += kv * g
				}
				dk[t] += s
			}
		}
	}
	if plane == nil {
		return
	}
	rows, cols := (len(dpad)-(c.kw-1)*c.dw)/pw, min(c.w, pw-c.padL)
	for iy := range min(c.h, rows-c.padT) {
		row, src := plane[iy*c.w:][:cols], dpad[(iy+c.padT)*pw+c.padL:][:cols]
		for ix := range row {
			row[ix] += src[ix]
		}
	}
}
