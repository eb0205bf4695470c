// Package dwconv holds the kernels of depthwise convolutions. A plane is
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
// zero elsewhere; dst's entries past rows x cols are zeroed too.
func Pad(dst []float32, rows, cols int, src []float32, h, w, top, left int) {
	clear(dst)
	c0, c1 := max(0, left), min(cols, w+left)
	if c0 >= c1 {
		return
	}
	for r := max(0, top); r < min(rows, h+top); r++ {
		copy(dst[r*cols+c0:r*cols+c1], src[(r-top)*w+c0-left:])
	}
}
