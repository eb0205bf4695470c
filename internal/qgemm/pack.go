package qgemm

import "encoding/binary"

// The kernels read A and B in units of 4 bytes: g consecutive values along
// k of one row of A or one column of B, as g = 4 bytes (the VNNI kernels'
// and the Go kernel's layout, what VPDPBUSD multiplies four at a time) or
// g = 2 little-endian int16s (the AVX2 kernels', what VPMADDWD multiplies
// two at a time). A's values are unsigned there, 0..255, B's signed,
// -128..127: an int8 of A and a uint8 of B are moved there by flipping
// their top bit (adding or taking 128), and the product's corrections
// account for it. k is padded with zeros to whole units.
//
// A packed panel of w rows of A or w columns of B is groups = ceil(k/g)
// steps of w units each, step after step; rows or columns past the matrix
// are zeros. A packed block of A is its panels of mr rows one after
// another, packed B its panels of nr columns.

// packA packs rows ic..ic+mb-1 of op(A) (k columns) into panels of mr rows
// in dst for units of g values, XORing each value with flip, and sets
// rowSums[i] to the sum of row ic+i's values so flipped (0 past the
// block's rows), unless rowSums is nil.
func packA(g int, trans bool, a []byte, lda, ic, mb, k, mr int, flip byte, dst []byte, rowSums []int32) {
	groups := (k + g - 1) / g
	for ir := 0; ir < mb; ir += mr {
		rows := min(mr, mb-ir)
		d := dst[ir*groups*4 : (ir+mr)*groups*4]
		var rs []int32
		if rowSums != nil {
			rs = rowSums[ir : ir+mr]
			clear(rs)
		}
		switch {
		case trans:
			packColumns(g, a[ic+ir:], lda, rows, mr, k, flip, d, rs)
		case g == 4:
			packRows4(a[(ic+ir)*lda:], lda, rows, mr, k, flip, d, rs)
		default:
			packRows2(a[(ic+ir)*lda:], lda, rows, mr, k, flip, d, rs)
		}
	}
}

// packRows4 packs a panel of w units of 4 bytes from the rows of src
// (stride ld, n of them, k values each) for g = 4.
func packRows4(src []byte, ld, n, w, k int, flip byte, dst []byte, sums []int32) {
	groups := (k + 3) / 4
	full := k / 4
	flip4 := uint32(flip) * 0x01010101
	if n < w {
		clear(dst)
	}
	for i := range n {
		row := src[i*ld : i*ld+k]
		for q := range full {
			v := binary.LittleEndian.Uint32(row[4*q:]) ^ flip4
			binary.LittleEndian.PutUint32(dst[(q*w+i)*4:], v)
		}
		if full < groups {
			var u [4]byte
			for t, v := range row[4*full:] {
				u[t] = v ^ flip
			}
			copy(dst[(full*w+i)*4:], u[:])
		}
		if sums != nil {
			sums[i] = rowSum(row, flip)
		}
	}
}

// packRows2 is packRows4 for g = 2: each value becomes an int16.
func packRows2(src []byte, ld, n, w, k int, flip byte, dst []byte, sums []int32) {
	clear(dst)
	for i := range n {
		row := src[i*ld : i*ld+k]
		for p, v := range row {
			dst[((p>>1)*w+i)*4+(p&1)*2] = v ^ flip
		}
		if sums != nil {
			sums[i] = rowSum(row, flip)
		}
	}
}

// packColumns packs a panel of w units from the columns of src (stride ld
// between the k rows, n columns used) for units of g values.
func packColumns(g int, src []byte, ld, n, w, k int, flip byte, dst []byte, sums []int32) {
	clear(dst)
	e := 4 / g // bytes a value takes
	for p := range k {
		row := src[p*ld : p*ld+n]
		d := dst[((p/g)*w)*4+(p%g)*e:]
		for i, v := range row {
			v ^= flip
			d[i*4] = v
			if sums != nil {
				sums[i] += int32(v)
			}
		}
	}
}

// rowSum returns the sum of row's values XORed with flip.
func rowSum(row []byte, flip byte) int32 {
	var s int32
	for _, v := range row {
		s += int32(v ^ flip)
	}
	return s
}

// packPanelsB packs op(B), k x n, into panels of nr columns for units of g
// values, XORing each value with flip, and returns each column's sum of
// the values so flipped, as signed bytes. dst is zeroed.
func packPanelsB(g int, trans bool, b []byte, ldb, k, n, nr int, flip byte, dst []byte) []int32 {
	groups := (k + g - 1) / g
	sums := make([]int32, n)
	for j := range n {
		panel := dst[(j/nr)*nr*groups*4:]
		jj := j % nr
		for p := range k {
			var v byte
			if trans {
				v = b[j*ldb+p]
			} else {
				v = b[p*ldb+j]
			}
			s := int8(v ^ flip)
			sums[j] += int32(s)
			off := ((p/g)*nr+jj)*4 + (p%g)*(4/g)
			if g == 4 {
				panel[off] = byte(s)
			} else {
				binary.LittleEndian.PutUint16(panel[off:], uint16(int16(s)))
			}
		}
	}
	return sums
}
