package qgemm

import (
	"errors"
	"fmt"
)

// InPlace says where the rows of an A read in place lie: in runs of Width
// rows, row i starting at
//
//	base(i) = (i/Width)*Pitch + (i%Width)*Step
//
// and its units (values 4q to 4q+3) at base(i)+Offsets[q]. For a stride-1
// convolution over a padded channels-last image of C channels a pixel (C
// a multiple of 4) and paddedWidth pixels a row, a run is an output row:
// Width its pixels, Step C, Pitch paddedWidth*C, and the offsets the
// kernel's taps, (ky*paddedWidth+kx)*C, plus 4 for each unit of channels.
type InPlace struct {
	Width, Pitch, Step int
	Offsets            []int32
}

// base is where row i starts.
func (at *InPlace) base(i int) int { return i/at.Width*at.Pitch + i%at.Width*at.Step }

// GemmInPlace is Gemm with A read where it lies rather than from a
// matrix: the im2row matrix of a convolution, read from its padded
// channels-last image without being written out. A is m x k, its rows
// where at says, k/4 units a row rounded up; the last unit's bytes past
// k are read but multiply nothing. at's sizes must not be negative, its
// width at least 1, its offsets at least 0 and not decreasing, and a
// must hold every unit of every row.
//
// Where it can, the product runs the kernels' direct forms, which read
// the units themselves: for uint8 A, B's zero points all 0 in the
// kernels' domain (int8 weights quantized symmetrically, or uint8 ones
// of zero point 128) and a kernel set of 4-byte units (not AVX2's
// int16s), a tile at a time whose groups of four rows each lie in a run,
// the groups evenly apart. Otherwise the rows are gathered into the
// workspace and multiplied as Gemm multiplies them: the result is the
// same.
//
// GemmInPlace returns an error, and writes nothing, when m is negative,
// at is not as described, a does not hold its units, or c does not hold
// C.
func GemmInPlace[T Int8](p *PackedB, m int, a []T, at InPlace, za T, c []int32, ldc int, ws *Workspace) error {
	if p == nil {
		return errors.New("qgemm: nil PackedB")
	}
	if m < 0 || at.Width < 1 || at.Pitch < 0 || at.Step < 0 {
		return fmt.Errorf("qgemm: %d rows in runs of %d, %d apart, rows %d apart", m, at.Width, at.Pitch, at.Step)
	}
	units := (p.k + 3) / 4
	if len(at.Offsets) != units {
		return fmt.Errorf("qgemm: %d offsets for %d units of k=%d", len(at.Offsets), units, p.k)
	}
	for q, o := range at.Offsets {
		if o < 0 || q > 0 && o < at.Offsets[q-1] {
			return fmt.Errorf("qgemm: offset %d is %d, after %d: offsets must be at least 0 and not decrease", q, o, at.Offsets[max(q-1, 0)])
		}
	}
	if m > 0 && units > 0 {
		if far := int64(at.reach(m)) + int64(at.Offsets[units-1]) + 4; far > int64(len(a)) {
			return fmt.Errorf("qgemm: A's units reach element %d of %d", far, len(a))
		}
	}
	if err := checkMatrix("C", m, p.n, len(c), ldc); err != nil {
		return err
	}
	if ws == nil {
		ws = new(Workspace)
	}
	flip := flipOf[T](false)
	p.gemmInPlace(m, bytesOf(a), &at, byte(za)^flip, flip, c, ldc, ws)
	return nil
}

// reach is the furthest start of rows 0..m-1, m > 0, in int64 steps that
// cannot overflow for sizes that fit in memory.
func (at *InPlace) reach(m int) int {
	last := m - 1
	far := at.base(last)
	if r := last / at.Width; r > 0 {
		far = max(far, (r-1)*at.Pitch+(at.Width-1)*at.Step)
	}
	return far
}

// gemmInPlace is GemmInPlace on checked arguments and A's bytes: za in
// the kernels' domain, flip what A's values are XORed with.
func (p *PackedB) gemmInPlace(m int, a []byte, at *InPlace, za, flip byte, c []int32, ldc int, ws *Workspace) {
	n, kern := p.n, p.kern
	if m == 0 || n == 0 {
		return
	}
	if p.k == 0 || flip != 0 || !p.zeroZB || kern.direct == nil || p.ks.g != 4 {
		p.gather(m, a, at, 0, za, flip, c, ldc, ws)
		return
	}
	mr, nr := kern.mr, kern.nr
	ws.colTerm = grow(ws.colTerm, roundUp(n, nr))
	for j, v := range p.colBase {
		ws.colTerm[j] = int32(za) * v
	}
	clear(ws.colTerm[n:])
	ws.tmp = grow(ws.tmp, mr*nr)
	reach := int(at.Offsets[len(at.Offsets)-1]) + 4
	// Rows evenly spaced across runs, or runs of whole tiles: every tile's
	// groups are 4*Step apart, in one run; only the bounds are checked.
	uniform := at.Pitch == at.Width*at.Step
	even := uniform || at.Width%mr == 0
	limit := len(a) - reach
	run, col := 0, 0 // of row ir
	for ir, rows := 0, 0; ir < m; ir, col = ir+rows, col+rows {
		for col >= at.Width {
			run, col = run+1, col-at.Width
		}
		rows = min(mr, m-ir)
		if even && rows == mr {
			// Whole tiles one after another, up to the end of the rows
			// (uniform) or of the run, in one call a panel.
			tiles := (m - ir) / mr
			if !uniform {
				tiles = min(tiles, (at.Width-col)/mr)
			}
			base := run*at.Pitch + col*at.Step
			for tiles > 0 && base+(tiles*mr-1)*at.Step > limit {
				tiles--
			}
			if tiles > 0 {
				rows = tiles * mr
				for jr := 0; jr < n; jr += nr {
					bp := p.panels[jr*p.groups*4 : (jr+nr)*p.groups*4]
					if cols := min(nr, n-jr); cols < nr {
						for t := range tiles {
							kern.direct(p.groups, a[base+t*mr*at.Step:], at.Step, 4*at.Step, at.Offsets, bp, ws.tmp, nr, ws.colTerm[jr:jr+nr], 1, 0)
							for i := range mr {
								copy(c[(ir+t*mr+i)*ldc+jr:][:cols], ws.tmp[i*nr:])
							}
						}
						continue
					}
					kern.direct(p.groups, a[base:], at.Step, 4*at.Step, at.Offsets, bp, c[ir*ldc+jr:], ldc, ws.colTerm[jr:jr+nr], tiles, mr*at.Step)
				}
				continue
			}
		}
		// A tile in one run, or across runs evenly spaced; else its groups
		// of four rows each in a run; else the rows left in this run, the
		// tile's others read past it and dropped.
		gstride, ok := 4*at.Step, run*at.Pitch+(col+mr-1)*at.Step <= limit
		if !even {
			if gstride, ok = at.tile(run, col, mr, limit); !ok {
				rows = min(rows, at.Width-col)
				gstride, ok = 4*at.Step, run*at.Pitch+(col+mr-1)*at.Step <= limit
			}
		}
		if !ok {
			p.gather(rows, a, at, ir, za, flip, c[ir*ldc:], ldc, ws)
			// The gathered product used the workspace's column terms.
			for j, v := range p.colBase {
				ws.colTerm[j] = int32(za) * v
			}
			clear(ws.colTerm[n:])
			continue
		}
		tile := a[run*at.Pitch+col*at.Step:]
		for jr := 0; jr < n; jr += nr {
			bp := p.panels[jr*p.groups*4 : (jr+nr)*p.groups*4]
			colTerm := ws.colTerm[jr : jr+nr]
			if cols := min(nr, n-jr); rows < mr || cols < nr {
				kern.direct(p.groups, tile, at.Step, gstride, at.Offsets, bp, ws.tmp, nr, colTerm, 1, 0)
				for i := range rows {
					copy(c[(ir+i)*ldc+jr:][:cols], ws.tmp[i*nr:])
				}
				continue
			}
			kern.direct(p.groups, tile, at.Step, gstride, at.Offsets, bp, c[ir*ldc+jr:], ldc, colTerm, 1, 0)
		}
	}
}

// tile reports whether the direct kernel can read the tile of mr rows
// whose first is column col of run run: each group of four rows (the
// last may be shorter) in one run, the groups gstride apart, every row's
// start at most limit. The rows past the product's are read too, and
// their results dropped. No division: it runs for every tile.
func (at *InPlace) tile(run, col, mr, limit int) (gstride int, ok bool) {
	if limit < 0 {
		return 0, false
	}
	first := run*at.Pitch + col*at.Step
	for g := 0; 4*g < mr; g++ {
		size := min(4, mr-4*g)
		if col+size > at.Width {
			return 0, false
		}
		b := run*at.Pitch + col*at.Step
		if g == 1 {
			gstride = b - first
		}
		if g > 0 && b != first+g*gstride || b+(size-1)*at.Step > limit {
			return 0, false
		}
		for col += 4; col >= at.Width; col -= at.Width {
			run++
		}
	}
	return gstride, true
}

// gather computes rows from..from+rows-1 of C (c starts at row from) by
// gathering them into the workspace and multiplying them as Gemm does.
func (p *PackedB) gather(rows int, a []byte, at *InPlace, from int, za, flip byte, c []int32, ldc int, ws *Workspace) {
	k4 := 4 * len(at.Offsets)
	ws.gather = growBytes(ws.gather, rows*k4)
	for i := range rows {
		row := ws.gather[i*k4 : (i+1)*k4]
		base := at.base(from + i)
		offs := at.Offsets
		// A copy per run of units that lie one after another.
		for q := 0; q < len(offs); {
			r := q + 1
			for r < len(offs) && offs[r] == offs[r-1]+4 {
				r++
			}
			src := base + int(offs[q])
			copy(row[4*q:4*r], a[src:src+4*(r-q)])
			q = r
		}
	}
	p.gemm(false, rows, ws.gather, max(k4, 1), za, flip, c, ldc, ws)
}
