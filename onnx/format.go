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
	info.Producer = m.ProducerName
	if m.ProducerVersion != "" {
		info.Producer += " " + m.ProducerVersion
	}
	for _, o := range m.OpsetImport {
		if isDefaultDomain(o.Domain) {
			info.Opset = o.Version
		}
	}
	if len(m.MetadataProps) > 0 {
		info.Metadata = map[string]string{}
		for _, p := range m.MetadataProps {
			info.Metadata[p.Key] = p.Value
		}
	}
	sd, err := ToStateDict(m)
	if err == nil {
		return sd, nil
	}
	info.NotSeedNetwork = err.Error()
	sd = nil
	for _, t := range m.Graph.Initializer {
		shape := make([]int, len(t.Dims))
		for i, d := range t.Dims {
			shape[i] = int(d)
		}
		dtype := lenet.Float32
		if TensorProto_DataType(t.DataType) == TensorProto_INT64 {
			dtype = lenet.Int64
		}
		// Float values travel, so that modelfile can check them; others
		// only their shape.
		v, _ := floatValues(t)
		sd = append(sd, &lenet.Tensor{Name: t.Name, Shape: shape, DType: dtype, F32: v})
	}
	if len(sd) == 0 {
		return nil, fmt.Errorf("onnx: %s: no initializers", path)
	}
	return sd, nil
}
