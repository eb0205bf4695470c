package asmgen

import "fmt"

// Width is a vector instruction set a generator writes its kernels for
// twice from one description: AVX-512's 16 float32 lanes in Z registers
// (mask registers, 32 vector registers, embedded broadcasts) or AVX2's 8
// in Y registers.
type Width struct {
	Name   string // the kernels' suffix
	Reg    string // the vector registers' prefix
	Lanes  int    // float32s a register
	AVX512 bool
}

// The two widths.
var (
	AVX512 = Width{Name: "AVX512", Reg: "Z", Lanes: 16, AVX512: true}
	AVX2   = Width{Name: "AVX2", Reg: "Y", Lanes: 8}
)

// R names vector register i.
func (w Width) R(i int) string { return fmt.Sprintf("%s%d", w.Reg, i) }

// Zero writes, through p, the instruction that clears vector register i
// (VXORPS on Z registers needs AVX512DQ).
func (w Width) Zero(p func(format string, args ...any), i int) {
	if w.AVX512 {
		p("VPXORD %s, %s, %s", w.R(i), w.R(i), w.R(i))
	} else {
		p("VXORPS %s, %s, %s", w.R(i), w.R(i), w.R(i))
	}
}
