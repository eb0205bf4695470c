package dwconv

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestPlanes compares the plane kernels with float64 sums and maps over
// lengths around the vector loops' edges, on values with an offset that
// Stats's shift has to remove.
func TestPlanes(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{0, 1, 7, 8, 31, 32, 33, 100, 784, 1001} {
		v, g := make([]float32, n), make([]float32, n)
		for i := range v {
			v[i], g[i] = 3+rng.Float32(), rng.Float32()*2-1
		}
		const k, a, b, c = 3.5, 0.75, -1.25, 0.5
		var ws, wss, wg, wgx float64
		for i := range v {
			d := float64(v[i]) - k
			ws, wss = ws+d, wss+d*d
			wg, wgx = wg+float64(g[i]), wgx+float64(g[i])*float64(v[i])
		}
		s, ss := Stats(v, k)
		gs, gsx := GradSums(g, v)
		tol := 1e-5 * (1 + float64(n))
		for _, r := range []struct {
			what      string
			got, want float64
		}{{"Stats sum", float64(s), ws}, {"Stats squares", float64(ss), wss}, {"GradSums sum", float64(gs), wg}, {"GradSums products", float64(gsx), wgx}} {
			if math.Abs(r.got-r.want) > tol {
				t.Fatalf("%s (%s), n %d: %g, want %g", r.what, Kernel(), n, r.got, r.want)
			}
		}
		y, d := make([]float32, n), make([]float32, n)
		Affine(y, v, a, b)
		Affine2(d, g, v, a, b, c)
		for i := range v {
			wy := a*float64(v[i]) + b
			wd := a*float64(g[i]) + b*float64(v[i]) + c
			if math.Abs(float64(y[i])-wy) > 1e-5 || math.Abs(float64(d[i])-wd) > 1e-5 {
				t.Fatalf("%s, n %d, [%d]: Affine %g, want %g; Affine2 %g, want %g", Kernel(), n, i, y[i], wy, d[i], wd)
			}
		}
	}
}
