package onnx

import (
	"fmt"
	"slices"
	"strconv"

	"github.com/lenetkit/lenetkit/lenet"
)

// Opsets lenetkit writes, and the one it writes unless told otherwise.
const (
	MinOpset     = 9
	MaxOpset     = 17
	DefaultOpset = 13
)

// Names in the models lenetkit writes.
const (
	Producer   = "lenetkit"
	InputName  = "input"
	OutputName = "logits"
	BatchParam = "batch" // the symbolic batch dimension of input and output

	// MetaSourceSHA256 is the metadata key of the hex SHA-256 of the file
	// the weights were read from. The int64 entries of the state dict (the
	// BatchNorm counters, which the graph does not use) are metadata too,
	// keyed by their state-dict names.
	MetaSourceSHA256 = "source_sha256"
	// MetaPreprocess is the metadata key of the input's preprocessing, as
	// JSON: {"pad": 2, "mean": 0, "std": 1} for the seed's network (see
	// digit.Preprocess). Readers take a 28x28 input as is and pad a 32x32
	// one by 2 when a model lacks it.
	MetaPreprocess = "preprocess"
	// SeedPreprocess is MetaPreprocess's value for the seed's network.
	SeedPreprocess = `{"pad":2,"mean":0,"std":1}`
	// MetaClasses is the metadata key of the names of a classifier's
	// outputs, in order, as a JSON array of strings: ["alpha", "beta",
	// "gamma"]. lenetkit train writes the names of the classes it trained
	// on; infer and serve name their answers by them.
	MetaClasses = "classes"
)

// ExportOptions controls FromStateDict.
type ExportOptions struct {
	// Opset is the ONNX operator set, MinOpset to MaxOpset; 0 means
	// DefaultOpset.
	Opset int
	// ProducerVersion is written as the model's producer_version.
	ProducerVersion string
	// SourceSHA256 is the hex SHA-256 of the source file; written to the
	// metadata when not empty.
	SourceSHA256 string
}

// irVersion is the IR version ONNX released with each opset: the newest a
// runtime supporting that opset is sure to read.
func irVersion(opset int) int64 {
	switch {
	case opset <= 9:
		return 4
	case opset == 10:
		return 5
	case opset == 11:
		return 6
	case opset <= 14:
		return 7
	}
	return 8
}

// nodePrefix names the nodes of each kind: conv1, relu1, bn1, pool1...
var nodePrefix = map[lenet.Kind]string{lenet.Conv: "conv", lenet.ReLU: "relu", lenet.BatchNorm: "bn",
	lenet.MaxPool: "pool", lenet.Flatten: "flatten", lenet.Dropout1d: "dropout", lenet.Linear: "fc"}

// docString is the doc_string of the models FromStateDict writes.
const docString = "The seed's LeNet for 32x32 MNIST digits, written by lenetkit."

// FromStateDict builds the ONNX model of the network with the weights of sd,
// which must pass lenet.Check: it describes the network as a Model
// (seedModel) and writes that with Encode.
func FromStateDict(sd lenet.StateDict, opt ExportOptions) (*ModelProto, error) {
	m, err := seedModel(sd, opt)
	if err != nil {
		return nil, err
	}
	p, err := Encode(m)
	if err != nil {
		return nil, err
	}
	p.DocString = docString
	return p, nil
}

// seedModel describes the network of package lenet (lenet.Layers) with the
// weights of sd, which must pass lenet.Check, as lenetkit's graph: one node
// per layer but Dropout1d (the identity at inference), the float32 entries
// of sd as initializers of their state-dict names, the int64 ones (the
// BatchNorm counters) as metadata.
func seedModel(sd lenet.StateDict, opt ExportOptions) (*Model, error) {
	if err := lenet.Check(sd); err != nil {
		return nil, fmt.Errorf("onnx: %w", err)
	}
	opset := opt.Opset
	if opset == 0 {
		opset = DefaultOpset
	}
	if opset < MinOpset || opset > MaxOpset {
		return nil, fmt.Errorf("onnx: opset %d not supported, want %d to %d", opset, MinOpset, MaxOpset)
	}

	g := &Graph{Name: "lenet", Initializers: map[string]*Tensor{}, ValueInfo: map[string]*Value{}}
	for _, p := range lenet.Params() {
		t := sd.Lookup(p.Name)
		if t.DType == lenet.Float32 {
			g.Initializers[p.Name] = &Tensor{Name: p.Name, DType: Float, Shape: slices.Clone(p.Shape), Float: t.F32}
		}
	}
	prev := InputName
	add := func(op, name string, inputs []string, attrs Attrs) {
		g.Nodes = append(g.Nodes, &Node{
			Name:    name,
			OpType:  op,
			Inputs:  append([]string{prev}, inputs...),
			Outputs: []string{name},
			Attrs:   attrs,
			Index:   len(g.Nodes),
		})
		prev = name
	}
	count := map[lenet.Kind]int{}
	for _, l := range lenet.Layers {
		count[l.Kind]++
		name := fmt.Sprintf("%s%d", nodePrefix[l.Kind], count[l.Kind])
		switch l.Kind {
		case lenet.Conv:
			k, pad := int64(l.Size), int64(l.Size/2)
			add("Conv", name, []string{l.Param("weight"), l.Param("bias")}, Attrs{
				"kernel_shape": attrOfInts(k, k), "pads": attrOfInts(pad, pad, pad, pad),
				"strides": attrOfInts(1, 1), "dilations": attrOfInts(1, 1), "group": attrOfInt(1),
			})
		case lenet.ReLU:
			add("Relu", name, nil, Attrs{})
		case lenet.BatchNorm:
			// ONNX's momentum weighs the running statistic, PyTorch's the
			// new batch value: 0.9 is PyTorch's 0.1. Inference ignores it.
			a := Attrs{
				"epsilon":  attrOfFloat(lenet.BatchNormEps),
				"momentum": attrOfFloat(float32(1 - lenet.BatchNormMomentum)),
			}
			if opset >= 14 {
				// BatchNormalization-14 can compute batch statistics; say
				// explicitly that this graph uses the running ones, as torch does.
				a["training_mode"] = attrOfInt(0)
			}
			add("BatchNormalization", name, []string{l.Param("weight"), l.Param("bias"),
				l.Param("running_mean"), l.Param("running_var")}, a)
		case lenet.MaxPool:
			p := int64(l.Size)
			a := Attrs{"kernel_shape": attrOfInts(p, p), "pads": attrOfInts(0, 0, 0, 0), "strides": attrOfInts(p, p)}
			if opset >= 10 {
				// MaxPool-10 added ceil_mode; PyTorch's MaxPool2d floors.
				a["ceil_mode"] = attrOfInt(0)
			}
			add("MaxPool", name, nil, a)
		case lenet.Flatten:
			add("Flatten", name, nil, Attrs{"axis": attrOfInt(1)})
		case lenet.Dropout1d:
			// The identity at inference: no node.
		case lenet.Linear:
			add("Gemm", name, []string{l.Param("weight"), l.Param("bias")}, Attrs{"transB": attrOfInt(1)})
		}
	}
	g.Nodes[len(g.Nodes)-1].Outputs[0] = OutputName
	g.Inputs = []*Value{batchValue(InputName, 1, lenet.InputSize, lenet.InputSize)}
	g.Outputs = []*Value{batchValue(OutputName, lenet.Classes)}

	m := &Model{
		IRVersion: irVersion(opset),
		Opset:     int64(opset),
		Opsets:    map[string]int64{"": int64(opset)},
		Producer:  Producer,
		// The input is declared, not guessed: ToTensor, Pad(2), no Normalize.
		Metadata: map[string]string{MetaPreprocess: SeedPreprocess},
		Graph:    g,
	}
	if opt.ProducerVersion != "" {
		m.Producer += " " + opt.ProducerVersion
	}
	if opt.SourceSHA256 != "" {
		m.Metadata[MetaSourceSHA256] = opt.SourceSHA256
	}
	for _, p := range lenet.Params() {
		if t := sd.Lookup(p.Name); t.DType == lenet.Int64 {
			m.Metadata[p.Name] = strconv.FormatInt(t.I64[0], 10)
		}
	}
	return m, nil
}

func attrOfInt(v int64) Attr { return Attr{Type: AttributeProto_INT, Int: v} }

func attrOfInts(v ...int64) Attr { return Attr{Type: AttributeProto_INTS, Ints: v} }

func attrOfFloat(v float32) Attr { return Attr{Type: AttributeProto_FLOAT, Float: v} }

// batchValue describes a float32 tensor whose first dimension is the
// symbolic batch (BatchParam), the rest fixed.
func batchValue(name string, dims ...int) *Value {
	v := &Value{Name: name, DType: Float, Dims: []int64{-1}, Params: []string{BatchParam}}
	for _, d := range dims {
		v.Dims = append(v.Dims, int64(d))
		v.Params = append(v.Params, "")
	}
	return v
}
