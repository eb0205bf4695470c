package backend

import "github.com/lenetkit/lenetkit/internal/nchw"

// rowBatch runs a classifier's first dense layer for many images at once.
// A plan runs each image through every step, so a dense layer is a
// matrix product of one row, which the matrix kernels compute a tile of
// 8 rows at a time; gathering the rows of up to rowBatchMax images into
// one product fills the tiles. The steps before the layer run image by
// image, its input row kept aside; then one product; then the steps after
// it, image by image again.
type rowBatch struct {
	at    int      // the dense layer's index in the plan's steps
	g     gemmStep // the layer: one row times constant, packed weights
	chunk int      // images a product takes at most
	a, y  int      // buffers of chunk rows: the layer's inputs, outputs
}

// rowBatchMax bounds the rows of one product, and with them the two
// buffers a workspace gains: enough rows to fill the kernels' tiles.
const rowBatchMax = 64

// batchRows finds a plan's first dense layer worth batching (one row
// times packed weights of more columns than gemvStep takes) and adds
// the buffers that batch it.
func (c *compiler) batchRows() (*rowBatch, error) {
	for i, s := range c.steps {
		g, ok := s.(gemmStep)
		if !ok || g.m != 1 || g.pb == nil || g.transA || g.a != nil || g.hasC && g.c == nil || !c.onlyThrough(g.node) {
			continue
		}
		r := &rowBatch{at: i, g: g, chunk: rowBatchMax}
		// The two buffers only where the plan's budget has room for them
		// beside what it holds: batching is a speed-up, never a reason to
		// refuse a model.
		need := 4 * int64(r.chunk) * (int64(g.k) + int64(g.n))
		if c.b.maxBytes-c.b.bytes < need {
			return nil, nil
		}
		var err error
		if r.a, err = c.newBuf(r.chunk * g.k); err != nil {
			return nil, err
		}
		if r.y, err = c.newBuf(r.chunk * g.n); err != nil {
			return nil, err
		}
		return r, nil
	}
	return nil, nil
}

// run classifies images first..end-1 of x into out with workspace b.
func (r *rowBatch) run(p *Plan, b [][]float32, out, x []float32, first, end int) {
	px := p.Channels * p.Height * p.Width
	before, after := p.steps[:r.at], p.steps[r.at+1:]
	g := r.g
	for lo := first; lo < end; lo += r.chunk {
		hi := min(lo+r.chunk, end)
		a, y := b[r.a], b[r.y]
		for i := lo; i < hi; i++ {
			copy(b[p.in], x[i*px:(i+1)*px])
			for _, s := range before {
				s.run(b)
			}
			copy(a[(i-lo)*g.k:(i-lo+1)*g.k], b[g.in])
		}
		rows := hi - lo
		nchw.GemmPacked(y, rows, g.n, g.k, false, g.alpha, a[:rows*g.k], g.pb, g.beta, g.c, g.cShape)
		for i := lo; i < hi; i++ {
			copy(b[g.out], y[(i-lo)*g.n:(i-lo+1)*g.n])
			for _, s := range after {
				s.run(b)
			}
			copy(out[i*p.Outputs:(i+1)*p.Outputs], b[p.out])
		}
	}
}

// onlyThrough reports whether node at is the only way from the nodes
// before it to those after it: nothing after it reads a run-time value
// computed before it (a skip connection), which rowBatch, running every
// image's steps before the layer first, would have overwritten.
func (c *compiler) onlyThrough(at int) bool {
	before := map[string]bool{}
	for _, in := range c.g.Inputs {
		before[in.Name] = true
	}
	for _, n := range c.g.Nodes[:at] {
		for _, o := range n.Outputs {
			before[o] = true
		}
	}
	for _, n := range c.g.Nodes[at+1:] {
		for _, in := range n.Inputs {
			if v := c.vals[in]; before[in] && v != nil && v.c == nil {
				return false
			}
		}
	}
	return true
}
