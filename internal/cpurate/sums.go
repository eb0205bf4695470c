package cpurate

import "math"

// The results the loops are checked against, computed in Go.

// pairSum is VPMADDWD's lane: the two int16s of a times b's, summed.
func pairSum(a, b int32) int32 {
	return int32(int16(a))*int32(int16(b)) + (a>>16)*(b>>16)
}

// quadSum is VPDPBUSD's lane: a's four bytes unsigned times b's signed.
func quadSum(a, b int32) int32 {
	s := int32(0)
	for i := range 4 {
		s += int32(uint8(a>>(8*i))) * int32(int8(b>>(8*i)))
	}
	return s
}

// saturatedQuad is VPMADDUBSW's two int16 lanes as one int32: each the
// sum of two of quadSum's products, clamped to int16.
func saturatedQuad(a, b int32) int32 {
	var w [2]int32
	for l := range 2 {
		s := 0
		for i := 2 * l; i < 2*l+2; i++ {
			s += int(uint8(a>>(8*i))) * int(int8(b>>(8*i)))
		}
		w[l] = int32(uint16(int16(max(math.MinInt16, min(math.MaxInt16, s)))))
	}
	return w[0] | w[1]<<16
}
