// Package dwconv holds the kernels of depthwise-convolution blocks: the
// convolution's (this file) and those of the BatchNorm after it
// (planes.go), both per plane of an NCHW batch. A plane is
// laid out flat, row after row, in a buffer wide enough for the window's
// reach (the padded input, or the output gradient padded for the
// transposed convolution), so that at stride 1 every kernel tap is one
// fixed offset into the flat buffer: the convolution of a whole plane is
// then one long loop with no borders, branches or per-row restarts, and the
// few outputs computed in the padding columns are thrown away by the
// caller. Vector kernels run it where the CPU has them (run-time dispatch,
// dispatch_amd64.go); kernels_go.go is the fallback and the reference.
package dwconv

// Taps sets y[i] = sum over t of k[t] * p[i+off[t]] for i < len(y): the
// correlation of a flat plane with a kernel whose taps sit at offsets off.
// p must reach len(y) past the largest offset.
func Taps(y, p, k []float32, off []int) {
	if len(off) == 0 {
		clear(y)
		return
	}
	reach := 0
	for _, o := range off {
		reach = max(reach, o)
	}
	_ = p[reach+len(y)-1] // keeps the kernels inside p
	_ = k[len(off)-1]
	taps(y, p, k, off)
}

// Dots adds to dk[t] the sum over i < len(g) of g[i] * p[i+off[t]]: each
// tap's weight gradient, g being the output gradient laid out as y is in
// Taps (zero where y's entries are thrown away).
func Dots(dk, g, p []float32, off []int) {
	if len(g) == 0 {
		return
	}
	reach := 0
	for _, o := range off {
		reach = max(reach, o)
	}
	_ = p[reach+len(g)-1]
	_ = dk[len(off)-1]
	dots(dk, g, p, off)
}

// Pad writes into dst, rows x cols, the h x w plane src moved down by top
// rows and right by left columns (either may be negative, cropping src),
// zero elsewhere; dst's entries past rows x cols are zeroed too. Only the
// margins are cleared: planes are small, and the calls, not the bytes,
// were what a whole clear then a copy per row cost.
func Pad(dst []float32, rows, cols int, src []float32, h, w, top, left int) {
	c0, c1 := max(0, left), min(cols, w+left)
	r0, r1 := max(0, top), min(rows, h+top)
	if c0 >= c1 || r0 >= r1 {
		clear(dst)
		return
	}
	clear(dst[:r0*cols])
	for r := r0; r < r1; r++ {
		row := dst[r*cols : (r+1)*cols]
		zero(row[:c0])
		zero(row[c1:])
	}
	CopyRows(dst[r0*cols+c0:], cols, src[(r0-top)*w+c0-left:], w, r1-r0, c1-c0)
	clear(dst[r1*cols:])
}

// zero clears a margin of a few entries in place, where clear would call
// the runtime.
func zero(s []float32) {
	for j := 0; j < len(s); j++ {
		s[j] = 0
	}
}
