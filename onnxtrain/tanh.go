package onnxtrain

// tanh32 is tanh in float32 as a rational function, the approximation
// Eigen uses for its float tanh: within a few ulp of the float64 tanh
// rounded, and several times faster, where a LeNet-5's Tanh layers spent a
// quarter of a training step in math.Tanh. Beyond +-7.905 tanh is +-1 to
// float32's precision.
func tanh32(x float32) float32 {
	const clamp = 7.90531110763549805
	x = min(max(x, -clamp), clamp)
	if x > -0.0004 && x < 0.0004 {
		return x
	}
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
