package qgemm

import (
	"errors"
	"fmt"
)

// GemmInPlace is Gemm with A read where it lies rather than from a
// matrix: the im2row matrix of a convolution, read from its padded
// channels-last image without being written out. A is m x k; its row i's
// values 4q to 4q+3 (a unit) are
//
//	a[i*lda+offsets[q] : i*lda+offsets[q]+4]
//
// for q < (k+3)/4: for a stride-1 convolution over an image of C channels
// a pixel (C a multiple of 4), lda is C and the offsets are the kernel's
// taps, (ky*paddedWidth+kx)*C, plus 4 for each unit of channels. The last
// unit's bytes past k are read but multiply nothing. The offsets must not
// decrease and must be at least 0, and a must hold every unit of every
// row.
//
// Where it can, the product runs the kernels' direct forms, which read
// the units themselves: for uint8 A, B's zero points all 0 in the
// kernels' domain (int8 weights quantized symmetrically, or uint8 ones
// of zero point 128) and a kernel set of 4-byte units (not AVX2's
// int16s). Otherwise, and for the last rows when a whole tile of them
// would read past a, the rows are gathered into the workspace and
// multiplied as Gemm multiplies them: the result is the same.
//
// GemmInPlace returns an error, and writes nothing, when m or lda is
// negative, the offsets are not as described, a does not hold its units,
// or c does not hold C.
func GemmInPlace[T Int8](p *PackedB, m int, a []T, lda int, offsets []int32, za T, c []int32, ldc int, ws *Workspace) error {
	if p == nil {
		return errors.New("qgemm: nil PackedB")
	}
	if m < 0 || lda < 0 {
		return fmt.Errorf("qgemm: negative dimension m=%d or stride lda=%d", m, lda)
	}
	units := (p.k + 3) / 4
	if len(offsets) != units {
		return fmt.Errorf("qgemm: %d offsets for %d units of k=%d", len(offsets), units, p.k)
	}
	for q, o := range offsets {
		if o < 0 || q > 0 && o < offsets[q-1] {
			return fmt.Errorf("qgemm: offset %d is %d, after %d: offsets must be at least 0 and not decrease", q, o, offsets[max(q-1, 0)])
		}
	}
	if m > 0 && units > 0 {
		// The last unit of the last row is the furthest read.
		if far := int64(m-1)*int64(lda) + int64(offsets[units-1]) + 4; far > int64(len(a)) {
			return fmt.Errorf("qgemm: A's units reach element %d of %d", far, len(a))
		}
	}
	if err := checkMatrix("C", m, p.n, len(c), ldc); err != nil {
		return err
	}
	if ws == nil {
		ws = new(Workspace)
	}
	flip := flipOf[T](false)
	p.gemmInPlace(m, bytesOf(a), lda, offsets, byte(za)^flip, flip, c, ldc, ws)
	return nil
}

// gemmInPlace is GemmInPlace on checked arguments and A's bytes: za in
// the kernels' domain, flip what A's values are XORed with.
func (p *PackedB) gemmInPlace(m int, a []byte, lda int, offs []int32, za, flip byte, c []int32, ldc int, ws *Workspace) {
	n, kern := p.n, p.kern
	if m == 0 || n == 0 {
		return
	}
	direct := 0 // rows the direct kernel computes
	if p.k > 0 && flip == 0 && p.zeroZB && kern.direct != nil && p.ks.g == 4 {
		mr := kern.mr
		reach := int(offs[len(offs)-1]) + 4
		direct = m
		if m%mr != 0 && (m/mr*mr+mr-1)*lda+reach > len(a) {
			// The last tile would read rows past a.
			direct = m / mr * mr
		}
		p.direct(direct, a, lda, offs, za, c, ldc, ws)
	}
	if direct == m {
		return
	}
	k4 := 4 * len(offs)
	rows := m - direct
	ws.gather = growBytes(ws.gather, rows*k4)
	gatherRows(ws.gather, a[direct*lda:], lda, offs, rows)
	p.gemm(false, rows, ws.gather, k4, za, flip, c[direct*ldc:], ldc, ws)
}

// direct computes the first m rows of C with the kernel's direct form;
// every tile's units lie in a.
func (p *PackedB) direct(m int, a []byte, lda int, offs []int32, za byte, c []int32, ldc int, ws *Workspace) {
	n, kern := p.n, p.kern
	mr, nr := kern.mr, kern.nr
	ws.colTerm = grow(ws.colTerm, roundUp(n, nr))
	for j, v := range p.colBase {
		ws.colTerm[j] = int32(za) * v
	}
	clear(ws.colTerm[n:])
	ws.tmp = grow(ws.tmp, mr*nr)
	for jr := 0; jr < n; jr += nr {
		bp := p.panels[jr*p.groups*4 : (jr+nr)*p.groups*4]
		cols := min(nr, n-jr)
		colTerm := ws.colTerm[jr : jr+nr]
		for ir := 0; ir < m; ir += mr {
			rows := min(mr, m-ir)
			if rows == mr && cols == nr {
				kern.direct(p.groups, a[ir*lda:], lda, offs, bp, c[ir*ldc+jr:], ldc, colTerm)
				continue
			}
			kern.direct(p.groups, a[ir*lda:], lda, offs, bp, ws.tmp, nr, colTerm)
			for i := range rows {
				copy(c[(ir+i)*ldc+jr:][:cols], ws.tmp[i*nr:])
			}
		}
	}
}

// gatherRows writes rows rows of the in-place A into dst, row-major, each
// row its units one after another: a copy per run of units that lie one
// after another in a.
func gatherRows(dst, a []byte, lda int, offs []int32, rows int) {
	k4 := 4 * len(offs)
	for i := range rows {
		row := dst[i*k4 : (i+1)*k4]
		base := i * lda
		for q := 0; q < len(offs); {
			r := q + 1
			for r < len(offs) && offs[r] == offs[r-1]+4 {
				r++
			}
			from := base + int(offs[q])
			copy(row[4*q:4*r], a[from:from+4*(r-q)])
			q = r
		}
	}
}
