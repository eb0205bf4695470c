package onnxtrain

import (
	"math"
	"testing"
)

// TestTanh32 bounds tanh32's error against float64's tanh over the range
// where it varies, and checks its saturation and NaN.
func TestTanh32(t *testing.T) {
	worst := 0.0
	for x := -10.0; x <= 10; x += 1e-4 {
		want := math.Tanh(x)
		got := float64(tanh32(float32(x)))
		worst = math.Max(worst, math.Abs(got-want))
	}
	if worst > 4e-7 {
		t.Errorf("largest error %g, want at most 4e-7, a few float32 ulp", worst)
	}
	if tanh32(100) != 1 || tanh32(-100) != -1 {
		t.Errorf("tanh32(+-100) = %g, %g, want +-1", tanh32(100), tanh32(-100))
	}
	if v := tanh32(float32(math.NaN())); v == v {
		t.Errorf("tanh32(NaN) = %g, want NaN", v)
	}
}
