package onnxtrain

import (
	"slices"

	"github.com/lenetkit/lenetkit/onnx"
)

// layout says where a fused block may skip the NCHW maps the ONNX graph
// passes between nodes. Its kernels work in NHWC: a block that reads a
// Transpose from NHWC, writes one to NHWC, or feeds the next block lays
// the data out once, in whole rows, instead of converting to NCHW and
// back (Keras's graphs are NHWC around NCHW blocks).
type layout struct {
	// inT is a Transpose from NHWC (perm 0,3,1,2) read by the block's
	// Conv alone: the fused block reads the Transpose's input instead.
	inT *onnx.Node
	// outT is a Transpose to NHWC (perm 0,2,3,1), the one reader of the
	// block's output: the fused block writes the Transpose's output.
	outT *onnx.Node
	// next is the block whose Conv alone reads this block's output, prev
	// the block whose output this one's Conv reads.
	next, prev *seedBlock
	// tried is set once the block's Conv has been built, fused or not.
	tried bool
	// nhwcOut is set when the fused block hands next its output in NHWC,
	// a value no other layer reads, rather than the graph's NCHW.
	nhwcOut bool
}

// nhwcToNCHW returns p if it is a Transpose from NHWC to NCHW whose one
// output has one reader.
func nhwcToNCHW(p *onnx.Node, uses map[string]int, g *onnx.Graph) *onnx.Node {
	if p == nil || p.Domain != "" || p.OpType != "Transpose" || len(p.Outputs) != 1 ||
		uses[p.Outputs[0]] != 1 || g.IsOutput(p.Outputs[0]) || !hasPerm(p, 0, 3, 1, 2) {
		return nil
	}
	return p
}

// nchwToNHWC returns t if it is a Transpose from NCHW to NHWC.
func nchwToNHWC(t *onnx.Node) *onnx.Node {
	if t == nil || len(t.Outputs) != 1 || !hasPerm(t, 0, 2, 3, 1) {
		return nil
	}
	return t
}

func hasPerm(t *onnx.Node, perm ...int64) bool {
	p, err := t.Attrs.Ints("perm")
	return err == nil && slices.Equal(p, perm)
}

// chain links each block to the block whose Conv alone reads its output
// (convAfter finds that Conv).
func chain(blocks map[*onnx.Node]*seedBlock, convAfter func(pool *onnx.Node) *onnx.Node) {
	for n, blk := range blocks {
		if n != blk.conv {
			continue
		}
		if c := convAfter(blk.pool); c != nil {
			if nb := blocks[c]; nb != nil && nb.conv == c {
				blk.next, nb.prev = nb, blk
			}
		}
	}
}

// unfold makes the graph's values that a declined block's Conv reads
// what the ONNX graph says: the Transpose it would have read through is
// built, and the previous block's NHWC output transposed to NCHW.
func (b *builder) unfold(blk *seedBlock) error {
	if blk.inT != nil {
		return b.node(blk.inT)
	}
	if blk.prev == nil || !blk.prev.nhwcOut {
		return nil
	}
	name := blk.conv.Input(0)
	v := b.vals[name]
	t := &transpose{shape: v.shape, perm: []int{0, 3, 1, 2}, inv: []int{0, 2, 3, 1}}
	t.outShape = []int{v.shape[0], v.shape[3], v.shape[1], v.shape[2]}
	out, err := apply(newNodeOp(blk.prev.pool.Label()+".nchw", t, [][]int{v.shape}, t.outShape, []bool{v.grad && !b.net.opts.ForwardOnly}), v.node)
	if err != nil {
		return err
	}
	b.vals[name] = &value{node: out, shape: t.outShape, grad: v.grad}
	return nil
}

// nhwcToView copies NHWC maps x of c channels, h rows and w columns,
// images lo..hi-1, into y's view v, a row of w pixels at a time;
// nhwcFromView copies them back out.
func nhwcToView(y, x []float32, v nhwcView, lo, hi, c, h, w int) {
	row := w * c
	for i := lo; i < hi; i++ {
		xi, yi := x[i*h*row:(i+1)*h*row], y[i*v.size*c:(i+1)*v.size*c]
		for r := range h {
			copy(yi[(v.off+r*v.stride)*c:][:row], xi[r*row:(r+1)*row])
		}
	}
}

func nhwcFromView(x, y []float32, v nhwcView, lo, hi, c, h, w int) {
	row := w * c
	for i := lo; i < hi; i++ {
		xi, yi := x[i*h*row:(i+1)*h*row], y[i*v.size*c:(i+1)*v.size*c]
		for r := range h {
			copy(xi[r*row:(r+1)*row], yi[(v.off+r*v.stride)*c:][:row])
		}
	}
}

// exact reports whether view v of maps w columns wide is NHWC itself:
// the kernels can then read and write the graph's buffer.
func (v nhwcView) exact(w int) bool { return v.off == 0 && v.stride == w }

// setLayout says whether l's x and dx (in) and y and dy (out) are NHWC,
// and lets go of the buffers the kernels then never use: where the graph's
// NHWC map is the kernels' layout they read and write it in place.
func (l *seedBlockLayer) setLayout(in, out bool) {
	l.inNHWC, l.outNHWC = in, out
	if out && l.pooled().exact(l.realW/l.bn.K) {
		l.yh, l.dyh = nil, nil
	}
	if in && l.unpadded().exact(l.realW) {
		l.dxh = nil
	}
}
