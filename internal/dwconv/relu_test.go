package dwconv

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/lenetkit/lenetkit/internal/vmath"
)

// TestRelu: the fused kernels give, bit for bit (any NaN for a NaN), what the affine kernels
// and vmath's Relu and ReluGrad give as separate passes, over lengths
// around the vector loops' edges and on outputs that are NaN of either
// sign, -0 and +0.
func TestRelu(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	negNaN := math.Float32frombits(0xffc00000)
	special := []float32{float32(math.NaN()), negNaN, 0, float32(math.Copysign(0, -1)), 1, -1}
	const a, b, c = 0.75, -0.5, 0.25
	for _, n := range []int{0, 1, 7, 8, 9, 31, 32, 33, 100, 784} {
		x, g := make([]float32, n), make([]float32, n)
		for i := range x {
			x[i], g[i] = rng.Float32()*2-1, rng.Float32()*2-1
			if rng.IntN(4) == 0 {
				// Through a*x+b: NaN stays NaN, and b/a maps to 0.
				x[i] = special[rng.IntN(len(special))]
				if x[i] == 0 {
					x[i] = -b / a
				}
			}
		}
		z, want, y := make([]float32, n), make([]float32, n), make([]float32, n)
		Affine(z, x, a, b)
		vmath.Relu(want, z)
		AffineRelu(y, x, a, b)
		dz := make([]float32, n)
		vmath.ReluGrad(dz, g, z)
		ws, wsx := GradSums(dz, x)
		s, sx := ReluGradSums(g, x, a, b)
		wd, d := make([]float32, n), make([]float32, n)
		Affine2(wd, dz, x, 1.5, -2, c)
		ReluAffine2(d, g, x, 1.5, -2, c, a, b)
		for i := range y {
			// vmath's Go Relu, Go's max, keeps a NaN of its own choosing.
			if !same(y[i], want[i]) {
				t.Fatalf("%s, n %d: AffineRelu [%d] of %g = %g, want %g", Kernel(), n, i, x[i], y[i], want[i])
			}
			if !same(d[i], wd[i]) {
				t.Fatalf("%s, n %d: ReluAffine2 [%d] = %g, want %g", Kernel(), n, i, d[i], wd[i])
			}
		}
		if !same(s, ws) || !same(sx, wsx) {
			t.Fatalf("%s, n %d: ReluGradSums %g, %g, want %g, %g", Kernel(), n, s, sx, ws, wsx)
		}
	}
}

// same is bit equality, but for NaNs, whose bits the order of an
// addition's operands or Go's max may change.
func same(a, b float32) bool {
	return math.Float32bits(a) == math.Float32bits(b) || a != a && b != b
}
