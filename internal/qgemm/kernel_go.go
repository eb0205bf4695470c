package qgemm

// goKernels is the pure-Go fallback, for CPUs without the assembly kernels
// and builds with the tag purego.
var goKernels = &kernelSet{
	name: "go", g: 4,
	rowSums: rowSumsGo,
	kernels: []*kernel{&goKernel2x4},
	pick:    func(int) *kernel { return &goKernel2x4 },
}

var goKernel2x4 = kernel{name: "go-2x4", mr: 2, nr: 4, run: kernelGo2x4, direct: kernelGo2x4Direct}

// kernelGo2x4 is the pure-Go micro-kernel: a 2x4 tile, each step four
// bytes of each of 2 rows of A (unsigned) by four of each of 4 columns of
// B (signed). Its eight accumulators and the values of a step are about
// what the compiler keeps in registers.
func kernelGo2x4(groups int, a []byte, astep int, b []byte, c []int32, ldc int, rowSum, negZB, colTerm []int32) {
	r0, r1 := rowSum[0], rowSum[1]
	z := negZB[:4]
	t := colTerm[:4]
	c00, c01, c02, c03 := t[0]+r0*z[0], t[1]+r0*z[1], t[2]+r0*z[2], t[3]+r0*z[3]
	c10, c11, c12, c13 := t[0]+r1*z[0], t[1]+r1*z[1], t[2]+r1*z[2], t[3]+r1*z[3]
	b = b[:16*groups]
	for q := range groups {
		a := a[q*astep : q*astep+8]
		b := b[16*q : 16*q+16]
		a00, a01, a02, a03 := int32(a[0]), int32(a[1]), int32(a[2]), int32(a[3])
		a10, a11, a12, a13 := int32(a[4]), int32(a[5]), int32(a[6]), int32(a[7])
		b0, b1, b2, b3 := int32(int8(b[0])), int32(int8(b[1])), int32(int8(b[2])), int32(int8(b[3]))
		c00 += a00*b0 + a01*b1 + a02*b2 + a03*b3
		c10 += a10*b0 + a11*b1 + a12*b2 + a13*b3
		b0, b1, b2, b3 = int32(int8(b[4])), int32(int8(b[5])), int32(int8(b[6])), int32(int8(b[7]))
		c01 += a00*b0 + a01*b1 + a02*b2 + a03*b3
		c11 += a10*b0 + a11*b1 + a12*b2 + a13*b3
		b0, b1, b2, b3 = int32(int8(b[8])), int32(int8(b[9])), int32(int8(b[10])), int32(int8(b[11]))
		c02 += a00*b0 + a01*b1 + a02*b2 + a03*b3
		c12 += a10*b0 + a11*b1 + a12*b2 + a13*b3
		b0, b1, b2, b3 = int32(int8(b[12])), int32(int8(b[13])), int32(int8(b[14])), int32(int8(b[15]))
		c03 += a00*b0 + a01*b1 + a02*b2 + a03*b3
		c13 += a10*b0 + a11*b1 + a12*b2 + a13*b3
	}
	r := c[:4]
	r[0], r[1], r[2], r[3] = c00, c01, c02, c03
	r = c[ldc : ldc+4]
	r[0], r[1], r[2], r[3] = c10, c11, c12, c13
}

// kernelGo2x4Direct is kernelGo2x4 reading A where it lies: row i's unit
// of group q at a[i*lda+offs[q]:], the tile starting at colTerm (its two
// rows are one group of four: gstride is not read), for tiles tiles.
func kernelGo2x4Direct(groups int, a []byte, lda, gstride int, offs []int32, b []byte, c []int32, ldc int, colTerm []int32, tiles, tileStep int) {
	for t := range tiles {
		kernelGo2x4Tile(groups, a[t*tileStep:], lda, offs, b, c[2*t*ldc:], ldc, colTerm)
	}
}

// kernelGo2x4Tile is one tile of kernelGo2x4Direct.
func kernelGo2x4Tile(groups int, a []byte, lda int, offs []int32, b []byte, c []int32, ldc int, colTerm []int32) {
	t := colTerm[:4]
	c00, c01, c02, c03 := t[0], t[1], t[2], t[3]
	c10, c11, c12, c13 := t[0], t[1], t[2], t[3]
	b = b[:16*groups]
	for q, off := range offs[:groups] {
		r0 := a[off : off+4]
		r1 := a[int(off)+lda : int(off)+lda+4]
		b := b[16*q : 16*q+16]
		a00, a01, a02, a03 := int32(r0[0]), int32(r0[1]), int32(r0[2]), int32(r0[3])
		a10, a11, a12, a13 := int32(r1[0]), int32(r1[1]), int32(r1[2]), int32(r1[3])
		b0, b1, b2, b3 := int32(int8(b[0])), int32(int8(b[1])), int32(int8(b[2])), int32(int8(b[3]))
		c00 += a00*b0 + a01*b1 + a02*b2 + a03*b3
		c10 += a10*b0 + a11*b1 + a12*b2 + a13*b3
		b0, b1, b2, b3 = int32(int8(b[4])), int32(int8(b[5])), int32(int8(b[6])), int32(int8(b[7]))
		c01 += a00*b0 + a01*b1 + a02*b2 + a03*b3
		c11 += a10*b0 + a11*b1 + a12*b2 + a13*b3
		b0, b1, b2, b3 = int32(int8(b[8])), int32(int8(b[9])), int32(int8(b[10])), int32(int8(b[11]))
		c02 += a00*b0 + a01*b1 + a02*b2 + a03*b3
		c12 += a10*b0 + a11*b1 + a12*b2 + a13*b3
		b0, b1, b2, b3 = int32(int8(b[12])), int32(int8(b[13])), int32(int8(b[14])), int32(int8(b[15]))
		c03 += a00*b0 + a01*b1 + a02*b2 + a03*b3
		c13 += a10*b0 + a11*b1 + a12*b2 + a13*b3
	}
	r := c[:4]
	r[0], r[1], r[2], r[3] = c00, c01, c02, c03
	r = c[ldc : ldc+4]
	r[0], r[1], r[2], r[3] = c10, c11, c12, c13
}
