package qgemm

import "encoding/binary"

// The kernels read A and B in units of 4 bytes: g consecutive values along
// k of one row of A or one column of B, as g = 4 bytes (the VNNI kernels'
// and the Go kernel's layout, what VPDPBUSD multiplies four at a time) or
// g = 2 little-endian int16s (the AVX2 kernels', what VPMADDWD multiplies
// two at a time). A's values are unsigned there, 0..255, B's signed,
// -128..127: an int8 of A and a uint8 of B are moved there by flipping
// their top bit (adding or taking 128), and the product's corrections
// account for it. k is padded to whole units: with zeros in B, so that
// whatever A's padding holds adds nothing.
//
// A packed panel of B is groups = ceil(k/g) steps of nr units, one per
// column, step after step; columns past the matrix are zeros. Packed B is
// its panels one after another.
//
// A packed block of A is its groups' units of every row, a group's units
// contiguous and astep bytes after the previous group's. From a row-major
// A, packRows makes panels of mr rows (astep = 4*mr), one after another;
// from a transposed A, packCols makes one panel of all the block's rows
// (astep = 4*roundUp(mb, mr)), which is four (or two) of its rows' bytes
// interleaved. The kernels read mr rows' units a step either way. Rows
// past the block are whatever the buffer held: their results are not kept.

// packA packs rows ic..ic+mb-1 of op(A) (k columns) for the kernel set ks
// and tiles of mr rows into dst, XORing each value with flip, and sets
// rowSums[i] to the sum of row ic+i's values so flipped, unless rowSums is
// nil. It returns astep.
func packA(ks *kernelSet, trans bool, a []byte, lda, ic, mb, k, mr int, flip byte, dst []byte, rowSums []int32) int {
	g := ks.g
	groups := (k + g - 1) / g
	if trans {
		ustride := roundUp(mb, mr) * 4
		packCols(ks, a[ic:], lda, mb, k, flip, dst[:groups*ustride], ustride, rowSums)
		return ustride
	}
	src := a[ic*lda:]
	for ir := 0; ir < mb; ir += mr {
		rows := min(mr, mb-ir)
		packRows(ks, src[ir*lda:], lda, rows, k, mr, flip, dst[ir*groups*4:(ir+mr)*groups*4])
	}
	if rowSums != nil {
		ks.rowSums(mb, k, src, lda, flip, rowSums[:mb])
	}
	return mr * 4
}

// packRows packs n <= w rows of A (k values each, stride ld) into a panel
// of w rows: row i's group q at dst[(q*w+i)*4:], the last group's values
// past k zero.
func packRows(ks *kernelSet, src []byte, ld, n, k, w int, flip byte, dst []byte) {
	if ks.packRows != nil {
		ks.packRows(n, k, src, ld, flip, dst, w)
		return
	}
	if ks.g == 4 {
		packRows4Go(src, ld, n, k, w, flip, dst)
		return
	}
	for i := range n {
		for p, v := range src[i*ld : i*ld+k] {
			u := dst[((p>>1)*w+i)*4:][:4]
			u[(p&1)*2], u[(p&1)*2+1] = v^flip, 0
			if p == k-1 && p&1 == 0 {
				u[2], u[3] = 0, 0
			}
		}
	}
}

func packRows4Go(src []byte, ld, n, k, w int, flip byte, dst []byte) {
	full := k / 4
	flip4 := uint32(flip) * 0x01010101
	for i := range n {
		row := src[i*ld : i*ld+k]
		d := dst[i*4:]
		for q := range full {
			binary.LittleEndian.PutUint32(d[q*w*4:], binary.LittleEndian.Uint32(row[4*q:])^flip4)
		}
		if full*4 < k {
			var u uint32
			for t, v := range row[4*full:] {
				u |= uint32(v^flip) << (8 * t)
			}
			binary.LittleEndian.PutUint32(d[full*w*4:], u)
		}
	}
}

// rowSumsGo sets sums[i] to the sum of row i's k values (stride ld), each
// XORed with flip, for i < n: the Go kernel set's rowSums.
func rowSumsGo(n, k int, src []byte, ld int, flip byte, sums []int32) {
	for i := range n {
		var s int32
		for _, v := range src[i*ld : i*ld+k] {
			s += int32(v ^ flip)
		}
		sums[i] = s
	}
}

// packCols packs n columns of a stored transposed A (k rows, stride ld)
// into units: column i's group q at dst[q*ustride+4*i:], the last
// group's values past k zero. It sets sums[i] to the sum of column i's
// values, each XORed with flip, unless sums is nil.
func packCols(ks *kernelSet, src []byte, ld, n, k int, flip byte, dst []byte, ustride int, sums []int32) {
	g := ks.g
	full := k / g
	done := 0 // columns the assembly did, for the whole groups
	if ks.packCols != nil {
		done = ks.packCols(full, n, src, ld, flip, dst, ustride, sums)
	}
	if sums != nil {
		clear(sums[done:n])
	}
	e := 4 / g // bytes a value takes
	put := func(p, i int, v byte) {
		dst[(p/g)*ustride+4*i+(p%g)*e] = v
	}
	// Units the loop below writes only in part start at zero: a 16-bit
	// value's high byte, a partial group's padding.
	for q := range (k + g - 1) / g {
		if q < full && e == 1 {
			continue
		}
		from := 0
		if q < full {
			from = done
		}
		clear(dst[q*ustride+4*from : q*ustride+4*n])
	}
	for p := range k {
		row := src[p*ld : p*ld+n]
		from := done
		if p >= full*g {
			from = 0 // the partial group: every column
		}
		for i := from; i < n; i++ {
			v := row[i] ^ flip
			put(p, i, v)
			if sums != nil {
				sums[i] += int32(v)
			}
		}
	}
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
