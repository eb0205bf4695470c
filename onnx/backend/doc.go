// Package backend compiles an ONNX graph, decoded once into lenetkit's
// graph (onnx.Decode), into a Plan of lenetkit's kernels over
// preallocated buffers.
//
// A plan classifies batches of images, one image per CPU at a time
// (Logits), or runs a graph of any float32 tensors once (Options.Shapes,
// Run), as lenetkit run does. It runs the operators of image classifiers,
// registered by family (ops_*.go): convolutions, pooling, normalisation,
// activations, matrix products, and the layout and shape operators
// exporters write around them, folded away at load where their inputs are
// constants. Where the seed's blocks appear (3x3 convolution, ReLU,
// BatchNorm, max pooling), and Keras's (the same without BatchNorm), the
// fused kernels lenetkit trains with run them; MobileNet's separable
// blocks (depthwise 3x3, then 1x1) run channels-last on package nhwc's
// kernels, their activations fused (ops_separable.go). Diagnose says
// everything that stops a file at once, for lenetkit doctor.
//
// Quantized graphs (ops_quant*.go) run on internal/qgemm's int8 products:
// QuantizeLinear and DequantizeLinear, QLinearConv, QLinearMatMul,
// QLinearAdd, ConvInteger, MatMulInteger, DynamicQuantizeLinear, and
// MaxPool, Relu, Transpose, Cast and the reshapes on integer values,
// which live as bytes (or int32s) in the float32 buffers. A QDQ graph is
// first rewritten by a stage of its own (fuseQDQ, quant_fuse.go): each
// DequantizeLinear -> Conv or Gemm -> QuantizeLinear becomes one int8
// operator, a BatchNormalization or a change of scale between
// quantizations a table computed at load by the graph's own arithmetic;
// Options.NoQuantFusion runs it as written instead. The int8 layers then
// run channels-last (ops_quant_nhwc.go): a stride-1 QLinearConv reads its
// padded NHWC image in place, with the BatchNorm table and max pooling
// after it in its epilogue, and writes NHWC for the next one; the dense
// layers take their weights' rows in that order and, at a batch, run for
// many images at once (rows.go).
//
// docs/onnx-graph.md describes the stages from the file to the plan.
package backend
