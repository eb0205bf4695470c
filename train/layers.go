package train

import (
	"fmt"

	G "gorgonia.org/gorgonia"

	"lenetkit/internal/kernel"
)

// The forward ops of the network and, beside each, the ops of its
// derivatives. Activations are NHWC (see internal/kernel); parameters keep
// PyTorch's layout, so their gradients come out in PyTorch's layout too.

// convOp: y = conv3x3(x, w) + b.
type convOp struct {
	op
	k         kernel.Conv3x3
	n         int
	wperm     []float32 // w in im2col order, refreshed every run
	cols      [][]float32
	inputGrad bool // false for the first layer: nothing upstream to train
}

// convChunk images share one im2col buffer: a large enough matrix product,
// a buffer that stays in cache.
const convChunk = 8

func newConvOp(name string, k kernel.Conv3x3, n int, inputGrad bool) *convOp {
	o := &convOp{op: newOp(name, []int{4, 4, 1}, n, k.H, k.W, k.Out), k: k, n: n, inputGrad: inputGrad}
	o.wperm = make([]float32, k.Out*k.K())
	for i := 0; i < kernel.Workers(); i++ {
		o.cols = append(o.cols, make([]float32, convChunk*k.H*k.W*k.K()))
	}
	return o
}

func (o *convOp) Do(in ...G.Value) (G.Value, error) {
	x, w, b, y := data(in[0]), data(in[1]), data(in[2]), o.outData()
	o.k.PermuteWeights(o.wperm, w)
	per := o.k.H * o.k.W
	forChunks(o.n, func(wk, lo, hi int) {
		o.k.Forward(y[lo*per*o.k.Out:hi*per*o.k.Out], x[lo*per*o.k.In:hi*per*o.k.In], o.wperm, b, o.cols[wk], hi-lo)
	})
	return o.out, nil
}

func (o *convOp) DiffWRT(int) []bool { return []bool{o.inputGrad, true, true} }

func (o *convOp) SymDiff(in G.Nodes, _, grad *G.Node) (G.Nodes, error) {
	dw, err := apply(newConvWeightGradOp(o), in[0], grad)
	if err != nil {
		return nil, err
	}
	db, err := apply(newBiasGradOp(o.name, o.k.Out, 4), grad)
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

// convWeightGradOp: dw = sum over pixels of dy x im2col(x), in PyTorch's layout.
type convWeightGradOp struct {
	op
	noDiff
	fwd     *convOp
	partial [][]float32 // per worker, permuted layout
}

func newConvWeightGradOp(fwd *convOp) *convWeightGradOp {
	k := fwd.k
	o := &convWeightGradOp{op: newOp(fwd.name+".dw", []int{4, 4}, k.Out, k.In, 3, 3), fwd: fwd}
	for i := 0; i < kernel.Workers(); i++ {
		o.partial = append(o.partial, make([]float32, k.Out*k.K()))
	}
	return o
}

func (o *convWeightGradOp) Do(in ...G.Value) (G.Value, error) {
	x, dy := data(in[0]), data(in[1])
	k, per := o.fwd.k, o.fwd.k.H*o.fwd.k.W
	for _, p := range o.partial {
		clear(p)
	}
	forChunks(o.fwd.n, func(wk, lo, hi int) {
		col := o.fwd.cols[wk]
		k.Im2col(col, x[lo*per*k.In:hi*per*k.In], hi-lo)
		k.BackwardWeights(o.partial[wk], dy[lo*per*k.Out:hi*per*k.Out], col, hi-lo)
	})
	sum := o.partial[0]
	for _, p := range o.partial[1:] {
		for i, v := range p {
			sum[i] += v
		}
	}
	k.UnpermuteWeights(o.outData(), sum)
	return o.out, nil
}

// convInputGradOp: dx = col2im(dy x w).
type convInputGradOp struct {
	op
	noDiff
	fwd *convOp
}

func newConvInputGradOp(fwd *convOp) *convInputGradOp {
	k := fwd.k
	return &convInputGradOp{op: newOp(fwd.name+".dx", []int{4, 4}, fwd.n, k.H, k.W, k.In), fwd: fwd}
}

func (o *convInputGradOp) Do(in ...G.Value) (G.Value, error) {
	dy, dx := data(in[1]), o.outData()
	k, per := o.fwd.k, o.fwd.k.H*o.fwd.k.W
	forChunks(o.fwd.n, func(wk, lo, hi int) {
		k.BackwardInput(dx[lo*per*k.In:hi*per*k.In], dy[lo*per*k.Out:hi*per*k.Out], o.fwd.wperm, o.fwd.cols[wk], hi-lo)
	})
	return o.out, nil
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
	kernel.SumRows(o.outData(), data(in[0]))
	return o.out, nil
}

// reluBNOp: y = BatchNorm(ReLU(x)) with batch statistics, updating the
// running statistics as PyTorch does in train mode.
type reluBNOp struct {
	op
	bn              kernel.ReluBatchNorm
	rows            int
	relu            []float32
	st              *kernel.Stats
	runMean, runVar []float32
	tracked         *int64
	dgamma, dbeta   []float32
}

func newReluBNOp(name string, c, n, h, w int, runMean, runVar []float32, tracked *int64) *reluBNOp {
	return &reluBNOp{
		op:      newOp(name, []int{4, 1, 1}, n, h, w, c),
		bn:      kernel.ReluBatchNorm{C: c, Eps: 1e-5},
		rows:    n * h * w,
		relu:    make([]float32, n*h*w*c),
		st:      kernel.NewStats(c, kernel.Workers()),
		runMean: runMean, runVar: runVar, tracked: tracked,
		dgamma: make([]float32, c), dbeta: make([]float32, c),
	}
}

func (o *reluBNOp) Do(in ...G.Value) (G.Value, error) {
	o.bn.ForwardTrain(o.outData(), o.relu, data(in[0]), data(in[1]), data(in[2]), o.rows, o.st)
	o.bn.UpdateRunning(o.runMean, o.runVar, o.st, o.rows, 0.1)
	*o.tracked++
	return o.out, nil
}

func (o *reluBNOp) DiffWRT(int) []bool { return []bool{true, true, true} }

func (o *reluBNOp) SymDiff(in G.Nodes, _, grad *G.Node) (G.Nodes, error) {
	dx, err := apply(&reluBNGradOp{op: newOp(o.name+".dx", []int{4, 1}, o.shape...), fwd: o}, grad, in[1])
	if err != nil {
		return nil, err
	}
	// dgamma and dbeta fall out of the same pass as dx; these nodes hand
	// them over once dx has run.
	dgamma, err := apply(&pickOp{op: newOp(o.name+".dgamma", []int{4}, o.bn.C), src: o.dgamma}, dx)
	if err != nil {
		return nil, err
	}
	dbeta, err := apply(&pickOp{op: newOp(o.name+".dbeta", []int{4}, o.bn.C), src: o.dbeta}, dx)
	if err != nil {
		return nil, err
	}
	return G.Nodes{dx, dgamma, dbeta}, nil
}

type reluBNGradOp struct {
	op
	noDiff
	fwd *reluBNOp
}

func (o *reluBNGradOp) Do(in ...G.Value) (G.Value, error) {
	f := o.fwd
	f.bn.Backward(o.outData(), f.dgamma, f.dbeta, data(in[0]), f.relu, data(in[1]), f.rows, f.st)
	return o.out, nil
}

// pickOp returns a result another op computed as a by-product; its input
// only orders it after that op.
type pickOp struct {
	op
	noDiff
	src []float32
}

func (o *pickOp) Do(...G.Value) (G.Value, error) {
	copy(o.outData(), o.src)
	return o.out, nil
}

// poolOp: KxK max pooling, stride K.
type poolOp struct {
	op
	p   kernel.MaxPool
	n   int
	arg []int32
}

func newPoolOp(name string, p kernel.MaxPool, n int) *poolOp {
	return &poolOp{op: newOp(name, []int{4}, n, p.OutH(), p.OutW(), p.C), p: p, n: n,
		arg: make([]int32, n*p.OutH()*p.OutW()*p.C)}
}

func (o *poolOp) Do(in ...G.Value) (G.Value, error) {
	o.p.Forward(o.outData(), data(in[0]), o.arg, o.n)
	return o.out, nil
}

func (o *poolOp) DiffWRT(int) []bool { return []bool{true} }

func (o *poolOp) SymDiff(_ G.Nodes, _, grad *G.Node) (G.Nodes, error) {
	dx, err := apply(&poolGradOp{op: newOp(o.name+".dx", []int{4}, o.n, o.p.H, o.p.W, o.p.C), fwd: o}, grad)
	return G.Nodes{dx}, err
}

type poolGradOp struct {
	op
	noDiff
	fwd *poolOp
}

func (o *poolGradOp) Do(in ...G.Value) (G.Value, error) {
	o.fwd.p.Backward(o.outData(), data(in[0]), o.fwd.arg, o.fwd.n)
	return o.out, nil
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
		kernel.UnflattenCHW(o.outData(), data(in[0]), o.n, o.h, o.w, o.c)
	} else {
		kernel.FlattenCHW(o.outData(), data(in[0]), o.n, o.h, o.w, o.c)
	}
	return o.out, nil
}

func (o *flattenOp) DiffWRT(int) []bool { return []bool{true} }

func (o *flattenOp) SymDiff(_ G.Nodes, _, grad *G.Node) (G.Nodes, error) {
	dx, err := apply(newFlattenOp(o.name+".dx", o.n, o.h, o.w, o.c, true), grad)
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
	o.l.Forward(o.outData(), data(in[0]), data(in[1]), data(in[2]), o.n)
	return o.out, nil
}

func (o *linearOp) DiffWRT(int) []bool { return []bool{true, true, true} }

func (o *linearOp) SymDiff(in G.Nodes, _, grad *G.Node) (G.Nodes, error) {
	dx, err := apply(&linearGradOp{op: newOp(o.name+".dx", []int{2, 2}, o.n, o.l.In), fwd: o}, in[1], grad)
	if err != nil {
		return nil, err
	}
	dw, err := apply(&linearGradOp{op: newOp(o.name+".dw", []int{2, 2}, o.l.Out, o.l.In), fwd: o, weights: true}, in[0], grad)
	if err != nil {
		return nil, err
	}
	db, err := apply(newBiasGradOp(o.name, o.l.Out, 2), grad)
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
		o.fwd.l.BackwardWeights(o.outData(), data(in[1]), data(in[0]), o.fwd.n)
	} else {
		o.fwd.l.BackwardInput(o.outData(), data(in[1]), data(in[0]), o.fwd.n)
	}
	return o.out, nil
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
	x, y := data(in[0]), o.outData()
	if !o.enabled || o.p == 0 {
		for i := range o.mask {
			o.mask[i] = 1
		}
		copy(y, x)
		return o.out, nil
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
	return o.out, nil
}

func (o *dropoutOp) DiffWRT(int) []bool { return []bool{true} }

func (o *dropoutOp) SymDiff(_ G.Nodes, _, grad *G.Node) (G.Nodes, error) {
	dx, err := apply(&maskOp{op: newOp(o.name+".dx", []int{2}, o.n, o.c), mask: o.mask}, grad)
	return G.Nodes{dx}, err
}

type maskOp struct {
	op
	noDiff
	mask []float32
}

func (o *maskOp) Do(in ...G.Value) (G.Value, error) {
	dy, dx := data(in[0]), o.outData()
	for i, v := range dy {
		dx[i] = v * o.mask[i]
	}
	return o.out, nil
}

// crossEntropyOp: the mean cross-entropy of the logits against labels set
// before each run; it keeps d(loss)/d(logits) for its gradient op.
type crossEntropyOp struct {
	op
	n, classes int
	labels     []int64
	dz         []float32
}

func (o *crossEntropyOp) Do(in ...G.Value) (G.Value, error) {
	for _, l := range o.labels {
		if l < 0 || int(l) >= o.classes {
			return nil, fmt.Errorf("train: label %d outside 0..%d", l, o.classes-1)
		}
	}
	loss := kernel.CrossEntropy(o.dz, data(in[0]), o.labels, o.n, o.classes)
	*o.out.(*G.F32) = G.F32(loss)
	return o.out, nil
}

func (o *crossEntropyOp) DiffWRT(int) []bool { return []bool{true} }

func (o *crossEntropyOp) SymDiff(_ G.Nodes, _, grad *G.Node) (G.Nodes, error) {
	dz, err := apply(&crossEntropyGradOp{op: newOp(o.name+".dz", []int{0}, o.n, o.classes), fwd: o}, grad)
	return G.Nodes{dz}, err
}

type crossEntropyGradOp struct {
	op
	noDiff
	fwd *crossEntropyOp
}

func (o *crossEntropyGradOp) Do(in ...G.Value) (G.Value, error) {
	g := data(in[0])[0]
	dz := o.outData()
	for i, v := range o.fwd.dz {
		dz[i] = v * g
	}
	return o.out, nil
}
