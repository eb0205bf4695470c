package nhwc

import (
	"math"
	"math/rand/v2"
	"testing"
)

// refDepthwise is the convolution as ONNX defines it, on the unpadded
// map, borders by bounds checks, in float64.
func refDepthwise(d Depthwise3x3, x, w, bias []float32, lo, hi float32) []float32 {
	oh, ow := d.OutH(), d.OutW()
	y := make([]float32, oh*ow*d.C)
	for r := range oh {
		for j := range ow {
			for c := range d.C {
				acc := float64(bias[c])
				for ki := range 3 {
					for kj := range 3 {
						ir, ic := r*d.Stride+ki-1, j*d.Stride+kj-1
						if ir < 0 || ir >= d.H || ic < 0 || ic >= d.W {
							continue
						}
						acc += float64(w[c*9+ki*3+kj]) * float64(x[(ir*d.W+ic)*d.C+c])
					}
				}
				y[(r*ow+j)*d.C+c] = clamp(float32(acc), lo, hi)
			}
		}
	}
	return y
}

func randoms(rng *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = rng.Float32()*2 - 1
	}
	return v
}

// TestDepthwise: odd sizes, channels not a multiple of a vector, both
// strides, each bound, whole maps and bands of rows, against the
// reference.
func TestDepthwise(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	inf := float32(math.Inf(1))
	for _, hw := range [][2]int{{1, 1}, {2, 3}, {3, 4}, {5, 7}, {7, 7}, {14, 14}, {9, 13}, {3, 16}, {4, 17}} {
		for _, ch := range []int{1, 3, 8, 15, 16, 17, 33, 64} {
			for _, stride := range []int{1, 2} {
				for _, b := range [][2]float32{{-inf, inf}, {0, inf}, {0, 0.3}} {
					d := Depthwise3x3{H: hw[0], W: hw[1], C: ch, Stride: stride}
					if err := d.Check(); err != nil {
						t.Fatal(err)
					}
					x, w, bias := randoms(rng, d.H*d.W*d.C), randoms(rng, d.C*9), randoms(rng, d.C)
					want := refDepthwise(d, x, w, bias, b[0], b[1])
					wp := make([]float32, d.WeightsSize())
					d.PackWeights(wp, w, bias)
					xp := make([]float32, d.PaddedSize())
					d.Pad(xp, x)
					y := make([]float32, d.OutSize())
					// Two bands of rows, as a split between CPUs runs it.
					half := d.OutH() / 2
					d.Forward(y, xp, wp, b[0], b[1], 0, half)
					d.Forward(y, xp, wp, b[0], b[1], half, d.OutH())
					for i := range want {
						if diff := math.Abs(float64(y[i] - want[i])); diff > 1e-5 || y[i] != y[i] {
							t.Fatalf("%+v bounds %v: y[%d] = %v, want %v", d, b, i, y[i], want[i])
						}
					}
				}
			}
		}
	}
}

// TestDepthwiseNaN: a NaN input stays NaN through the clamp.
func TestDepthwiseNaN(t *testing.T) {
	d := Depthwise3x3{H: 4, W: 5, C: 19, Stride: 1}
	x := make([]float32, d.H*d.W*d.C)
	x[(2*d.W+2)*d.C+18] = float32(math.NaN())
	wp := make([]float32, d.WeightsSize())
	w := make([]float32, 9*d.C)
	for i := range w {
		w[i] = 1
	}
	d.PackWeights(wp, w, nil)
	xp := make([]float32, d.PaddedSize())
	d.Pad(xp, x)
	y := make([]float32, d.OutSize())
	d.Forward(y, xp, wp, 0, 6, 0, d.OutH())
	if v := y[(2*d.W+2)*d.C+18]; v == v {
		t.Fatalf("a NaN input gave %v", v)
	}
	if v := y[(2*d.W+2)*d.C+17]; v != 0 {
		t.Fatalf("a zero input's neighbour channel gave %v", v)
	}
}

// TestMeanRows: channels not a multiple of a vector, one row and many,
// the exact float32 sums of a sequential loop.
func TestMeanRows(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, c := range []int{1, 7, 8, 9, 16, 17, 33, 64} {
		for _, rows := range []int{1, 4, 49} {
			x := randoms(rng, rows*c)
			y := randoms(rng, c+1)
			last := y[c]
			MeanRows(y, x, rows, c)
			for j := range c {
				var s float32
				for r := range rows {
					s += x[r*c+j]
				}
				if want := s / float32(rows); y[j] != want {
					t.Fatalf("c %d rows %d: y[%d] = %v, want %v", c, rows, j, y[j], want)
				}
			}
			if y[c] != last {
				t.Fatalf("c %d: wrote past c", c)
			}
		}
	}
}

// TestPointwise: pixels fewer than a group and not a multiple of one,
// channels not a multiple of a vector, each bound, against float64 sums.
func TestPointwise(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	inf := float32(math.Inf(1))
	for _, in := range []int{1, 3, 16, 17, 64} {
		for _, out := range []int{1, 5, 8, 16, 24, 32, 33, 64, 70} {
			for _, px := range []int{1, 3, 4, 7, 8, 9, 14, 17, 49, 196} {
				for _, b := range [][2]float32{{-inf, inf}, {0, 6}} {
					p := Pointwise{In: in, Out: out}
					if err := p.Check(); err != nil {
						t.Fatal(err)
					}
					x, w, bias := randoms(rng, px*in), randoms(rng, out*in), randoms(rng, out)
					wp := make([]float32, p.WeightsSize())
					p.PackWeights(wp, w, bias)
					y := make([]float32, px*out+1)
					y[px*out] = 42
					p.Forward(y, x, px, wp, b[0], b[1])
					for q := range px {
						for o := range out {
							acc := float64(bias[o])
							for i := range in {
								acc += float64(x[q*in+i]) * float64(w[o*in+i])
							}
							want := clamp(float32(acc), b[0], b[1])
							if got := y[q*out+o]; math.Abs(float64(got-want)) > 1e-5*(1+math.Abs(float64(want))) {
								t.Fatalf("%+v, %d pixels, bounds %v: y[%d][%d] = %v, want %v", p, px, b, q, o, got, want)
							}
						}
					}
					if y[px*out] != 42 {
						t.Fatalf("%+v, %d pixels: wrote past the last pixel", p, px)
					}
				}
			}
		}
	}
}

// TestStem: the convolution from one channel against the depthwise
// reference of its image repeated in every channel, into rows wider than
// the output (a padded map's interior), in two bands.
func TestStem(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	for _, hw := range [][2]int{{1, 1}, {3, 2}, {5, 7}, {14, 14}, {28, 28}, {9, 13}, {2, 16}} {
		for _, ch := range []int{1, 7, 8, 16, 17, 40} {
			for _, stride := range []int{1, 2} {
				s := Stem3x3{H: hw[0], W: hw[1], C: ch, Stride: stride}
				if err := s.Check(); err != nil {
					t.Fatal(err)
				}
				img, w, bias := randoms(rng, s.H*s.W), randoms(rng, s.C*9), randoms(rng, s.C)
				wide := make([]float32, s.H*s.W*s.C)
				for p, v := range img {
					for c := range s.C {
						wide[p*s.C+c] = v
					}
				}
				want := refDepthwise(Depthwise3x3(s), wide, w, bias, 0, 6)
				wp := make([]float32, s.WeightsSize())
				s.PackWeights(wp, w, bias)
				xp := make([]float32, s.PaddedSize())
				s.Pad(xp, img)
				row := s.OutW() * s.C
				ldy := row + 3*s.C
				y := make([]float32, s.OutH()*ldy)
				half := s.OutH() / 2
				s.Forward(y, ldy, xp, wp, 0, 6, 0, half)
				s.Forward(y, ldy, xp, wp, 0, 6, half, s.OutH())
				for r := range s.OutH() {
					for i := range ldy {
						got := y[r*ldy+i]
						if i >= row {
							if got != 0 {
								t.Fatalf("%+v: wrote %v past row %d", s, got, r)
							}
							continue
						}
						if w := want[r*row+i]; math.Abs(float64(got-w)) > 1e-5 {
							t.Fatalf("%+v: row %d value %d = %v, want %v", s, r, i, got, w)
						}
					}
				}
			}
		}
	}
}
