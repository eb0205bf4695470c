package dwconv

// CopyRows copies rows x cols entries from src, rows lds apart, into dst,
// rows ldd apart: the planes in and out of the padded buffers, whose rows
// are too short (a few dozen entries) for a call to copy each.
func CopyRows(dst []float32, ldd int, src []float32, lds, rows, cols int) {
	if rows <= 0 || cols <= 0 {
		return
	}
	_ = dst[(rows-1)*ldd+cols-1]
	_ = src[(rows-1)*lds+cols-1]
	copyRows(dst, ldd, src, lds, rows, cols)
}

// AddRows is CopyRows adding into dst.
func AddRows(dst []float32, ldd int, src []float32, lds, rows, cols int) {
	if rows <= 0 || cols <= 0 {
		return
	}
	_ = dst[(rows-1)*ldd+cols-1]
	_ = src[(rows-1)*lds+cols-1]
	addRows(dst, ldd, src, lds, rows, cols)
}

func copyRowsGo(dst []float32, ldd int, src []float32, lds, rows, cols int) {
	for r := range rows {
		copy(dst[r*ldd:r*ldd+cols], src[r*lds:r*lds+cols])
	}
}

func addRowsGo(dst []float32, ldd int, src []float32, lds, rows, cols int) {
	for r := range rows {
		d, s := dst[r*ldd:r*ldd+cols], src[r*lds:r*lds+cols]
		for i := range d {
			d[i] += s[i]
		}
	}
}
