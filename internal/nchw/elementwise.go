package nchw

import (
	"math"

	"github.com/lenetkit/lenetkit/internal/vmath"
)

// The unary functions below write f(x[i]) to y[i] for every i < len(x).
// y must be at least as long as x; it may be x itself (the backend runs
// activations in place), but must not overlap it otherwise.

// Relu sets y[i] = max(x[i], 0), as Go's max: NaN stays NaN and -0 gives
// +0. vmath.Relu's vectors, where a branch per element mispredicted on
// random signs (1 ns an element, against 0.08).
func Relu(y, x []float32) {
	vmath.Relu(y, x)
}

// LeakyRelu sets y[i] = x[i] when x[i] >= 0 and alpha*x[i] otherwise.
func LeakyRelu(y, x []float32, alpha float32) {
	y = y[:len(x)]
	for i, v := range x {
		if v < 0 {
			v *= alpha
		}
		y[i] = v
	}
}

// Tanh sets y[i] = tanh(x[i]) within a few float32 ulp: vmath.Tanh's
// vectorised rational approximation, where math.Tanh in float64 took three
// quarters of a LeNet-5's inference.
func Tanh(y, x []float32) {
	vmath.Tanh(y, x)
}

// Sigmoid sets y[i] = 1/(1+exp(-x[i])), computed in float64.
func Sigmoid(y, x []float32) {
	y = y[:len(x)]
	for i, v := range x {
		y[i] = float32(sigmoid(float64(v)))
	}
}

// sigmoid is the logistic function, in the form that never divides an
// infinity by an infinity: exp is only ever taken of a value <= 0.
func sigmoid(v float64) float64 {
	if v >= 0 {
		return 1 / (1 + math.Exp(-v))
	}
	e := math.Exp(v)
	return e / (1 + e)
}
