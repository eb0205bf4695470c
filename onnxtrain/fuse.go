package onnxtrain

import (
	"fmt"

	"github.com/lenetkit/lenetkit/onnx"
)

// seedBlock is a run of four nodes, Conv → Relu → BatchNormalization →
// MaxPool, each intermediate value read by the next node alone: the seed's
// conv block, which the fused kernels of the seed's own training run as
// one layer (seedBlockLayer) in a third of the time the four layers take.
// Keras's and many PyTorch networks' blocks have no BatchNormalization:
// bn is then nil, and the same kernels run with BatchNorm the identity.
type seedBlock struct {
	conv, relu, bn, pool *onnx.Node
	// fused is set once the block is built as one layer: its other three
	// nodes are then skipped.
	fused bool
	layout
}

// seedBlocks finds the seed's blocks in g, keyed by each of their four
// nodes. It reads the graph's structure only: the geometry (3x3 kernel,
// padding 1, a pool that tiles the map) needs the shapes, and is checked
// when the block is built (buildSeedBlock), which may still decline.
func seedBlocks(g *onnx.Graph) map[*onnx.Node]*seedBlock {
	uses := g.Uses()
	prod := g.Producers()
	index := map[*onnx.Node]int{}
	for i, n := range g.Nodes {
		index[n] = i
	}
	sole := soleReader(g)
	// next is the one node that reads n's one output, if it is an op
	// taking it as its first input.
	next := func(n *onnx.Node, op string) *onnx.Node {
		m := sole(n)
		if m == nil || m.Domain != "" || m.OpType != op || m.Input(0) != n.Outputs[0] {
			return nil
		}
		return m
	}
	// The block is built at its Conv: every weight must be there by then.
	ready := func(at *onnx.Node, name string) bool {
		p := prod[name]
		return name != "" && (p == nil || index[p] < index[at])
	}
	blocks := map[*onnx.Node]*seedBlock{}
	for _, c := range g.Nodes {
		if c.Domain != "" || c.OpType != "Conv" || len(c.Inputs) != 3 || !ready(c, c.Input(1)) || !ready(c, c.Input(2)) {
			continue
		}
		r := next(c, "Relu")
		if r == nil {
			continue
		}
		ok, last := true, r
		bn := next(r, "BatchNormalization")
		if bn != nil {
			ok = len(bn.Inputs) == 5
			for i := 1; ok && i < 5; i++ {
				ok = ready(c, bn.Input(i))
			}
			// The running statistics move in place: they must be the model's.
			for _, s := range bn.Inputs[min(3, len(bn.Inputs)):] {
				ok = ok && prod[s] == nil && g.Initializers[s] != nil
			}
			last = bn
		}
		p := next(last, "MaxPool")
		if !ok || p == nil || (len(p.Outputs) > 1 && p.Outputs[1] != "") {
			continue
		}
		blk := &seedBlock{conv: c, relu: r, bn: bn, pool: p}
		blk.inT = nhwcToNCHW(prod[c.Input(0)], uses, g)
		blk.outT = nchwToNHWC(next(p, "Transpose"))
		for _, n := range []*onnx.Node{blk.inT, c, r, bn, p, blk.outT} {
			if n != nil {
				blocks[n] = blk
			}
		}
	}
	chain(blocks, func(p *onnx.Node) *onnx.Node { return next(p, "Conv") })
	return blocks
}

// fused builds node n as part of a seed block, if it is one: the whole
// block at its Conv, nothing at its other nodes. It reports whether it
// did; when the block declines (its shapes do not fit the kernels) its
// nodes are built one by one.
func (b *builder) fused(n *onnx.Node) (bool, error) {
	blk := b.blocks[n]
	if blk == nil {
		return false, nil
	}
	switch n {
	case blk.inT:
		// Left to the Conv, which reads the Transpose's input when the
		// block fuses and builds the Transpose first when it declines.
		return !blk.tried, nil
	case blk.conv:
	default:
		return blk.fused, nil
	}
	blk.tried = true
	ok, err := b.buildSeedBlock(blk)
	if err != nil {
		return false, fmt.Errorf("%s: %w", n.Describe(), err)
	}
	blk.fused = ok
	if !ok {
		err = b.unfold(blk)
	}
	return ok, err
}

// soleReader returns a function that gives the one node reading n's one
// output, or nil where n has other outputs, the output is the graph's, or
// it has other readers: the nodes a fused layer may take in with n.
func soleReader(g *onnx.Graph) func(n *onnx.Node) *onnx.Node {
	uses := g.Uses()
	reader := map[string]*onnx.Node{}
	for _, n := range g.Nodes {
		for _, in := range n.Inputs {
			reader[in] = n
		}
	}
	return func(n *onnx.Node) *onnx.Node {
		if len(n.Outputs) != 1 || uses[n.Outputs[0]] != 1 || g.IsOutput(n.Outputs[0]) {
			return nil
		}
		return reader[n.Outputs[0]]
	}
}
