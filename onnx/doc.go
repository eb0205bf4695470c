// Package onnx reads ONNX models into lenetkit's own graph, and converts
// the seed's LeNet between PyTorch state dicts and ONNX.
//
// Unmarshal checks a file's raw bytes against the limits of modelfile's
// limits.go (how deep subgraphs nest, how many nodes the graphs hold)
// before the generated protobuf decoder runs, and Validate checks the
// decoded graph as onnx.checker does, except that nodes may come in any
// order that forms a DAG (one producer per value, no cycle, no Constant
// shadowing an initializer). Decode then turns the ModelProto into a
// Model: nodes with typed attributes (attr.go, the one reader of them),
// initializers (tensor.go, the one decoder of tensors), value infos and
// opsets, its nodes sorted into a topological order (SortNodes). Every
// path reads that Model: the backend's plan, the import to a state dict,
// inspect. Passes over it are files of their own (pass_*.go).
//
// FromStateDict writes the network of package lenet as a Model (Conv,
// Relu, BatchNormalization, MaxPool, Flatten, Gemm) at opsets 9 to 17,
// encoded by Encode, its initializers named by the state-dict keys and
// the BatchNorm counters kept in the model's metadata, so that ToStateDict
// gives back every tensor bit for bit. ToStateDict also reads the graphs
// torch.onnx.export writes for this network, matching them by structure
// rather than by names. Normalize rewrites what torch's exports contain
// and onnx-go's Gorgonia backend cannot run. CheckFinite refuses NaN and
// infinite weights.
//
// The message types (ModelProto and the rest) are generated from
// onnx.proto, the subset of ONNX's own onnx.proto that these models use.
package onnx
