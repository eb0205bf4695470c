package onnx

import (
	"fmt"

	"github.com/lenetkit/lenetkit/lenet"
	"github.com/lenetkit/lenetkit/modelfile"
)

// .onnx registers with modelfile, as image formats register with the image
// package.
func init() {
	modelfile.RegisterFormat(modelfile.Format{
		Name: modelfile.ONNX, Extensions: []string{".onnx"}, Graph: true,
		Read: readFormat,
		Write: func(path string, sd lenet.StateDict, opt modelfile.WriteOptions) error {
			m, err := FromStateDict(sd, ExportOptions{Opset: opt.Opset, ProducerVersion: opt.Producer, SourceSHA256: opt.SourceSHA256})
			if err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			return Write(path, m)
		},
	})
}

// readFormat reads the seed's network's state dict from an ONNX file; with
// info, it describes the file and, for another network's graph, lists its
// initializers.
func readFormat(path string, info *modelfile.Info) (lenet.StateDict, error) {
	if info == nil {
		return readStateDict(path)
	}
	m, err := Read(path)
	if err != nil {
		return nil, err
	}
	// What the file says about itself, as every path reads it: from the
	// decoded graph.
	g, err := Decode(m)
	if err != nil {
		return nil, fmt.Errorf("onnx: %s: %w", path, err)
	}
	info.Producer, info.Opset = g.Producer, g.Opset
	if len(g.Metadata) > 0 {
		info.Metadata = g.Metadata
	}
	sd, err := ToStateDict(m)
	if err == nil {
		return sd, nil
	}
	info.NotSeedNetwork = err.Error()
	sd = nil
	for _, p := range m.Graph.Initializer { // the file's order
		t := g.Graph.Initializers[p.Name]
		dtype := lenet.Float32
		if t.DType == Int64 {
			dtype = lenet.Int64
		}
		// Float values travel, so that modelfile can check them; others
		// only their shape.
		var v []float32
		if t.DType.IsFloat() {
			v = t.Float
		}
		sd = append(sd, &lenet.Tensor{Name: p.Name, Shape: t.Shape, DType: dtype, F32: v})
	}
	if len(sd) == 0 {
		return nil, fmt.Errorf("onnx: %s: no initializers", path)
	}
	return sd, nil
}
