package mnist

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestFillLayout(t *testing.T) {
	pix := pattern(3 * 784)
	// Pixel extremes, so the test sees 0 and 1 exactly.
	pix[784+0], pix[784+1] = 0, 255
	s := &Set{Images: pix, Labels: []byte{4, 0, 7}, N: 3, Rows: 28, Cols: 28}
	idx := []int{2, 1, 2}
	x := make([]float32, len(idx)*1024)
	for i := range x {
		x[i] = float32(math.NaN()) // what Fill leaves unwritten shows up
	}
	y := []int64{-1, -1, -1}
	if err := s.Fill(idx, x, y); err != nil {
		t.Fatal(err)
	}
	if want := []int64{7, 0, 7}; !slices.Equal(y, want) {
		t.Errorf("labels = %v, want %v", y, want)
	}
	for k, i := range idx {
		for r := range 32 {
			for c := range 32 {
				got := x[k*1024+r*32+c]
				var want float32 // Pad(2): zeros around the 28x28 image
				if r >= 2 && r < 30 && c >= 2 && c < 30 {
					// ToTensor: the byte over 255, in float32.
					want = float32(pix[i*784+(r-2)*28+(c-2)]) / 255
				}
				if got != want {
					t.Fatalf("image %d (set index %d) at row %d, col %d = %v, want %v", k, i, r, c, got, want)
				}
			}
		}
	}
	if got := x[1*1024+2*32+2]; got != 0 {
		t.Errorf("pixel 0 became %v, want 0", got)
	}
	if got := x[1*1024+2*32+3]; got != 1 {
		t.Errorf("pixel 255 became %v, want 1", got)
	}
	for v := range 256 {
		if got, want := toUnit[v], float64(v)/255; math.Abs(float64(got)-want) > 0.5*math.Pow(2, -24) {
			t.Errorf("byte %d becomes %v, more than half an ulp from %v", v, got, want)
		}
	}
}

func TestFillWithoutLabels(t *testing.T) {
	s := &Set{Images: pattern(784), Labels: []byte{1}, N: 1, Rows: 28, Cols: 28}
	if err := s.Fill([]int{0}, make([]float32, 1024), nil); err != nil {
		t.Error(err)
	}
}

func TestFillErrors(t *testing.T) {
	s := &Set{Images: pattern(2 * 784), Labels: []byte{1, 2}, N: 2, Rows: 28, Cols: 28}
	wide := &Set{Images: pattern(2 * 28 * 30), Labels: []byte{1, 2}, N: 2, Rows: 28, Cols: 30}
	tests := []struct {
		name string
		set  *Set
		idx  []int
		nx   int
		ny   int
		want string
	}{
		{"short x", s, []int{0, 1}, 2047, 2, "Fill of 2 images needs 2048 floats, got 2047"},
		{"short y", s, []int{0, 1}, 2048, 1, "Fill of 2 images needs 2 labels, got 1"},
		{"index past the end", s, []int{0, 2}, 2048, 2, "image index 2 out of range [0, 2)"},
		{"negative index", s, []int{-1, 0}, 2048, 2, "image index -1 out of range [0, 2)"},
		{"not 28x28", wide, []int{0}, 1024, 1, "Fill needs 28x28 images, set has 28x30"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := make([]float32, tt.nx)
			y := make([]int64, tt.ny)
			checkOneLine(t, tt.set.Fill(tt.idx, x, y), tt.want)
			if slices.ContainsFunc(x, func(v float32) bool { return v != 0 }) || slices.ContainsFunc(y, func(v int64) bool { return v != 0 }) {
				t.Error("Fill wrote to x or y before failing")
			}
		})
	}
}

// randomSet returns n random 28x28 images, like MNIST's in size.
func randomSet(n int) *Set {
	r := rand.New(rand.NewPCG(1, 2))
	s := &Set{Images: make([]byte, n*784), Labels: make([]byte, n), N: n, Rows: 28, Cols: 28}
	for i := range s.Images {
		s.Images[i] = byte(r.Uint32())
	}
	for i := range s.Labels {
		s.Labels[i] = byte(r.IntN(10))
	}
	return s
}

func TestFillAllocs(t *testing.T) {
	s := randomSet(1000)
	idx := rand.New(rand.NewPCG(3, 4)).Perm(1000)[:128]
	x := make([]float32, 128*PixelCount)
	y := make([]int64, 128)
	allocs := testing.AllocsPerRun(100, func() {
		if err := s.Fill(idx, x, y); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("Fill of 128 images allocates %v times, want 0", allocs)
	}
}

func BenchmarkFill128(b *testing.B) {
	s := randomSet(60000)
	idx := rand.New(rand.NewPCG(3, 4)).Perm(60000)[:128]
	x := make([]float32, 128*PixelCount)
	y := make([]int64, 128)
	b.SetBytes(128 * PixelCount * 4)
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Fill(idx, x, y); err != nil {
			b.Fatal(err)
		}
	}
}
