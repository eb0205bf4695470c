//go:build amd64 && !purego

package nhwc

import "golang.org/x/sys/cpu"

//go:generate go run gen_amd64.go

// The kernels this CPU runs; tests clear them to compare the others.
var (
	useAVX512 = cpu.X86.HasAVX512F
	useAVX2   = cpu.X86.HasAVX2 && cpu.X86.HasFMA
)

// Kernel names the kernels in use, for benchmarks and reports.
func Kernel() string {
	switch {
	case useAVX512:
		return "avx512"
	case useAVX2:
		return "avx2"
	}
	return "go"
}

// dwGroup512 is the most pixels an AVX-512 depthwise kernel computes at a
// time; depthwise512 and stem512 are the kernels by pixels, less one.
const dwGroup512 = 8

type dwKernel = func(y *float32, ldy int, x *float32, ldx, c, stride, rows, cols int, w *float32, ldw int, bias *float32, mask int, lo, hi float32)

var (
	depthwise512 = [dwGroup512]dwKernel{
		depthwise1AVX512, depthwise2AVX512, depthwise3AVX512, depthwise4AVX512,
		depthwise5AVX512, depthwise6AVX512, depthwise7AVX512, depthwise8AVX512,
	}
	stem512 = [dwGroup512]dwKernel{
		stem1AVX512, stem2AVX512, stem3AVX512, stem4AVX512,
		stem5AVX512, stem6AVX512, stem7AVX512, stem8AVX512,
	}
)

// depthwise runs the kernel over each dwBlock of channels, AVX-512's last
// one masked and its groups of pixels as even as they can be; AVX2 takes
// whole vectors of 8 and Go the rest.
func depthwise(d Depthwise3x3, y []float32, ldy int, xp, wp []float32, rows, cols int, lo, hi float32) {
	pc, ldx := d.packedC(), d.ldx()
	switch {
	case useAVX512:
		kern := depthwise512[evenGroups(cols, dwGroup512)-1]
		for c := 0; c < d.C; c += dwBlock {
			mask := 1<<min(dwBlock, d.C-c) - 1
			kern(&y[c], ldy, &xp[c], ldx, d.C, d.Stride, rows, cols, &wp[c], pc, &wp[9*pc+c], mask, lo, hi)
		}
	case useAVX2:
		whole := d.C &^ 7
		for c := 0; c < whole; c += 8 {
			depthwiseAVX2(&y[c], ldy, &xp[c], ldx, d.C, d.Stride, rows, cols, &wp[c], pc, &wp[9*pc+c], 0, lo, hi)
		}
		if whole < d.C {
			depthwiseGo(d, y, ldy, xp, wp, rows, cols, lo, hi, whole)
		}
	default:
		depthwiseGo(d, y, ldy, xp, wp, rows, cols, lo, hi, 0)
	}
}

func meanRows(y, x []float32, rows, c int) {
	switch {
	case useAVX512:
		meanRowsAVX512(&y[0], &x[0], rows, c, c, 1<<(c%16)-1)
	case useAVX2 && c >= 8:
		whole := c &^ 7
		meanRowsAVX2(&y[0], &x[0], rows, c, whole, 0)
		if whole < c {
			meanRowsGo(y, x, rows, c, whole)
		}
	default:
		meanRowsGo(y, x, rows, c, 0)
	}
}

// The 1x1 kernels by pixels a call, less one.
var (
	pointwise512 = [pwRows512]func(y *float32, ldy int, x *float32, ldx, k int, w *float32, ldw int, bias *float32, mask0, mask1, groups int, lo, hi float32){
		pointwise1x2AVX512, pointwise2x2AVX512, pointwise3x2AVX512, pointwise4x2AVX512,
		pointwise5x2AVX512, pointwise6x2AVX512, pointwise7x2AVX512, pointwise8x2AVX512,
	}
	pointwise2 = [2][pwRows2]func(y *float32, ldy int, x *float32, ldx, k int, w *float32, ldw int, bias *float32, mask0, mask1, groups int, lo, hi float32){
		{pointwise1x1AVX2, pointwise2x1AVX2, pointwise3x1AVX2, pointwise4x1AVX2},
		{pointwise1x2AVX2, pointwise2x2AVX2, pointwise3x2AVX2, pointwise4x2AVX2},
	}
)

// pwRows512 and pwRows2 are the kernels' most pixels a call.
const (
	pwRows512 = 8
	pwRows2   = 4
)

// pointwise runs the kernels over groups of pixels as even as the most a
// kernel takes allows (49 as 7 of 7, not 6 of 8 and one of 8 again), a
// run of whole groups a call, then a last group ending at the last pixel
// (overlapping the one before: the same values), over each block of
// output channels; AVX2 takes vectors of 8 channels, Go the rest.
func pointwise(p Pointwise, y, x []float32, px int, wp []float32, lo, hi float32) {
	ld := p.ldw()
	bias := wp[p.In*ld:]
	switch {
	case useAVX512:
		rows := evenGroups(px, pwRows512)
		kern := pointwise512[rows-1]
		for o := 0; o < p.Out; o += pwBlock {
			m0, m1 := 1<<min(16, max(0, p.Out-o))-1, 1<<min(16, max(0, p.Out-o-16))-1
			whole := px / rows
			kern(&y[o], p.Out, &x[0], p.In, p.In, &wp[o], ld, &bias[o], m0, m1, whole, lo, hi)
			if q := px - rows; whole*rows < px {
				kern(&y[q*p.Out+o], p.Out, &x[q*p.In], p.In, p.In, &wp[o], ld, &bias[o], m0, m1, 1, lo, hi)
			}
		}
	case useAVX2:
		whole := p.Out &^ 7
		rows := evenGroups(px, pwRows2)
		for o := 0; o < whole; o += 16 {
			kern := pointwise2[min(2, (whole-o)/8)-1][rows-1]
			kern(&y[o], p.Out, &x[0], p.In, p.In, &wp[o], ld, &bias[o], 0, 0, px/rows, lo, hi)
			if q := px - rows; px%rows != 0 {
				kern(&y[q*p.Out+o], p.Out, &x[q*p.In], p.In, p.In, &wp[o], ld, &bias[o], 0, 0, 1, lo, hi)
			}
		}
		if whole < p.Out {
			pointwiseGo(p, y, x, px, wp, lo, hi, whole)
		}
	default:
		pointwiseGo(p, y, x, px, wp, lo, hi, 0)
	}
}

// evenGroups is the pixels a group of px takes, at most most: as few
// groups as most allows, as even as they can be.
func evenGroups(px, most int) int {
	n := (px + most - 1) / most
	return (px + n - 1) / n
}

// stem runs the kernel over each dwBlock of output channels as depthwise
// does.
func stem(s Stem3x3, y []float32, ldy int, xp, wp []float32, rows, cols int, lo, hi float32) {
	pc, ldx := s.dw().packedC(), s.W+2
	switch {
	case useAVX512:
		kern := stem512[evenGroups(cols, dwGroup512)-1]
		for c := 0; c < s.C; c += dwBlock {
			mask := 1<<min(dwBlock, s.C-c) - 1
			kern(&y[c], ldy, &xp[0], ldx, s.C, s.Stride, rows, cols, &wp[c], pc, &wp[9*pc+c], mask, lo, hi)
		}
	case useAVX2:
		whole := s.C &^ 7
		for c := 0; c < whole; c += 8 {
			stemAVX2(&y[c], ldy, &xp[0], ldx, s.C, s.Stride, rows, cols, &wp[c], pc, &wp[9*pc+c], 0, lo, hi)
		}
		if whole < s.C {
			stemGo(s, y, ldy, xp, wp, rows, cols, lo, hi, whole)
		}
	default:
		stemGo(s, y, ldy, xp, wp, rows, cols, lo, hi, 0)
	}
}
