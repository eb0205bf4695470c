package gemm

import "sync"

// kernel is a register-blocked micro-kernel with the blocking that suits it.
type kernel struct {
	name   string
	mr, nr int // the tile it computes
	// kc, mc and nc bound the depth of a packed block, the rows of packed A
	// and the columns of packed B so that a panel of B stays in L1, a block
	// of A in L2 and the packed B in L3. mc is a multiple of mr, nc of nr.
	kc, mc, nc int
	// run sets the mr x nr tile at c (row stride ldc) to alpha*a*b + beta*c,
	// where a holds k columns of mr values and b holds k rows of nr values;
	// c is not read when beta is 0.
	run func(k int, a, b, c []float32, ldc int, alpha, beta float32)
}

// kernelSet is the micro-kernels of one instruction set.
type kernelSet struct {
	name    string
	kernels []*kernel
	// pick returns the kernel, one of kernels, for a product with an m x n result.
	pick func(m, n int) *kernel
	// transpose, when not nil, does the work of transposePanel for the
	// leading rows and columns it returns.
	transpose func(n, w, kb int, src []float32, ld int, dst []float32) (rows, cols int)
	// copy, when not nil, does the work of copyPanel with n == w and
	// reports whether it did.
	copy func(w, kb int, src []float32, ld int, dst []float32) bool
	// shifted is Shifted's kernel.
	shifted *shiftedKernel
	// rows are one-row kernels, each computing a row as the kernel of its
	// width in kernels does (see rowKernel).
	rows []*kernel
}

// rowKernel returns the set's one-row kernel for panels nr wide, or kern
// itself where there is none: a product of one row on it does an eighth
// of the work of kern's tile, and gives that row what kern gives it.
func (ks *kernelSet) rowKernel(kern *kernel) *kernel {
	for _, r := range ks.rows {
		if r.nr == kern.nr {
			return r
		}
	}
	return kern
}

// workspace holds the packed panels of one call.
type workspace struct {
	a, b, tmp []float32
}

// workspaces recycles packing buffers between calls, so that steady-state
// calls do not allocate and concurrent calls do not share a buffer.
var workspaces = sync.Pool{New: func() any { return new(workspace) }}

// grow returns s resliced to n elements, reallocated only when too short.
func grow(s []float32, n int) []float32 {
	if cap(s) < n {
		return make([]float32, n)
	}
	return s[:n]
}

// gemm is Sgemm on already checked arguments, with the kernels of ks.
func gemm(ks *kernelSet, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	if k == 0 || alpha == 0 {
		scale(m, n, beta, c, ldc)
		return
	}
	kern := ks.pick(m, n)
	mr, nr := kern.mr, kern.nr

	// Split k, m and n into blocks of nearly equal size rather than full
	// blocks and a thin remainder.
	kc := split(k, kern.kc, 1)
	mc := split(m, kern.mc, mr)
	nc := split(n, kern.nc, nr)

	ws := workspaces.Get().(*workspace)
	ws.a = grow(ws.a, roundUp(mc, mr)*kc)
	ws.b = grow(ws.b, roundUp(nc, nr)*kc)
	ws.tmp = grow(ws.tmp, mr*nr)

	for jc := 0; jc < n; jc += nc {
		nb := min(nc, n-jc)
		for pc := 0; pc < k; pc += kc {
			kb := min(kc, k-pc)
			bb := beta
			if pc > 0 {
				bb = 1
			}
			packB(ks, transB, b, ldb, pc, jc, kb, nb, nr, ws.b)
			for ic := 0; ic < m; ic += mc {
				mb := min(mc, m-ic)
				packA(ks, transA, a, lda, ic, pc, mb, kb, mr, ws.a)
				macroKernel(kern, mb, nb, kb, alpha, ws.a, ws.b, bb, c[ic*ldc+jc:], ldc, ws.tmp)
			}
		}
	}
	workspaces.Put(ws)
}

// macroKernel multiplies a packed mb x kb block of A by a packed kb x nb
// block of B into the block of C at c.
func macroKernel(kern *kernel, mb, nb, kb int, alpha float32, pa, pb []float32, beta float32, c []float32, ldc int, tmp []float32) {
	mr, nr := kern.mr, kern.nr
	for jr := 0; jr < nb; jr += nr {
		bp := pb[jr*kb : (jr+nr)*kb]
		cols := min(nr, nb-jr)
		for ir := 0; ir < mb; ir += mr {
			ap := pa[ir*kb : (ir+mr)*kb]
			rows := min(mr, mb-ir)
			if rows == mr && cols == nr {
				kern.run(kb, ap, bp, c[ir*ldc+jr:], ldc, alpha, beta)
				continue
			}
			// An edge tile: compute the whole tile aside, keep what fits.
			kern.run(kb, ap, bp, tmp, nr, 1, 0)
			for i := range rows {
				t := tmp[i*nr : i*nr+cols]
				cr := c[(ir+i)*ldc+jr:][:cols]
				if beta == 0 {
					for j, v := range t {
						cr[j] = alpha * v
					}
				} else {
					for j, v := range t {
						cr[j] = alpha*v + beta*cr[j]
					}
				}
			}
		}
	}
}

// scale sets C to beta*C, without reading C when beta is 0.
func scale(m, n int, beta float32, c []float32, ldc int) {
	for i := range m {
		cr := c[i*ldc : i*ldc+n]
		switch beta {
		case 0:
			clear(cr)
		case 1:
		default:
			for j := range cr {
				cr[j] *= beta
			}
		}
	}
}

// split returns the size of the blocks that cut n into as few pieces of at
// most max (a multiple of unit) as it can, each a multiple of unit but the last.
func split(n, max, unit int) int {
	if n <= max {
		return n
	}
	pieces := (n + max - 1) / max
	return roundUp((n+pieces-1)/pieces, unit)
}

func roundUp(n, unit int) int {
	return (n + unit - 1) / unit * unit
}
