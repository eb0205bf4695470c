package winograd

// kernels is one implementation of the three stages, for the slices of
// ForwardTileRows; the assembly ones check nothing, the driver has.
type kernels struct {
	name string
	// input transforms a row of tiles tiles: tile t's 6x6 pixels start at
	// x[4*t*c], rows ldx floats apart; its V[ξ] at v[ξ*vstride+t*c].
	input func(v []float32, vstride int, x []float32, ldx, c, tiles int, tmp []float32)
	// products computes M[ξ] = V[ξ] U[ξ] for tiles tiles: M[ξ][t] at
	// m[ξ*mstride+t*k], V[ξ][t] at v[ξ*vstride+t*c], U[ξ] at u[ξ*c*k].
	products func(m []float32, mstride int, v []float32, vstride int, u []float32, c, k, tiles int)
	// output transforms a row of tiles tiles, M[ξ][t] at
	// m[ξ*mstride+t*k], into y, rows ldy floats apart, tile t's pixels
	// from y[4*t*k]: its first rows rows, and the last tile's first
	// lastCols columns; res, if not nil, is added as y is laid out.
	output func(y []float32, ldy int, m []float32, mstride, k, tiles int, bias, res []float32, rows, lastCols int, relu bool, tmp []float32)
	// outputPool is output with Epilogue's scale and shift (nil for
	// none) and its pooling, windows of pool (2 or 4) square: rows and
	// lastCols count pooled outputs, 4/pool a tile each way.
	outputPool func(y []float32, ldy int, m []float32, mstride, k, tiles int, bias, scale, shift []float32, pool, rows, lastCols int, relu bool, tmp []float32)
}

var goKernels = &kernels{name: "go", input: inputGo, products: productsGo, output: outputGo, outputPool: outputPoolGo}

// inputRow is Bᵀ d for one column (or row) d of six values:
//
//	Bᵀ = | 4  0 -5  0  1  0 |
//	     | 0 -4 -4  1  1  0 |
//	     | 0  4 -4 -1  1  0 |
//	     | 0 -2 -1  2  1  0 |
//	     | 0  2 -1 -2  1  0 |
//	     | 0  4  0 -5  0  1 |
//
// IntConv's transform is the same in int32s (modulo 2^32).
func inputRow[T float32 | int32](d [6]T) [6]T {
	g := 2 * (d[3] - d[1])
	f := d[4] - d[2]
	return [6]T{
		4*d[0] - 5*d[2] + d[4],
		(d[3] + d[4]) - 4*(d[1]+d[2]),
		(d[4] - d[3]) + 4*(d[1]-d[2]),
		f + g,
		f - g,
		4*d[1] - 5*d[3] + d[5],
	}
}

// outputRow is Aᵀ m for one column (or row) m of six values:
//
//	Aᵀ = | 1  1  1  1  1  0 |
//	     | 0  1 -1  2 -2  0 |
//	     | 0  1  1  4  4  0 |
//	     | 0  1 -1  8 -8  1 |
func outputRow(m [6]float32) [4]float32 {
	s12, d12, s34, d34 := m[1]+m[2], m[1]-m[2], m[3]+m[4], m[3]-m[4]
	return [4]float32{m[0] + s12 + s34, d12 + 2*d34, s12 + 4*s34, d12 + 8*d34 + m[5]}
}

func inputGo(v []float32, vstride int, x []float32, ldx, c, tiles int, _ []float32) {
	for t := range tiles {
		for ch := range c {
			var cols [6][6]float32 // Bᵀ d, column by column
			for j := range 6 {
				var d [6]float32
				for i := range 6 {
					d[i] = x[i*ldx+(4*t+j)*c+ch]
				}
				cols[j] = inputRow(d)
			}
			for a := range 6 {
				var r [6]float32
				for j := range 6 {
					r[j] = cols[j][a]
				}
				for b, val := range inputRow(r) {
					v[(a*6+b)*vstride+t*c+ch] = val
				}
			}
		}
	}
}

func productsGo(m []float32, mstride int, v []float32, vstride int, u []float32, c, k, tiles int) {
	for xi := range positions {
		uk := u[xi*c*k:][:c*k]
		for t := range tiles {
			acc := m[xi*mstride+t*k:][:k]
			clear(acc)
			for i, vi := range v[xi*vstride+t*c:][:c] {
				for o, w := range uk[i*k:][:k] {
					acc[o] += vi * w
				}
			}
		}
	}
}

// tileOutput is Aᵀ M A of output o of tile t.
func tileOutput(m []float32, mstride, k, t, o int) (y [4][4]float32) {
	var half [6][4]float32 // Aᵀ M, column by column
	for b := range 6 {
		var col [6]float32
		for a := range 6 {
			col[a] = m[(a*6+b)*mstride+t*k+o]
		}
		half[b] = outputRow(col)
	}
	for p := range 4 {
		var r [6]float32
		for b := range 6 {
			r[b] = half[b][p]
		}
		y[p] = outputRow(r)
	}
	return y
}

func outputGo(y []float32, ldy int, m []float32, mstride, k, tiles int, bias, res []float32, rows, lastCols int, relu bool, _ []float32) {
	for t := range tiles {
		cols := 4
		if t == tiles-1 {
			cols = lastCols
		}
		for o := range k {
			tile := tileOutput(m, mstride, k, t, o)
			for p := range rows {
				for q, val := range tile[p][:cols] {
					at := p*ldy + (4*t+q)*k + o
					val += bias[o]
					if res != nil {
						val += res[at]
					}
					if relu {
						val = maxNaN(0, val)
					}
					y[at] = val
				}
			}
		}
	}
}

func outputPoolGo(y []float32, ldy int, m []float32, mstride, k, tiles int, bias, scale, shift []float32, pool, rows, lastCols int, relu bool, _ []float32) {
	for t := range tiles {
		cols := 4 / pool
		if t == tiles-1 {
			cols = lastCols
		}
		for o := range k {
			tile := tileOutput(m, mstride, k, t, o)
			for p := range 4 {
				for q := range 4 {
					val := tile[p][q] + bias[o]
					if relu {
						val = maxNaN(0, val)
					}
					if scale != nil {
						val = val*scale[o] + shift[o]
					}
					tile[p][q] = val
				}
			}
			for p := range rows {
				for q := range cols {
					y[p*ldy+(4/pool*t+q)*k+o] = windowMax(tile, pool, p, q)
				}
			}
		}
	}
}

// windowMax is the maximum of window (p, q) of the tile, pool square, in
// the assembly's order: each row's pairs of columns, then their pairs,
// then the rows in order.
func windowMax(tile [4][4]float32, pool, p, q int) float32 {
	row := func(i int) float32 {
		r := tile[i][pool*q:][:pool]
		m := maxNaN(r[0], r[1])
		if pool == 4 {
			m = maxNaN(m, maxNaN(r[2], r[3]))
		}
		return m
	}
	m := row(pool * p)
	for i := 1; i < pool; i++ {
		m = maxNaN(m, row(pool*p+i))
	}
	return m
}

// maxNaN is the assembly's maximum: a > b ? a : b, so b where either is
// NaN.
func maxNaN(a, b float32) float32 {
	if a > b {
		return a
	}
	return b
}
