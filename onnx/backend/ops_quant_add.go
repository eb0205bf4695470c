package backend

// QLinearAdd, ONNX Runtime's contrib operator (domain com.microsoft) that
// its quantization tool and the zoo's QOperator graphs write for an Add of
// quantized values, such as a dense layer's bias.

import (
	"math"
	"slices"

	"github.com/lenetkit/lenetkit/internal/nchw"
	"github.com/lenetkit/lenetkit/modelfile"
	"github.com/lenetkit/lenetkit/onnx"
)

func init() {
	registerQuant(registerContrib, map[string]handler{"QLinearAdd": compileQLinearAdd})
}

// compileQLinearAdd reads A (input 0) and B (3), each a run-time value of
// the output's shape or a constant, broadcast to it at load, with their
// scales and zero points and C's (6, 7).
func compileQLinearAdd(c *compiler, o op) error {
	a, b, err := c.in2(o, 0, 3)
	if err != nil {
		return err
	}
	dt := typeOf(a)
	if !isQuant8(dt) || typeOf(b) != dt {
		return unsupportedf("QLinearAdd of %s and %s: both int8 or both uint8", dt, typeOf(b))
	}
	shape, err := nchw.BroadcastShape(a.shape, b.shape)
	if err != nil {
		return modelfile.FormatErrorf("QLinearAdd of %v and %v: %w", a.shape, b.shape, err)
	}
	s := qaddStep{n: numel(shape), dt: dt}
	for i, p := range []*qparam{&s.a, &s.b, &s.c} {
		si := []int{1, 4, 6}[i]
		if *p, err = c.quantParam(o, si, si+1, nil, -1, dt, false); err != nil {
			return err
		}
	}
	var y *val
	if a.c != nil && b.c != nil {
		k, err := c.folded(shape, true)
		if err != nil {
			return err
		}
		k.dt = dt
		ka, kb := broadcastInts(a.c.ints(), a.shape, shape), broadcastInts(b.c.ints(), b.shape, shape)
		f := s.coefficients()
		for i := range k.i {
			k.i[i] = int64(f.add(int32(ka[i]), int32(kb[i])))
		}
		return c.set(o, 0, &val{shape: shape, c: k})
	}
	for _, v := range []*val{a, b} {
		if v.c == nil && !slices.Equal(v.shape, shape) {
			return unsupportedf("QLinearAdd of %v and %v broadcasts a run-time operand", a.shape, b.shape)
		}
	}
	if s.ka, s.ia, err = c.qaddOperand(a, shape); err != nil {
		return err
	}
	if s.kb, s.ib, err = c.qaddOperand(b, shape); err != nil {
		return err
	}
	if y, err = c.typedRuntime(shape, dt); err != nil {
		return err
	}
	if err := c.b.ops(s.n); err != nil {
		return err
	}
	s.out = y.buf
	c.steps = append(c.steps, s)
	return c.set(o, 0, y)
}

// in2 returns inputs i and j of o.
func (c *compiler) in2(o op, i, j int) (*val, *val, error) {
	a, err := c.in(o, i)
	if err != nil {
		return nil, nil, err
	}
	b, err := c.in(o, j)
	return a, b, err
}

// typeOf is the element type of a value, run-time or constant.
func typeOf(v *val) onnx.DType {
	if v.c != nil {
		return v.c.dt
	}
	return v.dt
}

// qaddOperand returns a constant operand's bytes broadcast to shape, or
// a run-time one's buffer.
func (c *compiler) qaddOperand(v *val, shape []int) ([]byte, int, error) {
	if v.c == nil {
		return nil, v.buf, nil
	}
	n := numel(shape)
	if err := c.b.constBytes(int64(n)); err != nil {
		return nil, 0, err
	}
	k := make([]byte, n)
	for i, x := range broadcastInts(v.c.ints(), v.shape, shape) {
		k[i] = byte(x)
	}
	return k, 0, nil
}

// broadcastInts is x of shape broadcast to the shape to, which holds it.
func broadcastInts(x []int64, shape, to []int) []int64 {
	st := make([]int, len(to))
	rm := nchw.RowMajor(shape)
	for k := range shape {
		if shape[k] != 1 {
			st[len(to)-len(shape)+k] = rm[k]
		}
	}
	y := make([]int64, numel(to))
	nchw.CopyStrided(y, x, nchw.NewStrided(to, 0, st))
	return y
}

// qaddStep is QLinearAdd of two operands of n values: constants (ka, kb)
// or buffers (ia, ib).
type qaddStep struct {
	n       int
	dt      onnx.DType
	a, b, c qparam
	ka, kb  []byte
	ia, ib  int
	out     int
}

func (s qaddStep) run(buf [][]float32) {
	a, b := s.ka, s.kb
	if a == nil {
		a = bytesOf(buf[s.ia])
	}
	if b == nil {
		b = bytesOf(buf[s.ib])
	}
	y := bytesOf(buf[s.out])[:s.n]
	f := s.coefficients()
	if s.dt == onnx.Int8 {
		for i := range y {
			y[i] = byte(f.add(int32(int8(a[i])), int32(int8(b[i]))))
		}
		return
	}
	for i := range y {
		y[i] = byte(f.add(int32(a[i]), int32(b[i])))
	}
}

// qaddCoef is QLinearAdd's arithmetic as ONNX Runtime's AVX2 kernel
// computes it (MlasQLinearAddKernelAvx2Helper): the ratios of A's and B's
// scales to C's, and a fixed part, in float32.
type qaddCoef struct {
	rAC, rBC, fixed float32
	lo, hi          int32
}

func (s qaddStep) coefficients() qaddCoef {
	f := qaddCoef{rAC: s.a.scale[0] / s.c.scale[0], rBC: s.b.scale[0] / s.c.scale[0]}
	f.fixed = float32(s.c.zero[0]) - (f.rAC*float32(s.a.zero[0]) + f.rBC*float32(s.b.zero[0]))
	f.lo, f.hi = typeRange(s.dt)
	return f
}

// add is one value: B's term then A's by fused multiply-adds, rounded
// half to even and saturated (NaN to the minimum).
func (f qaddCoef) add(a, b int32) int32 {
	v := fma32(float32(b), f.rBC, f.fixed)
	v = fma32(float32(a), f.rAC, v)
	if !(v >= float32(f.lo)) {
		return f.lo
	}
	if v > float32(f.hi) {
		return f.hi
	}
	return int32(math.RoundToEven(float64(v)))
}

// fma32 is x*y+z rounded once to float32 (the product is exact in
// float64; the sum may round twice in rare ties).
func fma32(x, y, z float32) float32 {
	return float32(math.FMA(float64(x), float64(y), float64(z)))
}
