package qgemm

import "fmt"

// roundingBias is 1.5*2^23: a float32 of magnitude below 2^22 plus it has
// no fraction bits left, so the sum rounds to an integer, half to even.
const roundingBias = 12582912

// Requantize writes the m x n matrix of int32 accumulators acc (row stride
// ldc) into dst (row stride ldd) as T, the way ONNX Runtime's
// MlasRequantizeOutput does for QLinearConv and QLinearMatMul:
//
//	dst[i,j] = saturate(roundHalfToEven(float32(acc[i,j] + bias[j]) * multiplier[j]) + zeroPoint)
//
// where the sum wraps as int32, the conversion and the product are float32
// (rounded to nearest even), the rounding is to the nearest integer with
// ties to even (ONNX QuantizeLinear's rounding), and saturate clamps to
// T's range. A NaN product gives T's minimum, as there. bias (len n) may be
// nil; multiplier is per column (len n) or per tensor (len 1), and is
// a_scale*w_scale/y_scale computed in float32 in that order by the caller,
// as ONNX Runtime computes it.
//
// Requantize returns an error, and writes nothing, when a dimension is
// negative, a stride is shorter than its row, a matrix does not fit its
// slice, or bias or multiplier has another length.
func Requantize[T Int8](m, n int, dst []T, ldd int, acc []int32, ldc int, bias []int32, multiplier []float32, zeroPoint T) error {
	if err := checkEpilogue(m, n, len(dst), ldd, len(acc), ldc, bias, multiplier); err != nil {
		return err
	}
	requantize(vectorEpilogue, m, n, bytesOf(dst), ldd, acc, ldc, bias, multiplier, int32(zeroPoint), flipOf[T](true) == 0)
	return nil
}

// Dequantize writes the m x n matrix of int32 accumulators acc (row
// stride ldc) into dst (row stride ldd) as float32, the way
// DequantizeLinear would an int32 tensor with zero point 0 after adding
// bias (the QDQ pattern Conv -> DequantizeLinear):
//
//	dst[i,j] = float32(acc[i,j] + bias[j]) * scale[j]
//
// with the sum wrapping as int32 and float32 arithmetic. bias (len n) may
// be nil; scale is per column (len n) or per tensor (len 1), usually
// a_scale*w_scale. Its errors are Requantize's.
func Dequantize(m, n int, dst []float32, ldd int, acc []int32, ldc int, bias []int32, scale []float32) error {
	if err := checkEpilogue(m, n, len(dst), ldd, len(acc), ldc, bias, scale); err != nil {
		return err
	}
	dequantize(vectorEpilogue, m, n, dst, ldd, acc, ldc, bias, scale)
	return nil
}

func checkEpilogue(m, n, lenDst, ldd, lenAcc, ldc int, bias []int32, scale []float32) error {
	if err := checkMatrix("the output", m, n, lenDst, ldd); err != nil {
		return err
	}
	if err := checkMatrix("the accumulators", m, n, lenAcc, ldc); err != nil {
		return err
	}
	if bias != nil && len(bias) != n {
		return fmt.Errorf("qgemm: %d biases for %d columns", len(bias), n)
	}
	if len(scale) != 1 && len(scale) != n {
		return fmt.Errorf("qgemm: %d scales for %d columns: want 1 or %d", len(scale), n, n)
	}
	return nil
}

// requantize is Requantize on checked arguments and dst's bytes, with the
// vector rows when vec; signed tells T.
func requantize(vec bool, m, n int, dst []byte, ldd int, acc []int32, ldc int, bias []int32, scale []float32, zp int32, signed bool) {
	lo := int32(0)
	if signed {
		lo = -128
	}
	requantizeFloor(vec, m, n, dst, ldd, acc, ldc, bias, scale, zp, lo, signed)
}

// requantizeFloor is requantize with the outputs at least floor, a value
// of T: the clamp's lower bound raised to it.
func requantizeFloor(vec bool, m, n int, dst []byte, ldd int, acc []int32, ldc int, bias []int32, scale []float32, zp, floor int32, signed bool) {
	if m == 0 || n == 0 {
		return
	}
	lo, hi := int32(0), int32(255)
	if signed {
		lo, hi = -128, 127
	}
	lo = max(lo, floor)
	// The clamp's bounds, before the zero point is added back.
	flo, fhi := float32(lo-zp), float32(hi-zp)
	perColumn := len(scale) != 1
	var s16 [16]float32
	if !perColumn {
		for i := range s16 {
			s16[i] = scale[0]
		}
		scale = s16[:]
	}
	done := 0 // columns the vector code did
	if vec {
		done = requantAsm(m, n, dst, ldd, acc, ldc, bias, scale, perColumn, flo, fhi, zp, signed)
	}
	if done == n {
		return
	}
	var b []int32
	if bias != nil {
		b = bias[done:n]
	}
	sc := scale[:1]
	if perColumn {
		sc = scale[done:n]
	}
	for i := range m {
		requantSpan(dst[i*ldd+done:i*ldd+n], acc[i*ldc+done:i*ldc+n], b, sc, flo, fhi, zp)
	}
}

// requantSpan is requantize's loop over a row's columns: bias is nil or
// as long as d, scale as long as d or one value for all.
func requantSpan(d []byte, acc, bias []int32, scale []float32, flo, fhi float32, zp int32) {
	acc = acc[:len(d)]
	if bias != nil {
		bias = bias[:len(d)]
	}
	s := scale[0]
	for j, v := range acc {
		if bias != nil {
			v += bias[j]
		}
		if len(scale) > 1 {
			s = scale[j]
		}
		f := float32(float32(v) * s)
		if !(f >= flo) { // and NaN
			f = flo
		}
		if f > fhi {
			f = fhi
		}
		// |f| <= 510: adding and taking 1.5*2^23 in float32 rounds it to
		// an integer, half to even.
		f = float32(float32(f+roundingBias) - roundingBias)
		d[j] = byte(int32(f) + zp)
	}
}

// dequantize is Dequantize on checked arguments, with the vector rows when vec.
func dequantize(vec bool, m, n int, dst []float32, ldd int, acc []int32, ldc int, bias []int32, scale []float32) {
	if m == 0 || n == 0 {
		return
	}
	perColumn := len(scale) != 1
	var s16 [16]float32
	if !perColumn {
		for i := range s16 {
			s16[i] = scale[0]
		}
		scale = s16[:]
	}
	done := 0
	if vec {
		done = dequantAsm(m, n, dst, ldd, acc, ldc, bias, scale, perColumn)
	}
	if done == n {
		return
	}
	for i := range m {
		d := dst[i*ldd : i*ldd+n]
		a := acc[i*ldc : i*ldc+n]
		for j := done; j < n; j++ {
			v := a[j]
			if bias != nil {
				v += bias[j]
			}
			s := scale[0]
			if perColumn {
				s = scale[j]
			}
			d[j] = float32(float32(v) * s)
		}
	}
}
