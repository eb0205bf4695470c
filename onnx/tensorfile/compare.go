package tensorfile

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/lenetkit/lenetkit/onnx"
)

// The tolerances of ONNX's backend tests (onnx.backend.test.runner's
// defaults), which lenetkit run --expect and the node tests compare at.
const (
	RTol = 1e-3
	ATol = 1e-7
)

// MismatchError is Compare's error for tensors of the same shape whose
// values differ beyond the tolerance: how many do, and the worst of them.
type MismatchError struct {
	Mismatched int     `json:"mismatched"`
	Total      int     `json:"total"`
	Flat       int     `json:"flat_index"` // the worst element, in C order
	Index      []int   `json:"index"`      // the worst element, by dimension
	Got        float64 `json:"got"`
	Want       float64 `json:"want"`
	MaxAbs     float64 `json:"max_abs_diff"`
	MaxRel     float64 `json:"max_rel_diff"`
	RTol       float64 `json:"rtol"`
	ATol       float64 `json:"atol"`
}

func (e *MismatchError) Error() string {
	return fmt.Sprintf("%d of %d elements differ beyond rtol %g, atol %g; worst at %s: got %s, want %s (max abs diff %s, max rel diff %s)",
		e.Mismatched, e.Total, e.RTol, e.ATol, indexString(e.Index), num(e.Got), num(e.Want), num(e.MaxAbs), num(e.MaxRel))
}

// ShapeError is Compare's error for tensors of different shapes.
type ShapeError struct{ Got, Want []int }

func (e *ShapeError) Error() string {
	return fmt.Sprintf("shape %s, want %s", indexString(e.Got), indexString(e.Want))
}

// Compare checks got against want as numpy.testing.assert_allclose(got,
// want, rtol, atol) does: every element within atol + rtol*|want| of the
// wanted one, a NaN equal to a NaN, an infinity to the same infinity. The
// shapes must be equal (no broadcasting). A difference is a
// *MismatchError naming the worst element, the one furthest past its
// tolerance (a NaN against a number, or infinities that differ, first).
func Compare(got, want *onnx.Tensor, rtol, atol float64) error {
	if !slices.Equal(got.Shape, want.Shape) {
		return &ShapeError{Got: got.Shape, Want: want.Shape}
	}
	g, w := values(got), values(want)
	if len(g) != len(w) {
		return fmt.Errorf("%d values, want %d", len(g), len(w))
	}
	e := &MismatchError{Total: len(w), RTol: rtol, ATol: atol, Flat: -1}
	worst := math.Inf(-1)
	for i := range w {
		a, b := g[i], w[i]
		if a == b || (math.IsNaN(a) && math.IsNaN(b)) {
			continue
		}
		diff := math.Abs(a - b)
		tol := atol + rtol*math.Abs(b)
		var excess float64
		switch {
		case math.IsNaN(a) || math.IsNaN(b) || math.IsInf(a, 0) || math.IsInf(b, 0):
			excess = math.Inf(1)
		case diff <= tol:
			continue
		default:
			excess = diff - tol
		}
		if !math.IsNaN(diff) {
			e.MaxAbs = max(e.MaxAbs, diff)
			if b != 0 {
				e.MaxRel = max(e.MaxRel, diff/math.Abs(b))
			} else {
				e.MaxRel = math.Inf(1)
			}
		}
		e.Mismatched++
		if excess > worst {
			worst, e.Flat, e.Got, e.Want = excess, i, a, b
		}
	}
	if e.Mismatched == 0 {
		return nil
	}
	e.Index = unravel(e.Flat, want.Shape)
	return e
}

// values are a tensor's elements as float64, integers exactly.
func values(t *onnx.Tensor) []float64 {
	if t.Float != nil || t.Int == nil {
		v := make([]float64, len(t.Float))
		for i, f := range t.Float {
			v[i] = float64(f)
		}
		return v
	}
	v := make([]float64, len(t.Int))
	for i, n := range t.Int {
		v[i] = float64(n)
	}
	return v
}

// unravel is numpy.unravel_index in C order.
func unravel(flat int, shape []int) []int {
	idx := make([]int, len(shape))
	for d := len(shape) - 1; d >= 0; d-- {
		if shape[d] > 0 {
			idx[d] = flat % shape[d]
			flat /= shape[d]
		}
	}
	return idx
}

func indexString(idx []int) string {
	parts := make([]string, len(idx))
	for i, v := range idx {
		parts[i] = strconv.Itoa(v)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// num formats a value as numpy prints a float32: the shortest form.
func num(v float64) string {
	if float64(float32(v)) == v || math.IsNaN(v) {
		return strconv.FormatFloat(v, 'g', -1, 32)
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}
