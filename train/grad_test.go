package train

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/lenetkit/lenetkit/lenet"
)

// TestGradientsMatchFiniteDifferences checks the graph's gradients, every
// op's backward pass together, against central differences of the loss,
// for a few entries of every parameter, on a small batch with dropout off.
// PyTorch is not needed: TestOneStepMatchesPyTorch checks the same
// gradients against PyTorch's where it is installed.
func TestGradientsMatchFiniteDifferences(t *testing.T) {
	const batch = 6
	sd := lenet.Init(7)
	// Shift BatchNorm's scale and shift away from 1 and 0, so that their
	// gradients are not special cases.
	rng := rand.New(rand.NewPCG(7, 8))
	for _, b := range lenet.Blocks {
		for i := range sd.Lookup(b.BatchNorm.Param("weight")).F32 {
			sd.Lookup(b.BatchNorm.Param("weight")).F32[i] = float32(0.5 + rng.Float64())
			sd.Lookup(b.BatchNorm.Param("bias")).F32[i] = float32(rng.NormFloat64() * 0.2)
		}
	}
	net, err := NewNet(sd, batch, 0, DropoutRow, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer net.Close()
	x := make([]float32, batch*lenet.InputSize*lenet.InputSize)
	for i := range x {
		x[i] = rng.Float32()
	}
	y := make([]int64, batch)
	for i := range y {
		y[i] = int64(rng.IntN(lenet.Classes))
	}
	loss := func() float64 {
		l, err := net.Step(x, y)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	loss()
	grads := make([][]float32, len(net.Params()))
	for i := range grads {
		grads[i] = append([]float32(nil), net.Grad(i)...)
	}
	// Pooling's maxima make the loss piecewise smooth: a step can cross a
	// kink and a small step drowns in float32 rounding, so a gradient
	// passes when the difference at any of a few steps agrees with it.
	for i, p := range net.Params() {
		for _, j := range rng.Perm(len(p.F32))[:min(3, len(p.F32))] {
			got := float64(grads[i][j])
			var tried []float64
			for _, h := range []float32{3e-3, 1e-3, 3e-4} {
				old := p.F32[j]
				p.F32[j] = old + h
				up := loss()
				p.F32[j] = old - h
				down := loss()
				p.F32[j] = old
				numeric := (up - down) / float64(2*h)
				tried = append(tried, numeric)
				if math.Abs(got-numeric) <= 0.05*math.Abs(numeric)+5e-4 {
					break
				}
			}
			if n := tried[len(tried)-1]; math.Abs(got-n) > 0.05*math.Abs(n)+5e-4 {
				t.Errorf("%s[%d]: gradient %g, finite differences %.4g", p.Name, j, got, tried)
			}
		}
	}
}
