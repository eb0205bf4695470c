package gemm

import "fmt"

// PackedA is an m x k matrix A packed once into the row panels Sgemm's
// micro-kernels read, for products A*B whose B the caller packs itself,
// one panel of PanelWidth columns at a time. A convolution's weights are
// such an A: the panels of its input are shifted copies of the image's
// rows (nchw.ShiftConv), cheaper to make straight in the kernels' layout
// than as an im2col matrix that Sgemm would then copy again.
// It is read-only once made and may be used by several goroutines at once.
type PackedA struct {
	m, k int
	kern *kernel
	a    []float32 // roundUp(m, mr) x k: mr values per column, panel after panel
}

// PackA packs A, m x k, stored row-major with row stride lda, for
// products whose B has about n columns: the micro-kernel is chosen for an
// m x n result, as Sgemm would choose it. It panics on a shape the slice
// does not hold, as Sgemm does.
func PackA(m, k int, a []float32, lda int, n int) *PackedA {
	if err := checkMatrix("A", m, k, len(a), lda); err != nil || m < 1 || k < 1 {
		panic(fmt.Errorf("gemm: PackA of %dx%d: %v", m, k, err))
	}
	ks := defaultKernels
	p := &PackedA{m: m, k: k, kern: ks.pick(m, max(n, 1))}
	p.a = make([]float32, roundUp(m, p.kern.mr)*k)
	packA(ks, false, a, lda, 0, 0, m, k, p.kern.mr, p.a)
	return p
}

// PanelWidth is the number of columns of the panels MulPanel takes: the
// micro-kernel's tile width, 32 or 16 with the assembly kernels and 2 with
// the pure-Go one.
func (p *PackedA) PanelWidth() int { return p.kern.nr }

// Bytes is the memory the packed matrix takes.
func (p *PackedA) Bytes() int64 { return 4 * int64(len(p.a)) }

// MulPanel sets C[i][j] = sum over l < k of A[i][l] * panel[l*w+j] for
// i < m, j < w, where w is PanelWidth: the m x w block of C at c, of row
// stride ldc, is A times panel, k rows of w values of B one after another.
// C's block must lie inside c in full: it is written, never read.
func (p *PackedA) MulPanel(panel, c []float32, ldc int) {
	mr, nr, k := p.kern.mr, p.kern.nr, p.k
	if len(panel) < k*nr || ldc < nr || len(c) < (p.m-1)*ldc+nr {
		panic(fmt.Errorf("gemm: MulPanel of %dx%d by a panel of %d floats into %d floats of stride %d", p.m, k, len(panel), len(c), ldc))
	}
	full := p.m / mr * mr
	for ir := 0; ir < full; ir += mr {
		p.kern.run(k, p.a[ir*k:(ir+mr)*k], panel, c[ir*ldc:], ldc, 1, 0)
	}
	if full == p.m {
		return
	}
	// The last rows: a whole tile aside, the rows that exist kept.
	ws := workspaces.Get().(*workspace)
	ws.tmp = grow(ws.tmp, mr*nr)
	p.kern.run(k, p.a[full*k:(full+mr)*k], panel, ws.tmp, nr, 1, 0)
	for i := range p.m - full {
		copy(c[(full+i)*ldc:(full+i)*ldc+nr], ws.tmp[i*nr:(i+1)*nr])
	}
	workspaces.Put(ws)
}
