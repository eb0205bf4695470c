package gemm

import "fmt"

// Shifted multiplies an m x k matrix A, packed once, by a B that is not
// stored as a matrix: row l of B is the Width floats that start off[l]
// floats past a base in one slice x. A stride-1 convolution on an image
// laid out padded, rows Wp apart, is such a product (nchw.ShiftConv): the
// im2col row of tap (ic, kh, kw) is the image read from ic's plane plus
// kh*Wp + kw, so the micro-kernel reads the image where it lies instead
// of an im2col matrix that Sgemm would copy once more into its panels.
// It is read-only once made and may be used by several goroutines at once.
type Shifted struct {
	m, k, rows int
	sk         *shiftedKernel
	a          []float32 // rows x k, tile after tile, mr values per column
	off        []int
	reach      int       // the floats past base one Mul reads
	bias       []float32 // rows
}

// shiftedKernel is a micro-kernel of Shifted with the tile it computes.
type shiftedKernel struct {
	mr, nr int
	// run sets the mr x nr tile at c (row stride ldc) to bias[i] plus
	// the sum over l < k of a[l*mr+i] * b[off[l]+j]. The caller has
	// checked that every window lies inside b.
	run func(k int, a, b []float32, off []int, c []float32, ldc int, bias []float32)
}

// NewShifted packs A, m x k with row stride lda, for products with rows of
// B at the offsets off (k of them, each at least 0), and keeps bias, m
// values added to C's rows (nil for none). It returns an error for a
// shape the slices do not hold.
func NewShifted(m, k int, a []float32, lda int, off []int, bias []float32) (*Shifted, error) {
	if m < 1 || k < 1 || len(off) != k || bias != nil && len(bias) < m {
		return nil, fmt.Errorf("gemm: Shifted of %dx%d with %d offsets and %d biases", m, k, len(off), len(bias))
	}
	if err := checkMatrix("A", m, k, len(a), lda); err != nil {
		return nil, err
	}
	ks := defaultKernels
	s := &Shifted{m: m, k: k, sk: ks.shifted, off: append([]int(nil), off...)}
	mr := s.sk.mr
	s.rows = roundUp(m, mr)
	for _, o := range off {
		if o < 0 {
			return nil, fmt.Errorf("gemm: Shifted: offset %d", o)
		}
		s.reach = max(s.reach, o+s.sk.nr)
	}
	s.a = make([]float32, s.rows*k)
	packA(ks, false, a, lda, 0, 0, m, k, mr, s.a)
	s.bias = make([]float32, s.rows)
	copy(s.bias, bias)
	return s, nil
}

// Width is the columns of C one Mul computes.
func (s *Shifted) Width() int { return s.sk.nr }

// Rows is the rows of C Mul writes: m rounded up to the kernel's tile,
// the rows past m zero plus nothing, which the caller leaves unread.
func (s *Shifted) Rows() int { return s.rows }

// Reach is the floats of x past base that Mul reads: the largest offset
// plus Width.
func (s *Shifted) Reach() int { return s.reach }

// Mul sets C[i][j] = bias[i] + sum over l < k of A[i][l] * x[base+off[l]+j]
// for i < Rows and j < Width, C's rows ldc apart in c. It panics when x
// holds less than base+Reach floats or c less than the block, as Sgemm
// panics on slices too short.
func (s *Shifted) Mul(x []float32, base int, c []float32, ldc int) {
	mr, nr := s.sk.mr, s.sk.nr
	if base < 0 || len(x)-base < s.reach || ldc < nr || len(c) < (s.rows-1)*ldc+nr {
		panic(fmt.Errorf("gemm: Shifted.Mul at %d of %d floats, reaching %d, into %d floats of stride %d", base, len(x), s.reach, len(c), ldc))
	}
	x = x[base:]
	for ir := 0; ir < s.rows; ir += mr {
		s.sk.run(s.k, s.a[ir*s.k:(ir+mr)*s.k], x, s.off, c[ir*ldc:], ldc, s.bias[ir:ir+mr])
	}
}

// shiftedGo is the pure-Go kernel of Shifted, for 4x4 tiles.
func shiftedGo(k int, a, b []float32, off []int, c []float32, ldc int, bias []float32) {
	var acc [4][4]float32
	for i := range acc {
		acc[i] = [4]float32{bias[i], bias[i], bias[i], bias[i]}
	}
	a = a[:4*k]
	for l, o := range off[:k] {
		row := (*[4]float32)(b[o : o+4])
		col := (*[4]float32)(a[4*l : 4*l+4])
		for i, av := range col {
			for j, bv := range row {
				acc[i][j] += av * bv
			}
		}
	}
	for i := range acc {
		copy(c[i*ldc:i*ldc+4], acc[i][:])
	}
}
