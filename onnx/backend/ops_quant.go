package backend

// Quantized tensors: QuantizeLinear, DequantizeLinear and
// DynamicQuantizeLinear, the scales and zero points every quantized
// operator reads, and how integer values live in the plan's buffers.
//
// The plan's buffers are []float32, one per value, so that one budget
// and one accounting hold for every value. A run-time value of integer
// type carries its element type in val.dt, known at compile time, and
// keeps its bits, never float32 numbers, in its buffer's memory: uint8
// and int8 values as bytes packed four to a slot (a buffer of ceil(n/4)
// slots), int32 values one to a slot (the accumulators of MatMulInteger
// and ConvInteger exceed 2^24, past which float32 numbers drop units),
// read through bytesOf and int32sOf. Only the quantized handlers read such
// a buffer; another operator reading one is refused (typedHandler) unless
// it only reshapes it (Reshape, Flatten...), which aliases it, type and
// all. A plan of whole tensors takes and gives integer graph inputs and
// outputs as float32 numbers, as Run takes every tensor, converted by a
// step at each end (quant_whole.go).
//
// Rounding and saturation are ONNX Runtime's (MLAS's): x / scale in
// float32, clamped to the type's range less the zero point (NaN to its
// minimum), rounded half to even, plus the zero point.

import (
	"fmt"
	"math"
	"unsafe"

	"github.com/lenetkit/lenetkit/internal/qgemm"
	"github.com/lenetkit/lenetkit/modelfile"
	"github.com/lenetkit/lenetkit/onnx"
)

func init() {
	registerQuant(register, map[string]handler{
		"QuantizeLinear": compileQuantize, "DequantizeLinear": compileDequantize,
		"DynamicQuantizeLinear": compileDynamicQuantize,
	})
	// ONNX Runtime's own QuantizeLinear and DequantizeLinear, which its
	// older tools write, compute the same for 8-bit types.
	registerContrib(map[string]handler{"QuantizeLinear": compileQuantize, "DequantizeLinear": compileDequantize})
}

// registerQuant registers a family of quantized operators with reg
// (register, or registerContrib for the com.microsoft domain) and marks
// them as reading integer run-time values themselves (quantFamily).
func registerQuant(reg func(map[string]handler), family map[string]handler) {
	reg(family)
	for typ := range family {
		quantFamily[typ] = true
	}
}

// quantFamily are the operators that read integer run-time values
// themselves; typedHandler leaves them alone.
var quantFamily = map[string]bool{}

func isQuant8(dt onnx.DType) bool { return dt == onnx.Uint8 || dt == onnx.Int8 }

// slotsOf is the float32 slots a run-time value of n elements of type dt
// takes: four 8-bit values a slot, one of any other type.
func slotsOf(dt onnx.DType, n int) int {
	if isQuant8(dt) {
		return (n + 3) / 4
	}
	return n
}

// bytesOf is a buffer's memory as bytes, for 8-bit values.
func bytesOf(b []float32) []byte {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&b[0])), 4*len(b))
}

// int32sOf is a buffer's memory as int32 values.
func int32sOf(b []float32) []int32 {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Slice((*int32)(unsafe.Pointer(&b[0])), len(b))
}

// typeRange is the values of an integer type the quantized operators write.
func typeRange(dt onnx.DType) (lo, hi int32) {
	switch dt {
	case onnx.Int8:
		return -128, 127
	case onnx.Int32:
		return math.MinInt32, math.MaxInt32
	}
	return 0, 255
}

// typedRuntime is runtime for a value of element type dt (0: float32).
func (c *compiler) typedRuntime(shape []int, dt onnx.DType) (*val, error) {
	n, err := elements(shape)
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, fmt.Errorf("a run-time value of shape %v holds no values: %w", shape, onnx.ErrUnsupported)
	}
	buf, err := c.newBuf(slotsOf(dt, n))
	if err != nil {
		return nil, err
	}
	return &val{shape: shape, buf: buf, dt: dt}, nil
}

// quantize is one value of QuantizeLinear, as MLAS computes it.
func quantize(x, scale float32, zp, lo, hi int32) int32 {
	f := x / scale
	if !(f >= float32(lo-zp)) { // and NaN
		f = float32(lo - zp)
	}
	if f > float32(hi-zp) {
		f = float32(hi - zp)
	}
	return int32(math.RoundToEven(float64(f))) + zp
}

// qparam is a quantization's scale and zero point: per tensor (one of
// each) or per index along an axis (one per index), constants, or for a
// per-tensor one, run-time scalars read from their buffers at each run
// (DynamicQuantizeLinear's outputs).
type qparam struct {
	scale []float32 // nil where only a zero point is read (MatMulInteger)
	zero  []int32   // as many as scale, or one
	dt    onnx.DType
	// scaleBuf and zeroBuf are run-time scalars' buffers, -1 for none.
	scaleBuf, zeroBuf int
}

// scalar returns a per-tensor quantization's scale and zero point.
func (q *qparam) scalar(b [][]float32) (float32, int32) {
	s := float32(1)
	switch {
	case q.scaleBuf >= 0:
		s = b[q.scaleBuf][0]
	case len(q.scale) > 0:
		s = q.scale[0]
	}
	return s, q.zeroPoint(b)
}

// zeroPoint returns a per-tensor zero point.
func (q *qparam) zeroPoint(b [][]float32) int32 {
	if q.zeroBuf < 0 {
		return q.zero[0]
	}
	v := bytesOf(b[q.zeroBuf])[0]
	if q.dt == onnx.Int8 {
		return int32(int8(v))
	}
	return int32(v)
}

// runtime reports whether the scale or the zero point is computed at run
// time.
func (q *qparam) runtime() bool { return q.scaleBuf >= 0 || q.zeroBuf >= 0 }

// perAxis reports whether there is a scale or zero point per index.
func (q *qparam) perAxis() bool { return len(q.scale) > 1 || len(q.zero) > 1 }

// quantParam reads operator o's scale (input si) and zero point (input
// zi, optional) for a tensor of the given shape. axis is where a 1-D scale
// of shape[axis] values applies, or -1 where only one is allowed; dt is
// the quantized type when the input's type says it (DequantizeLinear's
// x), else 0: the zero point's type, uint8 when it is absent. runtime
// allows run-time scalars. Every scale must be positive and finite, and
// every zero point a constant of the type's range: anything else is an
// error at compile time, not a wrong number at run time.
func (c *compiler) quantParam(o op, si, zi int, shape []int, axis int, dt onnx.DType, runtime bool) (qparam, error) {
	q := qparam{scaleBuf: -1, zeroBuf: -1, dt: dt}
	n := 1
	if si >= 0 {
		s, err := c.in(o, si)
		if err != nil {
			return q, err
		}
		if n, err = paramLen(o, "scale", s, shape, axis); err != nil {
			return q, err
		}
		if s.c == nil {
			if !runtime || n != 1 || s.dt != 0 {
				return q, unsupportedf("%s: a scale computed at run time", o.typ)
			}
			q.scaleBuf = s.buf
		} else {
			if s.c.isInt() {
				return q, modelfile.FormatErrorf("%s: scale %q is %s, not float", o.typ, o.inputs[si], s.c.dt)
			}
			q.scale = s.c.floats()
			for _, v := range q.scale {
				if !(v > 0) || math.IsInf(float64(v), 0) {
					return q, modelfile.FormatErrorf("%s: scale %v; a scale must be positive and finite", o.typ, v)
				}
			}
		}
	}
	return q, c.zeroParam(o, zi, shape, axis, n, si >= 0, runtime, &q)
}

// zeroParam reads the zero point of quantParam into q: n values (those of
// the scale, when there is one).
func (c *compiler) zeroParam(o op, zi int, shape []int, axis, n int, scaled, runtime bool, q *qparam) error {
	z, err := c.optional(o, zi)
	if err != nil {
		return err
	}
	if z == nil {
		if q.dt == 0 {
			q.dt = onnx.Uint8
		}
		q.zero = make([]int32, n)
		return nil
	}
	zt := z.dt
	if z.c != nil {
		zt = z.c.dt
	}
	switch {
	case zt == 0 && z.c != nil && z.c.isInt():
		// Folded from other constants, which do not keep the type.
	case zt == onnx.Int16 || zt == onnx.Uint16:
		return unsupportedf("%s: zero point %q is %s (opset 21's 16-bit quantization)", o.typ, o.inputs[zi], zt)
	case !isQuant8(zt) && zt != onnx.Int32:
		return modelfile.FormatErrorf("%s: zero point %q is %s; want UINT8 or INT8", o.typ, o.inputs[zi], zt)
	case q.dt != 0 && zt != q.dt:
		return modelfile.FormatErrorf("%s: zero point %q is %s for a %s tensor", o.typ, o.inputs[zi], zt, q.dt)
	}
	if q.dt == 0 {
		q.dt = zt
		if zt == 0 {
			q.dt = onnx.Uint8
		}
	}
	m, err := paramLen(o, "zero point", z, shape, axis)
	if err != nil {
		return err
	}
	if scaled && m != n {
		return modelfile.FormatErrorf("%s: %d zero points for %d scales", o.typ, m, n)
	}
	if z.c == nil {
		if !runtime || m != 1 || !isQuant8(z.dt) {
			return unsupportedf("%s: a zero point computed at run time", o.typ)
		}
		q.zeroBuf = z.buf
		return nil
	}
	lo, hi := typeRange(q.dt)
	for _, v := range z.c.ints() {
		if v < int64(lo) || v > int64(hi) {
			return modelfile.FormatErrorf("%s: zero point %d is out of %s's range", o.typ, v, q.dt)
		}
		if q.dt == onnx.Int32 && v != 0 {
			return modelfile.FormatErrorf("%s: zero point %d of an INT32 tensor; ONNX fixes it at 0", o.typ, v)
		}
		q.zero = append(q.zero, int32(v))
	}
	return nil
}

// paramLen checks the shape of a scale or zero point p: a scalar or one
// value, or a 1-D tensor of shape[axis] values when axis >= 0.
func paramLen(o op, what string, p *val, shape []int, axis int) (int, error) {
	n := numel(p.shape)
	switch {
	case len(p.shape) > 1:
		return 0, modelfile.FormatErrorf("%s: %s of shape %v; want a scalar or a 1-D tensor", o.typ, what, p.shape)
	case n == 1:
		return 1, nil
	case axis < 0:
		return 0, modelfile.FormatErrorf("%s: %s of %d values where one is allowed", o.typ, what, n)
	case axis >= len(shape) || n != shape[axis]:
		return 0, modelfile.FormatErrorf("%s: %s of %d values for axis %d of %v", o.typ, what, n, axis, shape)
	}
	return n, nil
}

// quantAxis resolves QuantizeLinear's and DequantizeLinear's axis against
// a value of the given rank: -1 (one scale only) before opset 13, which
// had no axis, and for a value of rank 0.
func (c *compiler) quantAxis(o op, rank int) (int, error) {
	if c.opset < 13 && !o.attrs.Has("axis") || rank == 0 {
		return -1, nil
	}
	a, err := o.attrs.Int("axis", 1)
	if err != nil {
		return 0, err
	}
	if bs, _ := o.attrs.Int("block_size", 0); bs != 0 {
		return 0, unsupportedf("%s: blocked quantization (block_size %d)", o.typ, bs)
	}
	if a < -int64(rank) || a >= int64(rank) {
		return -1, nil // refused by paramLen if the scale has several values
	}
	if a < 0 {
		a += int64(rank)
	}
	return int(a), nil
}

func compileQuantize(c *compiler, o op) error {
	x, err := c.in(o, 0)
	if err != nil {
		return err
	}
	if x.dt != 0 || x.c != nil && x.c.isInt() {
		return unsupportedf("QuantizeLinear of an integer tensor")
	}
	ax, err := c.quantAxis(o, len(x.shape))
	if err != nil {
		return err
	}
	dt := onnx.DType(0)
	if odt, _ := o.attrs.Int("output_dtype", 0); odt != 0 {
		if dt = onnx.DType(odt); !isQuant8(dt) {
			return unsupportedf("QuantizeLinear to %s", dt)
		}
	}
	q, err := c.quantParam(o, 1, 2, x.shape, ax, dt, true)
	if err != nil {
		return err
	}
	if !isQuant8(q.dt) {
		return unsupportedf("QuantizeLinear to %s", q.dt)
	}
	s := quantizeStep{q: q, n: numel(x.shape), inner: inner(x.shape, ax)}
	if x.c != nil && q.runtime() {
		return unsupportedf("QuantizeLinear of a constant by a scale computed at run time")
	}
	if x.c != nil {
		k, err := c.folded(x.shape, true)
		if err != nil {
			return err
		}
		k.dt = q.dt
		vals := make([]byte, s.n)
		s.apply(vals, x.c.floats(), nil)
		for i, v := range vals {
			k.i[i] = int64(v)
			if q.dt == onnx.Int8 {
				k.i[i] = int64(int8(v))
			}
		}
		return c.set(o, 0, &val{shape: x.shape, c: k})
	}
	if x, err = c.materialize(x); err != nil {
		return err
	}
	if x, err = c.chw(x); err != nil {
		return err
	}
	y, err := c.typedRuntime(x.shape, q.dt)
	if err != nil {
		return err
	}
	if err := c.b.ops(s.n); err != nil {
		return err
	}
	s.in, s.out = x.buf, y.buf
	c.steps = append(c.steps, s)
	return c.set(o, 0, y)
}

// inner is the elements after axis ax of shape: a per-axis parameter
// changes every inner elements. 1 for a per-tensor one.
func inner(shape []int, ax int) int {
	if ax < 0 {
		return 1
	}
	return numel(shape[ax+1:])
}

// quantizeStep is QuantizeLinear of a run-time float value.
type quantizeStep struct {
	q        qparam
	n, inner int
	in, out  int
}

func (s quantizeStep) run(b [][]float32) { s.apply(bytesOf(b[s.out]), b[s.in], b) }

// apply quantizes x into y; b holds the run-time parameters, if any.
func (s quantizeStep) apply(y []byte, x []float32, b [][]float32) {
	lo, hi := typeRange(s.q.dt)
	x, y = x[:s.n], y[:s.n]
	if !s.q.perAxis() {
		sc, z := s.q.scalar(b)
		if s.q.scaleBuf < 0 {
			// A constant scale, checked positive and finite: the vector
			// code, which computes the same.
			if s.q.dt == onnx.Int8 {
				_ = qgemm.Quantize(int8sOf(y), x, sc, int8(z))
			} else {
				_ = qgemm.Quantize(y, x, sc, uint8(z))
			}
			return
		}
		for i, v := range x {
			y[i] = byte(quantize(v, sc, z, lo, hi))
		}
		return
	}
	k := len(s.q.scale)
	for i := 0; i < s.n; i += s.inner {
		a := i / s.inner % k
		sc, z := s.q.scale[a], s.q.zero[a]
		for j, v := range x[i : i+s.inner] {
			y[i+j] = byte(quantize(v, sc, z, lo, hi))
		}
	}
}

func compileDequantize(c *compiler, o op) error {
	x, err := c.in(o, 0)
	if err != nil {
		return err
	}
	dt := x.dt
	switch {
	case x.c != nil && !x.c.isInt():
		return modelfile.FormatErrorf("DequantizeLinear of a float tensor")
	case x.c != nil:
		dt = x.c.dt // 0 when folded: the zero point's type then
	case dt == 0:
		return modelfile.FormatErrorf("DequantizeLinear of a float tensor")
	}
	if dt != 0 && !isQuant8(dt) && dt != onnx.Int32 {
		return unsupportedf("DequantizeLinear of %s", dt)
	}
	ax, err := c.quantAxis(o, len(x.shape))
	if err != nil {
		return err
	}
	q, err := c.quantParam(o, 1, 2, x.shape, ax, dt, true)
	if err != nil {
		return err
	}
	s := dequantizeStep{q: q, n: numel(x.shape), inner: inner(x.shape, ax)}
	if !q.perAxis() {
		s.inner = s.n // one run of one scale
	}
	if x.c != nil && q.runtime() {
		return unsupportedf("DequantizeLinear of a constant by a scale computed at run time")
	}
	if x.c != nil {
		k, err := c.folded(x.shape, false)
		if err != nil {
			return err
		}
		s.foldInts(k.f, x.c.ints())
		return c.set(o, 0, &val{shape: x.shape, c: k})
	}
	y, err := c.runtime(x.shape)
	if err != nil {
		return err
	}
	if err := c.b.ops(s.n); err != nil {
		return err
	}
	s.in, s.out = x.buf, y.buf
	c.steps = append(c.steps, s)
	return c.set(o, 0, y)
}

// dequantizeStep is DequantizeLinear of a run-time integer value:
// float32(x - zero point) * scale, as ONNX Runtime computes it.
type dequantizeStep struct {
	q        qparam
	n, inner int
	in, out  int
}

func (s dequantizeStep) run(b [][]float32) {
	y := b[s.out][:s.n]
	for i := 0; i < s.n; i += s.inner {
		sc, z := s.q.scalar(b)
		if s.q.perAxis() {
			a := i / s.inner % len(s.q.scale)
			sc, z = s.q.scale[a], s.q.zero[a]
		}
		yi := y[i : i+s.inner]
		switch s.q.dt {
		case onnx.Uint8:
			for j, v := range bytesOf(b[s.in])[i : i+s.inner] {
				yi[j] = float32(int32(v)-z) * sc
			}
		case onnx.Int8:
			for j, v := range bytesOf(b[s.in])[i : i+s.inner] {
				yi[j] = float32(int32(int8(v))-z) * sc
			}
		default:
			for j, v := range int32sOf(b[s.in])[i : i+s.inner] {
				yi[j] = float32(v-z) * sc
			}
		}
	}
}

// foldInts dequantizes a constant's values into y.
func (s dequantizeStep) foldInts(y []float32, x []int64) {
	for i := range y {
		sc, z := s.q.scalar(nil)
		if s.q.perAxis() {
			a := i / s.inner % len(s.q.scale)
			sc, z = s.q.scale[a], s.q.zero[a]
		}
		y[i] = float32(int32(x[i])-z) * sc
	}
}

func compileDynamicQuantize(c *compiler, o op) error {
	x, err := c.in(o, 0)
	if err != nil {
		return err
	}
	if x.dt != 0 || x.c != nil && x.c.isInt() {
		return modelfile.FormatErrorf("DynamicQuantizeLinear of an integer tensor")
	}
	if x.c != nil {
		return c.foldDynamicQuantize(o, x)
	}
	if x, err = c.materialize(x); err != nil {
		return err
	}
	if x, err = c.chw(x); err != nil {
		return err
	}
	n := numel(x.shape)
	if err := c.b.ops(2, n); err != nil {
		return err
	}
	s := dynQuantStep{n: n, in: x.buf}
	y, err := c.typedRuntime(x.shape, onnx.Uint8)
	if err != nil {
		return err
	}
	scale, err := c.runtime(nil)
	if err != nil {
		return err
	}
	zero, err := c.typedRuntime(nil, onnx.Uint8)
	if err != nil {
		return err
	}
	s.out, s.scale, s.zero = y.buf, scale.buf, zero.buf
	c.steps = append(c.steps, s)
	return c.setOutputs(o, y, scale, zero)
}

// setOutputs sets those of o's outputs that the graph names.
func (c *compiler) setOutputs(o op, vs ...*val) error {
	for i, v := range vs {
		if i < len(o.outputs) && o.outputs[i] != "" {
			if err := c.set(o, i, v); err != nil {
				return err
			}
		}
	}
	return nil
}

// dynamicParams are DynamicQuantizeLinear's scale and zero point for
// values x, as ONNX Runtime computes them (GetQuantizationParameter): the
// range of x widened to hold 0, over 255; a scale of 1 for a range of
// nothing (all zeros), where ONNX's formula would divide by zero.
func dynamicParams(x []float32) (float32, int32) {
	lo, hi := float32(math.MaxFloat32), float32(-math.MaxFloat32)
	for _, v := range x {
		lo = min(lo, v)
		hi = max(hi, v)
	}
	lo, hi = min(lo, 0), max(hi, 0)
	scale := float32(1)
	if hi != lo {
		scale = (hi - lo) / 255
	}
	zp := float32(0) - lo/scale
	zp = min(max(zp, 0), 255)
	return scale, int32(math.RoundToEven(float64(zp)))
}

// dynQuantStep is DynamicQuantizeLinear of a run-time value.
type dynQuantStep struct {
	n                    int
	in, out, scale, zero int
}

func (s dynQuantStep) run(b [][]float32) {
	x := b[s.in][:s.n]
	scale, zp := dynamicParams(x)
	b[s.scale][0] = scale
	bytesOf(b[s.zero])[0] = byte(zp)
	y := bytesOf(b[s.out])[:s.n]
	for i, v := range x {
		y[i] = byte(quantize(v, scale, zp, 0, 255))
	}
}

// foldDynamicQuantize computes DynamicQuantizeLinear of a constant.
func (c *compiler) foldDynamicQuantize(o op, x *val) error {
	xs := x.c.floats()
	k, err := c.folded(x.shape, true)
	if err != nil {
		return err
	}
	scale, zp := dynamicParams(xs)
	k.dt = onnx.Uint8
	for i, v := range xs {
		k.i[i] = int64(quantize(v, scale, zp, 0, 255))
	}
	ks := &constant{f: []float32{scale}}
	kz := &constant{i: []int64{int64(zp)}, dt: onnx.Uint8}
	return c.setOutputs(o, &val{shape: x.shape, c: k}, &val{c: ks}, &val{c: kz})
}
