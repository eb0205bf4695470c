package backend

// Matrix products: Gemm and MatMul.

import (
	"fmt"

	"github.com/lenetkit/lenetkit/modelfile"
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
	if s.a, s.in, err = c.operand(a); err != nil {
		return err
	}
	if s.bm, s.inB, err = c.operand(b); err != nil {
		return err
	}
	if cv != nil {
		if cv.c == nil {
			return fmt.Errorf("Gemm's C must be a constant")
		}
		// C broadcasts to (M, N) unidirectionally (ONNX's Gemm): the
		// result keeps A and B's shape, so a C of (5, N) for M = 1 is
		// refused, as ONNX Runtime refuses it, not read in part.
		if !unidirectional(cv.shape, []int{m, n}) {
			return modelfile.FormatErrorf("Gemm's C of shape %v does not broadcast to the %dx%d result", cv.shape, m, n)
		}
		s.c, s.cShape = cv.c.floats(), cv.shape
	}
	y, err := c.runtime([]int{m, n})
	if err != nil {
		return err
	}
	if err := c.b.ops(m, n, max(k, 1)); err != nil {
		return err
	}
	s.out = y.buf
	c.steps = append(c.steps, s)
	return c.set(o, 0, y)
}

func compileMatMul(c *compiler, o op) error {
	a, b, err := c.two(o)
	if err != nil {
		return err
	}
	if len(a.shape) != 2 || len(b.shape) != 2 || a.shape[1] != b.shape[0] {
		return fmt.Errorf("MatMul of %v and %v: only matrices are supported", a.shape, b.shape)
	}
	s := gemmStep{m: a.shape[0], n: b.shape[1], k: a.shape[1], alpha: 1}
	if s.a, s.in, err = c.operand(a); err != nil {
		return err
	}
	if s.bm, s.inB, err = c.operand(b); err != nil {
		return err
	}
	y, err := c.runtime([]int{s.m, s.n})
	if err != nil {
		return err
	}
	if err := c.b.ops(s.m, s.n, max(s.k, 1)); err != nil {
		return err
	}
	s.out = y.buf
	c.steps = append(c.steps, s)
	return c.set(o, 0, y)
}
