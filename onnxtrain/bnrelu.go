package onnxtrain

import "github.com/lenetkit/lenetkit/onnx"

// bnReluPair is a BatchNormalization whose output only a Relu reads: the
// two run as one layer (batchNorm with relu set), which writes the Relu's
// output in BatchNorm's own pass and masks the gradient inside BatchNorm's
// backward passes (dwconv's AffineRelu, ReluGradSums and ReluAffine2),
// saving the Relu's two passes each way over a tensor as large as the
// network's largest. The running statistics move as the BatchNorm alone
// moves them.
type bnReluPair struct {
	bn, relu *onnx.Node
	// fused is set once the pair is built as one layer at its
	// BatchNormalization: its Relu is then skipped.
	fused bool
}

// bnReluPairs finds the pairs in g, keyed by both of their nodes; nodes
// of the seed's blocks (fuse.go), which fuse their own way, are left out.
func bnReluPairs(g *onnx.Graph, blocks map[*onnx.Node]*seedBlock) map[*onnx.Node]*bnReluPair {
	sole := soleReader(g)
	pairs := map[*onnx.Node]*bnReluPair{}
	for _, bn := range g.Nodes {
		if bn.Domain != "" || bn.OpType != "BatchNormalization" || blocks[bn] != nil {
			continue
		}
		r := sole(bn)
		if r == nil || r.Domain != "" || r.OpType != "Relu" || len(r.Inputs) != 1 || r.Input(0) != bn.Outputs[0] || len(r.Outputs) != 1 || blocks[r] != nil {
			continue
		}
		p := &bnReluPair{bn: bn, relu: r}
		pairs[bn], pairs[r] = p, p
	}
	return pairs
}

// buildBatchNormRelu is buildBatchNorm for a pair's BatchNormalization.
func buildBatchNormRelu(b *builder, n *onnx.Node, in []*value) (layer, []int, error) {
	l, shape, err := buildBatchNorm(b, n, in)
	if err != nil {
		return nil, nil, err
	}
	l.(*batchNorm).relu = true
	return l, shape, nil
}
