package onnxtrain

// Depthwise convolutions (one input channel per group, as MobileNet's)
// run as direct loops over each kernel tap: im2col and a matrix product of
// one row per group would spend their time packing, not multiplying.

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

// depthwiseForward convolves image i's planes into y's.
func (c *conv) depthwiseForward(y, x, w []float32, i int) {
	mg, hw, p := c.m/c.group, c.h*c.w, c.oh*c.ow
	for o := range c.m {
		plane := x[(i*c.c+o/mg)*hw:][:hw]
		out := y[(i*c.m+o)*p:][:p]
		clear(out)
		for ki := range c.kh {
			for kj := range c.kw {
				wv := w[(o*c.kh+ki)*c.kw+kj]
				lo, hi, ix0 := c.tapSpan(kj)
				for oy := range c.oh {
					iy := c.tapRow(oy, ki)
					if iy < 0 {
						continue
					}
					row, src := out[oy*c.ow:], plane[iy*c.w+ix0:]
					for ox := lo; ox < hi; ox++ {
						row[ox] += wv * src[(ox-lo)*c.sw]
					}
				}
			}
		}
	}
}

// depthwiseBackward adds image i's share of the weight gradient to dw and
// writes its input gradient into dx (when not nil).
func (c *conv) depthwiseBackward(dx, dw, dy, x, w []float32, i int) {
	mg, hw, p := c.m/c.group, c.h*c.w, c.oh*c.ow
	if dx != nil {
		clear(dx[i*c.c*hw : (i+1)*c.c*hw])
	}
	for o := range c.m {
		plane := x[(i*c.c+o/mg)*hw:][:hw]
		g := dy[(i*c.m+o)*p:][:p]
		for ki := range c.kh {
			for kj := range c.kw {
				k := (o*c.kh+ki)*c.kw + kj
				lo, hi, ix0 := c.tapSpan(kj)
				var s float32
				for oy := range c.oh {
					iy := c.tapRow(oy, ki)
					if iy < 0 {
						continue
					}
					row, src := g[oy*c.ow:], plane[iy*c.w+ix0:]
					for ox := lo; ox < hi; ox++ {
						s += row[ox] * src[(ox-lo)*c.sw]
					}
					if dx != nil {
						d, wv := dx[(i*c.c+o/mg)*hw+iy*c.w+ix0:], w[k]
						for ox := lo; ox < hi; ox++ {
							d[(ox-lo)*c.sw] += wv * row[ox]
						}
					}
				}
				dw[k] += s
			}
		}
	}
}
