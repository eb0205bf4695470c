package backend

// Matrix products: Gemm and MatMul.

import (
	"fmt"

	"github.com/lenetkit/lenetkit/internal/gemm"
	"github.com/lenetkit/lenetkit/internal/nchw"
	"github.com/lenetkit/lenetkit/modelfile"
	"github.com/lenetkit/lenetkit/onnx"
)

func init() {
	register(map[string]handler{"Gemm": compileGemm, "MatMul": compileMatMul})
}

func compileGemm(c *compiler, o op) error {
	a, b, err := c.two(o)
	if err != nil {
		return err
	}
	cv, err := c.optional(o, 2)
	if err != nil {
		return err
	}
	ta, _ := o.attrs.Int("transA", 0)
	tb, _ := o.attrs.Int("transB", 0)
	// validate refused non-finite alpha and beta unless allowed.
	alpha, _ := o.attrs.Float("alpha", 1)
	beta, _ := o.attrs.Float("beta", 1)
	if len(a.shape) != 2 || len(b.shape) != 2 {
		return fmt.Errorf("Gemm of %v and %v: both must be matrices", a.shape, b.shape)
	}
	m, k := a.shape[0], a.shape[1]
	if ta != 0 {
		m, k = k, m
	}
	kb, n := b.shape[0], b.shape[1]
	if tb != 0 {
		kb, n = n, kb
	}
	if k != kb {
		return fmt.Errorf("Gemm of %v and %v: inner sizes %d and %d", a.shape, b.shape, k, kb)
	}
	if a.c == nil && !c.whole && (ta != 0 || m != 1) {
		return fmt.Errorf("Gemm with a transposed or multi-row run-time A is not supported")
	}
	s := gemmStep{m: m, n: n, k: k, transA: ta != 0, transB: tb != 0, alpha: alpha, beta: beta}
	if err := c.denseOperands(&s, a, b); err != nil {
		return err
	}
	if cv != nil {
		// C broadcasts to (M, N) unidirectionally (ONNX's Gemm): the
		// result keeps A and B's shape, so a C of (5, N) for M = 1 is
		// refused, as ONNX Runtime refuses it, not read in part.
		if !unidirectional(cv.shape, []int{m, n}) {
			return modelfile.FormatErrorf("Gemm's C of shape %v does not broadcast to the %dx%d result", cv.shape, m, n)
		}
		s.cShape, s.hasC = cv.shape, true
		if s.c, s.inC, err = c.operand(cv); err != nil {
			return err
		}
	}
	y, err := c.runtime([]int{m, n})
	if err != nil {
		return err
	}
	if err := c.b.ops(m, n, max(k, 1)); err != nil {
		return err
	}
	s.out = y.buf
	if err := c.addGemm(o, s); err != nil {
		return err
	}
	return c.set(o, 0, y)
}

func compileMatMul(c *compiler, o op) error {
	a, b, err := c.two(o)
	if err != nil {
		return err
	}
	if len(a.shape) == 2 && len(b.shape) == 2 {
		if a.shape[1] != b.shape[0] {
			return modelfile.FormatErrorf("MatMul of %v and %v: inner sizes differ", a.shape, b.shape)
		}
		s := gemmStep{m: a.shape[0], n: b.shape[1], k: a.shape[1], alpha: 1}
		if err := c.denseOperands(&s, a, b); err != nil {
			return err
		}
		if i, bias := c.denseBias(o.outputs[0], s.n); bias != nil {
			// A Dense layer as Keras and tf2onnx write it, MatMul then
			// Add: the Add is the product's C, one pass less, and the
			// layer chains with the next in rowBatch.
			s.c, s.cShape, s.hasC, s.beta = bias.floats(), bias.shape, true, 1
			c.done[i] = true
			o = op{index: o.index, typ: o.typ, attrs: o.attrs, inputs: o.inputs, outputs: c.g.Nodes[i].Outputs}
		}
		y, err := c.runtime([]int{s.m, s.n})
		if err != nil {
			return err
		}
		if err := c.b.ops(s.m, s.n, max(s.k, 1)); err != nil {
			return err
		}
		s.out = y.buf
		if err := c.addGemm(o, s); err != nil {
			return err
		}
		return c.set(o, 0, y)
	}
	return compileBatchedMatMul(c, o, a, b)
}

// denseBias returns the Add node that alone reads product value name, of
// n columns, and adds it a float constant of one row ([n], [1, n], or one
// value), with that constant; nil when there is none.
func (c *compiler) denseBias(name string, n int) (int, *constant) {
	i, ok := c.next(name)
	if !ok {
		return 0, nil
	}
	add := c.g.Nodes[i]
	if add.OpType != "Add" || add.Domain != "" || len(add.Inputs) != 2 || len(add.Outputs) != 1 {
		return 0, nil
	}
	other := add.Inputs[1]
	if other == name {
		other = add.Inputs[0]
	}
	k := c.constant(other)
	if k == nil || k.isInt() {
		return 0, nil
	}
	if len(k.shape) > 2 || numel(k.shape) != n && numel(k.shape) != 1 || len(k.shape) == 2 && k.shape[0] != 1 {
		return 0, nil
	}
	return i, k
}

// denseOperands sets how s reads its A and B. An A flattened from a
// channels-last map (flattenDense) is read as it lies, in (H, W, C)
// order, times a copy of constant B whose rows are put in that order,
// where the plan's budget has room for the copy; else A is converted to
// ONNX's order, as any other reader would have it.
func (c *compiler) denseOperands(s *gemmStep, a, b *val) error {
	if a.flatC > 0 && !isQuant8(a.dt) && b.c != nil && !s.transA && len(a.shape) == 2 && len(b.shape) == 2 {
		if need := 4 * int64(len(b.c.floats())); c.b.maxBytes-c.b.bytes >= need {
			w, err := permuteNHWC(b.c.floats(), s.k, s.n, a.flatC, a.flatHW, s.transB)
			if err != nil {
				return err
			}
			if err := c.b.constBytes(need); err != nil {
				return err
			}
			s.in, s.bm = a.buf, w
			return nil
		}
	}
	var err error
	if s.a, s.in, err = c.operand(a); err != nil {
		return err
	}
	s.bm, s.inB, err = c.operand(b)
	return err
}

// flattenDense is alias for a float channels-last map flattened to [N,
// C*H*W] that only dense layers read (denseReaders): it keeps its values
// in (H, W, C) order, which val.flatC says, and each layer puts its
// weights' rows in that order once (denseOperands), where ONNX's order
// would cost a layout step an image. ok false: not such a value.
func (c *compiler) flattenDense(o op, v *val, shape []int) (bool, error) {
	if !v.nhwc || v.dt != 0 || len(v.shape) != 4 || len(shape) != 2 || shape[0] != v.shape[0] ||
		shape[1] != numel(v.shape[1:]) || !c.denseReaders(o.outputs[0]) {
		return false, nil
	}
	return true, c.set(o, 0, &val{shape: shape, buf: v.buf, flatC: v.shape[1], flatHW: v.shape[2] * v.shape[3]})
}

// denseReaders reports whether every node that reads value name reads it
// as A of a product with constant 2-D weights whose rows denseOperands
// can reorder: a Gemm not transposing A, or a MatMul. A graph output, or
// any other reader (Softmax over the values, a Reshape, a product with
// weights computed at run time), must see ONNX's order.
func (c *compiler) denseReaders(name string) bool {
	if name == "" || c.g.IsOutput(name) {
		return false
	}
	readers := 0
	for i, n := range c.g.Nodes {
		for k, in := range n.Inputs {
			if in != name {
				continue
			}
			if k != 0 || n.Domain != "" || n.OpType != "Gemm" && n.OpType != "MatMul" || c.done[i] || c.early[i] || len(n.Inputs) < 2 {
				return false
			}
			if _, ok := c.qfused[n]; ok {
				return false
			}
			if ta, _ := n.Attrs.Int("transA", 0); ta != 0 {
				return false
			}
			if b := c.vals[n.Inputs[1]]; b == nil || b.c == nil || len(b.shape) != 2 {
				return false
			}
			readers++
		}
	}
	return readers > 0
}

// compileBatchedMatMul is MatMul of stacks of matrices (numpy's matmul):
// the dimensions before the last two broadcast; a 1-D operand is a
// vector, its dimension of 1 dropped from the result.
func compileBatchedMatMul(c *compiler, o op, a, b *val) error {
	if len(a.shape) == 0 || len(b.shape) == 0 {
		return modelfile.FormatErrorf("MatMul of %v and %v: scalars", a.shape, b.shape)
	}
	as, bs := a.shape, b.shape
	if len(as) == 1 {
		as = []int{1, as[0]}
	}
	if len(bs) == 1 {
		bs = []int{bs[0], 1}
	}
	m, k, n := as[len(as)-2], as[len(as)-1], bs[len(bs)-1]
	if bs[len(bs)-2] != k {
		return modelfile.FormatErrorf("MatMul of %v and %v: inner sizes differ", a.shape, b.shape)
	}
	batch, err := nchw.BroadcastShape(as[:len(as)-2], bs[:len(bs)-2])
	if err != nil {
		return modelfile.FormatErrorf("MatMul of %v and %v: %w", a.shape, b.shape, err)
	}
	shape := append(append([]int(nil), batch...), m, n)
	if !c.whole && len(shape) > 2 && (len(a.shape) != len(shape) && a.c == nil || len(b.shape) != len(shape) && b.c == nil) {
		return fmt.Errorf("MatMul of %v and %v broadcasts a run-time operand over the batch: %w", a.shape, b.shape, onnx.ErrUnsupported)
	}
	s := matmulStep{m: m, n: n, k: k, aBatch: broadcastIndex(as[:len(as)-2], batch), bBatch: broadcastIndex(bs[:len(bs)-2], batch)}
	if s.a, s.in, err = c.operand(a); err != nil {
		return err
	}
	if s.b, s.inB, err = c.operand(b); err != nil {
		return err
	}
	switch {
	case len(a.shape) == 1 && len(b.shape) == 1:
		shape = shape[:len(shape)-2]
	case len(a.shape) == 1:
		shape = append(shape[:len(shape)-2], n)
	case len(b.shape) == 1:
		shape = shape[:len(shape)-1]
	}
	y, err := c.runtime(shape)
	if err != nil {
		return err
	}
	if err := c.b.ops(max(len(s.aBatch), 1), m, n, max(k, 1)); err != nil {
		return err
	}
	s.out = y.buf
	c.steps = append(c.steps, s)
	return c.set(o, 0, y)
}

// broadcastIndex maps each matrix of a broadcast batch to the matrix of
// an operand of batch dimensions dims that it reads.
func broadcastIndex(dims, batch []int) []int {
	total := numel(batch)
	idx := make([]int, total)
	off := len(batch) - len(dims)
	for i := range idx {
		rem, at, stride := i, 0, 1
		for d := len(batch) - 1; d >= 0; d-- {
			coord := rem % batch[d]
			rem /= batch[d]
			if d >= off {
				if dims[d-off] != 1 {
					at += coord * stride
				}
				stride *= dims[d-off]
			}
		}
		idx[i] = at
	}
	return idx
}

// matmulStep multiplies, for each matrix of the batch, the matrices of A
// and B that it broadcasts from.
type matmulStep struct {
	m, n, k        int
	aBatch, bBatch []int
	a, b           []float32 // constants; nil: buffers in, inB
	in, inB, out   int
}

func (s matmulStep) run(buf [][]float32) {
	a, b, y := s.a, s.b, buf[s.out]
	if a == nil {
		a = buf[s.in]
	}
	if b == nil {
		b = buf[s.inB]
	}
	am, bm, ym := s.m*s.k, s.k*s.n, s.m*s.n
	for i := range s.aBatch {
		nchw.Gemm(y[i*ym:(i+1)*ym], s.m, s.n, s.k, false, false, 1,
			a[s.aBatch[i]*am:(s.aBatch[i]+1)*am], b[s.bBatch[i]*bm:(s.bBatch[i]+1)*bm], 0, nil, nil)
	}
}

// addGemm adds a matrix product to the plan: as a gemvStep when it is one
// image's row times constant weights of few columns (a classifier's last
// dense layer, 10 classes), which packs nothing at run time where the
// matrix kernels would pack all of B for a tile mostly empty; else as a
// gemmStep, its constant weights packed once: rowBatch multiplies many
// images' rows with them, and one image's row runs on the one-row kernel
// of the same panels, which gives it the same bits (a classifier's first
// dense layer answers an image alike alone or in a batch).
func (c *compiler) addGemm(o op, s gemmStep) error {
	const narrow = 16 // the matrix kernels' narrowest tile
	row := s.m == 1 && !s.transA && s.a == nil && s.bm != nil && (!s.hasC || s.c != nil)
	transposed := 4 * (int64(s.n)*int64(s.k) + int64(s.n))
	if !row || s.n > narrow || c.b.maxBytes-c.b.bytes < transposed {
		// Constant weights are packed into the matrix kernels' panels once
		// here rather than at every call, where the plan's budget has room
		// for the panels (about the weights' size) beside what it holds.
		if packed := 4 * (int64(s.n) + 64) * int64(s.k); s.bm != nil && s.k > 0 && s.n > 0 && c.b.maxBytes-c.b.bytes >= packed {
			if err := c.b.constBytes(packed); err != nil {
				return err
			}
			ldb := s.n
			if s.transB {
				ldb = s.k
			}
			s.pb = gemm.PackB(s.transB, s.m, s.n, s.k, s.bm, ldb)
		}
		s.node = o.index
		c.steps = append(c.steps, s)
		return nil
	}
	if err := c.b.constBytes(transposed); err != nil {
		return err
	}
	g := newGemv(s)
	g.node = o.index
	c.steps = append(c.steps, g)
	return nil
}

// newGemv returns the gemvStep of a one-row product with constant B and
// C: B transposed, alpha folded in; C times beta as its bias.
func newGemv(s gemmStep) gemvStep {
	g := gemvStep{n: s.n, k: s.k, bt: make([]float32, s.n*s.k), in: s.in, out: s.out}
	for j := 0; j < s.n; j++ {
		for i := 0; i < s.k; i++ {
			if s.transB {
				g.bt[j*s.k+i] = s.alpha * s.bm[j*s.k+i]
			} else {
				g.bt[j*s.k+i] = s.alpha * s.bm[i*s.n+j]
			}
		}
	}
	if s.hasC && s.beta != 0 {
		// C of shape [], [1], [n] or [1, n]: one value or one a column.
		g.bias = make([]float32, s.n)
		for j := range g.bias {
			g.bias[j] = s.beta * s.c[j%len(s.c)]
		}
	}
	return g
}

// gemvStep is y = a B + bias for one row a of k values and constant
// weights, kept transposed (bt is [n][k], alpha folded in) so that each
// output is one dot product over contiguous memory (gemm.GemvT).
type gemvStep struct {
	n, k    int
	bt      []float32
	bias    []float32
	in, out int
	node    int // the graph node it computes, for rowBatch
}

func (s gemvStep) run(b [][]float32) {
	gemm.GemvT(b[s.out][:s.n], b[s.in][:s.k], s.bt, s.bias)
}
