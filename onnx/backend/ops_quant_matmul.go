package backend

// Quantized matrix products: QLinearMatMul (int8 in, int8 out) and
// MatMulInteger (int32 out), and the QDQ MatMul and Gemm that fuseQDQ
// rewrites as a QLinearMatMul (a Gemm's with its int32 bias and transB),
// and ONNX Runtime's QGemm (com.microsoft), the same product as its
// quantization tool writes a Gemm in QOperator form.
// Stacks of matrices broadcast as MatMul's do. Constant weights are
// packed once for qgemm; weights computed at run time go through the
// plain loop.

import (
	"fmt"

	"github.com/lenetkit/lenetkit/internal/nchw"
	"github.com/lenetkit/lenetkit/modelfile"
	"github.com/lenetkit/lenetkit/onnx"
)

func init() {
	registerQuant(register, map[string]handler{"QLinearMatMul": compileQLinearMatMul, "MatMulInteger": compileMatMulInteger})
	registerQuant(registerContrib, map[string]handler{"QGemm": compileQGemm})
}

func compileQLinearMatMul(c *compiler, o op) error {
	return c.qmatmul(o, true, c.qfused[c.g.Nodes[o.index]])
}

func compileMatMulInteger(c *compiler, o op) error { return c.qmatmul(o, false, quantFusion{}) }

// compileQGemm compiles QGemm, whose inputs are QLinearMatMul's but for
// the bias C (input 6, int32 of scale a_scale * b_scale) before the
// output's scale and zero point (7, 8): QLinearMatMul's inputs in its
// order, the bias last, as fuseQDQ writes a Gemm's. ONNX Runtime adds C
// to the sum of products and requantizes with alpha * a_scale * b_scale
// / y_scale; alpha other than 1, transA, and a float output (no y_scale)
// are refused.
func compileQGemm(c *compiler, o op) error {
	alpha, err := o.attrs.Float("alpha", 1)
	if err != nil {
		return err
	}
	transA, err := o.attrs.Int("transA", 0)
	if err != nil {
		return err
	}
	transB, err := o.attrs.Int("transB", 0)
	if err != nil {
		return err
	}
	switch {
	case alpha != 1:
		return unsupportedf("QGemm of alpha %g: only 1", alpha)
	case transA != 0:
		return unsupportedf("QGemm with transA: only A as it is")
	case len(o.inputs) < 9 || o.inputs[7] == "" || o.inputs[8] == "":
		return unsupportedf("QGemm without y_scale and y_zero_point (a float output): only a quantized one")
	case len(o.inputs) > 9:
		return modelfile.FormatErrorf("QGemm takes 9 inputs, not %d", len(o.inputs))
	}
	in := o.inputs
	o.inputs = append(append(append([]string(nil), in[:6]...), in[7], in[8]), in[6])
	return c.qmatmul(o, true, quantFusion{transB: transB != 0, bias: in[6] != ""})
}

// qmatmulShape reads the shapes of A and B (B transposed when transB) as
// compileBatchedMatMul does, and returns the step with its sizes and
// batches, and the output's shape.
func (c *compiler) qmatmulShape(o op, a, b *val, transB bool) (qmatmulStep, []int, error) {
	var s qmatmulStep
	if a.c != nil || !isQuant8(a.dt) || len(a.shape) == 0 || len(b.shape) == 0 {
		return s, nil, unsupportedf("%s of %v and %v: only run-time 8-bit matrices times 8-bit ones", o.typ, a.shape, b.shape)
	}
	bdt := b.dt
	if b.c != nil {
		bdt = b.c.dt
	}
	if !isQuant8(bdt) {
		return s, nil, unsupportedf("%s: B is %s, not int8 or uint8", o.typ, bdt)
	}
	as, bs := a.shape, b.shape
	if len(as) == 1 {
		as = []int{1, as[0]}
	}
	if len(bs) == 1 {
		bs = []int{bs[0], 1}
	}
	if transB && len(bs) != 2 {
		return s, nil, modelfile.FormatErrorf("%s: transposed B of %v", o.typ, b.shape)
	}
	m, k := as[len(as)-2], as[len(as)-1]
	kb, n := bs[len(bs)-2], bs[len(bs)-1]
	if transB {
		kb, n = n, kb
	}
	if kb != k {
		return s, nil, modelfile.FormatErrorf("%s of %v and %v: inner sizes differ", o.typ, a.shape, b.shape)
	}
	batch, err := nchw.BroadcastShape(as[:len(as)-2], bs[:len(bs)-2])
	if err != nil {
		return s, nil, modelfile.FormatErrorf("%s of %v and %v: %w", o.typ, a.shape, b.shape, err)
	}
	shape := append(append([]int(nil), batch...), m, n)
	if !c.whole && len(shape) > 2 && (len(a.shape) != len(shape) || len(b.shape) != len(shape) && b.c == nil) {
		return s, nil, unsupportedf("%s of %v and %v broadcasts a run-time operand over the batch", o.typ, a.shape, b.shape)
	}
	switch {
	case len(a.shape) == 1 && len(b.shape) == 1:
		shape = shape[:len(shape)-2]
	case len(a.shape) == 1:
		shape = append(shape[:len(shape)-2], n)
	case len(b.shape) == 1:
		shape = shape[:len(shape)-1]
	}
	s = qmatmulStep{m: m, k: k, n: n, aBatch: broadcastIndex(as[:len(as)-2], batch), bBatch: broadcastIndex(bs[:len(bs)-2], batch),
		signedA: a.dt == onnx.Int8, signedB: bdt == onnx.Int8}
	return s, shape, c.b.ops(len(s.aBatch), m, n, max(k, 1))
}

// qmatmul compiles QLinearMatMul (requant) or MatMulInteger, f what the
// node stands for besides the product: a Gemm's transB and bias, a Relu.
func (c *compiler) qmatmul(o op, requant bool, f quantFusion) error {
	bi, azi, bzi := 1, 2, 3
	if requant {
		bi, bzi = 3, 5
	}
	a, err := c.in(o, 0)
	if err != nil {
		return err
	}
	bv, err := c.in(o, bi)
	if err != nil {
		return err
	}
	// A flattened from a channels-last map multiplies constant weights
	// whose rows are put in its order instead (ops_quant_nhwc.go).
	var flat *val
	if a.flatC > 0 && bv.c != nil && len(a.shape) == 2 && len(bv.shape) == 2 {
		flat = a
	} else if a, err = c.chw(a); err != nil {
		return err
	}
	s, shape, err := c.qmatmulShape(o, a, bv, f.transB)
	if err != nil {
		return err
	}
	bdt := onnx.Uint8
	if s.signedB {
		bdt = onnx.Int8
	}
	bq := qparam{scaleBuf: -1, zeroBuf: -1, dt: bdt}
	s.az = qparam{scaleBuf: -1, zeroBuf: -1, dt: a.dt}
	ydt := onnx.Int32
	if requant {
		if err := c.qmatmulRequant(o, a, &s, &bq, f); err != nil {
			return err
		}
		ydt = s.rq.dt
	} else {
		if z, _ := c.optional(o, azi); z != nil && numel(z.shape) > 1 {
			return unsupportedf("MatMulInteger: a zero point per row of A")
		}
		if err := c.zeroParam(o, azi, nil, -1, 1, false, true, &s.az); err != nil {
			return err
		}
		if err := c.zeroParam(o, bzi, []int{s.n}, 0, 1, false, false, &bq); err != nil {
			return err
		}
	}
	if err := c.qmatmulWeights(o, &s, bv, bq, f.transB, flat); err != nil {
		return err
	}
	y, err := c.typedRuntime(shape, ydt)
	if err != nil {
		return err
	}
	if requant {
		if s.acc, err = c.newBuf(s.m * s.n); err != nil {
			return err
		}
	}
	s.in, s.out, s.ws, s.node = a.buf, y.buf, newWorkspaces(), o.index
	c.steps = append(c.steps, s)
	return c.set(o, 0, y)
}

// qmatmulRequant reads QLinearMatMul's scales and zero points (A's into
// s.az, B's into bq: one, or one per column) and, for a fused Gemm, its
// bias, and makes the step's output stage.
func (c *compiler) qmatmulRequant(o op, a *val, s *qmatmulStep, bq *qparam, f quantFusion) error {
	aq, err := c.quantParam(o, 1, 2, nil, -1, a.dt, false)
	if err != nil {
		return err
	}
	s.az = aq
	if *bq, err = c.quantParam(o, 4, 5, []int{s.n}, 0, bq.dt, false); err != nil {
		return err
	}
	yq, err := c.quantParam(o, 6, 7, nil, -1, 0, false)
	if err != nil {
		return err
	}
	if !isQuant8(yq.dt) {
		return unsupportedf("QLinearMatMul to %s", yq.dt)
	}
	s.rq = &requantizer{mult: multipliers(aq.scale[0], bq.scale, yq.scale[0]), zero: yq.zero[0], dt: yq.dt, relu: f.relu}
	if len(o.inputs) > 8 && !f.bias && o.inputs[8] != "" {
		return modelfile.FormatErrorf("QLinearMatMul takes 8 inputs, not %d", len(o.inputs))
	}
	if f.bias {
		s.rq.bias, err = c.qbias(o, 8, s.n)
	}
	return err
}

// qmatmulWeights packs constant B, one matrix of its stack at a time, or
// records the buffer of a B computed at run time. flat, when not nil, is
// A flattened from a channels-last map: B's rows are put in its order.
func (c *compiler) qmatmulWeights(o op, s *qmatmulStep, b *val, bq qparam, transB bool, flat *val) error {
	if b.c == nil {
		s.inB, s.bz = b.buf, bq.zero
		return nil
	}
	w := b.c.ints()
	if flat != nil {
		var err error
		if w, err = permuteNHWC(w, s.k, s.n, flat.flatC, flat.flatHW, transB); err != nil {
			return fmt.Errorf("%s: %w", o.typ, err)
		}
	}
	size := s.k * s.n
	for i := 0; i < len(w); i += size {
		q, err := packQWeights(transB, s.k, s.n, w[i:i+size], s.signedB, bq.zero)
		if err != nil {
			return fmt.Errorf("%s: %w", o.typ, err)
		}
		if err := c.b.constBytes(q.bytes()); err != nil {
			return err
		}
		s.weights = append(s.weights, q)
		c.noteKernel(q)
	}
	return nil
}

// qmatmulStep multiplies, for each matrix of the broadcast batch, the
// matrices of A and B it reads.
type qmatmulStep struct {
	m, k, n          int
	aBatch, bBatch   []int
	signedA, signedB bool
	az               qparam
	weights          []*qweights // constant B, one a matrix; nil: B is buffer inB
	bz               []int32     // run-time B's zero points, one or one a column
	rq               *requantizer
	ws               *workspaces
	in, inB, out     int
	acc              int // the accumulators before requantization
	node             int // the graph node it computes, for rowBatch
}

func (s qmatmulStep) run(b [][]float32) {
	a := bytesOf(b[s.in])
	za := s.az.zeroPoint(b)
	ws := s.ws.get()
	defer s.ws.put(ws)
	mk, kn, mn := s.m*s.k, s.k*s.n, s.m*s.n
	for i, ai := range s.aBatch {
		am := a[ai*mk : (ai+1)*mk]
		var acc []int32
		if s.rq == nil {
			acc = int32sOf(b[s.out])[i*mn : (i+1)*mn]
		} else {
			acc = int32sOf(b[s.acc])[:mn]
		}
		if s.weights != nil {
			s.weights[s.bBatch[i]].mul(s.signedA, false, s.m, am, s.k, za, acc, s.n, ws)
		} else {
			bm := bytesOf(b[s.inB])[s.bBatch[i]*kn : (s.bBatch[i]+1)*kn]
			refProduct(s.m, s.k, s.n, qoperand{v: am, signed: s.signedA, ld: s.k}, za,
				qoperand{v: bm, signed: s.signedB, ld: s.n}, s.bz, acc, s.n)
		}
		if s.rq != nil {
			s.rq.rows(s.m, s.n, bytesOf(b[s.out])[i*mn:(i+1)*mn], s.n, acc, s.n)
		}
	}
}
