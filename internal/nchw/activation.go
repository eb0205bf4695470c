package nchw

import (
	"fmt"
	"math"

	"github.com/lenetkit/lenetkit/internal/vmath"
)

// Activations and elementwise functions beyond Relu, Tanh and Sigmoid, as
// ONNX defines them. Like those, each writes f(x[i]) to y[i] for every
// i < len(x); y may be x itself but must not overlap it otherwise. None
// allocates. Transcendental functions are computed in float64 and rounded
// once, which is within an ulp of float32 as ONNX Runtime computes them;
// the rest are float32 arithmetic, as ONNX Runtime does it.

// Clip sets y[i] = min(max(x[i], lo), hi): hi where lo > hi, as ONNX
// says, and NaN where x[i] is NaN (vmath.Clip's vectors).
func Clip(y, x []float32, lo, hi float32) {
	vmath.Clip(y, x, lo, hi)
}

// Elu sets y[i] = x[i] when x[i] >= 0, else alpha*(exp(x[i])-1).
func Elu(y, x []float32, alpha float32) {
	y = y[:len(x)]
	a := float64(alpha)
	for i, v := range x {
		if v < 0 {
			v = float32(a * math.Expm1(float64(v)))
		}
		y[i] = v
	}
}

// Selu sets y[i] = gamma*x[i] when x[i] > 0, else
// gamma*alpha*(exp(x[i])-1).
func Selu(y, x []float32, alpha, gamma float32) {
	y = y[:len(x)]
	a, g := float64(alpha), float64(gamma)
	for i, v := range x {
		if v > 0 {
			y[i] = gamma * v
		} else {
			y[i] = float32(g * a * math.Expm1(float64(v)))
		}
	}
}

// HardSigmoid sets y[i] = max(0, min(1, alpha*x[i]+beta)).
func HardSigmoid(y, x []float32, alpha, beta float32) {
	y = y[:len(x)]
	for i, v := range x {
		v = alpha*v + beta
		if v < 0 {
			v = 0
		}
		if v > 1 {
			v = 1
		}
		y[i] = v
	}
}

// HardSwish sets y[i] = x[i]*max(0, min(1, x[i]/6+1/2)), the product
// taken even where the factor is 0 or 1: NaN at -Inf, as ONNX's
// definition (HardSigmoid times x) gives it.
func HardSwish(y, x []float32) {
	y = y[:len(x)]
	for i, v := range x {
		s := v/6 + 0.5
		if s < 0 {
			s = 0
		}
		if s > 1 {
			s = 1
		}
		y[i] = v * s
	}
}

// Erf writes the error function of each x into y, computed in float64:
// GELU, x/2 (1 + erf(x/√2)), as torch exports it before opset 20.
func Erf(y, x []float32) {
	y = y[:len(x)]
	for i, v := range x {
		y[i] = float32(math.Erf(float64(v)))
	}
}

// Round sets y[i] to the whole number nearest x[i], halves to the even
// one, as ONNX's Round (and NumPy's) does: 2.5 is 2, -0.5 is -0.
// ±Inf and NaN stay as they are. It is what DynamicQuantizeLinear's
// function body rounds the zero point with.
func Round(y, x []float32) {
	y = y[:len(x)]
	for i, v := range x {
		y[i] = float32(math.RoundToEven(float64(v)))
	}
}

// Floor sets y[i] to the greatest whole number not above x[i].
func Floor(y, x []float32) {
	y = y[:len(x)]
	for i, v := range x {
		y[i] = float32(math.Floor(float64(v)))
	}
}

// Ceil sets y[i] to the least whole number not below x[i].
func Ceil(y, x []float32) {
	y = y[:len(x)]
	for i, v := range x {
		y[i] = float32(math.Ceil(float64(v)))
	}
}

// Softplus sets y[i] = log(exp(x[i])+1), in the form that neither
// overflows for large x nor loses small values to rounding.
func Softplus(y, x []float32) {
	y = y[:len(x)]
	for i, v := range x {
		f := float64(v)
		if f > 0 {
			f += math.Log1p(math.Exp(-f))
		} else {
			f = math.Log1p(math.Exp(f))
		}
		y[i] = float32(f)
	}
}

// Exp sets y[i] = exp(x[i]).
func Exp(y, x []float32) {
	y = y[:len(x)]
	for i, v := range x {
		y[i] = float32(math.Exp(float64(v)))
	}
}

// Log sets y[i] = log(x[i]): -Inf at 0, NaN below.
func Log(y, x []float32) {
	y = y[:len(x)]
	for i, v := range x {
		y[i] = float32(math.Log(float64(v)))
	}
}

// Sqrt sets y[i] = sqrt(x[i]), correctly rounded (the float64 square root
// of a float32 rounds to the float32 one): NaN below 0.
func Sqrt(y, x []float32) {
	y = y[:len(x)]
	for i, v := range x {
		y[i] = float32(math.Sqrt(float64(v)))
	}
}

// Neg sets y[i] = -x[i].
func Neg(y, x []float32) {
	y = y[:len(x)]
	for i, v := range x {
		y[i] = -v
	}
}

// Abs sets y[i] = |x[i]|.
func Abs(y, x []float32) {
	y = y[:len(x)]
	for i, v := range x {
		y[i] = math.Float32frombits(math.Float32bits(v) &^ (1 << 31))
	}
}

// Reciprocal sets y[i] = 1/x[i], by IEEE rules (±Inf at ±0).
func Reciprocal(y, x []float32) {
	y = y[:len(x)]
	for i, v := range x {
		y[i] = 1 / v
	}
}

// Copy sets y[i] = x[i].
func Copy(y, x []float32) { copy(y[:len(x)], x) }

// Square sets y[i] = x[i]*x[i]: Pow with exponent 2.
func Square(y, x []float32) {
	y = y[:len(x)]
	for i, v := range x {
		y[i] = v * v
	}
}

// PowHalf sets y[i] = pow(x[i], 0.5): the square root, except that
// pow(-0, 0.5) is +0 and pow(-Inf, 0.5) is +Inf (math.Pow is C's pow).
func PowHalf(y, x []float32) {
	y = y[:len(x)]
	for i, v := range x {
		y[i] = float32(math.Pow(float64(v), 0.5))
	}
}

// PowScalar sets y[i] = pow(x[i], e).
func PowScalar(y, x []float32, e float32) {
	y = y[:len(x)]
	f := float64(e)
	switch e {
	case 2:
		Square(y, x)
	case 1:
		Copy(y, x)
	default:
		for i, v := range x {
			y[i] = float32(math.Pow(float64(v), f))
		}
	}
}

// ExtOp is an operation of BinaryExt: the binary operators beyond
// BinaryOp's arithmetic.
type ExtOp int

// The operations of ONNX's Max, Min, Pow and PRelu.
const (
	Max   ExtOp = iota // max(a, b), NaN when either is
	Min                // min(a, b), NaN when either is
	Pow                // pow(a, b)
	PRelu              // a when a >= 0, else a*b
)

// BinaryExt sets y = a op b elementwise with multidirectional broadcasting,
// as Binary does for its operations, with the same shapes and the same
// rules for y: it may be the very slice a or b when that operand has y's
// shape, and must not overlap them otherwise.
func BinaryExt(op ExtOp, y, a []float32, aShape []int, b []float32, bShape []int, yShape []int) {
	broadcast(op, y, a, aShape, b, bShape, yShape, extVV, extVS, extSV)
}

// ext is one element of op.
func ext(op ExtOp, a, b float32) float32 {
	switch op {
	case Max:
		if a > b || a != a {
			return a
		}
		return b
	case Min:
		if a < b || a != a {
			return a
		}
		return b
	case Pow:
		return float32(math.Pow(float64(a), float64(b)))
	case PRelu:
		if a < 0 {
			return a * b
		}
		return a
	}
	panic(fmt.Sprintf("nchw: unknown ExtOp %d", op))
}

// extVV sets y[i] = a[i] op b[i].
func extVV(op ExtOp, y, a, b []float32) {
	a, b = a[:len(y)], b[:len(y)]
	switch op {
	case Max:
		for i := range y {
			v, w := a[i], b[i]
			if w > v || w != w {
				v = w
			}
			y[i] = v
		}
	case Min:
		for i := range y {
			v, w := a[i], b[i]
			if w < v || w != w {
				v = w
			}
			y[i] = v
		}
	default:
		for i := range y {
			y[i] = ext(op, a[i], b[i])
		}
	}
}

// extVS sets y[i] = a[i] op s.
func extVS(op ExtOp, y, a []float32, s float32) {
	a = a[:len(y)]
	switch {
	case op == Pow:
		PowScalar(y, a, s)
	case op == PRelu:
		LeakyRelu(y, a, s)
	case op == Max && s != s, op == Min && s != s:
		for i := range y {
			y[i] = s
		}
	case op == Max:
		for i, v := range a {
			if s > v {
				v = s
			}
			y[i] = v
		}
	case op == Min:
		for i, v := range a {
			if s < v {
				v = s
			}
			y[i] = v
		}
	default:
		for i := range y {
			y[i] = ext(op, a[i], s)
		}
	}
}

// extSV sets y[i] = s op b[i].
func extSV(op ExtOp, y []float32, s float32, b []float32) {
	b = b[:len(y)]
	switch op {
	case Max, Min:
		// Both are symmetric, NaN included.
		extVS(op, y, b, s)
	default:
		for i := range y {
			y[i] = ext(op, s, b[i])
		}
	}
}
