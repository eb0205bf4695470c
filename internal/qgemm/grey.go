package qgemm

import "fmt"

// Grey3x3 is the weights of a 3x3 convolution of one channel (a grey
// image) to n outputs, packed for Epilogue.Grey3x3Pool2's kernels, per
// chunk of 32 outputs:
//   - packed, for VPDPBUSD: per kernel row, two vectors of 16 outputs of
//     four bytes, the row's three weights and a 0 that leaves out the
//     fourth byte read;
//   - packed16, for VPMADDWD: per kernel row, two pairs of int16s, its
//     first two weights, then its third and a 0; per pair, four vectors
//     of eight outputs (grey16Chunk bytes a chunk).
type Grey3x3 struct {
	n        int
	packed   []byte
	packed16 []int16
	w        []int8 // [n][9], for the Go code
}

// greyFunc is the form of Grey3x3Pool2's kernels (greyKernel's).
type greyFunc func(img *byte, pitch, rows, cols, chunks int, w *byte, params *byte, dst *byte, ldd int, lo, hi float32, zp int32)

// grey16Chunk is the bytes of packed16 a chunk of 32 outputs, as
// gen_amd64.go's writeGrey3x3AVX2 steps through them.
const grey16Chunk = 6 * 4 * 32

// NewGrey3x3 packs w, n x 3 x 3 int8 weights of zero point 0.
func NewGrey3x3(n int, w []int8) (*Grey3x3, error) {
	if n < 1 || len(w) != 9*n {
		return nil, fmt.Errorf("qgemm: %d weights for a 3x3 convolution of one channel to %d outputs", len(w), n)
	}
	chunks := (n + 31) / 32
	g := &Grey3x3{n: n, w: w, packed: make([]byte, 384*chunks), packed16: make([]int16, grey16Chunk/2*chunks)}
	for o := range n {
		chunk, v, l := o/32, o%32/16, o%16
		for ky := range 3 {
			at := 384*chunk + 64*(2*ky+v) + 4*l
			for kx := range 3 {
				g.packed[at+kx] = byte(w[o*9+ky*3+kx])
			}
		}
		// int16 pair ky, half of vector o%32/8 holds output o at lane o%8.
		for ky := range 3 {
			for half := range 2 {
				at := grey16Chunk/2*chunk + 64*(2*ky+half) + 16*(o%32/8) + 2*(o%8)
				g.packed16[at] = int16(w[o*9+ky*3+2*half])
				if half == 0 {
					g.packed16[at+1] = int16(w[o*9+ky*3+1])
				}
			}
		}
	}
	return g, nil
}

// Grey3x3Pool2 writes e's outputs for the max pooling, 2x2 windows of
// stride 2, of a 3x3 convolution of stride 1 of img, a grey image of
// bytes padded as the convolution reads it: rows pitch bytes apart, the
// sums Σ x w of the raw bytes (the caller takes the zero point's share,
// -zx Σ w, into e's bias). Pooled pixel (py, px), py < rows and px <
// cols, reads rows 2py..2py+3 and columns 2px..2px+3 of img and goes to
// dst[(py*cols+px)*ldd:], e's n bytes. img must hold a byte past the last
// column read (the kernels read four bytes a kernel row, the fourth
// weighted 0, which may be the next row's first). It is
// Epilogue.Run on those sums, bit for bit.
//
// It returns an error, and writes nothing, when g's outputs are not e's
// or a slice is too short.
func (e *Epilogue) Grey3x3Pool2(g *Grey3x3, img []byte, pitch, rows, cols int, dst []byte, ldd int) error {
	if g.n != e.n || rows < 0 || cols < 0 || pitch < 2*cols+2 || ldd < e.n {
		return fmt.Errorf("qgemm: a 3x3 convolution of %d outputs, %dx%d pooled pixels of rows of %d bytes, with an epilogue of %d columns",
			g.n, rows, cols, pitch, e.n)
	}
	if rows == 0 || cols == 0 {
		return nil
	}
	need := (2*rows+1)*pitch + 2*cols + 3
	if len(img) < need {
		return fmt.Errorf("qgemm: an image of %d bytes, %d read", len(img), need)
	}
	if need := (rows*cols-1)*ldd + e.n; len(dst) < need {
		return fmt.Errorf("qgemm: an output of %d bytes, %d written", len(dst), need)
	}
	if greyAsm(e, g, img, need, pitch, rows, cols, dst, ldd) {
		return nil
	}
	// Each pooled pixel's window of sums, then the epilogue on it.
	acc := make([]int32, 4*e.n)
	window := Window{KH: 2, KW: 2, SH: 2, SW: 2, Width: 2}
	for py := range rows {
		for px := range cols {
			for dy := range 2 {
				for dx := range 2 {
					y, x := 2*py+dy, 2*px+dx
					sums := acc[(2*dy+dx)*e.n:][:e.n]
					for o := range sums {
						var s int32
						for ky := range 3 {
							for kx := range 3 {
								s += int32(img[(y+ky)*pitch+x+kx]) * int32(g.w[o*9+ky*3+kx])
							}
						}
						sums[o] = s
					}
				}
			}
			e.run(vectorEpilogue, window, 1, acc, e.n, dst[(py*cols+px)*ldd:], ldd)
		}
	}
	return nil
}

// GreyFast reports whether Grey3x3Pool2 runs its vector kernels for e: on
// AVX-512 VNNI or AVX2, n a multiple of 32, no table looked up byte by
// byte.
func (e *Epilogue) GreyFast() bool { f, _ := greyKernel(e); return f != nil }

// GreyKernel names the kernel Grey3x3Pool2 runs for e: "grey3x3-avx512vnni",
// "grey3x3-avx2", or "" for the Go code.
func (e *Epilogue) GreyKernel() string {
	switch f, wide := greyKernel(e); {
	case f == nil:
		return ""
	case wide:
		return "grey3x3-avx2"
	}
	return "grey3x3-avx512vnni"
}
