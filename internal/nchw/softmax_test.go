package nchw

import (
	"math"
	"testing"
)

// refSoftmax is softmax over each row, straight from its definition but
// shifted by the row's maximum so that the reference itself is finite;
// with log it is log-softmax.
func refSoftmax(x []float64, rows, cols int, log bool) []float64 {
	y := make([]float64, len(x))
	for r := range rows {
		row := x[r*cols : (r+1)*cols]
		m := math.Inf(-1)
		for _, v := range row {
			m = math.Max(m, v)
		}
		var s float64
		for _, v := range row {
			s += math.Exp(v - m)
		}
		for j, v := range row {
			if log {
				y[r*cols+j] = v - m - math.Log(s)
			} else {
				y[r*cols+j] = math.Exp(v-m) / s
			}
		}
	}
	return y
}

func TestSoftmax(t *testing.T) {
	rng := newRand()
	tests := []struct {
		name       string
		rows, cols int
		scale      float64
	}{
		{"1x1", 1, 1, 1},
		{"1x10", 1, 10, 1},
		{"3x10", 3, 10, 3},
		{"7x13", 7, 13, 1},
		{"2x1000", 2, 1000, 1},
		{"4x10-large", 4, 10, 300}, // exp without the shift would overflow
	}
	for _, tt := range tests {
		for _, log := range []bool{false, true} {
			f, name := Softmax, tt.name
			if log {
				f, name = LogSoftmax, "Log/"+name
			}
			t.Run(name, func(t *testing.T) {
				x := randn(rng, tt.rows*tt.cols, tt.scale)
				want := refSoftmax(wide(x), tt.rows, tt.cols, log)
				y := poisoned(len(x))
				f(y, x, tt.rows, tt.cols)
				checkClose(t, y, want)
				f(x, x, tt.rows, tt.cols)
				checkClose(t, x, want)
			})
		}
	}
}
