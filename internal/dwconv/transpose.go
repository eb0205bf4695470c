package dwconv

// RowToPlanes sets dst[ch*ldd+i] = src[i*c+ch] for ch < c and i < w: a
// row of w pixels of a channels-last map, c channels a pixel, into the
// rows of c planes ldd apart, such as a depthwise convolution's padded
// planes. The vector kernel takes eight channels at a time as 8x8 blocks
// transposed in registers, where a channels-first copy of the whole map
// first cost as much as the convolution.
func RowToPlanes(dst []float32, ldd int, src []float32, c, w int) {
	if c <= 0 || w <= 0 {
		return
	}
	_ = dst[(c-1)*ldd+w-1]
	_ = src[(w-1)*c+c-1]
	rowToPlanes(dst, ldd, src, c, w)
}

// rowToPlanesGo is RowToPlanes in Go for channels [from, c).
func rowToPlanesGo(dst []float32, ldd int, src []float32, c, w, from int) {
	for ch := from; ch < c; ch++ {
		row := dst[ch*ldd:][:w]
		for i := range row {
			row[i] = src[i*c+ch]
		}
	}
}
