//go:build amd64 && !purego

package dwconv

// rowToPlanes runs the 8x8 kernel over each group of eight channels and
// Go over the rest.
func rowToPlanes(dst []float32, ldd int, src []float32, c, w int) {
	from := 0
	if useAVX2 && w >= 8 {
		for ; from+8 <= c; from += 8 {
			transposeRowAVX2(&dst[from*ldd], ldd, &src[from], c, w)
		}
	}
	rowToPlanesGo(dst, ldd, src, c, w, from)
}
