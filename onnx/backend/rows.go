package backend

import (
	"github.com/lenetkit/lenetkit/internal/gemm"
	"github.com/lenetkit/lenetkit/internal/nchw"
	"github.com/lenetkit/lenetkit/onnx"
)

// rowBatch runs a classifier's first dense layer for many images at once,
// and the dense layers that follow it with only elementwise steps between
// (an MLP's Gemm, Relu, Gemm, ...). A plan runs each image through every
// step, so a dense layer is a matrix product of one row, which the matrix
// kernels compute a tile of 8 rows at a time, reading all its weights for
// one image; gathering the rows of up to rowBatchMax images into one
// product fills the tiles and reads them once for all. The steps before
// the layers run image by image, their input row kept aside; then the
// products, and the elementwise steps on all the rows; then the steps
// after them, image by image again. The int8 dense layers (QLinearMatMul) batch
// likewise, every one of a run of them that follow each other: their
// products are exact, whatever their rows; and with them the steps just
// before that batch too: a table (a Flatten between two quantizations),
// a quantized convolution of a map of a few tiles, whose Winograd
// products read their weights once for many images' tiles.
type rowBatch struct {
	at    int       // the first dense layer's index in the plan's steps
	f     []step    // or float steps at, at+1, ...: products (gemmStep, gemvStep) and unarySteps between them
	q     []rowStep // int8 layers, steps at, at+1, ...
	chunk int       // images a product takes at most
	a, y  int       // buffers of chunk rows: the layers' inputs, outputs, in turn
	// ys and acc, for int8 layers: each one's output rows, and the
	// accumulators the largest needs.
	ys  []int
	acc int
}

// rowStep is a step of one row an image that also runs on many rows at
// once, each row slots apart.
type rowStep interface {
	step
	// rowIO returns the buffers of its input and output rows and the
	// float32 slots each takes.
	rowIO() (in, out, inSlots, outSlots int)
	// accSize is the accumulators a row needs.
	accSize() int
	// runRows runs rows rows of a into y, with the accumulators acc and
	// the workspace b.
	runRows(b [][]float32, a, y []float32, acc []int32, rows int)
	// batches reports whether the step runs as a rowStep.
	batches() bool
	// graphNode is the node of the graph it computes (compiler.onlyThrough).
	graphNode() int
}

// rowBatchMax bounds the rows of one product, and with them the two
// buffers a workspace gains: enough rows to fill the kernels' tiles.
const rowBatchMax = 64

// batchRows finds a plan's first dense layer worth batching (one row
// times packed weights of more columns than gemvStep takes) and adds
// the buffers that batch it.
func (c *compiler) batchRows() (*rowBatch, error) {
	for i, s := range c.steps {
		if q, ok := s.(qmatmulStep); ok {
			if r, err := c.batchQuantRows(i, q); r != nil || err != nil {
				return r, err
			}
			continue
		}
		g, ok := s.(gemmStep)
		if !ok || !c.rowGemm(g) {
			continue
		}
		r := &rowBatch{at: i, f: []step{g}, chunk: rowBatchMax}
		width := max(g.k, g.n)
		out, n := g.out, g.n
		for _, s := range c.steps[i+1:] {
			in, k, to, m := rowIO(s)
			if in < 0 || in != out {
				break
			}
			if k < 0 { // elementwise: the row keeps its width
				r.f, out = append(r.f, s), to
				continue
			}
			if k != n || !c.onlyThrough(productNode(s)) {
				break
			}
			if g, ok := s.(gemmStep); ok && !c.rowGemm(g) {
				break
			}
			r.f, out, n = append(r.f, s), to, m
			width = max(width, n)
		}
		for !isProduct(r.f[len(r.f)-1]) { // the chain ends at its last product
			r.f = r.f[:len(r.f)-1]
		}
		// The two buffers only where the plan's budget has room for them
		// beside what it holds: batching is a speed-up, never a reason to
		// refuse a model.
		if need := 4 * int64(r.chunk) * 2 * int64(width); c.b.maxBytes-c.b.bytes < need {
			return nil, nil
		}
		var err error
		if r.a, err = c.newBuf(r.chunk * width); err != nil {
			return nil, err
		}
		if r.y, err = c.newBuf(r.chunk * width); err != nil {
			return nil, err
		}
		return r, nil
	}
	return nil, nil
}

// rowIO says what a float step rowBatch chains reads and writes: its input
// and output buffers, and the width of a row of each. A product (gemmStep
// or gemvStep) gives its widths, an elementwise unaryStep -1 and -1 (its
// rows keep their width); a step of another kind, buffers -1 and widths 0.
func rowIO(s step) (in, k, out, n int) {
	switch s := s.(type) {
	case gemmStep:
		return s.in, s.k, s.out, s.n
	case gemvStep:
		return s.in, s.k, s.out, s.n
	case unaryStep:
		return s.in, -1, s.out, -1
	}
	return -1, 0, -1, 0
}

func isProduct(s step) bool { _, k, _, _ := rowIO(s); return k > 0 }

func productNode(s step) int {
	if g, ok := s.(gemmStep); ok {
		return g.node
	}
	return s.(gemvStep).node
}

// rowGemm reports whether a float step is one row of an image times
// packed constant weights that nothing after it bypasses: what rowBatch
// runs for many rows.
func (c *compiler) rowGemm(g gemmStep) bool {
	return g.m == 1 && g.pb != nil && !g.transA && g.a == nil && (!g.hasC || g.c != nil) && c.onlyThrough(g.node)
}

// batchQuantRows batches the int8 dense layer at step i and those that
// follow it, each reading the one before's output, when they batch.
func (c *compiler) batchQuantRows(i int, q qmatmulStep) (*rowBatch, error) {
	if !q.batches() || !c.onlyThrough(q.node) {
		return nil, nil
	}
	r := &rowBatch{at: i, chunk: rowBatchMax, q: []rowStep{q}}
	// The steps before it that batch too, each writing the next's input
	// (a quantized convolution of a map of one tile, batched by
	// Winograd's products, then a Flatten's table).
	for r.at > 0 {
		p, ok := c.steps[r.at-1].(rowStep)
		in, _, _, _ := r.q[0].rowIO()
		if !ok || !p.batches() || !c.onlyThrough(p.graphNode()) {
			break
		}
		if _, out, _, _ := p.rowIO(); out != in {
			break
		}
		r.at--
		r.q = append([]rowStep{p}, r.q...)
	}
	_, out, _, _ := q.rowIO()
	for _, s := range c.steps[i+1:] {
		n, ok := s.(qmatmulStep)
		if !ok || !n.batches() || n.in != out || !c.onlyThrough(n.node) {
			break
		}
		r.q = append(r.q, n)
		_, out, _, _ = n.rowIO()
	}
	_, _, inSlots, _ := r.q[0].rowIO()
	need, acc := int64(inSlots), 0
	for _, s := range r.q {
		_, _, _, outSlots := s.rowIO()
		need += int64(outSlots)
		acc = max(acc, s.accSize())
	}
	if need = 4 * int64(r.chunk) * (need + int64(acc)); c.b.maxBytes-c.b.bytes < need {
		return nil, nil
	}
	var err error
	if r.a, err = c.newBuf(r.chunk * inSlots); err != nil {
		return nil, err
	}
	for _, s := range r.q {
		_, _, _, outSlots := s.rowIO()
		y, err := c.newBuf(r.chunk * outSlots)
		if err != nil {
			return nil, err
		}
		r.ys = append(r.ys, y)
	}
	if r.acc, err = c.newBuf(r.chunk * acc); err != nil {
		return nil, err
	}
	for _, s := range r.q {
		if q, ok := s.(*qnhwcStep); ok {
			c.noteKernelName("winograd-" + q.wino.conv.Kernel())
		}
	}
	return r, nil
}

// run classifies images first..end-1 of src into out with workspace b.
func (r *rowBatch) run(p *Plan, b [][]float32, out []float32, src source, first, end int) {
	if r.q != nil {
		r.runQuant(p, b, out, src, first, end)
		return
	}
	px := p.Channels * p.Height * p.Width
	before, after := p.steps[:r.at], p.steps[r.at+len(r.f):]
	in0, k0, _, _ := rowIO(r.f[0])
	_, _, last, n := rowIO(r.f[len(r.f)-1])
	// With no step before the layers, they read the images where they lie;
	// with none after, the last one writes the plan's output rows.
	direct := len(before) == 0 && in0 == p.in && px == k0
	straight := len(after) == 0 && last == p.out && n == p.Outputs
	for lo := first; lo < end; lo += r.chunk {
		hi := min(lo+r.chunk, end)
		rows := hi - lo
		a := b[r.a]
		if direct {
			a = src.images(a, lo, hi)
		} else {
			for i := lo; i < hi; i++ {
				src.image(b[p.in], i)
				for _, s := range before {
					s.run(b)
				}
				copy(a[(i-lo)*k0:(i-lo+1)*k0], b[in0])
			}
		}
		width := k0
		for j, s := range r.f {
			y := [2][]float32{b[r.y], b[r.a]}[j%2] // a's other buffer
			if j == len(r.f)-1 && straight {
				y = out[lo*n : hi*n]
			}
			width = runRows(s, y, a, rows, width)
			a = y
		}
		if straight {
			continue
		}
		for i := lo; i < hi; i++ {
			copy(b[last], a[(i-lo)*n:(i-lo+1)*n])
			for _, s := range after {
				s.run(b)
			}
			copy(out[i*p.Outputs:(i+1)*p.Outputs], b[p.out])
		}
	}
}

// take is how many images a CPU takes at a time (Plan.Logits).
func (r *rowBatch) take() int {
	if r.at == 0 && r.q == nil {
		return mlpChunk
	}
	return logitsChunk
}

// runRows runs a float step of rowBatch's chain on rows rows of a, width
// values each, into y, and returns the width of y's rows.
func runRows(s step, y, a []float32, rows, width int) int {
	switch s := s.(type) {
	case gemmStep:
		nchw.GemmPacked(y, rows, s.n, s.k, false, s.alpha, a[:rows*s.k], s.pb, s.beta, s.c, s.cShape)
		return s.n
	case gemvStep:
		for i := range rows {
			gemm.GemvT(y[i*s.n:(i+1)*s.n], a[i*s.k:(i+1)*s.k], s.bt, s.bias)
		}
		return s.n
	case unaryStep:
		s.fn(y[:rows*width], a[:rows*width])
	}
	return width
}

// runQuant is run for int8 layers.
func (r *rowBatch) runQuant(p *Plan, b [][]float32, out []float32, src source, first, end int) {
	before, after := p.steps[:r.at], p.steps[r.at+len(r.q):]
	in, _, inSlots, _ := r.q[0].rowIO()
	_, last, _, lastSlots := r.q[len(r.q)-1].rowIO()
	acc := int32sOf(b[r.acc])
	for lo := first; lo < end; lo += r.chunk {
		hi := min(lo+r.chunk, end)
		a := b[r.a]
		for i := lo; i < hi; i++ {
			src.image(b[p.in], i)
			for _, s := range before {
				s.run(b)
			}
			copy(a[(i-lo)*inSlots:(i-lo+1)*inSlots], b[in])
		}
		rows := hi - lo
		for k, s := range r.q {
			s.runRows(b, a, b[r.ys[k]], acc, rows)
			a = b[r.ys[k]]
		}
		for i := lo; i < hi; i++ {
			copy(b[last], a[(i-lo)*lastSlots:(i-lo+1)*lastSlots])
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

// batches reports whether the step is one row of an image times constant
// weights, requantized to 8 bits: what rowBatch runs for many rows.
func (s qmatmulStep) batches() bool {
	return s.m == 1 && len(s.aBatch) == 1 && len(s.weights) == 1 && s.rq != nil && isQuant8(s.rq.dt)
}

func (s qmatmulStep) rowIO() (in, out, inSlots, outSlots int) {
	return s.in, s.out, slotsOf(onnx.Uint8, s.k), slotsOf(onnx.Uint8, s.n)
}

func (s qmatmulStep) accSize() int { return s.n }

func (s qmatmulStep) graphNode() int { return s.node }

func (s qmatmulStep) runRows(_ [][]float32, a, y []float32, acc []int32, rows int) {
	_, _, inSlots, outSlots := s.rowIO()
	ws := s.ws.get()
	defer s.ws.put(ws)
	za := s.az.zeroPoint(nil)
	s.weights[0].mul(s.signedA, false, rows, bytesOf(a), 4*inSlots, za, acc, s.n, ws)
	s.rq.rows(rows, s.n, bytesOf(y), 4*outSlots, acc, s.n)
}
