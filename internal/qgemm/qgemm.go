package qgemm

import (
	"errors"
	"fmt"
	"strings"
	"unsafe"
)

// Int8 is the element type of quantized activations and weights: int8 or
// uint8, as ONNX allows either for both.
type Int8 interface{ ~int8 | ~uint8 }

// PackedB is a k x n matrix B of int8 or uint8 weights with their zero
// points, packed once into the panels the micro-kernels read, with the
// column sums the zero-point corrections need. It is read-only once made
// and may be used by several goroutines at once.
type PackedB struct {
	k, n   int
	ks     *kernelSet
	kern   *kernel
	groups int    // units along k: k/ks.g rounded up
	panels []byte // roundUp(n, nr)/nr panels of groups*nr units
	// negZB is -zb'_j, zb' the zero point as the kernels' signed B sees
	// it, padded with zeros to whole panels.
	negZB []int32
	// colBase is k*zb'_j - sum over k of b'_kj: times A's zero point, the
	// part of the correction that does not depend on A's values.
	colBase []int32
	zeroZB  bool // every zb' is 0, so A's row sums are not needed
}

// K returns the depth of the product, B's rows.
func (p *PackedB) K() int { return p.k }

// N returns the columns of B and of the product.
func (p *PackedB) N() int { return p.n }

// Kernel returns the name of the micro-kernel the product runs.
func (p *PackedB) Kernel() string {
	if p.kern == nil {
		return p.ks.name
	}
	return p.kern.name
}

// Tile returns the rows and columns of the tile the product's kernel
// computes at a time: a product of m rows computes roundUp(m, mr) of them.
func (p *PackedB) Tile() (mr, nr int) {
	if p.kern == nil {
		return 1, 1
	}
	return p.kern.mr, p.kern.nr
}

// Bytes is the memory the packed panels and column terms take.
func (p *PackedB) Bytes() int64 {
	return int64(len(p.panels)) + 4*int64(len(p.negZB)+len(p.colBase))
}

// Workspace holds what a product packs per call: A's panels and row sums,
// the column terms, an edge tile. Its zero value is ready to use; it grows
// to the largest product it serves and is reused, so steady-state calls
// do not allocate. One Workspace serves one call at a time: give each
// goroutine its own.
type Workspace struct {
	a, gather            []byte
	rowSum, colTerm, tmp []int32
}

// KernelName returns the name of the kernel set PackB packs for on this
// CPU, with its tiles: "avx512vnni-8x32/16x16", "avxvnni-6x16/12x8",
// "avx2-6x16/12x8" or "go-2x4".
func KernelName() string { return defaultKernels.String() }

// Kernels returns the names of the kernel sets this CPU runs, best first,
// the pure-Go one last: what PackBFor takes, so that tests of code built
// on this package can run it with each.
func Kernels() []string {
	var names []string
	for _, ks := range append(append([]*kernelSet(nil), asmKernels...), goKernels) {
		names = append(names, ks.name)
	}
	return names
}

// PackBFor is PackB for the kernel set named kernels, one of Kernels().
func PackBFor[T Int8](kernels string, transB bool, k, n int, b []T, ldb int, zeroPoints []T) (*PackedB, error) {
	for _, ks := range append(append([]*kernelSet(nil), asmKernels...), goKernels) {
		if ks.name == kernels {
			return packB(ks, nil, transB, k, n, bytesOf(b), ldb, bytesOf(zeroPoints), flipOf[T](true))
		}
	}
	return nil, fmt.Errorf("qgemm: no kernel set %q on this CPU (%s)", kernels, strings.Join(Kernels(), ", "))
}

// PackB packs B for Gemm. B is k x n, stored row-major with row stride ldb:
// element (p, j) is b[p*ldb+j]; when transB, B is stored transposed, n x k,
// element (p, j) at b[j*ldb+p] (ONNX's Conv weights [M][C*kH*kW], Gemm's
// with transB = 1). zeroPoints holds B's zero point per column (len n),
// or one for all (len 1); nil means 0.
//
// PackB returns an error, and packs nothing, when a dimension is negative,
// a stride is shorter than its row, b does not hold the matrix, or
// zeroPoints has another length.
func PackB[T Int8](transB bool, k, n int, b []T, ldb int, zeroPoints []T) (*PackedB, error) {
	return packB(defaultKernels, nil, transB, k, n, bytesOf(b), ldb, bytesOf(zeroPoints), flipOf[T](true))
}

// Gemm sets the m x n matrix C to the int32 product
//
//	C[i,j] = sum over p < k of (A[i,p] - za) * (B[p,j] - zb[j])
//
// exactly, as computed modulo 2^32 (see the package comment for when it
// cannot wrap). A is m x k, stored row-major with row stride lda: element
// (i, p) is a[i*lda+p]; when transA, A is stored transposed, k x m, element
// (i, p) at a[p*lda+i] (an im2col matrix of one image). C's element (i, j)
// is c[i*ldc+j]; C is written, not read. ws holds the call's buffers; nil
// allocates them for this call.
//
// Gemm returns an error, and writes nothing, when m is negative, a stride
// is shorter than its row, or a or c does not hold its matrix.
func Gemm[T Int8](p *PackedB, transA bool, m int, a []T, lda int, za T, c []int32, ldc int, ws *Workspace) error {
	if p == nil {
		return errors.New("qgemm: nil PackedB")
	}
	if m < 0 {
		return fmt.Errorf("qgemm: negative dimension m=%d", m)
	}
	aRows, aCols := m, p.k
	if transA {
		aRows, aCols = p.k, m
	}
	if err := checkMatrix("A", aRows, aCols, len(a), lda); err != nil {
		return err
	}
	if err := checkMatrix("C", m, p.n, len(c), ldc); err != nil {
		return err
	}
	if ws == nil {
		ws = new(Workspace)
	}
	flip := flipOf[T](false)
	p.gemm(transA, m, bytesOf(a), lda, byte(za)^flip, flip, c, ldc, ws)
	return nil
}

// flipOf returns what to XOR a T's bits with to move it into the kernels'
// domain: A's values unsigned (an int8 plus 128), B's signed (a uint8 less
// 128). Either way it is 0 or 0x80.
func flipOf[T Int8](forB bool) byte {
	var v T
	v--
	if signed := v < 0; signed == forB {
		return 0
	}
	return 0x80
}

// bytesOf returns s's memory as bytes: int8 and uint8 share their layout.
func bytesOf[T Int8](s []T) []byte {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), len(s))
}

// checkMatrix reports whether a row-major rows x cols matrix with row
// stride ld fits in a slice of length n, without overflowing int.
func checkMatrix(name string, rows, cols, n, ld int) error {
	if rows < 0 || cols < 0 {
		return fmt.Errorf("qgemm: %s has negative dimensions %dx%d", name, rows, cols)
	}
	if ld < max(1, cols) {
		return fmt.Errorf("qgemm: %s has %d columns but stride %d", name, cols, ld)
	}
	if rows == 0 || cols == 0 {
		return nil
	}
	if n < cols || (n-cols)/ld < rows-1 {
		return fmt.Errorf("qgemm: %s is %dx%d with stride %d, has %d elements", name, rows, cols, ld, n)
	}
	return nil
}

// packB is PackB for the kernel set ks, with its kernel kern (nil: the
// one ks picks for n), on B's bytes; flip is flipOf for B's type.
func packB(ks *kernelSet, kern *kernel, trans bool, k, n int, b []byte, ldb int, zp []byte, flip byte) (*PackedB, error) {
	if k < 0 || n < 0 {
		return nil, fmt.Errorf("qgemm: negative dimension k=%d n=%d", k, n)
	}
	rows, cols := k, n
	if trans {
		rows, cols = n, k
	}
	if err := checkMatrix("B", rows, cols, len(b), ldb); err != nil {
		return nil, err
	}
	if len(zp) > 1 && len(zp) != n {
		return nil, fmt.Errorf("qgemm: %d zero points for %d columns of B", len(zp), n)
	}
	if kern == nil {
		kern = ks.pick(n)
	}
	p := &PackedB{k: k, n: n, ks: ks, kern: kern, zeroZB: true}
	if k == 0 || n == 0 {
		// The product is all zeros (or empty); n may be any size.
		return p, nil
	}
	nr := kern.nr
	p.groups = (k + ks.g - 1) / ks.g
	p.panels = make([]byte, roundUp(n, nr)*p.groups*4)
	p.negZB = make([]int32, roundUp(n, nr))
	p.colBase = make([]int32, n)
	colSum := packPanelsB(ks.g, trans, b, ldb, k, n, nr, flip, p.panels)
	for j := range n {
		var zj byte // B's zero point, 0 when there are none
		switch len(zp) {
		case 1:
			zj = zp[0]
		case n:
			zj = zp[j]
		}
		z := int32(int8(zj ^ flip)) // zb'_j
		if z != 0 {
			p.zeroZB = false
		}
		p.negZB[j] = -z
		p.colBase[j] = int32(k)*z - colSum[j]
	}
	return p, nil
}

// gemm is Gemm on checked arguments and A's bytes: za is A's zero point in
// the kernels' unsigned domain, flip what A's values are XORed with.
//
// With a' = A's values there, b' = B's and their zero points za', zb'_j,
//
//	C[i,j] = sum_p a'_ip b'_pj - zb'_j rowSum_i + za' (k zb'_j - colSum_j)
//
// the kernels start each tile at the last two terms and add the products.
func (p *PackedB) gemm(transA bool, m int, a []byte, lda int, za, flip byte, c []int32, ldc int, ws *Workspace) {
	k, n := p.k, p.n
	if m == 0 || n == 0 {
		return
	}
	if k == 0 {
		for i := range m {
			clear(c[i*ldc : i*ldc+n])
		}
		return
	}
	kern := p.kern
	mr, nr := kern.mr, kern.nr
	groups := p.groups
	mc := kern.mc
	if mc == 0 {
		// About 128 KB of packed A, which stays in L2 while every panel
		// of B passes it.
		mc = max(mr, (128<<10)/(groups*4*mr)*mr)
	}
	mc = split(m, mc, mr)

	ws.colTerm = grow(ws.colTerm, roundUp(n, nr))
	for j, v := range p.colBase {
		ws.colTerm[j] = int32(za) * v
	}
	clear(ws.colTerm[n:])
	ws.a = growBytes(ws.a, roundUp(mc, mr)*groups*4)
	ws.rowSum = grow(ws.rowSum, roundUp(mc, mr))
	ws.tmp = grow(ws.tmp, mr*nr)
	rowSum := ws.rowSum
	if p.zeroZB {
		// negZB is all zeros: the kernels multiply whatever rowSum holds by 0.
		rowSum = nil
	}
	for ic := 0; ic < m; ic += mc {
		mb := min(mc, m-ic)
		astep := packA(p.ks, transA, a, lda, ic, mb, k, mr, flip, ws.a, rowSum)
		// Panel ir's first unit: consecutive panels, or one wide panel.
		panel := groups * 4
		if transA {
			panel = 4
		}
		for jr := 0; jr < n; jr += nr {
			bp := p.panels[jr*groups*4 : (jr+nr)*groups*4]
			cols := min(nr, n-jr)
			negZB, colTerm := p.negZB[jr:jr+nr], ws.colTerm[jr:jr+nr]
			for ir := 0; ir < mb; ir += mr {
				ap := ws.a[ir*panel:]
				rs := ws.rowSum[ir : ir+mr]
				rows := min(mr, mb-ir)
				if rows == mr && cols == nr {
					kern.run(groups, ap, astep, bp, c[(ic+ir)*ldc+jr:], ldc, rs, negZB, colTerm)
					continue
				}
				// An edge tile: compute the whole tile aside, keep what fits.
				kern.run(groups, ap, astep, bp, ws.tmp, nr, rs, negZB, colTerm)
				for i := range rows {
					copy(c[(ic+ir+i)*ldc+jr:][:cols], ws.tmp[i*nr:])
				}
			}
		}
	}
}

// kernel is a register-blocked micro-kernel.
type kernel struct {
	name   string
	mr, nr int // the tile it computes
	mc     int // rows of A packed at a time; 0 sizes them for L2
	// run sets the mr x nr tile at c (row stride ldc) to
	// colTerm[j] + rowSum[i]*negZB[j] + the sum over groups units of
	// a's row i times b's column j, where a holds groups steps of mr
	// rows' units, astep bytes apart, and b groups steps of nr columns'
	// units (see pack.go).
	run func(groups int, a []byte, astep int, b []byte, c []int32, ldc int, rowSum, negZB, colTerm []int32)
	// direct, when not nil, is run's form that reads A where it lies
	// (GemmInPlace): row 4r+i's unit of group q at
	// a[r*gstride+i*lda+offs[q]:], A's values unsigned, B's zero points
	// 0, the tile starting at colTerm; tiles tiles, each tileStep bytes of
	// a after the one before, its rows of c after the one before's.
	direct directKernel
}

// directKernel is a kernel's direct form (kernel.direct).
type directKernel func(groups int, a []byte, lda, gstride int, offs []int32, b []byte, c []int32, ldc int, colTerm []int32, tiles, tileStep int)

// kernelSet is the micro-kernels of one instruction set.
type kernelSet struct {
	name    string
	g       int // values per 4-byte unit: 4 int8s, or 2 int16s
	kernels []*kernel
	// pick returns the kernel, one of kernels, for products with n columns.
	pick func(n int) *kernel
	// packRows, when not nil, does packRows' work; rowSums does
	// rowSumsGo's; packCols, when not nil, does packCols' work for the
	// first columns of the whole groups and returns how many it did.
	packRows func(n, k int, src []byte, ld int, flip byte, dst []byte, w int)
	rowSums  func(n, k int, src []byte, ld int, flip byte, sums []int32)
	packCols func(groups, n int, src []byte, ld int, flip byte, dst []byte, ustride int, sums []int32) int
}

func (ks *kernelSet) String() string {
	var tiles []string
	for _, k := range ks.kernels {
		tiles = append(tiles, fmt.Sprintf("%dx%d", k.mr, k.nr))
	}
	return ks.name + "-" + strings.Join(tiles, "/")
}

// newKernelSet returns the set of a wide and a narrow kernel, which picks
// the narrow one when padding n to the wide one's tiles would waste more
// than a tenth.
func newKernelSet(name string, g int, wide, narrow *kernel) *kernelSet {
	return &kernelSet{
		name: name, g: g,
		rowSums: rowSumsGo,
		kernels: []*kernel{wide, narrow},
		pick: func(n int) *kernel {
			if 10*roundUp(n, narrow.nr) < 9*roundUp(n, wide.nr) {
				return narrow
			}
			return wide
		},
	}
}

// grow returns s resliced to n elements, reallocated only when too short.
func grow(s []int32, n int) []int32 {
	if cap(s) < n {
		return make([]int32, n)
	}
	return s[:n]
}

func growBytes(s []byte, n int) []byte {
	if cap(s) < n {
		return make([]byte, n)
	}
	return s[:n]
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
