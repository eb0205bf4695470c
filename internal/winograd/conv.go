package winograd

import "fmt"

// positions is the number of values of a transformed tile, 6x6.
const positions = 36

// tmpFloats is the room for one tile's intermediate values (the first of
// a transform's two passes), a vector of the widest kernels at a time.
const tmpFloats = positions * 16

// Conv is a 3x3 convolution of stride 1 and padding 1 from In to Out
// channels on an H x W map.
type Conv struct {
	H, W, In, Out int
}

// Fits reports whether the kernels take c: In and Out multiples of 8.
func (c Conv) Fits() bool {
	return c.H > 0 && c.W > 0 && c.In > 0 && c.Out > 0 && c.In%8 == 0 && c.Out%8 == 0
}

// Tiles is the number of rows and columns of 4x4 output tiles that cover
// the map.
func (c Conv) Tiles() (rows, cols int) { return (c.H + 3) / 4, (c.W + 3) / 4 }

// paddedWidth is the pixels of a row of the padded input.
func (c Conv) paddedWidth() int {
	_, tx := c.Tiles()
	return 4*tx + 2
}

// PaddedSize is the length of the padded input.
func (c Conv) PaddedSize() int {
	ty, _ := c.Tiles()
	return (4*ty + 2) * c.paddedWidth() * c.In
}

// Pad copies x, [H][W][In], into xp's interior. It writes nothing else:
// xp's border must be zero already.
func (c Conv) Pad(xp, x []float32) {
	row, ldx := c.W*c.In, c.paddedWidth()*c.In
	for y := range c.H {
		copy(xp[(y+1)*ldx+c.In:][:row], x[y*row:(y+1)*row])
	}
}

// PadValid writes x, a map of (H+2) x (W+2) pixels, into xp whole, its
// border pixels where Pad's zeros go: the convolution without padding of
// x, whose output is H x W. The rest of xp stays as it is (zero).
func (c Conv) PadValid(xp, x []float32) {
	row, ldx := (c.W+2)*c.In, c.paddedWidth()*c.In
	for y := range c.H + 2 {
		copy(xp[y*ldx:][:row], x[y*row:(y+1)*row])
	}
}

// WeightsSize is the length of the transformed weights.
func (c Conv) WeightsSize() int { return positions * c.In * c.Out }

// passBytes is about what V and M of one pass over tile rows take: a
// pass and its share of the weights stay in a core's L2 cache (1 MB on
// Zen 4, 2 MB on Sapphire Rapids), and a large map needs no more scratch
// space than a small one.
const passBytes = 256 << 10

// passRows is the tile rows of one pass.
func (c Conv) passRows() int {
	ty, tx := c.Tiles()
	return max(1, min(ty, passBytes/(4*positions*tx*(c.In+c.Out))))
}

// ScratchSize is the length of the scratch space Forward needs, its own
// for each call running at once.
func (c Conv) ScratchSize() int {
	_, tx := c.Tiles()
	return tmpFloats + positions*(c.passRows()*tx*(c.In+c.Out)+2*skew)
}

// g is G of F(4x4, 3x3): U = G g Gᵀ.
var g = [6][3]float64{
	{1.0 / 4, 0, 0},
	{-1.0 / 6, -1.0 / 6, -1.0 / 6},
	{-1.0 / 6, 1.0 / 6, -1.0 / 6},
	{1.0 / 24, 1.0 / 12, 1.0 / 6},
	{1.0 / 24, -1.0 / 12, 1.0 / 6},
	{0, 0, 1},
}

// Weights writes into u, [36][In][Out], the transform G w Gᵀ of PyTorch's
// weights w, [Out][In][3][3], computed in float64 and rounded once.
func (c Conv) Weights(u, w []float32) {
	for o := range c.Out {
		for i := range c.In {
			k := w[(o*c.In+i)*9:][:9]
			var gk [6][3]float64 // G k
			for a := range 6 {
				for col := range 3 {
					for r := range 3 {
						gk[a][col] += g[a][r] * float64(k[r*3+col])
					}
				}
			}
			for a := range 6 {
				for b := range 6 {
					var s float64
					for col := range 3 {
						s += gk[a][col] * g[b][col]
					}
					u[((a*6+b)*c.In+i)*c.Out+o] = float32(s)
				}
			}
		}
	}
}

// Epilogue is what follows the convolution and its bias, in this order.
type Epilogue struct {
	// Res, if not nil, is added: a map of the convolution's output shape
	// (a ResNet's shortcut). Not with Pool.
	Res []float32
	// Relu applies max(y, 0); a NaN stays NaN.
	Relu bool
	// Scale and Shift, if not nil, then set y*Scale+Shift, a value per
	// channel: a BatchNormalization after the Relu (the seed's blocks).
	Scale, Shift []float32
	// Pool, 2 or 4 (0 for none), then takes the maxima of Pool x Pool
	// windows of stride Pool: the output is [H/Pool][W/Pool][Out], the
	// rows and columns past the last whole window left out. Of two values
	// one of which is NaN it keeps the second, in the window's row order.
	Pool int
}

// OutSize is the length of the output.
func (c Conv) OutSize(e Epilogue) int {
	if e.Pool > 0 {
		return c.H / e.Pool * (c.W / e.Pool) * c.Out
	}
	return c.H * c.W * c.Out
}

// Forward computes y = conv(x) + bias, then e, from xp (Pad's layout) and
// u (Weights'); bias has Out values.
func (c Conv) Forward(y, xp, u, bias []float32, e Epilogue, scratch []float32) {
	ty, _ := c.Tiles()
	c.ForwardTileRows(y, xp, u, bias, e, scratch, 0, ty)
}

// ForwardTileRows is Forward for the tile rows lo..hi-1, the output rows
// 4*lo up to 4*hi or H (pooled, those over Pool); calls on disjoint ranges
// may run at once on the same arguments but scratch, each its own.
func (c Conv) ForwardTileRows(y, xp, u, bias []float32, e Epilogue, scratch []float32, lo, hi int) {
	if !c.Fits() {
		panic(fmt.Sprintf("winograd: %+v: channels not multiples of 8", c))
	}
	ty, tx := c.Tiles()
	if lo < 0 || hi > ty || lo >= hi {
		return
	}
	c.check(y, xp, u, bias, e, scratch)
	ks := kernelsFor(c)
	ldx := c.paddedWidth() * c.In
	tmp := scratch[:tmpFloats]
	for first := lo; first < hi; first += c.passRows() {
		end := min(hi, first+c.passRows())
		t := (end - first) * tx
		vs, ms := t*c.In+skew, t*c.Out+skew // the positions' strides in V and M
		v, m := scratch[tmpFloats:][:positions*vs], scratch[tmpFloats+positions*vs:][:positions*ms]
		for r := first; r < end; r++ {
			ks.input(v[(r-first)*tx*c.In:], vs, xp[4*r*ldx:], ldx, c.In, tx, tmp)
		}
		ks.products(m, ms, v, vs, u, c.In, c.Out, t)
		for r := first; r < end; r++ {
			c.outputRow(ks, y, m[(r-first)*tx*c.Out:], ms, bias, e, tmp, r)
		}
	}
}

// outputRow runs the output transform of tile row r, its M at m.
func (c Conv) outputRow(ks *kernels, y, m []float32, ms int, bias []float32, e Epilogue, tmp []float32, r int) {
	_, tx := c.Tiles()
	if k := e.Pool; k > 0 {
		ldy, per := c.W/k*c.Out, 4/k // per: pooled rows (and columns) a tile
		if rows := min(per, c.H/k-per*r); rows > 0 {
			ks.outputPool(y[per*r*ldy:], ldy, m, ms, c.Out, tx, bias, e.Scale, e.Shift, k, rows, c.W/k-per*(tx-1), e.Relu, tmp)
		}
		return
	}
	ldy := c.W * c.Out
	var res []float32
	if e.Res != nil {
		res = e.Res[4*r*ldy:]
	}
	ks.output(y[4*r*ldy:], ldy, m, ms, c.Out, tx, bias, res, min(4, c.H-4*r), c.W-4*(tx-1), e.Relu, tmp)
}

// check panics when a slice is shorter than c needs: the kernels write
// through pointers.
func (c Conv) check(y, xp, u, bias []float32, e Epilogue, scratch []float32) {
	out := c.OutSize(e)
	switch {
	case e.Pool != 0 && e.Pool != 2 && e.Pool != 4:
		panic(fmt.Sprintf("winograd: pooling of %d", e.Pool))
	case len(y) < out, e.Res != nil && (e.Pool > 0 || len(e.Res) < out), len(xp) < c.PaddedSize(),
		len(u) < c.WeightsSize(), len(bias) < c.Out, len(scratch) < c.ScratchSize(),
		e.Scale != nil && (len(e.Scale) < c.Out || len(e.Shift) < c.Out):
		panic(fmt.Sprintf("winograd: %+v: a slice is too short, or a residual with pooling", c))
	}
}
