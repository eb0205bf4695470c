package qgemm

import "fmt"

// Window is a pooling of a map of accumulators, one row of C a pixel:
// pixel (y, x) of the map is row y*Width+x. Output pixel (oy, ox) is the
// KH x KW window whose top-left pixel is (oy*SH, ox*SW).
type Window struct {
	KH, KW, SH, SW int
	Width          int
}

// MaxPool writes, for output pixels 0 to pixels-1 of one row of the
// pooling (ox, the first window's top-left pixel at acc's row 0), the
// maximum over each window of each of the n columns of acc (row stride
// ldc) into dst (row stride ldd): before a requantization that does not
// decrease, the same as pooling its outputs. order, when not nil, says
// per column (n values) 0 for the maximum or -1 for the minimum (for a
// column whose epilogue decreases). The windows must lie in acc.
//
// MaxPool returns an error, and writes nothing, when a size is negative or
// zero where it must not be, a window reaches past acc, dst does not hold
// the output, or order has another length.
func MaxPool(w Window, pixels, n int, acc []int32, ldc int, order []int32, dst []int32, ldd int) error {
	if w.KH < 1 || w.KW < 1 || w.SH < 1 || w.SW < 1 || w.Width < w.KW || pixels < 0 || n < 0 {
		return fmt.Errorf("qgemm: pooling %dx%d at stride %dx%d over %d columns, %d pixels of %d values", w.KH, w.KW, w.SH, w.SW, w.Width, pixels, n)
	}
	if order != nil && len(order) != n {
		return fmt.Errorf("qgemm: %d orders for %d columns", len(order), n)
	}
	if pixels == 0 || n == 0 {
		return nil
	}
	last := (pixels-1)*w.SW + (w.KH-1)*w.Width + w.KW - 1
	if err := checkMatrix("the accumulators", last+1, n, len(acc), ldc); err != nil {
		return err
	}
	if err := checkMatrix("the output", pixels, n, len(dst), ldd); err != nil {
		return err
	}
	maxPool(vectorEpilogue, w, pixels, n, acc, ldc, order, dst, ldd)
	return nil
}

// zeros8k is the order of columns that all take the maximum.
var zeros8k [8192]int32

// maxPool is MaxPool on checked arguments, with the vector code when vec.
func maxPool(vec bool, w Window, pixels, n int, acc []int32, ldc int, order []int32, dst []int32, ldd int) {
	if order == nil && n <= len(zeros8k) {
		order = zeros8k[:n]
	}
	done := 0
	if vec && order != nil {
		done = maxPoolAsm(w, pixels, n, acc, ldc, order, dst, ldd)
	}
	if done == n {
		return
	}
	for px := range pixels {
		out := dst[px*ldd+done : px*ldd+n]
		first := px * w.SW
		for j := range out {
			var o int32
			if order != nil {
				o = order[done+j]
			}
			out[j] = acc[first*ldc+done+j] ^ o
		}
		for dy := range w.KH {
			for dx := range w.KW {
				row := acc[(first+dy*w.Width+dx)*ldc+done:][:len(out)]
				for j, v := range row {
					var o int32
					if order != nil {
						o = order[done+j]
					}
					out[j] = max(out[j], v^o)
				}
			}
		}
		if order != nil {
			for j := range out {
				out[j] ^= order[done+j]
			}
		}
	}
}

// RequantizeFloor is Requantize with the output at least floor: the
// clamp of a Relu that quantizing its output took in (floor the zero
// point), the same as Requantize then max(value, floor).
func RequantizeFloor[T Int8](m, n int, dst []T, ldd int, acc []int32, ldc int, bias []int32, multiplier []float32, zeroPoint, floor T) error {
	if err := checkEpilogue(m, n, len(dst), ldd, len(acc), ldc, bias, multiplier); err != nil {
		return err
	}
	requantizeFloor(vectorEpilogue, m, n, bytesOf(dst), ldd, acc, ldc, bias, multiplier, int32(zeroPoint), int32(floor), flipOf[T](true) == 0)
	return nil
}
