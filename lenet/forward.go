package lenet

import (
	"fmt"

	"github.com/lenetkit/lenetkit/internal/kernel"
)

// Model runs the network in inference mode (BatchNorm with running
// statistics, Dropout off) on batches of 1x32x32 images.
// A Model is safe for use by one goroutine at a time; it spreads each batch
// over all CPUs itself.
type Model struct {
	convs [3]kernel.Conv3x3
	bns   [3]kernel.BNPool
	fc    []kernel.Linear
	wd    [3][]float32 // conv weights in Forward's layout
	bias  [3][]float32
	coef  [3][]float32 // BatchNorm folded into scale, shift
	fcW   [][]float32  // fcW[0]'s columns in NHWC order: no Flatten needed
	fcB   [][]float32
	work  []*workspace
}

// chunk is how many images a worker collects before the fully connected
// layers run over them as one matrix product.
const chunk = 16

// workspace holds one image's activations on their way through the
// convolutions, and a chunk's features for the head. Each convolution
// reads a map with a border of zeros (xp), written there by the pooling
// before it; the borders are never written.
type workspace struct {
	xp   [3][]float32 // each convolution's bordered input
	z    [3][]float32 // each convolution's output
	feat []float32    // [chunk][512], NHWC order
	hid  [][]float32  // [chunk][features] after each Linear layer but the last
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
		m.bns[i] = kernel.BNPool{H: size, W: size, C: b.Out, K: b.Pool, Eps: BatchNormEps}
		m.wd[i] = make([]float32, b.Out*9*b.In)
		conv, bn := b.Conv, b.BatchNorm
		m.convs[i].DirectWeights(m.wd[i], sd.Lookup(conv.Param("weight")).F32)
		m.bias[i] = append([]float32(nil), sd.Lookup(conv.Param("bias")).F32...)
		m.coef[i] = make([]float32, 2*b.Out)
		m.bns[i].FoldEval(m.coef[i][:b.Out], m.coef[i][b.Out:],
			sd.Lookup(bn.Param("weight")).F32, sd.Lookup(bn.Param("bias")).F32,
			sd.Lookup(bn.Param("running_mean")).F32, sd.Lookup(bn.Param("running_var")).F32)
		size /= b.Pool
	}
	for _, l := range Head {
		m.fc = append(m.fc, kernel.Linear{In: l.In, Out: l.Out})
		m.fcW = append(m.fcW, append([]float32(nil), sd.Lookup(l.Param("weight")).F32...))
		m.fcB = append(m.fcB, append([]float32(nil), sd.Lookup(l.Param("bias")).F32...))
	}
	// PyTorch flattens (C, H, W); the last pooling leaves (H, W, C).
	last := Blocks[len(Blocks)-1].Out
	w0 := sd.Lookup(Head[0].Param("weight")).F32
	for o := 0; o < Head[0].Out; o++ {
		kernel.UnflattenCHW(m.fcW[0][o*FlatSize:(o+1)*FlatSize], w0[o*FlatSize:(o+1)*FlatSize], 1, size, size, last)
	}
	return m, nil
}

func (m *Model) newWorkspace() *workspace {
	ws := &workspace{feat: make([]float32, chunk*FlatSize)}
	for _, l := range Head[:len(Head)-1] {
		ws.hid = append(ws.hid, make([]float32, chunk*l.Out))
	}
	for i, c := range m.convs {
		ws.xp[i] = make([]float32, c.PaddedSize(c.In))
		ws.z[i] = make([]float32, c.H*c.W*c.Out)
	}
	return ws
}

// Logits computes the [n][10] logits of n images given as [n][1][32][32]
// floats (ToTensor then Pad(2)).
func (m *Model) Logits(logits, x []float32, n int) error {
	const px = InputSize * InputSize
	if len(x) < n*px || len(logits) < n*Classes {
		return fmt.Errorf("lenet: %d images need %d input and %d output floats, got %d and %d",
			n, n*px, n*Classes, len(x), len(logits))
	}
	for len(m.work) < kernel.MaxWorkers() {
		m.work = append(m.work, m.newWorkspace())
	}
	if n < 4*kernel.Workers() {
		// Too few images to keep every CPU busy with whole ones: split
		// each image's rows between the CPUs instead.
		ws := m.work[0]
		for i := 0; i < n; i++ {
			m.splitImage(ws, x[i*px:(i+1)*px])
			m.head(ws, logits[i*Classes:(i+1)*Classes], 1)
		}
		return nil
	}
	kernel.Parallel(n, func(w, lo, hi int) {
		ws := m.work[w]
		for first := lo; first < hi; first += chunk {
			k := min(chunk, hi-first)
			for i := range k {
				img := first + i
				m.image(ws, ws.feat[i*FlatSize:(i+1)*FlatSize], x[img*px:(img+1)*px])
			}
			m.head(ws, logits[first*Classes:(first+k)*Classes], k)
		}
	})
	return nil
}

// image runs one image through the convolutions on the calling goroutine,
// leaving its features in feat.
func (m *Model) image(ws *workspace, feat, x []float32) {
	m.convs[0].Pad(ws.xp[0], x, 1, 1)
	for i := range m.convs {
		m.block(ws, feat, i, 0, m.bns[i].OutH())
	}
}

// splitImage runs one image through the convolutions, each block's rows
// split between the CPUs; the features are left in ws.feat[:FlatSize].
func (m *Model) splitImage(ws *workspace, x []float32) {
	m.convs[0].Pad(ws.xp[0], x, 1, 1)
	for i := range m.convs {
		kernel.Parallel(m.bns[i].OutH(), func(_, lo, hi int) {
			m.block(ws, ws.feat[:FlatSize], i, lo, hi)
		})
	}
}

// block runs convolution block i for the pooled rows lo..hi-1: the
// convolution rows under them, then ReLU, BatchNorm and pooling into the
// next block's bordered input, or into feat after the last block.
func (m *Model) block(ws *workspace, feat []float32, i, lo, hi int) {
	k := m.bns[i].K
	m.convs[i].ForwardRows(ws.z[i], ws.xp[i], m.wd[i], m.bias[i], 1, lo*k, hi*k)
	if i+1 < len(m.convs) {
		m.bns[i].ForwardEvalPadded(ws.xp[i+1], ws.z[i], m.coef[i], lo, hi)
	} else {
		m.bns[i].ForwardEvalRows(feat, ws.z[i], m.coef[i], lo, hi)
	}
}

// head runs the fully connected layers on the k feature rows in ws.feat.
func (m *Model) head(ws *workspace, logits []float32, k int) {
	in := ws.feat[:k*FlatSize]
	for i, fc := range m.fc {
		out := logits
		if i < len(m.fc)-1 {
			out = ws.hid[i][:k*fc.Out]
		}
		fc.Forward(out, in, m.fcW[i], m.fcB[i], k)
		in = out
	}
}
