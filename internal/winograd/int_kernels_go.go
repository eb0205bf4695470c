package winograd

import "math"

// intKernels is one implementation of IntConv's three stages, for the
// slices of ForwardTileRows; the assembly ones check nothing, the driver
// has. The layouts are kernels' with bytes in, int16 V and int32 M.
type intKernels struct {
	name string
	// input transforms a row of tiles tiles: tile t's 6x6 pixels start
	// at x[4*t*c], rows ldx bytes apart, each byte b read as (b^flip) -
	// (zx^flip); its V[ξ] at v[ξ*vstride+t*c].
	input func(v []int16, vstride int, x []byte, ldx, c, tiles int, zx, flip byte, tmp []int32)
	// products computes M'[ξ] = V[ξ] U'[ξ] modulo 2^32 for tiles tiles:
	// M'[ξ][t] at m[ξ*mstride+t*k], V[ξ][t] at v[ξ*vstride+t*c], U'[ξ] at
	// u[ξ*c*k], pairs of rows interleaved.
	products func(m []int32, mstride int, v []int16, vstride int, u []int16, c, k, tiles int)
	// output transforms a row of tiles tiles into the sums Y, rows ldy
	// apart, tile t's pixels from y[4*t*k]: its first rows rows, and the
	// last tile's first lastCols columns.
	output func(y []int32, ldy int, m []int32, mstride, k, tiles, rows, lastCols int, tmp []int32)
	// outputPool is output with IntOut's pooling, windows of pool (2 or
	// 4) square, and its order (nil for none): rows and lastCols count
	// pooled outputs, 4/pool a tile each way.
	outputPool func(y []int32, ldy int, m []int32, mstride, k, tiles int, order []int32, pool, rows, lastCols int, tmp []int32)
}

var intGoKernels = &intKernels{name: "go", input: intInputGo, products: intProductsGo, output: intOutputGo, outputPool: intOutputPoolGo}

// intOutputRow is Ãᵀ m for one column (or row) m of six values: Aᵀ with
// m5 taken 4 times (IntConv).
func intOutputRow(m [6]int32) [4]int32 {
	s12, d12, s34, d34 := m[1]+m[2], m[1]-m[2], m[3]+m[4], m[3]-m[4]
	return [4]int32{m[0] + s12 + s34, d12 + 2*d34, s12 + 4*s34, d12 + 8*d34 + 4*m[5]}
}

// inverse9 is 9's inverse modulo 2^32.
const inverse9 = 0x38e38e39

// fromScaled returns Y from 576 Y modulo 2^32, for |Y| < 2^25: times
// 9's inverse, 64 Y modulo 2^32, which is 64 Y.
func fromScaled(r int32) int32 {
	return r * inverse9 >> 6
}

func intInputGo(v []int16, vstride int, x []byte, ldx, c, tiles int, zx, flip byte, _ []int32) {
	z := int32(zx ^ flip)
	for t := range tiles {
		for ch := range c {
			var d, tmp [6][6]int32
			for i := range 6 {
				for j := range 6 {
					d[i][j] = int32(x[i*ldx+(4*t+j)*c+ch]^flip) - z
				}
			}
			for j := range 6 {
				col := inputRow([6]int32{d[0][j], d[1][j], d[2][j], d[3][j], d[4][j], d[5][j]})
				for a := range 6 {
					tmp[a][j] = col[a]
				}
			}
			for a := range 6 {
				row := inputRow(tmp[a])
				for b := range 6 {
					v[(a*6+b)*vstride+t*c+ch] = int16(row[b])
				}
			}
		}
	}
}

func intProductsGo(m []int32, mstride int, v []int16, vstride int, u []int16, c, k, tiles int) {
	for xi := range positions {
		uxi := u[xi*c*k:][:c*k]
		for t := range tiles {
			mt := m[xi*mstride+t*k:][:k]
			vt := v[xi*vstride+t*c:][:c]
			clear(mt)
			for i := 0; i < c; i += 2 {
				a0, a1 := int32(vt[i]), int32(vt[i+1])
				row := uxi[i*k:][:2*k]
				for o := range k {
					mt[o] += a0*int32(row[2*o]) + a1*int32(row[2*o+1])
				}
			}
		}
	}
}

// intTile is tile t's 4x4 sums Y of output o: Ãᵀ M' Ã, then fromScaled.
func intTile(m []int32, mstride, k, t, o int) [4][4]int32 {
	var tmp [4][6]int32
	for b := range 6 {
		var col [6]int32
		for a := range 6 {
			col[a] = m[(a*6+b)*mstride+t*k+o]
		}
		r := intOutputRow(col)
		for q := range 4 {
			tmp[q][b] = r[q]
		}
	}
	var y [4][4]int32
	for q := range 4 {
		r := intOutputRow(tmp[q])
		for j := range 4 {
			y[q][j] = fromScaled(r[j])
		}
	}
	return y
}

func intOutputGo(y []int32, ldy int, m []int32, mstride, k, tiles, rows, lastCols int, _ []int32) {
	for t := range tiles {
		cols := 4
		if t == tiles-1 {
			cols = lastCols
		}
		for o := range k {
			tile := intTile(m, mstride, k, t, o)
			for q := range rows {
				for j := range cols {
					y[q*ldy+(4*t+j)*k+o] = tile[q][j]
				}
			}
		}
	}
}

func intOutputPoolGo(y []int32, ldy int, m []int32, mstride, k, tiles int, order []int32, pool, rows, lastCols int, _ []int32) {
	per := 4 / pool
	for t := range tiles {
		cols := per
		if t == tiles-1 {
			cols = lastCols
		}
		for o := range k {
			var flip int32
			if order != nil {
				flip = order[o]
			}
			tile := intTile(m, mstride, k, t, o)
			for q := range rows {
				for j := range cols {
					best := int32(math.MinInt32)
					for a := range pool {
						for b := range pool {
							best = max(best, tile[q*pool+a][j*pool+b]^flip)
						}
					}
					y[q*ldy+(per*t+j)*k+o] = best ^ flip
				}
			}
		}
	}
}
