//go:build amd64 && !purego

package cpurate

import "golang.org/x/sys/cpu"

//go:generate go run gen_amd64.go

// The loops of loops_amd64.s. a and b are broadcast to every lane; each
// returns lane 0 of its first result (the int32 that lanes 0 and 1 of
// VPMADDUBSW's int16s make).

func addChain(n int) int

func maddwd(n int, a, b int32) int32
func maddwdAdd(n int, a, b int32) int32
func maddubsw(n int, a, b int32) int32
func fma(n int, a, b float32) float32
func maddwdAdd512(n int, a, b int32) int32
func dpwssd512(n int, a, b int32) int32
func dpbusd512(n int, a, b int32) int32
func fma512(n int, a, b float32) float32

// The operands: int16 pairs whose products fill an int32, uint8 x int8
// quadruples of which one pair's sum fits an int16 and the other's does
// not, and floats whose sums are exact.
const (
	pairA, pairB = int32(0x0003_8000), int32(0x7ffb_8000) // (-32768, 3) · (-32768, 32763)
	quadA, quadB = int32(-0xfe01), int32(-0x7f7f_fefe)    // u8 (255, 1, 255, 255) · s8 (2, 1, -128, -128)
	fa, fb       = float32(3), float32(0.5)
)

func loops() []loop {
	avx2 := cpu.X86.HasAVX2 && cpu.X86.HasFMA
	avx512 := cpu.X86.HasAVX512F
	return []loop{
		{"VPMADDWD ymm", 16, func(n int) bool { return maddwd(n, pairA, pairB) == pairSum(pairA, pairB) }, avx2},
		{"VPMADDWD+VPADDD ymm", 16, func(n int) bool { return maddwdAdd(n, pairA, pairB) == int32(n)*pairSum(pairA, pairB) }, avx2},
		{"VPMADDUBSW ymm", 32, func(n int) bool { return maddubsw(n, quadA, quadB) == saturatedQuad(quadA, quadB) }, avx2},
		{"VFMADD231PS ymm", 8, func(n int) bool { return fma(n, fa, fb) == float32(n)*fa*fb }, avx2},
		{"VPMADDWD+VPADDD zmm", 32, func(n int) bool { return maddwdAdd512(n, pairA, pairB) == int32(n)*pairSum(pairA, pairB) }, avx512 && cpu.X86.HasAVX512BW},
		{"VPDPWSSD zmm", 32, func(n int) bool { return dpwssd512(n, pairA, pairB) == int32(n)*pairSum(pairA, pairB) }, avx512 && cpu.X86.HasAVX512VNNI},
		{"VPDPBUSD zmm", 64, func(n int) bool { return dpbusd512(n, quadA, quadB) == int32(n)*quadSum(quadA, quadB) }, avx512 && cpu.X86.HasAVX512VNNI},
		{"VFMADD231PS zmm", 16, func(n int) bool { return fma512(n, fa, fb) == float32(n)*fa*fb }, avx512},
	}
}
