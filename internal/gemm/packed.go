package gemm

import "fmt"

// PackedB is a k x n matrix op(B) packed once into the panels Sgemm's
// micro-kernels read, for products of many A by the same B: a network's
// constant weights, which Sgemm would otherwise pack again at every call.
// It is read-only once made and may be used by several goroutines at once.
type PackedB struct {
	k, n   int
	ks     *kernelSet
	kern   *kernel
	kc, nc int
	blocks [][]float32 // by column block, then depth block, as Sgemm visits them
}

// PackB packs op(B), k x n, stored row-major with row stride ldb (and
// transposed when transB), for products whose A has about m rows: the
// micro-kernel is chosen for an m x n result, as Sgemm would choose it.
// It panics on a shape the slice does not hold, as Sgemm does.
func PackB(transB bool, m, n, k int, b []float32, ldb int) *PackedB {
	if err := checkArgs(false, transB, max(m, 1), n, k, max(m, 1)*k, max(k, 1), len(b), ldb, max(m, 1)*n, max(n, 1)); err != nil {
		panic(err)
	}
	ks := defaultKernels
	p := &PackedB{k: k, n: n, ks: ks, kern: ks.pick(max(m, 1), n)}
	p.kc = split(k, p.kern.kc, 1)
	p.nc = split(n, p.kern.nc, p.kern.nr)
	for jc := 0; jc < n; jc += p.nc {
		nb := min(p.nc, n-jc)
		for pc := 0; pc < k; pc += p.kc {
			kb := min(p.kc, k-pc)
			buf := make([]float32, roundUp(nb, p.kern.nr)*kb)
			packB(ks, transB, b, ldb, pc, jc, kb, nb, p.kern.nr, buf)
			p.blocks = append(p.blocks, buf)
		}
	}
	return p
}

// Bytes is the memory the packed panels take.
func (p *PackedB) Bytes() int64 {
	n := int64(0)
	for _, b := range p.blocks {
		n += 4 * int64(len(b))
	}
	return n
}

// Sgemm computes C = alpha*op(A)*B + beta*C with the packed B, as the
// package's Sgemm does: op(A) is m x k with row stride lda, C is m x n with
// row stride ldc.
func (p *PackedB) Sgemm(transA bool, m int, alpha float32, a []float32, lda int, beta float32, c []float32, ldc int) {
	k, n := p.k, p.n
	// B's own arguments were checked when it was packed.
	if err := checkArgs(transA, false, m, n, k, len(a), lda, k*n, max(n, 1), len(c), ldc); err != nil {
		panic(fmt.Errorf("gemm: packed B: %w", err))
	}
	if m == 0 || n == 0 {
		return
	}
	if k == 0 || alpha == 0 {
		scale(m, n, beta, c, ldc)
		return
	}
	kern := p.kern
	if m == 1 {
		kern = p.ks.rowKernel(kern)
	}
	mc := split(m, kern.mc, kern.mr)
	ws := workspaces.Get().(*workspace)
	ws.a = grow(ws.a, roundUp(mc, kern.mr)*p.kc)
	ws.tmp = grow(ws.tmp, kern.mr*kern.nr)
	block := 0
	for jc := 0; jc < n; jc += p.nc {
		nb := min(p.nc, n-jc)
		for pc := 0; pc < k; pc += p.kc {
			kb := min(p.kc, k-pc)
			bb := beta
			if pc > 0 {
				bb = 1
			}
			for ic := 0; ic < m; ic += mc {
				mb := min(mc, m-ic)
				packA(p.ks, transA, a, lda, ic, pc, mb, kb, kern.mr, ws.a)
				macroKernel(kern, mb, nb, kb, alpha, ws.a, p.blocks[block], bb, c[ic*ldc+jc:], ldc, ws.tmp)
			}
			block++
		}
	}
	workspaces.Put(ws)
}
