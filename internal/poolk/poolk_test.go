package poolk

import (
	"math"
	"math/rand/v2"
	"testing"
)

var (
	nan    = float32(math.NaN())
	negNaN = math.Float32frombits(0xffc00000)
	negZ   = float32(math.Copysign(0, -1))
	inf    = float32(math.Inf(1))
)

// TestMax2x2Windows: the tie and special-value rules, on one window each.
func TestMax2x2Windows(t *testing.T) {
	for _, tc := range []struct {
		name string
		win  [4]float32 // top-left, top-right, bottom-left, bottom-right
		want float32
		at   int32 // in the window: 0, 1, 2 (bottom-left), 3
	}{
		{"plain", [4]float32{1, 3, 2, -4}, 3, 1},
		{"tie goes first", [4]float32{-1, 2, 2, 2}, 2, 1},
		{"all equal", [4]float32{5, 5, 5, 5}, 5, 0},
		{"+0 above -0", [4]float32{negZ, 0, negZ, -1}, 0, 1},
		{"-0 alone", [4]float32{-1, negZ, -2, -3}, negZ, 1},
		{"NaN above all", [4]float32{inf, 1, nan, 2}, nan, 2},
		{"negative NaN below all", [4]float32{negNaN, -inf, -3, negNaN}, -3, 2},
		{"last wins", [4]float32{-4, -3, -2, -1}, -1, 3},
	} {
		// Sixteen windows in a row, the one under test at each place in
		// turn, so that every lane of a vector meets it.
		const ow, w = 16, 33
		for lane := range ow {
			plane := make([]float32, 2*w)
			for i := range plane {
				plane[i] = -100 - float32(i)
			}
			plane[2*lane], plane[2*lane+1], plane[w+2*lane], plane[w+2*lane+1] = tc.win[0], tc.win[1], tc.win[2], tc.win[3]
			y, arg := make([]float32, ow), make([]int32, ow)
			Max2x2(y, arg, plane, w, 1, ow)
			wantAt := int32(2*lane) + []int32{0, 1, w, w + 1}[tc.at]
			if math.Float32bits(y[lane]) != math.Float32bits(tc.want) || arg[lane] != wantAt {
				t.Fatalf("%s (%s), lane %d: %g at %d, want %g at %d", tc.name, Kernel(), lane, y[lane], arg[lane], tc.want, wantAt)
			}
		}
	}
}

// TestKernels: the dispatched kernels give, bit for bit, what the Go loops
// give, over sizes around the vector's edges and rows wider than the
// windows, on values drawn from a few (ties) and from specials.
func TestKernels(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	pool := []float32{0, negZ, 1, -1, 2, nan, negNaN, inf, -inf, 1e-40}
	for _, oh := range []int{1, 2, 3, 14} {
		for _, ow := range []int{1, 7, 8, 9, 14, 15, 16, 17, 31} {
			for _, extra := range []int{0, 1, 3} {
				w := 2*ow + extra
				plane := make([]float32, 2*oh*w)
				for i := range plane {
					if rng.IntN(2) == 0 {
						plane[i] = pool[rng.IntN(len(pool))]
					} else {
						plane[i] = rng.Float32()*4 - 2
					}
				}
				y, arg := make([]float32, oh*ow), make([]int32, oh*ow)
				wy, warg := make([]float32, oh*ow), make([]int32, oh*ow)
				Max2x2(y, arg, plane, w, oh, ow)
				max2x2Go(wy, warg, plane, w, oh, ow)
				for i := range y {
					if math.Float32bits(y[i]) != math.Float32bits(wy[i]) || arg[i] != warg[i] {
						t.Fatalf("Max2x2 (%s) %dx%d of width %d, [%d]: %g at %d, Go %g at %d", Kernel(), oh, ow, w, i, y[i], arg[i], wy[i], warg[i])
					}
					if math.Float32bits(plane[arg[i]]) != math.Float32bits(y[i]) {
						t.Fatalf("Max2x2 %dx%d, [%d]: %g, but the pixel at %d is %g", oh, ow, i, y[i], arg[i], plane[arg[i]])
					}
				}
				if extra != 0 {
					continue // Back2x2 takes planes its windows tile
				}
				dy := make([]float32, oh*ow)
				for i := range dy {
					dy[i] = pool[rng.IntN(len(pool))] + float32(rng.IntN(3))
				}
				dx, wdx := make([]float32, len(plane)), make([]float32, len(plane))
				for i := range dx {
					dx[i], wdx[i] = 7, 7 // every pixel must be written
				}
				Back2x2(dx, dy, arg, w, oh, ow)
				back2x2Go(wdx, dy, arg, w, oh, ow)
				for i := range dx {
					if math.Float32bits(dx[i]) != math.Float32bits(wdx[i]) {
						t.Fatalf("Back2x2 (%s) %dx%d, pixel %d: %g, Go %g", Kernel(), oh, ow, i, dx[i], wdx[i])
					}
				}
				for i, a := range arg {
					if math.Float32bits(dx[a]) != math.Float32bits(dy[i]) {
						t.Fatalf("Back2x2 %dx%d: the winner at %d got %g, want %g", oh, ow, a, dx[a], dy[i])
					}
				}
			}
		}
	}
}

// TestGoLoopMatchesFloatMax: on data without NaN or signed zeros, the
// integer compare of the Go loop is the float compare of a plain loop
// that keeps the first maximum.
func TestGoLoopMatchesFloatMax(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	const oh, ow, w = 5, 9, 19
	plane := make([]float32, 2*oh*w)
	for i := range plane {
		plane[i] = float32(rng.IntN(7)) - 3 // many ties
		if rng.IntN(3) == 0 {
			plane[i] = rng.Float32()*8 - 4
		}
	}
	y, arg := make([]float32, oh*ow), make([]int32, oh*ow)
	max2x2Go(y, arg, plane, w, oh, ow)
	for oy := range oh {
		for ox := range ow {
			at := 2*oy*w + 2*ox
			best := plane[at]
			for _, o := range []int{2*oy*w + 2*ox + 1, (2*oy+1)*w + 2*ox, (2*oy+1)*w + 2*ox + 1} {
				if plane[o] > best {
					best, at = plane[o], o
				}
			}
			if i := oy*ow + ox; y[i] != best || arg[i] != int32(at) {
				t.Fatalf("window %d,%d: %g at %d, want %g at %d", oy, ox, y[i], arg[i], best, at)
			}
		}
	}
}

// TestOrderedBits checks that the integer order the kernels compare
// in is the floats' order, and that it maps back exactly.
func TestOrderedBits(t *testing.T) {
	vals := []float32{float32(math.Inf(-1)), -math.MaxFloat32, -2, -1, -math.SmallestNonzeroFloat32, 0, math.SmallestNonzeroFloat32, 0.5, 1, math.MaxFloat32, float32(math.Inf(1))}
	for i, v := range vals {
		if got := fromOrderedBits(orderedBits(v)); math.Float32bits(got) != math.Float32bits(v) {
			t.Errorf("%g maps back to %g", v, got)
		}
		if i > 0 && orderedBits(vals[i-1]) >= orderedBits(v) {
			t.Errorf("orderedBits(%g) = %d is not below orderedBits(%g) = %d", vals[i-1], orderedBits(vals[i-1]), v, orderedBits(v))
		}
	}
}
