package train

import (
	"math"
	"testing"

	G "gorgonia.org/gorgonia"

	"github.com/lenetkit/lenetkit/internal/kernel"
	"github.com/lenetkit/lenetkit/lenet"
)

// TestStepFlushesSubnormals is the CPU-independent side of the subnormal
// slowdown: it asserts values, not time. A training step (forward,
// backward, Adam) from weights, running statistics, gradients and Adam
// moments seeded with subnormals, as a long run leaves them (dead filters
// decaying under weight decay), must leave none in the weights, the
// moments or anything the graph stored, and give exactly the results of
// the same step with those values set to zero. Where the CPU pays for
// subnormals (Intel), a survivor would slow every later step.
func TestStepFlushesSubnormals(t *testing.T) {
	trainSet, _ := loadMNIST(t)
	const batch = 32
	x := make([]float32, batch*lenet.InputSize*lenet.InputSize)
	y := make([]int64, batch)
	idx := make([]int, batch)
	for i := range idx {
		idx[i] = i
	}
	if err := trainSet.Fill(idx, x, y); err != nil {
		t.Fatal(err)
	}

	const tiny = float32(3e-39) // subnormal: under 2^-126 = 1.18e-38
	if !kernel.IsSubnormal(tiny) || !kernel.IsSubnormal(-tiny) {
		t.Fatal("3e-39 should be subnormal")
	}
	seeded, zeroed := lenet.Init(3), lenet.Init(3)
	seededAt := func(name string, i int) bool {
		switch name {
		case "conv_layers.4.weight": // a whole dead filter: output channel 0
			return i < 9*32
		case "conv_layers.0.weight", "linear_layers.0.weight":
			return i%7 == 3
		case "conv_layers.8.bias", "conv_layers.2.weight", "conv_layers.6.running_var", "conv_layers.6.running_mean":
			return i == 1
		}
		return false
	}
	for k, tn := range seeded {
		for i := range tn.F32 {
			if seededAt(tn.Name, i) {
				sign := float32(1 - 2*(i%2))
				if tn.Name == "conv_layers.6.running_var" {
					sign = 1
				}
				tn.F32[i], zeroed[k].F32[i] = sign*tiny*float32(1+i%3), 0
			}
		}
	}

	type run struct {
		net  *Net
		adam *Adam
	}
	start := func(sd lenet.StateDict, withSubnormals bool) run {
		net, err := NewNet(sd, batch, 0.3, DropoutRow, 5)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { net.Close() })
		// Moments as a long run leaves them: mostly normal, some decayed
		// into the subnormals (seeded) or about to (1.3e-38, normal, whose
		// next decay underflows, in both runs).
		var m, v [][]float32
		var sizes []int
		for pi, p := range net.Params() {
			mi, vi := make([]float32, len(p.F32)), make([]float32, len(p.F32))
			for j := range mi {
				mi[j], vi[j] = float32(math.Sin(float64(pi*1000+j)))*1e-3, 1e-6*float32(1+j%5)
				switch {
				case j%11 == 4:
					mi[j], vi[j] = 1.3e-38, 1.3e-38
				case j%5 == 2 && withSubnormals:
					mi[j], vi[j] = -tiny, tiny
				case j%5 == 2:
					mi[j], vi[j] = 0, 0
				}
			}
			m, v, sizes = append(m, mi), append(v, vi), append(sizes, len(mi))
		}
		adam := NewAdam(0.002)
		if err := adam.restore(100, m, v, sizes); err != nil {
			t.Fatal(err)
		}
		return run{net, adam}
	}
	runs := []run{start(seeded, true), start(zeroed, false)}

	for step := 1; step <= 2; step++ {
		var losses [2]float64
		var grads [2][][]float32
		for r, ru := range runs {
			loss, err := ru.net.Step(x, y)
			if err != nil {
				t.Fatal(err)
			}
			losses[r] = loss
			checkGraphFlushed(t, step, ru.net.g)
			for i := range ru.net.Params() {
				g := append([]float32(nil), ru.net.Grad(i)...)
				for j := range g {
					if j%13 == 6 { // gradients seeded too
						g[j] = 0
						if r == 0 {
							g[j] = -tiny
						}
					}
				}
				grads[r] = append(grads[r], g)
			}
		}
		if losses[0] != losses[1] {
			t.Fatalf("step %d: loss %v with subnormals, %v with zeros", step, losses[0], losses[1])
		}
		sameValues(t, step, "logits", runs[0].net.Logits(), runs[1].net.Logits())
		for i, p := range runs[0].net.Params() {
			sameValues(t, step, p.Name+" gradient", runs[0].net.Grad(i), runs[1].net.Grad(i))
		}
		for r, ru := range runs {
			params := make([][]float32, len(ru.net.Params()))
			for i, p := range ru.net.Params() {
				params[i] = p.F32
			}
			ru.adam.Step(params, grads[r], 1e-3, 0.9)
		}
		for i, p := range runs[0].net.Params() {
			q := runs[1].net.Params()[i]
			sameValues(t, step, p.Name, p.F32, q.F32)
			noSubnormal(t, step, p.Name, p.F32)
			_, m0, v0 := runs[0].adam.moments()
			_, m1, v1 := runs[1].adam.moments()
			sameValues(t, step, p.Name+" exp_avg", m0[i], m1[i])
			sameValues(t, step, p.Name+" exp_avg_sq", v0[i], v1[i])
			noSubnormal(t, step, p.Name+" exp_avg", m0[i])
			noSubnormal(t, step, p.Name+" exp_avg_sq", v0[i])
		}
		for _, tn := range runs[0].net.sd {
			noSubnormal(t, step, tn.Name, tn.F32)
		}
	}
}

// checkGraphFlushed fails on any subnormal in any value the graph holds:
// the activations the forward pass saved for the backward pass, and the
// gradients.
func checkGraphFlushed(t *testing.T, step int, g *G.ExprGraph) {
	t.Helper()
	for _, n := range g.AllNodes() {
		v := n.Value()
		if v == nil {
			continue
		}
		if d, ok := v.Data().([]float32); ok {
			noSubnormal(t, step, "graph node "+n.Name(), d)
		}
	}
}

func noSubnormal(t *testing.T, step int, what string, xs []float32) {
	t.Helper()
	for i, x := range xs {
		if kernel.IsSubnormal(x) {
			t.Fatalf("step %d: %s[%d] = %g is subnormal", step, what, i, x)
		}
	}
}

// sameValues compares as floats, so a zero of either sign equals the other.
func sameValues(t *testing.T, step int, what string, got, want []float32) {
	t.Helper()
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("step %d: %s[%d] = %g with subnormals, %g with zeros", step, what, i, got[i], want[i])
		}
	}
}
