package nchw

// Strided is a strided copy, the one kernel behind Transpose, Slice, Split
// and Expand: element i of the row-major output of shape Shape reads input
// element Offset + sum over k of i_k * Strides[k]. A stride of 0 repeats
// an element (broadcasting), a negative one reads backwards (a Slice of
// negative step), a permuted one transposes.
//
// NewStrided simplifies the description once, when a plan is compiled:
// dimensions of size 1 are dropped and neighbours that walk the input
// contiguously are merged, so that a copy of whole rows is one copy per
// row and NCHW<->NHWC is a single blocked 2-D transpose.
type Strided struct {
	Shape, Strides []int
	Offset         int
}

// NewStrided returns the simplified copy of output shape, reading from
// offset with strides (one per dimension).
func NewStrided(shape []int, offset int, strides []int) Strided {
	s := Strided{Offset: offset}
	for k, d := range shape {
		if d == 0 {
			return Strided{Shape: []int{0}, Strides: []int{0}}
		}
		if d == 1 {
			continue
		}
		if n := len(s.Shape); n > 0 && s.Strides[n-1] == strides[k]*d {
			s.Shape[n-1] *= d
			s.Strides[n-1] = strides[k]
			continue
		}
		s.Shape = append(s.Shape, d)
		s.Strides = append(s.Strides, strides[k])
	}
	return s
}

// Len is the number of elements the copy writes.
func (s Strided) Len() int {
	n := 1
	for _, d := range s.Shape {
		n *= d
	}
	return n
}

// RowMajor returns the strides of a contiguous row-major tensor of shape.
func RowMajor(shape []int) []int {
	st := make([]int, len(shape))
	n := 1
	for k := len(shape) - 1; k >= 0; k-- {
		st[k] = n
		n *= shape[k]
	}
	return st
}

// TransposeStrided is the copy of ONNX's Transpose: output dimension k is
// input dimension perm[k]. perm must be a permutation of the input's axes.
func TransposeStrided(shape, perm []int) Strided {
	in := RowMajor(shape)
	out := make([]int, len(perm))
	st := make([]int, len(perm))
	for k, p := range perm {
		out[k], st[k] = shape[p], in[p]
	}
	return NewStrided(out, 0, st)
}

// Transpose writes x of shape permuted by perm to y: y's dimension k is
// x's dimension perm[k].
func Transpose[T any](y, x []T, shape, perm []int) {
	CopyStrided(y, x, TransposeStrided(shape, perm))
}

// tile is the side of the blocks of a 2-D transpose: 16x16 floats stay
// in the L1 cache on both sides.
const tile = 16

// CopyStrided writes the s.Len() elements of the strided copy s of x to y.
func CopyStrided[T any](y, x []T, s Strided) {
	r := len(s.Shape)
	switch {
	case r == 0:
		y[0] = x[s.Offset]
		return
	case s.Shape[0] == 0:
		return
	}
	// The last two dimensions are the kernel's; the others, if any, an
	// odometer over blocks.
	inner, innerSt := s.Shape[r-1], s.Strides[r-1]
	outerShape, outerSt := s.Shape[:r-1], s.Strides[:r-1]
	transpose := false
	var rows, rowSt int
	if r >= 2 && innerSt != 1 && s.Strides[r-2] == 1 {
		// y[i][j] = x[i + j*innerSt]: blocked.
		transpose = true
		rows, rowSt = s.Shape[r-2], 1
		outerShape, outerSt = s.Shape[:r-2], s.Strides[:r-2]
	}
	var idx [16]int
	counter := idx[:0]
	if len(outerShape) <= len(idx) {
		counter = idx[:len(outerShape)]
	} else {
		counter = make([]int, len(outerShape))
	}
	block := inner
	if transpose {
		block = rows * inner
	}
	off, at := s.Offset, 0
	for {
		dst := y[at : at+block]
		switch {
		case transpose:
			transpose2D(dst, x, off, rows, inner, rowSt, innerSt)
		case innerSt == 1:
			copy(dst, x[off:off+inner])
		case innerSt == 0:
			v := x[off]
			for j := range dst {
				dst[j] = v
			}
		default:
			p := off
			for j := range dst {
				dst[j] = x[p]
				p += innerSt
			}
		}
		at += block
		// Advance the odometer over the outer dimensions.
		k := len(counter) - 1
		for ; k >= 0; k-- {
			counter[k]++
			off += outerSt[k]
			if counter[k] < outerShape[k] {
				break
			}
			off -= outerSt[k] * outerShape[k]
			counter[k] = 0
		}
		if k < 0 {
			return
		}
	}
}

// transpose2D writes dst[i*cols+j] = x[off + i*rowSt + j*colSt] in tiles.
func transpose2D[T any](dst, x []T, off, rows, cols, rowSt, colSt int) {
	for i0 := 0; i0 < rows; i0 += tile {
		i1 := min(i0+tile, rows)
		for j0 := 0; j0 < cols; j0 += tile {
			j1 := min(j0+tile, cols)
			for i := i0; i < i1; i++ {
				d := dst[i*cols+j0 : i*cols+j1]
				p := off + i*rowSt + j0*colSt
				for j := range d {
					d[j] = x[p]
					p += colSt
				}
			}
		}
	}
}
