package onnx

import (
	"fmt"
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
	// infer.Preprocess). Readers take a 28x28 input as is and pad a 32x32
	// one by 2 when a model lacks it.
	MetaPreprocess = "preprocess"
	// SeedPreprocess is MetaPreprocess's value for the seed's network.
	SeedPreprocess = `{"pad":2,"mean":0,"std":1}`
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

// FromStateDict builds the ONNX model of the network with the weights of sd,
// which must pass lenet.Check.
func FromStateDict(sd lenet.StateDict, opt ExportOptions) (*ModelProto, error) {
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

	g := &GraphProto{Name: "lenet"}
	for _, p := range lenet.Params() {
		t := sd.Lookup(p.Name)
		if t.DType == lenet.Float32 {
			g.Initializer = append(g.Initializer, floatTensor(p.Name, p.Shape, t.F32))
		}
	}
	var nodes []*NodeProto
	prev := InputName
	add := func(op, name string, inputs []string, attrs ...*AttributeProto) {
		nodes = append(nodes, &NodeProto{
			Name:      name,
			OpType:    op,
			Input:     append([]string{prev}, inputs...),
			Output:    []string{name},
			Attribute: attrs,
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
			add("Conv", name, []string{l.Param("weight"), l.Param("bias")},
				attrInts("kernel_shape", k, k), attrInts("pads", pad, pad, pad, pad),
				attrInts("strides", 1, 1), attrInts("dilations", 1, 1), attrInt("group", 1))
		case lenet.ReLU:
			add("Relu", name, nil)
		case lenet.BatchNorm:
			// ONNX's momentum weighs the running statistic, PyTorch's the
			// new batch value: 0.9 is PyTorch's 0.1. Inference ignores it.
			bnAttrs := []*AttributeProto{
				attrFloat("epsilon", lenet.BatchNormEps),
				attrFloat("momentum", float32(1-lenet.BatchNormMomentum)),
			}
			if opset >= 14 {
				// BatchNormalization-14 can compute batch statistics; say
				// explicitly that this graph uses the running ones, as torch does.
				bnAttrs = append(bnAttrs, attrInt("training_mode", 0))
			}
			add("BatchNormalization", name, []string{l.Param("weight"), l.Param("bias"),
				l.Param("running_mean"), l.Param("running_var")}, bnAttrs...)
		case lenet.MaxPool:
			p := int64(l.Size)
			poolAttrs := []*AttributeProto{attrInts("kernel_shape", p, p), attrInts("pads", 0, 0, 0, 0), attrInts("strides", p, p)}
			if opset >= 10 {
				// MaxPool-10 added ceil_mode; PyTorch's MaxPool2d floors.
				poolAttrs = append(poolAttrs, attrInt("ceil_mode", 0))
			}
			add("MaxPool", name, nil, poolAttrs...)
		case lenet.Flatten:
			add("Flatten", name, nil, attrInt("axis", 1))
		case lenet.Dropout1d:
			// The identity at inference: no node.
		case lenet.Linear:
			add("Gemm", name, []string{l.Param("weight"), l.Param("bias")}, attrInt("transB", 1))
		}
	}
	last := nodes[len(nodes)-1]
	last.Output[0] = OutputName
	g.Node = nodes
	g.Input = []*ValueInfoProto{floatValue(InputName, BatchParam, 1, lenet.InputSize, lenet.InputSize)}
	g.Output = []*ValueInfoProto{floatValue(OutputName, BatchParam, lenet.Classes)}

	m := &ModelProto{
		IrVersion:       irVersion(opset),
		OpsetImport:     []*OperatorSetIdProto{{Domain: "", Version: int64(opset)}},
		ProducerName:    Producer,
		ProducerVersion: opt.ProducerVersion,
		DocString:       "The seed's LeNet for 32x32 MNIST digits, written by lenetkit.",
		Graph:           g,
	}
	// The input is declared, not guessed: ToTensor, Pad(2), no Normalize.
	m.MetadataProps = append(m.MetadataProps, &StringStringEntryProto{Key: MetaPreprocess, Value: SeedPreprocess})
	if opt.SourceSHA256 != "" {
		m.MetadataProps = append(m.MetadataProps, &StringStringEntryProto{Key: MetaSourceSHA256, Value: opt.SourceSHA256})
	}
	for _, p := range lenet.Params() {
		if t := sd.Lookup(p.Name); t.DType == lenet.Int64 {
			m.MetadataProps = append(m.MetadataProps, &StringStringEntryProto{Key: p.Name, Value: strconv.FormatInt(t.I64[0], 10)})
		}
	}
	return m, nil
}

// floatValue describes a float32 tensor whose first dimension is the
// symbolic batch, the rest fixed.
func floatValue(name, batch string, dims ...int) *ValueInfoProto {
	shape := &TensorShapeProto{Dim: []*TensorShapeProto_Dimension{
		{Value: &TensorShapeProto_Dimension_DimParam{DimParam: batch}},
	}}
	for _, d := range dims {
		shape.Dim = append(shape.Dim, &TensorShapeProto_Dimension{Value: &TensorShapeProto_Dimension_DimValue{DimValue: int64(d)}})
	}
	return &ValueInfoProto{Name: name, Type: &TypeProto{Value: &TypeProto_TensorType{TensorType: &TypeProto_Tensor{
		ElemType: int32(TensorProto_FLOAT),
		Shape:    shape,
	}}}}
}
