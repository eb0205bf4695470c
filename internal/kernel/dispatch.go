package kernel

// kernelSet is one implementation of the package's inner loops: the pure-Go
// one (kernels_go.go), or one of the assembly ones (gen_amd64.go). The
// assembly ones handle channel counts that are a multiple of lanes, the
// first convolution for image widths that are a multiple of 4, and the
// other convolutions for the shapes their tiles list; the functions below
// fall back to the Go kernels for the rest.
type kernelSet struct {
	name      string
	lanes     int
	stats     func(s, sq, z, shift []float32, rows, c int)
	dot       func(s, sx, a, x []float32, rows, c int)
	train     func(y, xh []float32, arg []uint8, z []float32, stride, k, c, ow int, coef []float32)
	back      func(dz, db, z []float32, stride, k, c, ow int, g []float32, arg []uint8, coef []float32)
	reluTrain func(y, xh []float32, arg []uint8, z []float32, stride, k, c, ow int) // nil: train with identity coef
	// reluPair and scatterPair are reluTrain and scatter for eight
	// channels, two windows a vector, ow even (AVX-512; else nil).
	reluPair    func(y, xh []float32, arg []uint8, z []float32, stride, k, c, ow int)
	scatterPair func(dz, db []float32, stride, k, c, ow int, g []float32, arg []uint8, xh []float32)
	scatter     func(dz, db []float32, stride, k, c, ow int, g []float32, arg []uint8, xh []float32)
	eval        func(y, z []float32, stride, k, c, ow int, coef []float32)
	conv1       func(out, xp, wt, bias []float32, h, w, c int)
	conv1Grad   func(dw, xp, dz []float32, h, w, c int)
	convs       []convTile // best first
	grad        *gradTile
}

// gradTile is a weight gradient kernel (see convGradDirect): it adds to one
// tile of jb rows of k by cols output channels; run's xp starts at the
// tile's first tap, dz at its first channel.
type gradTile struct {
	jb, cols int
	run      func(dw, xp, dz []float32, n, h, w, cin, cout int)
}

// convTile is a direct convolution kernel (see convDirectGo) computing
// tiles of r pixels of each of rows rows by cols output channels: it
// handles widths that are a multiple of r, heights that are a multiple of
// rows, output channel counts that are a multiple of cols, and even input
// channel counts.
type convTile struct {
	r, rows, cols int
	cin, w        int // when not 0, the only input channel count and width it handles
	cout          int // when not 0, the only output channel count it handles
	stride        int // when not 0, the only stride it is picked for
	run           func(out, xp, wd, bias []float32, h, w, cin, cout, stride, wp int)
}

var goKernels = &kernelSet{
	name: "go", lanes: 1,
	stats: statsRowsGo, dot: dotRowsGo,
	train: poolTrainRowsGo, back: poolBackRowsGo, scatter: poolScatterRowsGo, eval: poolEvalRowsGo,
	conv1: conv1Go, conv1Grad: conv1GradGo,
}

// rowsFor returns the kernels for c channels: the best set whose lanes
// divide c (AVX2's 8 where AVX-512's 16 do not), else Go's.
func rowsFor(c int) *kernelSet {
	for _, k := range usable() {
		if c%k.lanes == 0 {
			return k
		}
	}
	return goKernels
}

// usable lists bestKernels and the narrower assembly sets after it, best
// first: a shape the best set's tiles do not fit may fit another's. A
// test that makes a set the best one gets that set and the narrower
// ones only.
func usable() []*kernelSet {
	for i, k := range asmKernels {
		if k == bestKernels {
			return asmKernels[i:]
		}
	}
	if bestKernels == goKernels {
		return nil
	}
	return []*kernelSet{bestKernels} // a test's variant of a set
}

func statsRows(s, sq, z, shift []float32, rows, c int) {
	rowsFor(c).stats(s, sq, z, shift, rows, c)
}

func dotRows(s, sx, a, x []float32, rows, c int) { rowsFor(c).dot(s, sx, a, x, rows, c) }

func poolTrainRows(y, xh []float32, arg []uint8, z []float32, stride, k, c, ow int, coef []float32) {
	rowsFor(c).train(y, xh, arg, z, stride, k, c, ow, coef)
}

func poolBackRows(dz, db, z []float32, stride, k, c, ow int, g []float32, arg []uint8, coef []float32) {
	rowsFor(c).back(dz, db, z, stride, k, c, ow, g, arg, coef)
}

// poolReLURows is poolTrainRows with coef BatchNorm's identity (mean 0,
// invstd 1, gamma 1, beta 0), on a kernel that skips its arithmetic where
// the set has one.
func poolReLURows(y, xh []float32, arg []uint8, z []float32, stride, k, c, ow int, coef []float32) {
	if p := pairKernels(c, ow); p != nil {
		// Window pairs, then an odd last window alone.
		even := ow &^ 1
		p.reluPair(y, xh, arg, z, stride, k, c, even)
		if even == ow {
			return
		}
		y, xh, arg, z, ow = y[even*c:], xh[even*c:], arg[even*c:], z[even*k*c:], 1
	}
	ks := rowsFor(c)
	if ks.reluTrain == nil {
		ks.train(y, xh, arg, z, stride, k, c, ow, coef)
		return
	}
	ks.reluTrain(y, xh, arg, z, stride, k, c, ow)
}

func poolScatterRows(dz, db []float32, stride, k, c, ow int, g []float32, arg []uint8, xh []float32) {
	if p := pairKernels(c, ow); p != nil {
		even := ow &^ 1
		p.scatterPair(dz, db, stride, k, c, even, g, arg, xh)
		if even == ow {
			return
		}
		dz, g, arg, xh, ow = dz[even*k*c:], g[even*c:], arg[even*c:], xh[even*c:], 1
	}
	rowsFor(c).scatter(dz, db, stride, k, c, ow, g, arg, xh)
}

// pairKernels is the usable set with reluPair and scatterPair when c is
// eight and there are two windows or more, else nil.
func pairKernels(c, ow int) *kernelSet {
	if c != 8 || ow < 2 {
		return nil
	}
	for _, ks := range usable() {
		if ks.reluPair != nil {
			return ks
		}
	}
	return nil
}

func poolEvalRows(y, z []float32, stride, k, c, ow int, coef []float32) {
	rowsFor(c).eval(y, z, stride, k, c, ow, coef)
}

func conv1Rows(out, xp, wt, bias []float32, h, w, c int) {
	k := rowsFor(c)
	if w%4 != 0 {
		k = goKernels
	}
	k.conv1(out, xp, wt, bias, h, w, c)
}

func conv1GradRows(dw, xp, dz []float32, h, w, c int) {
	k := rowsFor(c)
	if w%4 != 0 {
		k = goKernels
	}
	k.conv1Grad(dw, xp, dz, h, w, c)
}

// zeros is the bias of convolutions without one.
var zeros [256]float32

// convDirect runs the best direct convolution kernel for the shape, h by w
// outputs at stride from rows of wp padded input pixels; a nil bias is
// zero.
func convDirect(out, xp, wd, bias []float32, h, w, cin, cout, stride, wp int) {
	if bias == nil {
		if cout > len(zeros) {
			bias = make([]float32, cout)
		} else {
			bias = zeros[:cout]
		}
	}
	if t := directTile(h, w, cin, cout, stride); t != nil {
		t.run(out, xp, wd, bias, h, w, cin, cout, stride, wp)
		return
	}
	convDirectGo(out, xp, wd, bias, h, w, cin, cout, stride, wp)
}

// convGradDirect adds to dw ([3][3][cin][cout]) the weight gradient of
// convDirect over n bordered images xp and their output gradients dz.
func convGradDirect(dw, xp, dz []float32, n, h, w, cin, cout int) {
	g := bestKernels.grad
	if g == nil || (3*cin)%g.jb != 0 || cout%g.cols != 0 {
		convGradDirectGo(dw, xp, dz, n, h, w, cin, cout)
		return
	}
	rowStride := (w + 2) * cin
	for k0 := 0; k0 < 9*cin; k0 += g.jb {
		// Blocks of k never straddle two rows of taps: 3*cin is a
		// multiple of jb.
		ky, j0 := k0/(3*cin), k0%(3*cin)
		for c0 := 0; c0 < cout; c0 += g.cols {
			g.run(dw[k0*cout+c0:], xp[ky*rowStride+j0:], dz[c0:], n, h, w, cin, cout)
		}
	}
}

// directTile is the first assembly tile, of the usable sets, that runs a
// direct convolution of this shape (h by w outputs) at stride; nil when
// none does.
func directTile(h, w, cin, cout, stride int) *convTile {
	if cin%2 != 0 {
		return nil
	}
	for _, k := range usable() {
		for i := range k.convs {
			t := &k.convs[i]
			if w%t.r == 0 && h%t.rows == 0 && cout%t.cols == 0 && (t.cin == 0 || t.cin == cin && t.w == w) && (t.cout == 0 || t.cout == cout) && (t.stride == 0 || t.stride == stride) {
				return t
			}
		}
	}
	return nil
}

// Vectorized reports whether this CPU runs a 3x3 convolution of c's shape
// followed by BNPool over its output channels in assembly rather than in
// the Go fallbacks, which are slower than im2col and a matrix product:
// callers that have another way pick this one only then.
func (c Conv3x3) Vectorized() bool {
	if rowsFor(c.Out) == goKernels {
		return false
	}
	if c.In == 1 {
		return c.W%4 == 0
	}
	return directTile(c.H, c.W, c.In, c.Out, 1) != nil
}

// Widened returns c when fast accepts it, else c on the narrowest wider
// map (W rounded up to a multiple of 4, 8 or 16) that k divides and fast
// accepts, for a width no kernel tile divides (14); false when there is
// none. The caller keeps the extra columns zero in and cuts them off out.
func (c Conv3x3) Widened(k int, fast func(Conv3x3) bool) (Conv3x3, bool) {
	if fast(c) {
		return c, true
	}
	for _, r := range []int{4, 8, 16} {
		wide := c
		wide.W = (c.W + r - 1) / r * r
		if wide.W != c.W && wide.W%k == 0 && fast(wide) {
			return wide, true
		}
	}
	return c, false
}

// BackwardInputVectorized reports whether this CPU runs c's BackwardInput,
// the convolution of Out channels of gradient back to In, in assembly: a
// caller choosing c's shape for its speed in training wants both passes.
func (c Conv3x3) BackwardInputVectorized() bool {
	return Conv3x3{H: c.H, W: c.W, In: c.Out, Out: c.In}.Vectorized()
}

// KernelName names the best kernel set this CPU runs, the fused blocks'
// and layers': "avx512", "avx2" or "go" (lenetkit bench reports it).
func KernelName() string { return bestKernels.name }
