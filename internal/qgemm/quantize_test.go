package qgemm

import (
	"math"
	"math/rand/v2"
	"testing"
)

// quantizeRef is QuantizeLinear as the ONNX backend computes it, one value.
func quantizeRef(x, scale float32, zp, lo, hi int32) int32 {
	f := x / scale
	if !(f >= float32(lo-zp)) {
		f = float32(lo - zp)
	}
	if f > float32(hi-zp) {
		f = float32(hi - zp)
	}
	return int32(math.RoundToEven(float64(f))) + zp
}

// TestQuantize: the vector code and the Go loop give the reference's
// bytes, halves, NaN, infinities and subnormals among the values.
func TestQuantize(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 32))
	specials := []float32{0, float32(math.Copysign(0, -1)), float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)),
		1e-45, -1e-45, 0.5, 1.5, 2.5, -0.5, -1.5, 1e30, -1e30, 126.5, 127.5, -128.5}
	for trial := range 300 {
		n := rng.IntN(70)
		x := make([]float32, n)
		scale := drawScale(rng) * 100
		for i := range x {
			switch rng.IntN(4) {
			case 0:
				x[i] = specials[rng.IntN(len(specials))]
			case 1:
				x[i] = (float32(rng.IntN(600)) - 300 + 0.5) * scale // exact halves
			default:
				x[i] = (rng.Float32()*2 - 1) * 300 * scale
			}
		}
		zp := int32(rng.IntN(256))
		for _, vec := range epilogues() {
			got := make([]byte, n)
			quantize(vec, got, x, scale, zp, false)
			for i, v := range x {
				if w := quantizeRef(v, scale, zp, 0, 255); got[i] != byte(w) {
					t.Fatalf("trial %d, %s, uint8: %v / %v + %d = %d, want %d", trial, epilogueName(vec), v, scale, zp, got[i], w)
				}
			}
			quantize(vec, got, x, scale, zp-128, true)
			for i, v := range x {
				if w := quantizeRef(v, scale, zp-128, -128, 127); int8(got[i]) != int8(w) {
					t.Fatalf("trial %d, %s, int8: %v / %v + %d = %d, want %d", trial, epilogueName(vec), v, scale, zp-128, int8(got[i]), w)
				}
			}
		}
	}
	if err := Quantize(make([]uint8, 1), make([]float32, 2), 1, 0); err == nil {
		t.Error("Quantize: a short dst accepted")
	}
	if err := Quantize(make([]uint8, 2), make([]float32, 2), 0, 0); err == nil {
		t.Error("Quantize: scale 0 accepted")
	}
}
