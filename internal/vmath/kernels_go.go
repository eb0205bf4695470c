package vmath

import "math"

// goKernels runs on every CPU: the fallback where no assembly set does,
// and the reference the assembly is tested against.
var goKernels = &kernelSet{name: "go", tanh: tanhGo, tanhGrad: tanhGradGo, relu: reluGo, reluGrad: reluGradGo, clip: clipGo}

func tanhGo(y, x []float32) {
	y = y[:len(x)]
	for i, v := range x {
		y[i] = tanh32(v)
	}
}

// tanh32 is tanh in float32 as a rational function, the approximation
// Eigen uses for its float tanh: within a few ulp of the float64 tanh
// rounded, and several times faster. Beyond +-7.905 tanh is +-1 to
// float32's precision; under 0.0004 it is x (x - x^3/3 rounds to x).
func tanh32(x float32) float32 {
	const clamp = 7.90531110763549805
	if x > -0.0004 && x < 0.0004 {
		return x
	}
	x = min(max(x, -clamp), clamp)
	x2 := x * x
	p := x2*-2.76076847742355e-16 + 2.00018790482477e-13
	p = p*x2 + -8.60467152213735e-11
	p = p*x2 + 5.12229709037114e-08
	p = p*x2 + 1.48572235717979e-05
	p = p*x2 + 6.37261928875436e-04
	p = p*x2 + 4.89352455891786e-03
	p *= x
	q := x2*1.19825839466702e-06 + 1.18534705686654e-04
	q = q*x2 + 2.26843463243900e-03
	q = q*x2 + 4.89352518554385e-03
	return p / q
}

func tanhGradGo(dx, dy, y []float32) {
	dx, dy = dx[:len(y)], dy[:len(y)]
	for i, v := range y {
		dx[i] = dy[i] * (1 - v*v)
	}
}

func reluGo(y, x []float32) {
	y = y[:len(x)]
	for i, v := range x {
		y[i] = max(v, 0)
	}
}

// reluGradGo masks without a branch: a sign that changes at random from
// one element to the next would mispredict half the time.
func reluGradGo(dx, dy, x []float32) {
	dx, dy = dx[:len(x)], dy[:len(x)]
	for i, v := range x {
		b := int32(math.Float32bits(v))
		keep := ^(((b - 1) >> 31) | (b >> 31)) // all ones where b > 0
		dx[i] = math.Float32frombits(math.Float32bits(dy[i]) & uint32(keep))
	}
}

// clipGo keeps x where it is NaN or on a bound, as the comparisons do.
func clipGo(y, x []float32, lo, hi float32) {
	y = y[:len(x)]
	for i, v := range x {
		if v < lo {
			v = lo
		}
		if v > hi {
			v = hi
		}
		y[i] = v
	}
}
