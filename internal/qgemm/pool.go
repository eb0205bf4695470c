package qgemm

import (
	"encoding/binary"
	"fmt"
	"math"
)

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

// An Epilogue is the output stage of a convolution, run on a band of its
// accumulators at a time: MaxPool's windows (a 1x1 window for none), then
// RequantizeFloor's requantization, then, when it has tables, each
// column's value looked up in its table of 256 bytes (a BatchNorm and
// its quantization, computed at load): one pass over the accumulators,
// the vector code doing sixteen columns at a time. It is made once for a
// layer and is read-only: any number of goroutines may run it.
type Epilogue struct {
	n         int
	signed    bool
	zp, floor int32
	bias      []int32   // nil or n
	scale     []float32 // 1 or n
	order     []int32   // nil or n
	table     []byte    // nil, or n tables of 256 and 3 bytes the gathers read past
	// params is, per chunk of 16 columns (the last one's may be fewer),
	// their order, bias, scale, and the affine map that computes the
	// table (Affine): the vector code's operands, paramsStride bytes.
	params []byte
	affine bool // the vector code computes the table's bytes
}

// paramsStride is the bytes of params a chunk of 16 columns: five
// vectors of 16 values.
const paramsStride = 5 * 64

// NewEpilogue makes the epilogue of n columns: bias (n, or nil) and
// multiplier (n, or 1) as Requantize takes them, the output at least
// floor, pooled by the maximum or, per column where order (n, or nil) is
// -1, the minimum, then looked up in table (n*256 bytes, column j's at
// j*256, or nil). The output's bytes are T's.
func NewEpilogue[T Int8](n int, bias []int32, multiplier []float32, zeroPoint, floor T, order []int32, table []byte) (*Epilogue, error) {
	if n < 0 || bias != nil && len(bias) != n || len(multiplier) != 1 && len(multiplier) != n ||
		order != nil && len(order) != n || table != nil && len(table) != 256*n {
		return nil, fmt.Errorf("qgemm: an epilogue of %d columns with %d biases, %d multipliers, %d orders and %d bytes of tables",
			n, len(bias), len(multiplier), len(order), len(table))
	}
	e := &Epilogue{n: n, signed: flipOf[T](true) == 0, zp: int32(zeroPoint), floor: int32(floor), bias: bias, scale: multiplier, order: order}
	if table != nil {
		e.table = make([]byte, len(table)+3)
		copy(e.table, table)
	}
	chunks := (n + 15) / 16 // the last one's columns past n are zeros
	e.params = make([]byte, paramsStride*chunks)
	for c := range chunks {
		p := e.params[paramsStride*c:]
		for l := range min(16, n-16*c) {
			j := 16*c + l
			put := func(at int, v uint32) { binary.LittleEndian.PutUint32(p[at+4*l:], v) }
			if order != nil {
				put(0, uint32(order[j]))
			}
			if bias != nil {
				put(64, uint32(bias[j]))
			}
			put(128, math.Float32bits(multiplier[min(j, len(multiplier)-1)]))
		}
	}
	return e, nil
}

// Affine offers the vector code a way to compute the table without
// looking it up: column j's byte for the requantized value q as
//
//	roundHalfEven(float32(float32(q)*a[j]) + b[j]), saturated to T
//
// (one float32 product, one sum, no fused multiply-add), as a
// BatchNormalization between two quantizations is, up to rounding. It
// checks that against the table for every value the requantization can
// give, trying a[j] and b[j] and their neighbours a few units in the last
// place away, and takes a column's first pair that gives its whole table.
// If every column has one, the vector code computes the bytes; else
// nothing changes. Either way the bytes are the table's. It reports
// whether the vector code computes them.
func (e *Epilogue) Affine(a, b []float32) bool {
	if e.table == nil || len(a) != e.n || len(b) != e.n {
		return false
	}
	lo, hi := int32(0), int32(255)
	if e.signed {
		lo, hi = -128, 127
	}
	q0 := max(lo, e.floor)
	fit := make([][2]float32, e.n)
	for j := range e.n {
		var ok bool
		if fit[j], ok = fitAffine(e.table[256*j:256*j+256], a[j], b[j], q0, lo, hi); !ok {
			return false
		}
	}
	for j, f := range fit {
		p := e.params[paramsStride*(j/16):]
		binary.LittleEndian.PutUint32(p[192+4*(j%16):], math.Float32bits(f[0]))
		binary.LittleEndian.PutUint32(p[256+4*(j%16):], math.Float32bits(f[1]))
	}
	e.affine = true
	return true
}

// affineReach is how many units in the last place fitAffine moves a and b.
const affineReach = 4

// fitAffine returns the first pair of a and b, or their neighbours, that
// gives table's byte for every value q0..hi (T's range lo..hi), as the
// Affine vector code computes it.
func fitAffine(table []byte, a, b float32, q0, lo, hi int32) ([2]float32, bool) {
	for _, da := range nearFirst {
		for _, db := range nearFirst {
			ta, tb := ulps(a, da), ulps(b, db)
			if affineGives(table, ta, tb, q0, lo, hi) {
				return [2]float32{ta, tb}, true
			}
		}
	}
	return [2]float32{}, false
}

// nearFirst is the steps fitAffine tries, the nearest first.
var nearFirst = func() []int {
	s := []int{0}
	for d := 1; d <= affineReach; d++ {
		s = append(s, d, -d)
	}
	return s
}()

// ulps is x moved d units in the last place (toward +Inf for d > 0).
func ulps(x float32, d int) float32 {
	for ; d > 0; d-- {
		x = math.Nextafter32(x, float32(math.Inf(1)))
	}
	for ; d < 0; d++ {
		x = math.Nextafter32(x, float32(math.Inf(-1)))
	}
	return x
}

// affineGives reports whether a and b give table's byte for every value
// q0..hi: the vector code's operations, in its order, with the
// conversion to int32 in range (so that it cannot give the integer
// indefinite) and the result saturated to lo..hi as the packs do.
func affineGives(table []byte, a, b float32, q0, lo, hi int32) bool {
	for q := q0; q <= hi; q++ {
		y := float32(float32(q)*a) + b
		if !(math.Abs(float64(y)) < 1<<30) {
			return false
		}
		r := min(max(int32(math.RoundToEven(float64(y))), lo), hi)
		if byte(r) != table[byte(q)] {
			return false
		}
	}
	return true
}

// Run writes pixels output pixels of one row of the pooling (the first
// window's top-left at acc's row 0, as MaxPool reads them) into dst (row
// stride ldd, T's bytes). The windows must lie in acc. It returns an
// error, and writes nothing, where MaxPool would.
func (e *Epilogue) Run(w Window, pixels int, acc []int32, ldc int, dst []byte, ldd int) error {
	n := e.n
	if w.KH < 1 || w.KW < 1 || w.SH < 1 || w.SW < 1 || w.Width < w.KW || pixels < 0 {
		return fmt.Errorf("qgemm: pooling %dx%d at stride %dx%d over %d columns, %d pixels", w.KH, w.KW, w.SH, w.SW, w.Width, pixels)
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
	e.run(vectorEpilogue, w, pixels, acc, ldc, dst, ldd)
	return nil
}

// Bytes is the memory e holds: its tables and the vector code's operands.
func (e *Epilogue) Bytes() int64 { return int64(len(e.params) + len(e.table)) }

// clamp is the requantization's bounds less the zero point, as the
// vector code takes them.
func (e *Epilogue) clamp() (lo, hi float32) {
	l, h := int32(0), int32(255)
	if e.signed {
		l, h = -128, 127
	}
	l = max(l, e.floor)
	return float32(l - e.zp), float32(h - e.zp)
}

// run is Run on checked arguments, with the vector code when vec.
func (e *Epilogue) run(vec bool, w Window, pixels int, acc []int32, ldc int, dst []byte, ldd int) {
	flo, fhi := e.clamp()
	done := 0
	if vec {
		done = poolRequantAsm(e, w, pixels, acc, ldc, dst, ldd, flo, fhi)
	}
	if done == e.n {
		return
	}
	// The other columns, up to 64 at a time: pooled, requantized, looked up.
	var m [64]int32
	for px := range pixels {
		first := px * w.SW
		for c0 := done; c0 < e.n; c0 += len(m) {
			c1 := min(c0+len(m), e.n)
			mx := m[:c1-c0]
			for j := range mx {
				mx[j] = math.MinInt32
			}
			for dy := range w.KH {
				for dx := range w.KW {
					row := acc[(first+dy*w.Width+dx)*ldc+c0:][:len(mx)]
					for j, v := range row {
						var o int32
						if e.order != nil {
							o = e.order[c0+j]
						}
						mx[j] = max(mx[j], v^o)
					}
				}
			}
			if e.order != nil {
				for j := range mx {
					mx[j] ^= e.order[c0+j]
				}
			}
			var b []int32
			if e.bias != nil {
				b = e.bias[c0:c1]
			}
			sc := e.scale[:1]
			if len(e.scale) > 1 {
				sc = e.scale[c0:c1]
			}
			d := dst[px*ldd+c0 : px*ldd+c1]
			requantSpan(d, mx, b, sc, flo, fhi, e.zp)
			if e.table != nil {
				for j, v := range d {
					d[j] = e.table[(c0+j)<<8|int(v)]
				}
			}
		}
	}
}
