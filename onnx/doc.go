// Package onnx converts the seed's LeNet between PyTorch state dicts and
// ONNX models, and prepares ONNX models of it for onnx-go.
//
// FromStateDict writes the network of package lenet as an ONNX graph (Conv,
// Relu, BatchNormalization, MaxPool, Flatten, Gemm) at opsets 9 to 17, its
// initializers named by the state-dict keys and the BatchNorm counters kept
// in the model's metadata, so that ToStateDict gives back every tensor
// bit for bit. ToStateDict also reads the graphs torch.onnx.export writes for
// this network, matching them by structure rather than by names. Normalize
// rewrites what torch's exports contain and onnx-go's Gorgonia backend cannot
// run.
//
// The message types (ModelProto and the rest) are generated from onnx.proto,
// the subset of ONNX's own onnx.proto that these models use. Unmarshal
// checks the raw bytes against the limits of modelfile's limits.go (how
// deep subgraphs nest, how many nodes the graphs hold) before the generated
// decoder runs, and Validate checks the decoded graph as onnx.checker does
// (topological order, one producer per value, no Constant shadowing an
// initializer); CheckFinite refuses NaN and infinite weights.
package onnx
