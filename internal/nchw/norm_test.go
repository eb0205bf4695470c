package nchw

import (
	"math"
	"testing"
)

func TestLRN(t *testing.T) {
	rng := newRand()
	for _, size := range []int{1, 2, 3, 4, 5, 9} {
		c, hw := 6, 7
		x := randn(rng, c*hw, 2)
		alpha, beta, bias := 1e-3, 0.75, 1.5
		want := make([]float64, c*hw)
		for i := range c {
			for j := range hw {
				var s float64
				for k := i - (size-1)/2; k <= i+int(math.Ceil(float64(size-1)/2)); k++ {
					if k >= 0 && k < c {
						s += float64(x[k*hw+j]) * float64(x[k*hw+j])
					}
				}
				want[i*hw+j] = float64(x[i*hw+j]) / math.Pow(bias+alpha/float64(size)*s, beta)
			}
		}
		y := poisoned(c * hw)
		LRN(y, x, c, hw, size, alpha, beta, bias)
		checkClose(t, y, want)
	}
}

// refNormalize standardises rows of x, then y = z*scale + shift.
func refNormalize(x []float64, rows, cols int, eps float64, scale, shift func(r, j int) float64) []float64 {
	y := make([]float64, len(x))
	for r := range rows {
		row := x[r*cols : (r+1)*cols]
		var m, v float64
		for _, e := range row {
			m += e
		}
		m /= float64(cols)
		for _, e := range row {
			v += (e - m) * (e - m)
		}
		v /= float64(cols)
		for j, e := range row {
			y[r*cols+j] = (e-m)/math.Sqrt(v+eps)*scale(r, j) + shift(r, j)
		}
	}
	return y
}

func TestNormalize(t *testing.T) {
	rng := newRand()
	rows, cols := 5, 12
	x := randn(rng, rows*cols, 3)
	for i := range x[:cols] {
		x[i] += 100 // a large mean, which a one-pass variance would lose
	}
	scale, shift := randn(rng, cols, 1), randn(rng, cols, 1)
	y := poisoned(rows * cols)
	mean, inv := poisoned(rows), poisoned(rows)
	Normalize(y, mean, inv, x, scale, shift, rows, cols, 1e-5)
	for r := range rows {
		m, v := 0.0, 0.0
		for _, e := range x[r*cols : (r+1)*cols] {
			m += float64(e)
		}
		m /= float64(cols)
		for _, e := range x[r*cols : (r+1)*cols] {
			v += (float64(e) - m) * (float64(e) - m)
		}
		checkClose(t, []float32{mean[r], inv[r]}, []float64{m, 1 / math.Sqrt(v/float64(cols)+1e-5)})
	}
	checkClose(t, y, refNormalize(wide(x), rows, cols, 1e-5,
		func(_, j int) float64 { return float64(scale[j]) }, func(_, j int) float64 { return float64(shift[j]) }))
	// One scale for all, no shift, in place.
	y = append([]float32(nil), x...)
	Normalize(y, nil, nil, y, []float32{2}, nil, rows, cols, 0.1)
	checkClose(t, y, refNormalize(wide(x), rows, cols, 0.1,
		func(_, _ int) float64 { return 2 }, func(_, _ int) float64 { return 0 }))
}

func TestInstanceNorm(t *testing.T) {
	rng := newRand()
	c, hw := 3, 10
	x := randn(rng, c*hw, 2)
	scale, shift := randn(rng, c, 1), randn(rng, c, 1)
	y := poisoned(c * hw)
	InstanceNorm(y, x, scale, shift, c, hw, 1e-2)
	checkClose(t, y, refNormalize(wide(x), c, hw, 1e-2,
		func(r, _ int) float64 { return float64(scale[r]) }, func(r, _ int) float64 { return float64(shift[r]) }))
}

func TestGlobalMaxPool(t *testing.T) {
	x := []float32{1, 5, -2, float32(math.NaN()), -7, -3, -9, -1}
	y := poisoned(2)
	GlobalMaxPool(y, x, 2, 4)
	checkClose(t, y, []float64{5, -1})
}
