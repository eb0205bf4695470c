package qgemm

import (
	"fmt"
	"math"
)

// Quantize writes x quantized by scale and zeroPoint into dst as T, the
// way ONNX Runtime's QuantizeLinear does (MLAS):
//
//	dst[i] = saturate(roundHalfToEven(x[i] / scale) + zeroPoint)
//
// the division in float32, the value clamped to T's range less the zero
// point before rounding (a NaN to its minimum). scale must be positive
// and finite. Quantize returns an error, and writes nothing, when dst is
// shorter than x or scale is not.
func Quantize[T Int8](dst []T, x []float32, scale float32, zeroPoint T) error {
	if len(dst) < len(x) {
		return fmt.Errorf("qgemm: %d values into %d", len(x), len(dst))
	}
	if !(scale > 0) || math.IsInf(float64(scale), 0) {
		return fmt.Errorf("qgemm: scale %v; a scale must be positive and finite", scale)
	}
	quantize(vectorEpilogue, bytesOf(dst), x, scale, int32(zeroPoint), flipOf[T](true) == 0)
	return nil
}

// quantize is Quantize on checked arguments, with the vector code when
// vec; signed tells T.
func quantize(vec bool, dst []byte, x []float32, scale float32, zp int32, signed bool) {
	lo, hi := int32(0), int32(255)
	if signed {
		lo, hi = -128, 127
	}
	flo, fhi := float32(lo-zp), float32(hi-zp)
	done := 0
	if vec {
		done = quantizeAsm(dst, x, scale, flo, fhi, zp, signed)
	}
	for i := done; i < len(x); i++ {
		f := x[i] / scale
		if !(f >= flo) { // and NaN
			f = flo
		}
		if f > fhi {
			f = fhi
		}
		dst[i] = byte(int32(math.RoundToEven(float64(f))) + zp)
	}
}
