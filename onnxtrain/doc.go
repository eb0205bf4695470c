// Package onnxtrain builds a Gorgonia training graph from an ONNX graph, so
// that any image classifier lenetkit's backend runs can also be trained or
// fine-tuned: its weights are the file's initializers, its loss is the
// cross-entropy of its logits, and its gradients come from Gorgonia's
// symbolic differentiation over one op per ONNX node.
//
// Each node becomes a layer (layer.go): a forward kernel and a backward
// kernel that writes the gradient of every input that needs one. Layers are
// registered by operator family, each family in its own file
// (layers_conv.go, layers_pool.go, ...). Nodes whose inputs are all
// constants (shapes, axes, paddings) are evaluated while the graph is built
// (const.go); an operator without a gradient on the path from a weight to
// the loss is refused by name (ErrNoGradient).
//
// The graph's "logits" are its output, or the input of a final Softmax or
// LogSoftmax (the loss is then -log p of the label, as for the seed's
// network): cross-entropy on logits is what PyTorch's training would
// compute, and its gradient is exact where softmax then log is not.
//
// Some runs of nodes train as one layer (fuse.go): Conv 3x3 → Relu →
// [BatchNormalization →] MaxPool on the seed's fused kernels (package
// internal/kernel; without BatchNorm, with the identity in its place),
// consecutive blocks handing each other NHWC maps and folding the
// Transposes of an NHWC graph around them (fuse_layout.go); and a Relu that
// alone reads a BatchNormalization inside it (bnrelu.go). Options.NoFusion
// builds every node alone, which the tests compare against.
//
// The batch size is fixed when the graph is built; activations are NCHW as
// in the file. Optimisation (Adam, schedules) is the caller's: Params and
// Grad expose the weights and the last step's gradients.
package onnxtrain
