package nchw

import "fmt"

// BinaryOp is the arithmetic that Binary applies.
type BinaryOp int

// The operations of ONNX's Add, Sub, Mul and Div.
const (
	Add BinaryOp = iota // a + b
	Sub                 // a - b
	Mul                 // a * b
	Div                 // a / b, by IEEE rules (x/0 is ±Inf or NaN)
)

// BroadcastShape returns the shape that numpy's (and ONNX's
// multidirectional) broadcasting gives operands of shapes a and b: the
// shapes are aligned at their last dimension, the shorter one is taken to
// have leading 1s, and each pair of sizes must be equal or contain a 1,
// the result being the other. It returns an error when a pair differs and
// neither is 1, or when a size is negative.
func BroadcastShape(a, b []int) ([]int, error) {
	if len(a) < len(b) {
		a, b = b, a
	}
	out := make([]int, len(a))
	off := len(a) - len(b)
	for i, da := range a {
		db := 1
		if i >= off {
			db = b[i-off]
		}
		if da < 0 || db < 0 {
			return nil, fmt.Errorf("nchw: negative dimension in shapes %v and %v", a, b)
		}
		switch {
		case da == db, db == 1:
			out[i] = da
		case da == 1:
			out[i] = db
		default:
			return nil, fmt.Errorf("nchw: shapes %v and %v do not broadcast: dimension %d is %d against %d", a, b, i, da, db)
		}
	}
	return out, nil
}

// Binary sets y = a op b elementwise with multidirectional broadcasting.
// aShape and bShape are the shapes of a and b; yShape is
// BroadcastShape(aShape, bShape), which the caller has computed, and y
// holds its product of floats. a and b are read in row-major order.
//
// y may be the very slice a (or b) when that operand has y's shape, so
// that the backend can add in place; it must not overlap them otherwise.
//
// Dimensions of size 1 in y are dropped and neighbouring dimensions along
// which each operand is either present in full or broadcast in the same
// way are merged, so that the common cases run as a few long vector loops:
// equal shapes become one loop, a scalar b one loop against a constant,
// [C,1,1] against [C,H,W] C loops against a constant, [N] against [M,N]
// M loops of two vectors. Only shapes that stay of rank three or more
// after merging walk an index odometer, and then only per row.
func Binary(op BinaryOp, y, a []float32, aShape []int, b []float32, bShape []int, yShape []int) {
	broadcast(op, y, a, aShape, b, bShape, yShape, binaryVV, binaryVS, binarySV)
}

// broadcast walks y = a op b for an operator of any kind O, given its
// three row loops: vector-vector, vector-scalar and scalar-vector. The
// shapes and the rules for y are Binary's.
func broadcast[O any](op O, y, a []float32, aShape []int, b []float32, bShape []int, yShape []int,
	vv func(O, []float32, []float32, []float32), vs func(O, []float32, []float32, float32), sv func(O, []float32, float32, []float32)) {
	total := 1
	for _, d := range yShape {
		total *= d
	}
	if total == 0 {
		return
	}

	// The merged dimensions: their sizes and whether a and b run along
	// them (true) or are broadcast (false). Capacity 8 keeps these on the
	// stack for every rank ONNX models use.
	dims := make([]int, 0, 8)
	aRuns := make([]bool, 0, 8)
	bRuns := make([]bool, 0, 8)
	r := len(yShape)
	for i, d := range yShape {
		if d == 1 {
			continue
		}
		ar, br := dimAt(aShape, i, r) != 1, dimAt(bShape, i, r) != 1
		if n := len(dims); n > 0 && aRuns[n-1] == ar && bRuns[n-1] == br {
			dims[n-1] *= d
			continue
		}
		dims = append(dims, d)
		aRuns = append(aRuns, ar)
		bRuns = append(bRuns, br)
	}
	if len(dims) == 0 {
		// Every operand holds one value.
		vs(op, y[:1], a[:1], b[0])
		return
	}

	// Strides of a and b along each merged dimension: 0 where broadcast.
	last := len(dims) - 1
	aStride := make([]int, len(dims), 8)
	bStride := make([]int, len(dims), 8)
	sa, sb := 1, 1
	for i := last; i >= 0; i-- {
		if aRuns[i] {
			aStride[i] = sa
			sa *= dims[i]
		}
		if bRuns[i] {
			bStride[i] = sb
			sb *= dims[i]
		}
	}

	// Walk the rows (the last merged dimension) with an odometer over the
	// others. At least one operand runs along the last dimension, since y
	// is larger than 1 there.
	n := dims[last]
	idx := make([]int, last, 8)
	ao, bo := 0, 0
	for yo := 0; yo < total; yo += n {
		dst := y[yo : yo+n]
		switch {
		case aRuns[last] && bRuns[last]:
			vv(op, dst, a[ao:ao+n], b[bo:bo+n])
		case aRuns[last]:
			vs(op, dst, a[ao:ao+n], b[bo])
		default:
			sv(op, dst, a[ao], b[bo:bo+n])
		}
		for d := last - 1; d >= 0; d-- {
			idx[d]++
			ao += aStride[d]
			bo += bStride[d]
			if idx[d] < dims[d] {
				break
			}
			idx[d] = 0
			ao -= aStride[d] * dims[d]
			bo -= bStride[d] * dims[d]
		}
	}
}

// dimAt is the size of dimension i of a shape right-aligned against a
// shape of rank r: 1 where the shape is too short to have it.
func dimAt(shape []int, i, r int) int {
	if j := i - (r - len(shape)); j >= 0 {
		return shape[j]
	}
	return 1
}

// binaryVV sets y[i] = a[i] op b[i]. The switch is outside the loops so
// that each loop is a plain vector operation.
func binaryVV(op BinaryOp, y, a, b []float32) {
	a, b = a[:len(y)], b[:len(y)]
	switch op {
	case Add:
		for i := range y {
			y[i] = a[i] + b[i]
		}
	case Sub:
		for i := range y {
			y[i] = a[i] - b[i]
		}
	case Mul:
		for i := range y {
			y[i] = a[i] * b[i]
		}
	case Div:
		for i := range y {
			y[i] = a[i] / b[i]
		}
	default:
		panic(fmt.Sprintf("nchw: unknown BinaryOp %d", op))
	}
}

// binaryVS sets y[i] = a[i] op s.
func binaryVS(op BinaryOp, y, a []float32, s float32) {
	a = a[:len(y)]
	switch op {
	case Add:
		for i := range y {
			y[i] = a[i] + s
		}
	case Sub:
		for i := range y {
			y[i] = a[i] - s
		}
	case Mul:
		for i := range y {
			y[i] = a[i] * s
		}
	case Div:
		// Dividing rather than multiplying by 1/s keeps the result
		// correctly rounded, as ONNX runtimes give it.
		for i := range y {
			y[i] = a[i] / s
		}
	default:
		panic(fmt.Sprintf("nchw: unknown BinaryOp %d", op))
	}
}

// binarySV sets y[i] = s op b[i].
func binarySV(op BinaryOp, y []float32, s float32, b []float32) {
	b = b[:len(y)]
	switch op {
	case Add:
		for i := range y {
			y[i] = s + b[i]
		}
	case Sub:
		for i := range y {
			y[i] = s - b[i]
		}
	case Mul:
		for i := range y {
			y[i] = s * b[i]
		}
	case Div:
		for i := range y {
			y[i] = s / b[i]
		}
	default:
		panic(fmt.Sprintf("nchw: unknown BinaryOp %d", op))
	}
}
