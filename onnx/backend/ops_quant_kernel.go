package backend

// The int8 products under the quantized convolutions and matrix products,
// and their epilogues: the one seam between those steps and internal/qgemm,
// beside the plain Go loops that multiply run-time weights and that the
// tests hold the kernels to.

import (
	"slices"
	"strings"
	"sync"
	"unsafe"

	"github.com/lenetkit/lenetkit/internal/qgemm"
	"github.com/lenetkit/lenetkit/onnx"
)

// qweights is a constant k x n matrix B of 8-bit weights with its zero
// points (per column or one), packed once by qgemm for products with
// run-time rows A:
//
//	C[i,j] = sum over p of (A[i,p] - za) * (B[p,j] - zb[j])
//
// exactly, in int32.
type qweights struct {
	k, n int
	p    *qgemm.PackedB
}

// packKernels, when not "", names the kernel set (one of qgemm.Kernels)
// packQWeights packs for instead of the best one: for tests that hold
// every set to the same results.
var packKernels string

// packQWeights packs B, whose element (p, j) is w[p*n+j], or w[j*k+p]
// when transB (ONNX Conv's [M][C*kH*kW], Gemm's transB), as values of an
// 8-bit type (signed: int8), with zero points zp (n or one).
func packQWeights(transB bool, k, n int, w []int64, signed bool, zp []int32) (*qweights, error) {
	ldb := n
	if transB {
		ldb = k
	}
	q := &qweights{k: k, n: n}
	var err error
	if signed {
		b, z := make([]int8, len(w)), make([]int8, len(zp))
		for i, v := range w {
			b[i] = int8(v)
		}
		for i, v := range zp {
			z[i] = int8(v)
		}
		if packKernels != "" {
			q.p, err = qgemm.PackBFor(packKernels, transB, k, n, b, ldb, z)
		} else {
			q.p, err = qgemm.PackB(transB, k, n, b, ldb, z)
		}
	} else {
		b, z := make([]uint8, len(w)), make([]uint8, len(zp))
		for i, v := range w {
			b[i] = uint8(v)
		}
		for i, v := range zp {
			z[i] = uint8(v)
		}
		if packKernels != "" {
			q.p, err = qgemm.PackBFor(packKernels, transB, k, n, b, ldb, z)
		} else {
			q.p, err = qgemm.PackB(transB, k, n, b, ldb, z)
		}
	}
	return q, err
}

// bytes is the packed weights' memory, for the plan's budget.
func (q *qweights) bytes() int64 { return q.p.Bytes() }

// kernel names the micro-kernel the products run.
func (q *qweights) kernel() string { return q.p.Kernel() }

// noteKernel adds the kernel of weights q to those the plan names
// (Plan.Int8Kernel): one name, or several where layers of few columns
// take the narrow tile.
func (c *compiler) noteKernel(q *qweights) { c.noteKernelName(q.kernel()) }

// noteKernelName adds kernel k to the plan's int8 kernels, once.
func (c *compiler) noteKernelName(k string) {
	if c.int8Kernel == "" {
		c.int8Kernel = k
	} else if !slices.Contains(strings.Split(c.int8Kernel, ", "), k) {
		c.int8Kernel += ", " + k
	}
}

// mul sets the m x n matrix c (row stride ldc) to (A - za) (B - zb) for A
// of m x k 8-bit values (signed: int8), row-major with stride lda, or
// stored transposed (k x m, an im2col matrix) when transA. The sizes were
// checked when the plan was compiled.
func (q *qweights) mul(signed, transA bool, m int, a []byte, lda int, za int32, c []int32, ldc int, ws *qgemm.Workspace) {
	if signed {
		_ = qgemm.Gemm(q.p, transA, m, int8sOf(a), lda, int8(za), c, ldc, ws)
		return
	}
	_ = qgemm.Gemm(q.p, transA, m, a, lda, uint8(za), c, ldc, ws)
}

// int8sOf is bytes as int8 values.
func int8sOf(b []byte) []int8 {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Slice((*int8)(unsafe.Pointer(&b[0])), len(b))
}

// workspaces hands each goroutine running a plan's quantized step a qgemm
// workspace of its own, reused from run to run.
type workspaces struct{ pool sync.Pool }

func newWorkspaces() *workspaces {
	return &workspaces{pool: sync.Pool{New: func() any { return new(qgemm.Workspace) }}}
}

func (w *workspaces) get() *qgemm.Workspace   { return w.pool.Get().(*qgemm.Workspace) }
func (w *workspaces) put(ws *qgemm.Workspace) { w.pool.Put(ws) }

// qoperand is an 8-bit matrix as refProduct reads it: element (i, p) at
// v[i*ld+p], or v[p*ld+i] when trans.
type qoperand struct {
	v      []byte
	signed bool
	trans  bool
	ld     int
}

func (o qoperand) at(i, p int) int32 {
	x := o.v[i*o.ld+p]
	if o.trans {
		x = o.v[p*o.ld+i]
	}
	if o.signed {
		return int32(int8(x))
	}
	return int32(x)
}

// refProduct is the product qweights.mul computes, (A - za) (B - zb) for
// A m x k and B k x n into c (row stride ldc), in a plain loop: what the
// steps run for weights computed at run time, and what the tests check
// the kernels against.
func refProduct(m, k, n int, a qoperand, za int32, b qoperand, zb []int32, c []int32, ldc int) {
	for i := range m {
		row := c[i*ldc : i*ldc+n]
		clear(row)
		for p := range k {
			av := a.at(i, p) - za
			if av == 0 {
				continue
			}
			for j := range row {
				row[j] += av * (b.at(p, j) - zb[j%len(zb)])
			}
		}
	}
}

// requantizer is the output stage of QLinearConv and QLinearMatMul:
// float32(acc + bias) * multiplier, rounded half to even, plus the output
// zero point, saturated to the output type, as ONNX Runtime's
// MlasRequantizeOutput computes it (qgemm.Requantize). relu, the Relu a
// QDQ fusion took in, raises the minimum to the zero point.
type requantizer struct {
	bias []int32   // per column, or nil
	mult []float32 // per column, or one
	zero int32
	dt   onnx.DType
	relu bool
}

// multipliers is a_scale * w_scale[j] / y_scale in float32, in that
// order, as ONNX Runtime computes it.
func multipliers(aScale float32, wScale []float32, yScale float32) []float32 {
	m := make([]float32, len(wScale))
	for j, s := range wScale {
		m[j] = aScale * s / yScale
	}
	return m
}

// rows requantizes m rows of n accumulators (row stride ldc) into dst
// (row stride ldd).
func (r *requantizer) rows(m, n int, dst []byte, ldd int, acc []int32, ldc int) {
	if r.dt == onnx.Int8 {
		_ = qgemm.Requantize(m, n, int8sOf(dst), ldd, acc, ldc, r.bias, r.mult, int8(r.zero))
	} else {
		_ = qgemm.Requantize(m, n, dst, ldd, acc, ldc, r.bias, r.mult, uint8(r.zero))
	}
	if !r.relu {
		return
	}
	flip := byte(0)
	if r.dt == onnx.Int8 {
		flip = 0x80
	}
	z := byte(r.zero) ^ flip
	for i := range m {
		for j, v := range dst[i*ldd : i*ldd+n] {
			dst[i*ldd+j] = max(v^flip, z) ^ flip
		}
	}
}
