package modelfile

import (
	"fmt"
	"os"

	"github.com/lenetkit/lenetkit/lenet"
)

// Info describes a model file: what `lenetkit inspect` shows.
type Info struct {
	Path     string            `json:"path"`
	Format   string            `json:"format"`
	Bytes    int64             `json:"bytes"`
	SHA256   string            `json:"sha256"`
	Producer string            `json:"producer,omitempty"` // ONNX: producer_name and version
	Opset    int64             `json:"opset,omitempty"`    // ONNX: the default domain's operator set
	Metadata map[string]string `json:"metadata,omitempty"` // ONNX metadata_props, safetensors __metadata__
	Tensors  []TensorInfo      `json:"tensors"`
	// Parameters counts the elements of the float tensors, BatchNorm's
	// running statistics excluded when the file is the seed's network.
	Parameters int `json:"parameters"`
	// SeedNetwork says whether the tensors are the seed's LeNet's, as
	// PyTorch's strict load_state_dict would; NotSeedNetwork says why not.
	SeedNetwork    bool   `json:"seed_network"`
	NotSeedNetwork string `json:"not_seed_network,omitempty"`
	// BatchesTracked is BatchNorm's num_batches_tracked when every layer
	// has the same one; nil when the file has none or they differ.
	BatchesTracked *int64 `json:"num_batches_tracked"`
}

// TensorInfo is one tensor's name, shape and element type.
type TensorInfo struct {
	Name  string `json:"name"`
	Shape []int  `json:"shape"`
	DType string `json:"dtype"`
}

// Inspect reads the model file at path and describes it. A file of another
// network is described too, with SeedNetwork false. NaN and infinite
// weights are refused (InspectWith can allow them).
func Inspect(path string) (*Info, error) {
	return InspectWith(path, ReadOptions{})
}

// InspectWith is Inspect with the given options.
func InspectWith(path string, opt ReadOptions) (*Info, error) {
	f, err := Lookup(path)
	if err != nil {
		return nil, err
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if err := CheckContent(path, f.Name); err != nil {
		return nil, err
	}
	sum, err := SHA256(path)
	if err != nil {
		return nil, err
	}
	info := &Info{Path: path, Format: f.Name, Bytes: st.Size(), SHA256: sum}
	sd, err := f.Read(path, info)
	if err != nil {
		return nil, err
	}
	if err := CheckFinite(sd, opt); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	for _, t := range sd {
		info.Tensors = append(info.Tensors, TensorInfo{Name: t.Name, Shape: t.Shape, DType: t.DType.String()})
	}
	if err := lenet.Check(sd); err != nil || info.NotSeedNetwork != "" {
		if info.NotSeedNetwork == "" {
			info.NotSeedNetwork = err.Error()
		}
		for _, t := range sd {
			if t.DType == lenet.Float32 {
				info.Parameters += t.NumElements()
			}
		}
		return info, nil
	}
	info.SeedNetwork, info.Parameters = true, lenet.NumParameters()
	info.BatchesTracked = batchesTracked(sd)
	return info, nil
}

// batchesTracked is the BatchNorm layers' common num_batches_tracked.
func batchesTracked(sd lenet.StateDict) *int64 {
	var n *int64
	for _, b := range lenet.Blocks {
		t := sd.Lookup(b.BatchNorm.Param("num_batches_tracked"))
		if t == nil || len(t.I64) != 1 || (n != nil && *n != t.I64[0]) {
			return nil
		}
		v := t.I64[0]
		n = &v
	}
	return n
}
