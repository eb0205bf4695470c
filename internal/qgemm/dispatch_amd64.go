//go:build amd64 && !purego

package qgemm

import (
	"sync"
	"unsafe"

	"golang.org/x/sys/cpu"
)

//go:generate go run gen_amd64.go

var (
	vnni512Kernels = newAsmKernelSet("avx512vnni", 4,
		asmKernel("avx512vnni-8x32", 8, 32, runVNNI512_8x32, runDirectVNNI512_8x32),
		asmKernel("avx512vnni-16x16", 16, 16, runVNNI512_16x16, runDirectVNNI512_16x16))
	avxVNNIKernels = newAsmKernelSet("avxvnni", 4,
		asmKernel("avxvnni-6x16", 6, 16, runAVXVNNI_6x16, runDirectAVXVNNI_6x16),
		asmKernel("avxvnni-12x8", 12, 8, runAVXVNNI_12x8, runDirectAVXVNNI_12x8))
	// vnniVLKernels are avxVNNIKernels with VPDPBUSD in its EVEX encoding:
	// CPUs with AVX-512 run the AVX-VNNI kernels' code through them. They
	// are never the default (avx512vnni is, there) but are tested and
	// benchmarked.
	vnniVLKernels = newAsmKernelSet("avx512vnni-ymm", 4,
		asmKernel("avx512vnni-ymm-6x16", 6, 16, runVNNIVL_6x16, runDirectVNNIVL_6x16),
		asmKernel("avx512vnni-ymm-12x8", 12, 8, runVNNIVL_12x8, runDirectVNNIVL_12x8))
	avx2Kernels = newAsmKernelSet("avx2", 2,
		asmKernel("avx2-6x16", 6, 16, runAVX2_6x16, nil),
		asmKernel("avx2-12x8", 12, 8, runAVX2_12x8, nil))
)

func asmKernel(name string, mr, nr int, run func(groups int, a []byte, astep int, b []byte, c []int32, ldc int, rowSum, negZB, colTerm []int32), direct directKernel) *kernel {
	return &kernel{name: name, mr: mr, nr: nr, run: run, direct: direct}
}

// newAsmKernelSet is newKernelSet with the assembly packers of its units.
func newAsmKernelSet(name string, g int, wide, narrow *kernel) *kernelSet {
	ks := newKernelSet(name, g, wide, narrow)
	ks.rowSums = rowSumsAsm
	if g == 4 {
		ks.packRows, ks.packCols = packRows4Asm, packCols4Asm
	} else {
		ks.packRows, ks.packCols = packRows2Asm, packCols2Asm
	}
	return ks
}

// defaultKernels is what PackB packs for.
var defaultKernels = goKernels

// asmKernels lists the assembly kernel sets this CPU can run, best first.
var asmKernels []*kernelSet

// vectorEpilogue reports whether requantAsm and dequantAsm run: whether
// the CPU has AVX2.
var vectorEpilogue bool

// epilogue512 reports whether Epilogue.Run's chunks of 16 columns run in
// zmm registers, where the CPU has AVX-512 (a variable, for the tests).
var epilogue512 bool

func init() {
	// Every set's kernels and packers use AVX2 besides their own
	// instructions.
	if !cpu.X86.HasAVX2 {
		return
	}
	vectorEpilogue = true
	epilogue512 = cpu.X86.HasAVX512F
	asmKernels = append(asmKernels, avx2Kernels)
	if cpu.X86.HasAVX512VNNI && cpu.X86.HasAVX512VL {
		asmKernels = append([]*kernelSet{vnniVLKernels}, asmKernels...)
	}
	if cpu.X86.HasAVXVNNI {
		asmKernels = append([]*kernelSet{avxVNNIKernels}, asmKernels...)
	}
	if cpu.X86.HasAVX512F && cpu.X86.HasAVX512VNNI {
		asmKernels = append([]*kernelSet{vnni512Kernels}, asmKernels...)
	}
	defaultKernels = asmKernels[0]
}

// The wrappers' bounds checks keep the assembly inside the slices.

func packRows4Asm(n, k int, src []byte, ld int, flip byte, dst []byte, w int) {
	if n == 0 || k == 0 {
		return
	}
	_ = src[(n-1)*ld+k-1]
	_ = dst[((k+3)/4-1)*w*4+n*4-1]
	packRows4AVX2(n, k, &src[0], ld, uint32(flip)*0x01010101, &dst[0], w*4)
}

func packRows2Asm(n, k int, src []byte, ld int, flip byte, dst []byte, w int) {
	if n == 0 || k == 0 {
		return
	}
	_ = src[(n-1)*ld+k-1]
	_ = dst[((k+1)/2-1)*w*4+n*4-1]
	packRows2AVX2(n, k, &src[0], ld, uint32(flip)*0x0101, &dst[0], w*4)
}

func rowSumsAsm(n, k int, src []byte, ld int, flip byte, sums []int32) {
	if n == 0 {
		return
	}
	if k == 0 {
		clear(sums[:n])
		return
	}
	_ = src[(n-1)*ld+k-1]
	_ = sums[n-1]
	rowSumsAVX2(n, k, &src[0], ld, uint32(flip)*0x01010101, &sums[0])
}

func packCols4Asm(groups, n int, src []byte, ld int, flip byte, dst []byte, ustride int, sums []int32) int {
	return packColsAsm(4, packCols4AVX2, groups, n, src, ld, flip, dst, ustride, sums)
}

func packCols2Asm(groups, n int, src []byte, ld int, flip byte, dst []byte, ustride int, sums []int32) int {
	return packColsAsm(2, packCols2AVX2, groups, n, src, ld, flip, dst, ustride, sums)
}

func packColsAsm(g int, pack func(groups, chunks int, src *byte, lda int, flip uint32, dst *byte, ustride int, sums *int32),
	groups, n int, src []byte, ld int, flip byte, dst []byte, ustride int, sums []int32) int {
	chunks := n / 16
	if chunks == 0 || groups == 0 {
		return 0
	}
	_ = src[(groups*g-1)*ld+chunks*16-1]
	_ = dst[(groups-1)*ustride+chunks*64-1]
	var sp *int32
	if sums != nil {
		_ = sums[chunks*16-1]
		sp = &sums[0]
	}
	pack(groups, chunks, &src[0], ld, uint32(flip)*0x01010101, &dst[0], ustride, sp)
	return chunks * 16
}

// requantAsm does requantize's leading multiple of 16 columns of every
// row with AVX2 and returns how many columns it did. scale has 16 copies
// of the per-tensor scale when not perColumn.
func requantAsm(m, n int, dst []byte, ldd int, acc []int32, ldc int, bias []int32, scale []float32, perColumn bool, lo, hi float32, zp int32, signed bool) int {
	n &^= 15
	if n == 0 || m == 0 {
		return 0
	}
	_ = acc[(m-1)*ldc+n-1]
	_ = dst[(m-1)*ldd+n-1]
	bp, bstep, sp, sstep := steps(n, bias, scale, perColumn)
	if signed {
		requantS8AVX2(m, n, &acc[0], ldc, bp, bstep, sp, sstep, &dst[0], ldd, lo, hi, zp)
	} else {
		requantU8AVX2(m, n, &acc[0], ldc, bp, bstep, sp, sstep, &dst[0], ldd, lo, hi, zp)
	}
	return n
}

// dequantAsm is requantAsm for dequantize.
func dequantAsm(m, n int, dst []float32, ldd int, acc []int32, ldc int, bias []int32, scale []float32, perColumn bool) int {
	n &^= 15
	if n == 0 || m == 0 {
		return 0
	}
	_ = acc[(m-1)*ldc+n-1]
	_ = dst[(m-1)*ldd+n-1]
	bp, bstep, sp, sstep := steps(n, bias, scale, perColumn)
	dequantAVX2(m, n, &acc[0], ldc, bp, bstep, sp, sstep, &dst[0], ldd)
	return n
}

// zeros16 stands in for a nil bias, read again every 16 columns.
var zeros16 [16]int32

// steps returns the pointers and byte steps per 16 columns, of n, for bias
// (nil: zeros) and scale (not perColumn: 16 copies, read again).
func steps(n int, bias []int32, scale []float32, perColumn bool) (*int32, int, *float32, int) {
	bp, bstep := &zeros16[0], 0
	if bias != nil {
		_ = bias[n-1]
		bp, bstep = &bias[0], 64
	}
	if !perColumn {
		_ = scale[15]
		return bp, bstep, &scale[0], 0
	}
	_ = scale[n-1]
	return bp, bstep, &scale[0], 64
}

// maxPoolAsm does maxPool's leading multiple of 8 columns with AVX2 and
// returns how many columns it did.
func maxPoolAsm(w Window, pixels, n int, acc []int32, ldc int, order []int32, dst []int32, ldd int) int {
	n8 := n &^ 7
	if n8 == 0 || pixels == 0 {
		return 0
	}
	last := (pixels-1)*w.SW + (w.KH-1)*w.Width + w.KW - 1 // the last pixel read, in rows of acc
	_ = acc[last*ldc+n8-1]
	_ = dst[(pixels-1)*ldd+n8-1]
	_ = order[n8-1]
	maxPoolAVX2(pixels, n8/8, &acc[0], 4*w.SW*ldc, w.KH, w.KW, 4*w.Width*ldc, 4*ldc, &order[0], &dst[0], 4*ldd)
	return n8
}

// quantizeAsm does quantize's leading multiple of 16 values with AVX2 and
// returns how many it did.
func quantizeAsm(dst []byte, x []float32, scale, lo, hi float32, zp int32, signed bool) int {
	n := len(x) &^ 15
	if n == 0 {
		return 0
	}
	_ = x[n-1]
	_ = dst[n-1]
	if signed {
		quantizeS8AVX2(n, &x[0], &dst[0], scale, lo, hi, zp)
	} else {
		quantizeU8AVX2(n, &x[0], &dst[0], scale, lo, hi, zp)
	}
	return n
}

// poolRequantAsm does Epilogue.run's leading multiple of 8 columns with
// AVX2, 16 at a time then 8, and returns how many columns it did.
func poolRequantAsm(e *Epilogue, w Window, pixels int, acc []int32, ldc int, dst []byte, ldd int, lo, hi float32) int {
	if pixels == 0 {
		return 0
	}
	last := (pixels-1)*w.SW + (w.KH-1)*w.Width + w.KW - 1
	// run does the chunks of lanes columns from column c0.
	run := func(c0, chunks, lanes int, f epilogueAsm) {
		end := c0 + lanes*chunks
		_ = acc[last*ldc+end-1]
		_ = dst[(pixels-1)*ldd+end-1]
		_ = e.params[paramsStride*((end+15)/16)-1]
		var table *byte
		if e.table != nil && !e.affine {
			_ = e.table[256*end-1]
			table = &e.table[256*c0]
		}
		f(pixels, chunks, &acc[c0], 4*w.SW*ldc, w.KH, w.KW, 4*w.Width*ldc, 4*ldc, &e.params[paramsStride*(c0/16)], table, &dst[c0], ldd, lo, hi, e.zp)
	}
	// pick is the form for chunks of 16 columns (wide) or 8.
	pick := func(wide bool) epilogueAsm {
		forms := [6][2]epilogueAsm{
			{poolRequantU8AVX2, poolRequant8U8AVX2}, {poolRequantS8AVX2, poolRequant8S8AVX2},
			{poolRequantTableU8AVX2, poolRequant8TableU8AVX2}, {poolRequantTableS8AVX2, poolRequant8TableS8AVX2},
			{poolRequantAffineU8AVX2, poolRequant8AffineU8AVX2}, {poolRequantAffineS8AVX2, poolRequant8AffineS8AVX2},
		}
		i, j := 0, 1
		if e.signed {
			i++
		}
		if e.table != nil {
			i += 2
		}
		if e.affine {
			i += 2
		}
		if wide {
			j = 0
		}
		return forms[i][j]
	}
	done := 0
	if chunks := e.n / 16; chunks > 0 {
		f := pick(true)
		if epilogue512 && (e.table == nil || e.affine) {
			// One zmm register a chunk: half the AVX2 form's instructions.
			f = [2][2]epilogueAsm{{poolRequantU8AVX512, poolRequantS8AVX512}, {poolRequantAffineU8AVX512, poolRequantAffineS8AVX512}}[b2i(e.affine)][b2i(e.signed)]
		}
		run(0, chunks, 16, f)
		done = 16 * chunks
	}
	if e.n-done >= 8 {
		run(done, 1, 8, pick(false))
		done += 8
	}
	return done
}

// epilogueAsm is the signature of the poolRequant forms.
type epilogueAsm func(pixels, chunks int, acc *int32, pixStep, kh, kw, rowStep, colStep int, params *byte, table *byte, dst *byte, dstStep int, lo, hi float32, zp int32)

// b2i is 1 for true, 0 for false.
func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// greyVNNI and greyAVX2 report whether Grey3x3Pool2's kernels for
// AVX-512 with VNNI, and for AVX2, run (variables, for the tests).
var (
	greyVNNI = cpu.X86.HasAVX512F && cpu.X86.HasAVX512VNNI
	greyAVX2 = cpu.X86.HasAVX2
)

// greyKernel is Grey3x3Pool2's kernel for e, nil for the Go code; wide
// says it reads the image widened to int16s and packed16's weights.
func greyKernel(e *Epilogue) (f greyFunc, wide bool) {
	if e.n%32 != 0 || e.table != nil && !e.affine {
		return nil, false
	}
	switch {
	case greyVNNI && epilogue512:
		forms := [2][2]greyFunc{{grey3x3Pool2U8AVX512, grey3x3Pool2S8AVX512}, {grey3x3Pool2AffineU8AVX512, grey3x3Pool2AffineS8AVX512}}
		return forms[b2i(e.affine)][b2i(e.signed)], false
	case greyAVX2:
		forms := [2][2]greyFunc{{grey3x3Pool2U8AVX2, grey3x3Pool2S8AVX2}, {grey3x3Pool2AffineU8AVX2, grey3x3Pool2AffineS8AVX2}}
		return forms[b2i(e.affine)][b2i(e.signed)], true
	}
	return nil, false
}

// greyScratch holds the images greyAsm widens to int16s.
var greyScratch = sync.Pool{New: func() any { return new([]int16) }}

// greyAsm runs Grey3x3Pool2's kernel, on checked arguments (img holds
// the read bytes, need), reporting whether there was one.
func greyAsm(e *Epilogue, g *Grey3x3, img []byte, need, pitch, rows, cols int, dst []byte, ldd int) bool {
	f, wide := greyKernel(e)
	if f == nil {
		return false
	}
	lo, hi := e.clamp()
	if !wide {
		f(&img[0], pitch, rows, cols, e.n/32, &g.packed[0], &e.params[0], &dst[0], ldd, lo, hi, e.zp)
		return true
	}
	buf := greyScratch.Get().(*[]int16)
	if cap(*buf) < need {
		*buf = make([]int16, need)
	}
	wide16 := (*buf)[:need]
	for i, v := range img[:need] {
		wide16[i] = int16(v)
	}
	f((*byte)(unsafe.Pointer(&wide16[0])), pitch, rows, cols, e.n/32, (*byte)(unsafe.Pointer(&g.packed16[0])), &e.params[0], &dst[0], ldd, lo, hi, e.zp)
	greyScratch.Put(buf)
	return true
}
