package train

import (
	G "gorgonia.org/gorgonia"

	"github.com/lenetkit/lenetkit/internal/kernel"
	"github.com/lenetkit/lenetkit/lenet"
)

// The forward ops of the network and, beside each, the ops of its
// derivatives. Activations are NHWC (see internal/kernel); parameters keep
// PyTorch's layout, so their gradients come out in PyTorch's layout too.

// convOp: y = conv3x3(x, w) + b.
type convOp struct {
	op
	k         kernel.Conv3x3
	n         int
	xp        []float32 // x with a border of zeros, kept for the weight gradient
	wd, wf    []float32 // w for the forward pass and, flipped, for dx; refreshed every run
	scratch   [][]float32
	inputGrad bool // false for the first layer: nothing upstream to train
}

// convChunk images go to a CPU at a time: few enough that both CPUs get
// work, and that one worker's scratch space stays in cache.
const convChunk = 8

func newConvOp(name string, k kernel.Conv3x3, n int, inputGrad bool) *convOp {
	o := &convOp{op: newOp(name, []int{4, 4, 1}, n, k.H, k.W, k.Out), k: k, n: n, inputGrad: inputGrad}
	o.xp = make([]float32, n*k.PaddedSize(k.In))
	o.wd = make([]float32, k.Out*k.K())
	o.wf = make([]float32, k.Out*k.K())
	for i := 0; i < kernel.MaxWorkers(); i++ {
		o.scratch = append(o.scratch, make([]float32, k.ScratchSize(convChunk)))
	}
	return o
}

func (o *convOp) Do(in ...G.Value) (G.Value, error) {
	x, w, b, y := data(in[0]), data(in[1]), data(in[2]), o.OutData()
	o.k.DirectWeights(o.wd, w)
	if o.inputGrad {
		o.k.FlippedWeights(o.wf, w)
	}
	per, ps := o.k.H*o.k.W, o.k.PaddedSize(o.k.In)
	forChunks(o.n, func(_, lo, hi int) {
		xp := o.xp[lo*ps : hi*ps]
		o.k.Pad(xp, x[lo*per*o.k.In:hi*per*o.k.In], hi-lo, o.k.In)
		o.k.Forward(y[lo*per*o.k.Out:hi*per*o.k.Out], xp, o.wd, b, hi-lo)
	})
	return o.Out, nil
}

func (o *convOp) DiffWRT(int) []bool { return []bool{o.inputGrad, true, true} }

func (o *convOp) SymDiff(in G.Nodes, _, grad *G.Node) (G.Nodes, error) {
	dw, err := apply(newConvWeightGradOp(o), in[0], grad)
	if err != nil {
		return nil, err
	}
	var db *G.Node
	if bn, ok := grad.Op().(*bnPoolGradOp); ok {
		// The BatchNorm gradient op summed dz already.
		db, err = apply(&pickOp{op: newOp(o.Name+".db", []int{4}, o.k.Out), src: bn.fwd.dbias}, grad)
	} else {
		db, err = apply(newBiasGradOp(o.Name, o.k.Out, 4), grad)
	}
	if err != nil {
		return nil, err
	}
	var dx *G.Node
	if o.inputGrad {
		if dx, err = apply(newConvInputGradOp(o), in[1], grad); err != nil {
			return nil, err
		}
	}
	return G.Nodes{dx, dw, db}, nil
}

// forChunks runs fn over [0, n) in chunks of convChunk images, the chunks
// spread over the CPUs.
func forChunks(n int, fn func(worker, lo, hi int)) {
	chunks := (n + convChunk - 1) / convChunk
	kernel.Parallel(chunks, func(wk, clo, chi int) {
		for c := clo; c < chi; c++ {
			fn(wk, c*convChunk, min((c+1)*convChunk, n))
		}
	})
}

// convWeightGradOp: dw = sum over pixels of dy times the input under the
// kernel, in PyTorch's layout.
type convWeightGradOp struct {
	op
	noDiff
	fwd     *convOp
	partial [][]float32 // per worker, in DirectWeights' layout
}

func newConvWeightGradOp(fwd *convOp) *convWeightGradOp {
	k := fwd.k
	o := &convWeightGradOp{op: newOp(fwd.Name+".dw", []int{4, 4}, k.Out, k.In, 3, 3), fwd: fwd}
	for i := 0; i < kernel.MaxWorkers(); i++ {
		o.partial = append(o.partial, make([]float32, k.Out*k.K()))
	}
	return o
}

// Do reads the bordered input the forward op kept; its first input, x,
// only orders it after that op.
func (o *convWeightGradOp) Do(in ...G.Value) (G.Value, error) {
	dy := data(in[1])
	k, per, ps := o.fwd.k, o.fwd.k.H*o.fwd.k.W, o.fwd.k.PaddedSize(o.fwd.k.In)
	for _, p := range o.partial {
		clear(p)
	}
	forChunks(o.fwd.n, func(wk, lo, hi int) {
		k.BackwardWeights(o.partial[wk], dy[lo*per*k.Out:hi*per*k.Out], o.fwd.xp[lo*ps:hi*ps], hi-lo)
	})
	sum := o.partial[0]
	for _, p := range o.partial[1:] {
		for i, v := range p {
			sum[i] += v
		}
	}
	k.UndirectWeights(o.OutData(), sum)
	return o.Out, nil
}

// convInputGradOp: dx = the convolution of dy with the flipped weights.
type convInputGradOp struct {
	op
	noDiff
	fwd *convOp
}

func newConvInputGradOp(fwd *convOp) *convInputGradOp {
	k := fwd.k
	return &convInputGradOp{op: newOp(fwd.Name+".dx", []int{4, 4}, fwd.n, k.H, k.W, k.In), fwd: fwd}
}

func (o *convInputGradOp) Do(in ...G.Value) (G.Value, error) {
	dy, dx := data(in[1]), o.OutData()
	k, per := o.fwd.k, o.fwd.k.H*o.fwd.k.W
	forChunks(o.fwd.n, func(wk, lo, hi int) {
		k.BackwardInput(dx[lo*per*k.In:hi*per*k.In], dy[lo*per*k.Out:hi*per*k.Out], o.fwd.wf, o.fwd.scratch[wk], hi-lo)
	})
	return o.Out, nil
}

// biasGradOp: db = dy summed over every row (pixels or samples).
type biasGradOp struct {
	op
	noDiff
}

func newBiasGradOp(name string, c, rank int) *biasGradOp {
	return &biasGradOp{op: newOp(name+".db", []int{rank}, c)}
}

func (o *biasGradOp) Do(in ...G.Value) (G.Value, error) {
	kernel.SumRows(o.OutData(), data(in[0]))
	return o.Out, nil
}

// bnPoolOp: y = maxpool(BatchNorm(ReLU(z))). In train mode BatchNorm uses
// the batch statistics and updates the running ones as PyTorch does; in
// eval mode (*eval set) it normalises with the running statistics and
// leaves them, and num_batches_tracked, alone. The three layers are one op
// so that the normalised map is never stored (see kernel.BNPool).
type bnPoolOp struct {
	op
	k               kernel.BNPool
	n               int
	st              *kernel.BNCache
	runMean, runVar []float32
	tracked         *int64
	eval            *bool // the network's mode, shared by its BatchNorm ops
	// By-products of the gradient op, handed over by pickOps.
	dgamma, dbeta, dbias []float32
}

func newBNPoolOp(name string, k kernel.BNPool, n int, runMean, runVar []float32, tracked *int64, eval *bool) *bnPoolOp {
	return &bnPoolOp{
		op: newOp(name, []int{4, 1, 1}, n, k.OutH(), k.OutW(), k.C),
		k:  k, n: n, st: k.NewCache(n),
		runMean: runMean, runVar: runVar, tracked: tracked, eval: eval,
		dgamma: make([]float32, k.C), dbeta: make([]float32, k.C), dbias: make([]float32, k.C),
	}
}

func (o *bnPoolOp) Do(in ...G.Value) (G.Value, error) {
	if *o.eval {
		o.k.ForwardFrozen(o.OutData(), data(in[0]), data(in[1]), data(in[2]), o.runMean, o.runVar, o.n, o.st)
		return o.Out, nil
	}
	o.k.ForwardTrain(o.OutData(), data(in[0]), data(in[1]), data(in[2]), o.n, o.st)
	o.k.UpdateRunning(o.runMean, o.runVar, o.st, lenet.BatchNormMomentum)
	*o.tracked++
	return o.Out, nil
}

func (o *bnPoolOp) DiffWRT(int) []bool { return []bool{true, true, true} }

func (o *bnPoolOp) SymDiff(in G.Nodes, _, grad *G.Node) (G.Nodes, error) {
	dz, err := apply(&bnPoolGradOp{op: newOp(o.Name+".dz", []int{4, 4, 1}, o.n, o.k.H, o.k.W, o.k.C), fwd: o}, grad, in[0], in[1])
	if err != nil {
		return nil, err
	}
	// dgamma and dbeta fall out of the same pass as dz; these nodes hand
	// them over once dz has run.
	dgamma, err := apply(&pickOp{op: newOp(o.Name+".dgamma", []int{4}, o.k.C), src: o.dgamma}, dz)
	if err != nil {
		return nil, err
	}
	dbeta, err := apply(&pickOp{op: newOp(o.Name+".dbeta", []int{4}, o.k.C), src: o.dbeta}, dz)
	if err != nil {
		return nil, err
	}
	return G.Nodes{dz, dgamma, dbeta}, nil
}

// bnPoolGradOp: dz from the pooled gradient, the forward input z and gamma.
// It also sums dz over the pixels: the gradient of the bias of the
// convolution that made z.
type bnPoolGradOp struct {
	op
	noDiff
	fwd *bnPoolOp
}

func (o *bnPoolGradOp) Do(in ...G.Value) (G.Value, error) {
	f := o.fwd
	f.k.Backward(o.OutData(), f.dgamma, f.dbeta, f.dbias, data(in[0]), data(in[1]), data(in[2]), f.n, f.st)
	return o.Out, nil
}

// convBNPoolOp: the first conv block, y = maxpool(BatchNorm(ReLU(conv(x)))),
// as one op: its convolution is cheap enough to compute anew in every pass
// rather than store (see kernel.ConvBNPool). Nothing upstream needs dx.
type convBNPoolOp struct {
	op
	k               kernel.ConvBNPool
	n               int
	xp, wd          []float32 // x with a border of zeros; w in the kernels' layout
	st              *kernel.ConvBNCache
	runMean, runVar []float32
	tracked         *int64
	eval            *bool // as in bnPoolOp
	// By-products of the gradient op, handed over by pickOps.
	dbias, dgamma, dbeta []float32
}

func newConvBNPoolOp(name string, k kernel.ConvBNPool, n int, runMean, runVar []float32, tracked *int64, eval *bool) *convBNPoolOp {
	c := k.Conv.Out
	return &convBNPoolOp{
		op: newOp(name, []int{4, 4, 1, 1, 1}, n, k.BN.OutH(), k.BN.OutW(), c),
		k:  k, n: n, st: k.NewCache(n),
		xp: make([]float32, n*k.Conv.PaddedSize(k.Conv.In)), wd: make([]float32, c*k.Conv.K()),
		runMean: runMean, runVar: runVar, tracked: tracked, eval: eval,
		dbias: make([]float32, c), dgamma: make([]float32, c), dbeta: make([]float32, c),
	}
}

func (o *convBNPoolOp) Do(in ...G.Value) (G.Value, error) {
	x, w, b, gamma, beta := data(in[0]), data(in[1]), data(in[2]), data(in[3]), data(in[4])
	c := o.k.Conv
	o.k.Conv.DirectWeights(o.wd, w)
	per, ps := c.H*c.W*c.In, c.PaddedSize(c.In)
	kernel.Parallel(o.n, func(_, lo, hi int) {
		c.Pad(o.xp[lo*ps:hi*ps], x[lo*per:hi*per], hi-lo, c.In)
	})
	if *o.eval {
		o.k.ForwardFrozen(o.OutData(), o.xp, o.wd, b, gamma, beta, o.runMean, o.runVar, o.n, o.st)
		return o.Out, nil
	}
	o.k.ForwardTrain(o.OutData(), o.xp, o.wd, b, gamma, beta, o.n, o.st)
	o.k.BN.UpdateRunning(o.runMean, o.runVar, &o.st.BNCache, lenet.BatchNormMomentum)
	*o.tracked++
	return o.Out, nil
}

func (o *convBNPoolOp) DiffWRT(int) []bool { return []bool{false, true, true, true, true} }

func (o *convBNPoolOp) SymDiff(in G.Nodes, _, grad *G.Node) (G.Nodes, error) {
	c := o.k.Conv
	dw, err := apply(&convBNPoolGradOp{op: newOp(o.Name+".dw", []int{4, 1, 1}, c.Out, c.In, 3, 3), fwd: o,
		dwd: make([]float32, c.Out*c.K())}, grad, in[2], in[3])
	if err != nil {
		return nil, err
	}
	pick := func(suffix string, src []float32) (*G.Node, error) {
		return apply(&pickOp{op: newOp(o.Name+suffix, []int{4}, c.Out), src: src}, dw)
	}
	db, err := pick(".db", o.dbias)
	if err != nil {
		return nil, err
	}
	dgamma, err := pick(".dgamma", o.dgamma)
	if err != nil {
		return nil, err
	}
	dbeta, err := pick(".dbeta", o.dbeta)
	if err != nil {
		return nil, err
	}
	return G.Nodes{nil, dw, db, dgamma, dbeta}, nil
}

// convBNPoolGradOp: dw, in PyTorch's layout, from the pooled gradient, the
// bias and gamma; db, dgamma and dbeta come out of the same pass.
type convBNPoolGradOp struct {
	op
	noDiff
	fwd *convBNPoolOp
	dwd []float32 // in the kernels' layout
}

func (o *convBNPoolGradOp) Do(in ...G.Value) (G.Value, error) {
	f := o.fwd
	f.k.Backward(o.dwd, f.dbias, f.dgamma, f.dbeta, data(in[0]), f.xp, f.wd, data(in[1]), data(in[2]), f.n, f.st)
	f.k.Conv.UndirectWeights(o.OutData(), o.dwd)
	return o.Out, nil
}

// pickOp returns a result another op computed as a by-product; its input
// only orders it after that op.
type pickOp struct {
	op
	noDiff
	src []float32
}

func (o *pickOp) Do(...G.Value) (G.Value, error) {
	copy(o.OutData(), o.src)
	return o.Out, nil
}

// flattenOp: NHWC maps to PyTorch's (C, H, W)-ordered rows.
type flattenOp struct {
	op
	n, h, w, c int
	back       bool
}

func newFlattenOp(name string, n, h, w, c int, back bool) *flattenOp {
	if back {
		return &flattenOp{op: newOp(name, []int{2}, n, h, w, c), n: n, h: h, w: w, c: c, back: true}
	}
	return &flattenOp{op: newOp(name, []int{4}, n, h*w*c), n: n, h: h, w: w, c: c}
}

func (o *flattenOp) Do(in ...G.Value) (G.Value, error) {
	if o.back {
		kernel.UnflattenCHW(o.OutData(), data(in[0]), o.n, o.h, o.w, o.c)
	} else {
		kernel.FlattenCHW(o.OutData(), data(in[0]), o.n, o.h, o.w, o.c)
	}
	return o.Out, nil
}

func (o *flattenOp) DiffWRT(int) []bool { return []bool{true} }

func (o *flattenOp) SymDiff(_ G.Nodes, _, grad *G.Node) (G.Nodes, error) {
	dx, err := apply(newFlattenOp(o.Name+".dx", o.n, o.h, o.w, o.c, true), grad)
	return G.Nodes{dx}, err
}

// linearOp: y = x w^T + b.
type linearOp struct {
	op
	l kernel.Linear
	n int
}

func newLinearOp(name string, l kernel.Linear, n int) *linearOp {
	return &linearOp{op: newOp(name, []int{2, 2, 1}, n, l.Out), l: l, n: n}
}

func (o *linearOp) Do(in ...G.Value) (G.Value, error) {
	o.l.Forward(o.OutData(), data(in[0]), data(in[1]), data(in[2]), o.n)
	return o.Out, nil
}

func (o *linearOp) DiffWRT(int) []bool { return []bool{true, true, true} }

func (o *linearOp) SymDiff(in G.Nodes, _, grad *G.Node) (G.Nodes, error) {
	dx, err := apply(&linearGradOp{op: newOp(o.Name+".dx", []int{2, 2}, o.n, o.l.In), fwd: o}, in[1], grad)
	if err != nil {
		return nil, err
	}
	dw, err := apply(&linearGradOp{op: newOp(o.Name+".dw", []int{2, 2}, o.l.Out, o.l.In), fwd: o, weights: true}, in[0], grad)
	if err != nil {
		return nil, err
	}
	db, err := apply(newBiasGradOp(o.Name, o.l.Out, 2), grad)
	if err != nil {
		return nil, err
	}
	return G.Nodes{dx, dw, db}, nil
}

// linearGradOp: dx = dy w, or with weights set, dw = dy^T x.
type linearGradOp struct {
	op
	noDiff
	fwd     *linearOp
	weights bool
}

func (o *linearGradOp) Do(in ...G.Value) (G.Value, error) {
	if o.weights {
		o.fwd.l.BackwardWeights(o.OutData(), data(in[1]), data(in[0]), o.fwd.n)
	} else {
		o.fwd.l.BackwardInput(o.OutData(), data(in[1]), data(in[0]), o.fwd.n)
	}
	return o.Out, nil
}

// dropoutOp zeroes whole rows (Dropout1d on (N, 64), the seed's behaviour)
// or single elements, scaling survivors by 1/(1-p).
type dropoutOp struct {
	op
	p       float64
	rows    bool
	n, c    int
	mask    []float32
	rand    func() float64
	enabled bool
}

func (o *dropoutOp) Do(in ...G.Value) (G.Value, error) {
	x, y := data(in[0]), o.OutData()
	if !o.enabled || o.p == 0 {
		for i := range o.mask {
			o.mask[i] = 1
		}
		copy(y, x)
		return o.Out, nil
	}
	keep := float32(1 / (1 - o.p))
	for i := 0; i < o.n; i++ {
		row := o.mask[i*o.c : (i+1)*o.c]
		if o.rows {
			v := keep
			if o.rand() < o.p {
				v = 0
			}
			for j := range row {
				row[j] = v
			}
			continue
		}
		for j := range row {
			row[j] = keep
			if o.rand() < o.p {
				row[j] = 0
			}
		}
	}
	for i, v := range x {
		y[i] = v * o.mask[i]
	}
	return o.Out, nil
}

func (o *dropoutOp) DiffWRT(int) []bool { return []bool{true} }

func (o *dropoutOp) SymDiff(_ G.Nodes, _, grad *G.Node) (G.Nodes, error) {
	dx, err := apply(&maskOp{op: newOp(o.Name+".dx", []int{2}, o.n, o.c), mask: o.mask}, grad)
	return G.Nodes{dx}, err
}

type maskOp struct {
	op
	noDiff
	mask []float32
}

func (o *maskOp) Do(in ...G.Value) (G.Value, error) {
	dy, dx := data(in[0]), o.OutData()
	for i, v := range dy {
		dx[i] = v * o.mask[i]
	}
	return o.Out, nil
}
