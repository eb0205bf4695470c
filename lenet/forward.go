package lenet

import (
	"fmt"

	"lenetkit/internal/kernel"
)

// Model runs the network in inference mode (BatchNorm with running
// statistics, Dropout off) on batches of 1x32x32 images.
// A Model is safe for use by one goroutine at a time; it spreads each batch
// over all CPUs itself.
type Model struct {
	convs [3]kernel.Conv3x3
	bns   [3]kernel.ReluBatchNorm
	pools [3]kernel.MaxPool
	fc    [2]kernel.Linear
	wperm [3][]float32 // conv weights in im2col order
	bias  [3][]float32
	gamma [3][]float32
	beta  [3][]float32
	rmean [3][]float32
	rvar  [3][]float32
	scale [3][]float32
	shift [3][]float32
	fcW   [2][]float32
	fcB   [2][]float32
	work  []*workspace
}

// chunk is how many images one worker pushes through the network at a
// time: enough rows for an efficient matrix product, few enough that the
// largest im2col buffer (about 2.4 MB) stays in cache.
const chunk = 8

type workspace struct {
	col, a, b []float32
}

// NewModel checks sd against the network and prepares it for inference.
func NewModel(sd StateDict) (*Model, error) {
	if err := Check(sd); err != nil {
		return nil, err
	}
	m := &Model{}
	size := InputSize
	for i, b := range Blocks {
		m.convs[i] = kernel.Conv3x3{H: size, W: size, In: b.In, Out: b.Out}
		m.bns[i] = kernel.ReluBatchNorm{C: b.Out, Eps: BatchNormEps}
		m.pools[i] = kernel.MaxPool{H: size, W: size, C: b.Out, K: b.Pool}
		m.wperm[i] = make([]float32, b.Out*9*b.In)
		m.convs[i].PermuteWeights(m.wperm[i], sd.Lookup(b.Conv+".weight").F32)
		m.bias[i] = sd.Lookup(b.Conv + ".bias").F32
		m.gamma[i] = sd.Lookup(b.BatchNorm + ".weight").F32
		m.beta[i] = sd.Lookup(b.BatchNorm + ".bias").F32
		m.rmean[i] = sd.Lookup(b.BatchNorm + ".running_mean").F32
		m.rvar[i] = sd.Lookup(b.BatchNorm + ".running_var").F32
		m.scale[i] = make([]float32, b.Out)
		m.shift[i] = make([]float32, b.Out)
		m.bns[i].FoldEval(m.scale[i], m.shift[i], m.gamma[i], m.beta[i], m.rmean[i], m.rvar[i])
		size /= b.Pool
	}
	for i, l := range Head {
		m.fc[i] = kernel.Linear{In: l.In, Out: l.Out}
		m.fcW[i] = sd.Lookup(l.Name + ".weight").F32
		m.fcB[i] = sd.Lookup(l.Name + ".bias").F32
	}
	return m, nil
}

// Logits computes the [n][10] logits of n images given as [n][1][32][32]
// floats (ToTensor then Pad(2)).
func (m *Model) Logits(logits, x []float32, n int) error {
	if len(x) < n*InputSize*InputSize || len(logits) < n*Classes {
		return fmt.Errorf("lenet: %d images need %d input and %d output floats, got %d and %d",
			n, n*InputSize*InputSize, n*Classes, len(x), len(logits))
	}
	chunks := (n + chunk - 1) / chunk
	for len(m.work) < kernel.Workers() {
		m.work = append(m.work, m.newWorkspace())
	}
	// Parallelise over chunks of images; the kernels below then see one
	// worker's chunk, and their own Parallel calls run on a single CPU.
	kernel.Parallel(chunks, func(w, lo, hi int) {
		ws := m.work[w]
		for c := lo; c < hi; c++ {
			first := c * chunk
			k := min(chunk, n-first)
			m.forward(ws, logits[first*Classes:(first+k)*Classes], x[first*InputSize*InputSize:(first+k)*InputSize*InputSize], k)
		}
	})
	return nil
}

func (m *Model) newWorkspace() *workspace {
	maxCol, maxAct := 0, 0
	for i := range m.convs {
		c := m.convs[i]
		maxCol = max(maxCol, c.H*c.W*c.K())
		maxAct = max(maxAct, c.H*c.W*max(c.In, c.Out))
	}
	return &workspace{
		col: make([]float32, chunk*maxCol),
		a:   make([]float32, chunk*maxAct),
		b:   make([]float32, chunk*maxAct),
	}
}

// forward runs k images through the network on one CPU: each convolution
// writes ws.a, BatchNorm works in place, pooling writes ws.b.
func (m *Model) forward(ws *workspace, logits, x []float32, k int) {
	in := x // 1 channel: NCHW and NHWC coincide
	for i := range m.convs {
		c := m.convs[i]
		c.Forward(ws.a, in, m.wperm[i], m.bias[i], ws.col, k)
		m.bns[i].ForwardEval(ws.a, ws.a, m.scale[i], m.shift[i], k*c.H*c.W)
		m.pools[i].ForwardSerial(ws.b, ws.a, nil, 0, k)
		in = ws.b
	}
	flat := ws.a[:k*FlatSize]
	kernel.FlattenCHW(flat, ws.b, k, 2, 2, 128)
	hidden := ws.col[:k*Head[0].Out]
	m.fc[0].Forward(hidden, flat, m.fcW[0], m.fcB[0], k)
	m.fc[1].Forward(logits, hidden, m.fcW[1], m.fcB[1], k)
}
