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
// fused kernels lenetkit trains with run them. Diagnose says everything
// that stops a file at once, for lenetkit doctor.
//
// docs/onnx-graph.md describes the stages from the file to the plan.
package backend
