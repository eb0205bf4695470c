package backend

// Float operators on quantized values: the forms of MaxPool, Relu,
// Transpose and Cast that read integer run-time values (ops_quant.go), the
// reshapes that alias them as they are, and the refusal of every other
// operator, whose handlers read buffers as float32 numbers.

import (
	"fmt"
	"math"

	"github.com/lenetkit/lenetkit/internal/nchw"
	"github.com/lenetkit/lenetkit/modelfile"
	"github.com/lenetkit/lenetkit/onnx"
)

// typedSafe are the operators whose handlers only alias their first input
// under another shape, or read its shape: compiler.alias keeps the type,
// so they run unchanged on integer values.
var typedSafe = map[string]bool{
	"Identity": true, "Dropout": true, "Flatten": true, "Reshape": true,
	"Squeeze": true, "Unsqueeze": true, "Shape": true,
}

// typedHandlers are the integer forms of float operators.
var typedHandlers = map[string]handler{
	"MaxPool": compileQMaxPool, "Relu": compileQRelu, "Transpose": compileQTranspose, "Cast": compileQCast,
	"BatchNormalization": compileQBatchNorm,
}

// typedHandler returns the handler of node n, h for its type: h itself
// unless n reads an integer run-time value and is not a quantized
// operator, then its integer form, or a refusal.
func (c *compiler) typedHandler(n *onnx.Node, h handler) (handler, error) {
	if quantFamily[n.OpType] {
		return h, nil
	}
	var dt onnx.DType
	for _, in := range n.Inputs {
		if v := c.vals[in]; in != "" && v != nil && v.c == nil && v.dt != 0 {
			dt = v.dt
			break
		}
	}
	switch {
	case dt == 0, typedSafe[n.OpType] && n.Domain == "":
		return h, nil
	case typedHandlers[n.OpType] != nil && n.Domain == "":
		return typedHandlers[n.OpType], nil
	}
	return nil, unsupportedf("%s of a %s value: only the quantized operators and MaxPool, Relu, Transpose, Cast and the reshapes read integer values", n.OpType, dt)
}

// compileQMaxPool is MaxPool of int8 or uint8 values (opset 12 on), as the
// QOperator graphs of ONNX Runtime and the zoo pool between QLinearConvs:
// the same window as MaxPool of floats, padding never the maximum.
func compileQMaxPool(c *compiler, o op) error {
	x, err := c.in(o, 0)
	if err != nil {
		return err
	}
	if !isQuant8(x.dt) || len(x.shape) != 3 && len(x.shape) != 4 {
		return unsupportedf("MaxPool of a %s value of shape %v: only 1-D and 2-D pooling of 8-bit maps", x.dt, x.shape)
	}
	if len(o.outputs) > 1 && o.outputs[1] != "" {
		return unsupportedf("MaxPool's Indices output")
	}
	k, err := o.attrs.Ints("kernel_shape")
	if err != nil {
		return err
	}
	in := x.shape[2:]
	g, err := spatialGeometry(o, in, k, true)
	if err != nil {
		return err
	}
	ceil, err := o.attrs.Int("ceil_mode", 0)
	if err != nil {
		return err
	}
	out := make([]int, len(in))
	for a := range in {
		out[a] = nchw.PoolOut(in[a], g.extent(a), g.s[a], g.pb[a], g.pe[a], ceil != 0)
		if out[a] < 1 {
			return modelfile.FormatErrorf("MaxPool of %v with kernel %v leaves no output", x.shape, k)
		}
	}
	s := qmaxPoolStep{rows: x.shape[0] * x.shape[1], in: x.buf}
	s.kh, s.kw, s.sh, s.sw, s.dh, s.dw, s.pt, s.pl, _, _ = g.flat2D()
	s.h, s.w, s.oh, s.ow = 1, in[len(in)-1], 1, out[len(out)-1]
	if len(in) == 2 {
		s.h, s.oh = in[0], out[0]
	}
	if x.dt == onnx.Int8 {
		s.flip = 0x80
	}
	y, err := c.typedRuntime(append([]int{x.shape[0], x.shape[1]}, out...), x.dt)
	if err != nil {
		return err
	}
	if err := c.b.ops(numel(y.shape), s.kh, s.kw); err != nil {
		return err
	}
	s.out = y.buf
	c.steps = append(c.steps, s)
	return c.set(o, 0, y)
}

// qmaxPoolStep is max pooling of 8-bit maps: rows maps of h x w into maps
// of oh x ow. int8 values are compared as their bits with the sign
// flipped (flip 0x80), which orders them as unsigned bytes.
type qmaxPoolStep struct {
	rows, h, w, oh, ow     int
	kh, kw, sh, sw, dh, dw int
	pt, pl                 int
	flip                   byte
	in, out                int
}

func (s qmaxPoolStep) run(b [][]float32) {
	x, y := bytesOf(b[s.in]), bytesOf(b[s.out])
	inside := s.pt == 0 && s.pl == 0 && (s.oh-1)*s.sh+(s.kh-1)*s.dh < s.h && (s.ow-1)*s.sw+(s.kw-1)*s.dw < s.w
	flip := int(s.flip)
	for r := range s.rows {
		xm, ym := x[r*s.h*s.w:(r+1)*s.h*s.w], y[r*s.oh*s.ow:(r+1)*s.oh*s.ow]
		for oy := range s.oh {
			out := ym[oy*s.ow : (oy+1)*s.ow]
			if inside {
				s.rowInside(out, xm, oy)
				continue
			}
			for ox := range out {
				best := 0
				for ky := range s.kh {
					iy := oy*s.sh - s.pt + ky*s.dh
					if iy < 0 || iy >= s.h {
						continue
					}
					row := xm[iy*s.w : (iy+1)*s.w]
					for kx := range s.kw {
						if ix := ox*s.sw - s.pl + kx*s.dw; ix >= 0 && ix < s.w {
							best = max(best, int(row[ix])^flip)
						}
					}
				}
				out[ox] = byte(best ^ flip)
			}
		}
	}
}

// rowInside pools output row oy of map x, every window of which lies
// inside the map: no bounds to check but the slices'. The maxima are
// taken of ints, which compile to conditional moves, not branches.
func (s qmaxPoolStep) rowInside(out, x []byte, oy int) {
	flip, kw, sw, dw := int(s.flip), s.kw, s.sw, s.dw
	if s.kh == 2 && kw == 2 && s.sh == 2 && sw == 2 && s.dh == 1 && dw == 1 {
		r0 := 2 * oy * s.w
		pool2Row(out, x[r0:r0+s.w], x[r0+s.w:r0+2*s.w], flip)
		return
	}
	if s.kh == kw && s.sh == sw && sw == kw && s.dh == 1 && dw == 1 {
		poolRow(out, x[oy*kw*s.w:], s.w, kw, flip)
		return
	}
	for ky := range s.kh {
		r0 := (oy*s.sh + ky*s.dh) * s.w
		row := x[r0 : r0+s.w]
		for ox := range out {
			win := row[ox*sw : ox*sw+(kw-1)*dw+1]
			best := int(win[0]) ^ flip
			if ky > 0 {
				best = max(best, int(out[ox]))
			}
			for kx := dw; kx < len(win); kx += dw {
				best = max(best, int(win[kx])^flip)
			}
			out[ox] = byte(best)
		}
	}
	for ox := range out {
		out[ox] ^= s.flip
	}
}

// pool2Row is one output row of 2x2 windows at stride 2, from input rows
// r0 and r1: the seed's pooling, a loop the compiler keeps branch-free.
func pool2Row(out, r0, r1 []byte, flip int) {
	r0, r1 = r0[:2*len(out)], r1[:2*len(out)]
	for i := range out {
		a := max(int(r0[2*i])^flip, int(r0[2*i+1])^flip)
		b := max(int(r1[2*i])^flip, int(r1[2*i+1])^flip)
		out[i] = byte(max(a, b) ^ flip)
	}
}

// poolRow is one output row of k x k windows at stride k from the k
// input rows of width w at the start of x.
func poolRow(out, x []byte, w, k, flip int) {
	for i := range out {
		m := 0
		for ky := range k {
			for _, v := range x[ky*w+i*k : ky*w+i*k+k] {
				m = max(m, int(v)^flip)
			}
		}
		out[i] = byte(m ^ flip)
	}
}

// compileQRelu is Relu of int8 or int32 values (opset 14 on): max(x, 0).
// ONNX's Relu takes no unsigned type.
func compileQRelu(c *compiler, o op) error {
	x, err := c.in(o, 0)
	if err != nil {
		return err
	}
	if x.dt != onnx.Int8 && x.dt != onnx.Int32 {
		return unsupportedf("Relu of a %s value", x.dt)
	}
	y, err := c.typedRuntime(x.shape, x.dt)
	if err != nil {
		return err
	}
	if err := c.b.ops(numel(x.shape)); err != nil {
		return err
	}
	c.steps = append(c.steps, qreluStep{n: numel(x.shape), dt: x.dt, in: x.buf, out: y.buf})
	return c.set(o, 0, y)
}

type qreluStep struct {
	n       int
	dt      onnx.DType
	in, out int
}

func (s qreluStep) run(b [][]float32) {
	if s.dt == onnx.Int32 {
		x, y := int32sOf(b[s.in])[:s.n], int32sOf(b[s.out])[:s.n]
		for i, v := range x {
			y[i] = max(v, 0)
		}
		return
	}
	x, y := bytesOf(b[s.in])[:s.n], bytesOf(b[s.out])[:s.n]
	for i, v := range x {
		y[i] = byte(max(int8(v), 0))
	}
}

// compileQTranspose is Transpose of integer values: the strided copy of
// floats' Transpose, on bytes or int32 values.
func compileQTranspose(c *compiler, o op) error {
	x, err := c.in(o, 0)
	if err != nil {
		return err
	}
	p, shape, err := transposed(o, x.shape)
	if err != nil {
		return err
	}
	if p == nil {
		return c.set(o, 0, x)
	}
	if !c.whole && p[0] != 0 {
		return fmt.Errorf("Transpose %v of %v moves the batch dimension, which would mix the images of a batch: %w", p, x.shape, onnx.ErrUnsupported)
	}
	y, err := c.typedRuntime(shape, x.dt)
	if err != nil {
		return err
	}
	if err := c.b.ops(numel(shape)); err != nil {
		return err
	}
	c.steps = append(c.steps, qstridedStep{s: nchw.TransposeStrided(x.shape, p), dt: x.dt, in: x.buf, out: y.buf})
	return c.set(o, 0, y)
}

type qstridedStep struct {
	s       nchw.Strided
	dt      onnx.DType
	in, out int
}

func (s qstridedStep) run(b [][]float32) {
	if isQuant8(s.dt) {
		nchw.CopyStrided(bytesOf(b[s.out]), bytesOf(b[s.in]), s.s)
		return
	}
	nchw.CopyStrided(int32sOf(b[s.out]), int32sOf(b[s.in]), s.s)
}

// compileQCast is Cast of integer values: to float (the int32 results of
// MatMulInteger and ConvInteger, in ONNX Runtime's dynamically quantized
// graphs), to int32, or to their own type.
func compileQCast(c *compiler, o op) error {
	x, err := c.in(o, 0)
	if err != nil {
		return err
	}
	to, err := o.attrs.Int("to", 1)
	if err != nil {
		return err
	}
	dt := onnx.DType(to)
	switch {
	case dt == x.dt:
		return c.set(o, 0, x)
	case dt.IsFloat():
		dt = 0
	case dt != onnx.Int32:
		return unsupportedf("Cast of a %s value to %s", x.dt, dt)
	}
	y, err := c.typedRuntime(x.shape, dt)
	if err != nil {
		return err
	}
	if err := c.b.ops(numel(x.shape)); err != nil {
		return err
	}
	c.steps = append(c.steps, convertStep{n: numel(x.shape), from: x.dt, to: dt, in: x.buf, out: y.buf})
	return c.set(o, 0, y)
}

// convertStep converts n values from one representation to another
// (0 for float32 numbers): integers to numbers exactly up to 2^24 and
// rounded to nearest beyond, numbers to integers rounded half to even
// and saturated (NaN to 0), integers to int32.
type convertStep struct {
	n        int
	from, to onnx.DType
	in, out  int
}

func (s convertStep) run(b [][]float32) {
	in, out := b[s.in], b[s.out]
	switch {
	case s.from == 0:
		lo, hi := typeRange(s.to)
		for i, f := range in[:s.n] {
			v := int32(0)
			if f == f {
				v = int32(min(max(math.RoundToEven(float64(f)), float64(lo)), float64(hi)))
			}
			storeInt(s.to, out, i, v)
		}
	case s.to == 0:
		for i := range out[:s.n] {
			out[i] = float32(loadInt(s.from, in, i))
		}
	default:
		for i := range s.n {
			storeInt(s.to, out, i, loadInt(s.from, in, i))
		}
	}
}

// loadInt reads element i of a buffer of integer type dt.
func loadInt(dt onnx.DType, buf []float32, i int) int32 {
	switch dt {
	case onnx.Uint8:
		return int32(bytesOf(buf)[i])
	case onnx.Int8:
		return int32(int8(bytesOf(buf)[i]))
	}
	return int32sOf(buf)[i]
}

// storeInt writes element i of a buffer of integer type dt; v is in the
// type's range.
func storeInt(dt onnx.DType, buf []float32, i int, v int32) {
	if isQuant8(dt) {
		bytesOf(buf)[i] = byte(v)
		return
	}
	int32sOf(buf)[i] = v
}

// compileQBatchNorm is a BatchNormalization that fuseQDQ found between a
// DequantizeLinear and a QuantizeLinear (quantFusion.table): the 8-bit
// output of each input byte, per channel, is a table computed at load by
// the steps the graph as written runs at every image (dequantizeStep's
// arithmetic, nchw.ScaleShift, quantize), so that the two agree exactly.
func compileQBatchNorm(c *compiler, o op) error {
	x, err := c.in(o, 0)
	if err != nil {
		return err
	}
	if !c.qfused[c.g.Nodes[o.index]].table || !isQuant8(x.dt) || len(x.shape) < 2 {
		return unsupportedf("BatchNormalization of a %s value", x.dt)
	}
	ch := x.shape[1]
	bn, err := c.qbnTable(o, x.dt, ch)
	if err != nil {
		return err
	}
	table, ydt := bn.table, bn.dt
	s := tableStep{n: x.shape[0], c: ch, hw: numel(x.shape[2:]), table: table, in: x.buf}
	y, err := c.typedRuntime(x.shape, ydt)
	if err != nil {
		return err
	}
	if err := c.b.ops(numel(x.shape)); err != nil {
		return err
	}
	s.out = y.buf
	c.steps = append(c.steps, s)
	return c.set(o, 0, y)
}

// qbnTables are a quantized BatchNormalization's tables: per channel, the
// output byte of each of the 256 input bytes, and the output's type; and
// per channel the affine map they round, y = q*a + b from the input value
// q to the output's (its zero point included), which the epilogue's
// vector code may compute them by (qgemm.Epilogue.Affine checks it).
type qbnTables struct {
	table []byte
	dt    onnx.DType
	a, b  []float32
}

// qbnTable computes the tables of compileQBatchNorm's BatchNormalization
// o, for an input of type xdt and ch channels. The tables count among the
// plan's constants.
func (c *compiler) qbnTable(o op, xdt onnx.DType, ch int) (qbnTables, error) {
	scale, shift, err := c.batchNormCoefficients(o)
	if err != nil {
		return qbnTables{}, err
	}
	if len(scale) != ch {
		return qbnTables{}, modelfile.FormatErrorf("BatchNormalization of %d channels: parameters of %d", ch, len(scale))
	}
	xq, err := c.quantParam(o, 5, 6, nil, -1, xdt, false)
	if err != nil {
		return qbnTables{}, err
	}
	yq, err := c.quantParam(o, 7, 8, nil, -1, 0, false)
	if err != nil {
		return qbnTables{}, err
	}
	if !isQuant8(yq.dt) {
		return qbnTables{}, unsupportedf("QuantizeLinear to %s", yq.dt)
	}
	if err := c.b.constBytes(256 * int64(ch)); err != nil {
		return qbnTables{}, err
	}
	t := qbnTables{dt: yq.dt, a: make([]float32, ch), b: make([]float32, ch)}
	sx, zx, sy, zy := float64(xq.scale[0]), float64(xq.zero[0]), float64(yq.scale[0]), float64(yq.zero[0])
	for k := range ch {
		t.a[k] = float32(sx * float64(scale[k]) / sy)
		t.b[k] = float32((float64(shift[k])-zx*sx*float64(scale[k]))/sy + zy)
	}
	table := make([]byte, 256*ch)
	var in, mid [256]float32
	for v := range 256 {
		q := int32(v)
		if xdt == onnx.Int8 {
			q = int32(int8(v))
		}
		in[v] = float32(q-xq.zero[0]) * xq.scale[0]
	}
	lo, hi := typeRange(yq.dt)
	for k := range ch {
		nchw.ScaleShift(mid[:], in[:], scale[k:k+1], shift[k:k+1], 1, 256)
		for v, f := range mid {
			table[k*256+v] = byte(quantize(f, yq.scale[0], yq.zero[0], lo, hi))
		}
	}
	t.table = table
	return t, nil
}

// tableStep maps each byte of n images of c channels of hw values
// through its channel's table of 256.
type tableStep struct {
	n, c, hw int
	table    []byte
	in, out  int
}

func (s tableStep) run(b [][]float32) {
	x, y := bytesOf(b[s.in]), bytesOf(b[s.out])
	for i := range s.n * s.c {
		t := (*[256]byte)(s.table[i%s.c*256:])
		dst := y[i*s.hw : (i+1)*s.hw]
		for j, v := range x[i*s.hw : (i+1)*s.hw] {
			dst[j] = t[v]
		}
	}
}

// requantPass is the handler of an operator fuseQDQ found between a
// DequantizeLinear and a QuantizeLinear of other parameters
// (quantFusion.requant): h, the operator's own, on the 8-bit values, then
// each output byte through the table of 256 the pair gives, computed by
// the steps the graph as written runs (dequantizeStep's arithmetic,
// quantize). The operators it takes (MaxPool, the reshapes, Transpose)
// move values or take their maximum, which the table, not decreasing,
// keeps.
func requantPass(h handler) handler {
	return func(c *compiler, o op) error {
		if len(o.inputs) < 5 || len(o.outputs) != 1 {
			return modelfile.FormatErrorf("%s: %d inputs for a quantized pass", o.typ, len(o.inputs))
		}
		n := len(o.inputs) - 4
		inner := o
		inner.inputs = o.inputs[:n]
		if err := h(c, inner); err != nil {
			return err
		}
		x := c.vals[o.outputs[0]]
		if x == nil || x.c != nil || !isQuant8(x.dt) {
			return unsupportedf("%s between quantizations of a value computed at load or not 8-bit", o.typ)
		}
		xq, err := c.quantParam(o, n, n+1, nil, -1, x.dt, false)
		if err != nil {
			return err
		}
		yq, err := c.quantParam(o, n+2, n+3, nil, -1, 0, false)
		if err != nil {
			return err
		}
		if !isQuant8(yq.dt) {
			return unsupportedf("QuantizeLinear to %s", yq.dt)
		}
		s := lutStep{n: numel(x.shape), in: x.buf, node: o.index}
		lo, hi := typeRange(yq.dt)
		for v := range 256 {
			q := int32(v)
			if x.dt == onnx.Int8 {
				q = int32(int8(v))
			}
			s.table[v] = byte(quantize(float32(q-xq.zero[0])*xq.scale[0], yq.scale[0], yq.zero[0], lo, hi))
		}
		y, err := c.typedRuntime(x.shape, yq.dt)
		if err != nil {
			return err
		}
		if err := c.b.ops(s.n); err != nil {
			return err
		}
		y.nhwc, y.flatC, y.flatHW = x.nhwc, x.flatC, x.flatHW
		s.out = y.buf
		c.steps = append(c.steps, &s)
		return c.set(o, 0, y)
	}
}

// lutStep maps each of n bytes through one table.
type lutStep struct {
	n       int
	table   [256]byte
	in, out int
	node    int // the graph node it computes, for rowBatch
}

// lutStep is a rowStep: each image's n bytes through the table.

func (s *lutStep) batches() bool  { return true }
func (s *lutStep) graphNode() int { return s.node }
func (s *lutStep) accSize() int   { return 0 }

func (s *lutStep) rowIO() (in, out, inSlots, outSlots int) {
	return s.in, s.out, slotsOf(onnx.Uint8, s.n), slotsOf(onnx.Uint8, s.n)
}

func (s *lutStep) runRows(_ [][]float32, a, y []float32, _ []int32, rows int) {
	slots := slotsOf(onnx.Uint8, s.n)
	x, out := bytesOf(a), bytesOf(y)
	for i := range rows {
		row, dst := x[4*i*slots:][:s.n], out[4*i*slots:][:s.n]
		for j, v := range row {
			dst[j] = s.table[v]
		}
	}
}

func (s *lutStep) run(b [][]float32) {
	x, y := bytesOf(b[s.in])[:s.n], bytesOf(b[s.out])[:s.n]
	for i, v := range x {
		y[i] = s.table[v]
	}
}
