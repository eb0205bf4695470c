package winograd

import (
	"errors"
	"fmt"
)

// IntConv is Conv on 8-bit integers, exactly: the int32 sums
// Σ (x - zx)(w - zw) of a direct convolution, for the requantization of
// a QLinearConv, bit for bit. F(4x4, 3x3) still takes 36 products where
// a direct convolution takes 144; they are products of 16-bit integers,
// which VPDPWSSD does at half VPDPBUSD's rate on 8-bit ones, so the
// products take half the time of the direct kernels'.
//
// The transforms are integers (ncnn's int8 Winograd takes G so):
//
//   - V = Bᵀ d B, d = x - zx in [-255, 255]: |V| ≤ 100·255, an int16;
//   - U' = K g Kᵀ with K = D G, D = diag(24, 24, 24, 24, 24, 6), whose
//     rows are integers: |U'| ≤ 144·|g|, an int16 for |g| ≤ 227;
//   - M' = Σ V U' = D M D, and 576 Y = Ãᵀ M' Ã with Ã = diag(1, 1, 1,
//     1, 1, 4) A, integers again.
//
// M' and 576 Y are computed modulo 2^32 (int32 arithmetic, which wraps):
// they need not fit. Since 576 = 64·9, 576 Y mod 2^32 gives 9 Y mod 2^26
// and so Y mod 2^26, which is Y when |Y| < 2^25, which IntWeights checks
// from the weights (|Y| ≤ 255 Σ |g|).
//
// Contract: the input is a padded image of bytes, (TilesY*4+2) rows of
// (TilesX*4+2) pixels of In bytes, the map's pixel (y, x) at row y+1,
// column x+1, every other pixel the zero point. In and Out are multiples
// of 16.
type IntConv struct {
	H, W, In, Out int
}

// ErrRange is returned by IntWeights for weights whose transforms or
// sums leave the integers the kernels compute in.
var ErrRange = errors.New("winograd: weights too large for 16-bit transforms")

// Fits reports whether the kernels take c: In and Out multiples of 16.
func (c IntConv) Fits() bool {
	return c.H > 0 && c.W > 0 && c.In > 0 && c.Out > 0 && c.In%16 == 0 && c.Out%16 == 0
}

func (c IntConv) float() Conv { return Conv(c) }

// Tiles is the number of rows and columns of 4x4 output tiles that cover
// the map.
func (c IntConv) Tiles() (rows, cols int) { return c.float().Tiles() }

// Padded is the rows and columns of pixels of the padded input.
func (c IntConv) Padded() (rows, cols int) {
	ty, tx := c.Tiles()
	return 4*ty + 2, 4*tx + 2
}

// WeightsSize is the length of the transformed weights.
func (c IntConv) WeightsSize() int { return positions * c.In * c.Out }

// k is D G: U' = k g kᵀ.
var k = [6][3]int32{
	{6, 0, 0},
	{-4, -4, -4},
	{-4, 4, -4},
	{1, 2, 4},
	{1, -2, 4},
	{0, 0, 6},
}

// IntWeights writes into u, [36][In/2][Out][2] (pairs of input channels
// side by side, as VPDPWSSD multiplies them), the transform k w kᵀ of w,
// [Out][In][3][3], the weights less their zero point. It returns
// ErrRange, and u is not to be used, when a transformed weight is not an
// int16 or an output channel's sums could reach 2^25.
func (c IntConv) IntWeights(u []int16, w []int32) error {
	if len(u) < c.WeightsSize() || len(w) < c.Out*c.In*9 {
		return fmt.Errorf("winograd: %+v: weights of %d values, room for %d", c, len(w), len(u))
	}
	for o := range c.Out {
		var sum int64
		for i := range c.In {
			g := w[(o*c.In+i)*9:][:9]
			for _, v := range g {
				sum += int64(max(v, -v))
			}
			var kg [6][3]int32 // k g
			for a := range 6 {
				for col := range 3 {
					for r := range 3 {
						kg[a][col] += k[a][r] * g[r*3+col]
					}
				}
			}
			for a := range 6 {
				for b := range 6 {
					var s int32
					for col := range 3 {
						s += kg[a][col] * k[b][col]
					}
					if s != int32(int16(s)) {
						return ErrRange
					}
					u[((a*6+b)*c.In/2+i/2)*c.Out*2+o*2+i%2] = int16(s)
				}
			}
		}
		if 255*sum >= 1<<25 {
			return ErrRange
		}
	}
	return nil
}

// intPassRows is the tile rows of one pass (Conv.passRows).
func (c IntConv) intPassRows() int {
	ty, tx := c.Tiles()
	return max(1, min(ty, passBytes/(positions*tx*(2*c.In+4*c.Out))))
}

// skew is the int32s past each position's M (and the int16s past its V):
// without it a pass's 36 positions lie a multiple of 4 KB apart for the
// seed's 16 tiles of 64 outputs, in the same few sets of the L1 cache,
// which a transform's 36 reads of one tile then miss.
const skew = 16

// IntScratch is the room one call of ForwardTileRows needs, its own for
// each call running at once.
type IntScratch struct {
	v   []int16
	m   []int32
	tmp []int32
}

// NewScratch makes the scratch space of ForwardTileRows.
func (c IntConv) NewScratch() *IntScratch {
	_, tx := c.Tiles()
	t := c.intPassRows() * tx
	return &IntScratch{v: make([]int16, positions*(t*c.In+skew)), m: make([]int32, positions*(t*c.Out+skew)), tmp: make([]int32, tmpFloats)}
}

// IntOut is where ForwardTileRows writes the sums, and how.
type IntOut struct {
	// Y holds output row r at Y[r*Ld:], its pixel x's Out sums at x*Out,
	// for the rows below H and the columns below Cols (at most W).
	Y        []int32
	Ld, Cols int
	// Pool, 2 or 4 (0 for none), takes the maxima of Pool x Pool windows
	// of stride Pool instead: Y's rows and Cols count pooled outputs, the
	// rows and columns past the last whole window left out. Order, if not
	// nil, is qgemm.MaxPool's, per channel 0 or -1: a channel of -1 takes
	// the minima.
	Pool  int
	Order []int32
}

// rows is the rows of Y written.
func (o IntOut) rows(c IntConv) int {
	if o.Pool > 0 {
		return c.H / o.Pool
	}
	return c.H
}

// ForwardTileRows writes the sums of tile rows lo..hi-1 into o (the
// pooled rows of those tile rows, pooled). img is the padded image
// (Contract), zx its zero point; flip is 0x80 for int8 bytes (which then
// count as int8 values, zx too), else 0. u is IntWeights'. Calls on
// disjoint ranges may run at once with scratch of their own.
func (c IntConv) ForwardTileRows(o IntOut, img []byte, zx, flip byte, u []int16, s *IntScratch, lo, hi int) {
	ty, tx := c.Tiles()
	if !c.Fits() {
		panic(fmt.Sprintf("winograd: %+v: channels not multiples of 16", c))
	}
	if lo < 0 || hi > ty || lo >= hi {
		return
	}
	c.checkOut(o)
	c.checkImg(img)
	if len(u) < c.WeightsSize() || s == nil || len(s.v) < positions*(c.intPassRows()*tx*c.In+skew) {
		panic(fmt.Sprintf("winograd: %+v: weights or scratch too short", c))
	}
	_, pc := c.Padded()
	ks := intKernelsFor(c)
	ldx := pc * c.In
	for first := lo; first < hi; first += c.intPassRows() {
		end := min(hi, first+c.intPassRows())
		t := (end - first) * tx
		vs, ms := t*c.In+skew, t*c.Out+skew
		for r := first; r < end; r++ {
			ks.input(s.v[(r-first)*tx*c.In:], vs, img[4*r*ldx:], ldx, c.In, tx, zx, flip, s.tmp)
		}
		ks.products(s.m, ms, s.v, vs, u, c.In, c.Out, t)
		for r := first; r < end; r++ {
			c.outputRow(ks, o, s.m[(r-first)*tx*c.Out:], ms, r, s.tmp)
		}
	}
}

// outputRow writes tile row r's sums into o from its M' at m.
func (c IntConv) outputRow(ks *intKernels, o IntOut, m []int32, ms, r int, tmp []int32) {
	_, tx := c.Tiles()
	per := 4
	if o.Pool > 0 {
		per = 4 / o.Pool
	}
	rows, tiles := min(per, o.rows(c)-per*r), min(tx, (o.Cols+per-1)/per)
	if rows <= 0 || tiles <= 0 {
		return
	}
	y, last := o.Y[per*r*o.Ld:], o.Cols-per*(tiles-1)
	if o.Pool > 0 {
		ks.outputPool(y, o.Ld, m, ms, c.Out, tiles, o.Order, o.Pool, rows, last, tmp)
	} else {
		ks.output(y, o.Ld, m, ms, c.Out, tiles, rows, last, tmp)
	}
}

// checkOut panics when o does not fit c: the kernels write through
// pointers.
func (c IntConv) checkOut(o IntOut) {
	width := c.W
	if o.Pool > 0 {
		width = c.W / o.Pool
	}
	if o.Pool != 0 && o.Pool != 2 && o.Pool != 4 || o.Cols < 0 || o.Cols > width || o.Ld < o.Cols*c.Out ||
		len(o.Y) < (o.rows(c)-1)*o.Ld+o.Cols*c.Out || o.Order != nil && len(o.Order) < c.Out {
		panic(fmt.Sprintf("winograd: %+v: an output too short, or pooling of %d", c, o.Pool))
	}
}

// checkImg panics when img is shorter than c's padded image.
func (c IntConv) checkImg(img []byte) {
	if pr, pc := c.Padded(); len(img) < pr*pc*c.In {
		panic(fmt.Sprintf("winograd: %+v: a padded image of %d bytes", c, len(img)))
	}
}

// batchBytes is about what V and M of one pass of ForwardImages take:
// half a core's L2 cache on Zen 4.
const batchBytes = 512 << 10

// batchImages is the images of one pass of ForwardImages.
func (c IntConv) batchImages() int {
	ty, tx := c.Tiles()
	return max(1, batchBytes/(positions*ty*tx*(2*c.In+4*c.Out)))
}

// NewBatchScratch makes the scratch space of ForwardImages for up to
// images images a call.
func (c IntConv) NewBatchScratch(images int) *IntScratch {
	ty, tx := c.Tiles()
	t := min(images, c.batchImages()) * ty * tx
	return &IntScratch{v: make([]int16, positions*(t*c.In+skew)), m: make([]int32, positions*(t*c.Out+skew)), tmp: make([]int32, tmpFloats)}
}

// ForwardImages is ForwardTileRows over whole maps for n images at once:
// image i's padded image is what img(i) returns, its sums go to out(i).
// The products take the tiles of many images together, so that each
// weight is read once for eight tiles: for a map of one tile (4x4 or
// less), where an image alone reads the weights, four times a direct
// convolution's, for each of its tiles, a batch reads them as often as
// a direct convolution does and multiplies half as long. img(i) is called
// once for each image, in order, and its bytes are read before the next
// call. s is NewBatchScratch's for n images or more.
func (c IntConv) ForwardImages(n int, img func(i int) []byte, out func(i int) IntOut, zx, flip byte, u []int16, s *IntScratch) {
	ty, tx := c.Tiles()
	per := c.batchImages()
	if !c.Fits() || len(u) < c.WeightsSize() || s == nil || len(s.v) < positions*(min(n, per)*ty*tx*c.In+skew) {
		panic(fmt.Sprintf("winograd: %+v: channels not multiples of 16, or a slice too short", c))
	}
	_, pc := c.Padded()
	ks, ldx, tiles := intKernelsFor(c), pc*c.In, ty*tx
	for first := 0; first < n; first += per {
		end := min(n, first+per)
		vs, ms := (end-first)*tiles*c.In+skew, (end-first)*tiles*c.Out+skew
		for i := first; i < end; i++ {
			x := img(i)
			c.checkImg(x)
			for r := range ty {
				ks.input(s.v[((i-first)*tiles+r*tx)*c.In:], vs, x[4*r*ldx:], ldx, c.In, tx, zx, flip, s.tmp)
			}
		}
		ks.products(s.m, ms, s.v, vs, u, c.In, c.Out, (end-first)*tiles)
		for i := first; i < end; i++ {
			o := out(i)
			c.checkOut(o)
			for r := range ty {
				c.outputRow(ks, o, s.m[((i-first)*tiles+r*tx)*c.Out:], ms, r, s.tmp)
			}
		}
	}
}
