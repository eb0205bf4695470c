package backend

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/lenetkit/lenetkit/modelfile"
	"github.com/lenetkit/lenetkit/onnx"
)

// The operator sets this backend reads: ONNX 1.2 (opset 7) to 1.16 (21).
const (
	MinOpset = 7
	MaxOpset = 21
)

// Open reads the ONNX model at path and compiles it. External data is
// read from files inside the model's folder; a reference outside it is
// refused, as are training graphs, operators the backend lacks (all of
// them named in one error), graphs that onnx.Validate refuses, graphs
// beyond modelfile's limits and, NaN or infinite
// weights (OpenWith can allow them).
func Open(path string) (*Plan, error) {
	return OpenWith(path, modelfile.ReadOptions{})
}

// OpenWith is Open with the given options.
func OpenWith(path string, opt modelfile.ReadOptions) (*Plan, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("onnx: %w", err)
	}
	m, err := onnx.Unmarshal(data, path)
	if err != nil {
		return nil, err
	}
	if err := check(m); err != nil {
		return nil, fmt.Errorf("onnx: %s: %w", path, err)
	}
	if err := checkInference(m); err != nil {
		return nil, fmt.Errorf("onnx: %s: a training graph, not an inference one: %w", path, err)
	}
	// onnx-go reads only tensors stored in the model: external data is
	// read into it before validate encodes it for onnx-go.
	if _, err := resolveExternal(m, filepath.Dir(path)); err != nil {
		return nil, fmt.Errorf("onnx: %s: %w", path, err)
	}
	if data, err = validate(m, opt); err != nil {
		return nil, fmt.Errorf("onnx: %s: %w", path, err)
	}
	p, err := compile(data, m)
	if err != nil {
		return nil, fmt.Errorf("onnx: %s: %w", path, err)
	}
	return p, nil
}

// check refuses what the backend cannot run before onnx-go decodes it.
func check(m *onnx.ModelProto) error {
	opset := Opset(m)
	if opset < MinOpset || opset > MaxOpset {
		return fmt.Errorf("opset %d: this backend reads opsets %d to %d", opset, MinOpset, MaxOpset)
	}
	var missing []string
	for _, n := range m.Graph.Node {
		typ := n.OpType
		if n.Domain != "" && n.Domain != "ai.onnx" {
			typ = n.Domain + "." + n.OpType
		} else if Supported(n.OpType) {
			continue
		}
		if !slices.Contains(missing, typ) {
			missing = append(missing, typ)
		}
		for _, a := range n.Attribute {
			if a.G != nil || len(a.Graphs) > 0 {
				return fmt.Errorf("operator %s has a subgraph; control flow is not supported", n.OpType)
			}
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("operators not supported: %s", strings.Join(missing, ", "))
	}
	return nil
}

// checkInference refuses the marks of a training graph, at every opset:
// BatchNormalization that outputs running statistics or says training_mode
// 1, and Dropout whose training_mode is true or not a constant.
func checkInference(m *onnx.ModelProto) error {
	g := m.Graph
	isTrue := map[string]bool{}  // constants whose value is a true scalar
	isConst := map[string]bool{} // every constant
	for _, t := range g.Initializer {
		isConst[t.Name] = true
		isTrue[t.Name] = len(t.Int32Data) == 1 && t.Int32Data[0] != 0 || len(t.RawData) == 1 && t.RawData[0] != 0
	}
	for _, n := range g.Node {
		name := n.Name
		if name == "" && len(n.Output) > 0 {
			name = n.Output[0]
		}
		switch n.OpType {
		case "Constant":
			for _, a := range n.Attribute {
				if a.Name == "value" && a.T != nil {
					t := a.T
					isTrue[n.Output[0]] = len(t.Int32Data) == 1 && t.Int32Data[0] != 0 || len(t.RawData) == 1 && t.RawData[0] != 0
				}
			}
			isConst[n.Output[0]] = true
		case "BatchNormalization":
			outs := 0
			for _, o := range n.Output {
				if o != "" {
					outs++
				}
			}
			if outs > 1 {
				return fmt.Errorf("BatchNormalization %q has %d outputs (it updates running statistics)", name, outs)
			}
			if hasTrue(n, "training_mode") {
				return fmt.Errorf("BatchNormalization %q has training_mode 1", name)
			}
		case "Dropout":
			if len(n.Input) > 2 && n.Input[2] != "" {
				if !isConst[n.Input[2]] {
					return fmt.Errorf("Dropout %q takes training_mode from the graph's input", name)
				}
				if isTrue[n.Input[2]] {
					return fmt.Errorf("Dropout %q has training_mode true", name)
				}
			}
		}
	}
	return nil
}

// hasTrue reports whether n has the INT attribute name, not 0.
func hasTrue(n *onnx.NodeProto, name string) bool {
	for _, a := range n.Attribute {
		if a.Name == name && a.I != nil {
			return *a.I != 0
		}
	}
	return false
}

// resolveExternal reads every initializer stored outside the model into
// the model, from files inside dir only. It reports whether there were any.
func resolveExternal(m *onnx.ModelProto, dir string) (bool, error) {
	found := false
	root, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return false, err
	}
	for _, t := range m.Graph.Initializer {
		if t.DataLocation != onnx.TensorProto_EXTERNAL {
			continue
		}
		found = true
		var location string
		offset, length := int64(0), int64(-1)
		for _, kv := range t.ExternalData {
			var err error
			switch kv.Key {
			case "location":
				location = kv.Value
			case "offset":
				offset, err = strconv.ParseInt(kv.Value, 10, 64)
			case "length":
				length, err = strconv.ParseInt(kv.Value, 10, 64)
			}
			if err != nil || offset < 0 {
				return false, fmt.Errorf("initializer %q: external data %s=%q", t.Name, kv.Key, kv.Value)
			}
		}
		if location == "" || filepath.IsAbs(location) {
			return false, fmt.Errorf("initializer %q: external data location %q is not a path inside the model's folder", t.Name, location)
		}
		p, err := filepath.EvalSymlinks(filepath.Join(root, location))
		if err != nil {
			return false, fmt.Errorf("initializer %q: external data: %w", t.Name, err)
		}
		if rel, err := filepath.Rel(root, p); err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return false, fmt.Errorf("initializer %q: external data %q points outside the model's folder; refused", t.Name, location)
		}
		b, err := readRange(p, offset, length, numelDims(t.Dims)*8)
		if err != nil {
			return false, fmt.Errorf("initializer %q: external data %s: %w", t.Name, location, err)
		}
		t.RawData, t.DataLocation, t.ExternalData = b, onnx.TensorProto_DEFAULT, nil
	}
	return found, nil
}

func numelDims(dims []int64) int64 {
	n := int64(1)
	for _, d := range dims {
		if d < 0 || n > 1<<40 {
			return -1
		}
		n *= d
	}
	return n
}

// readRange reads length bytes at offset of the file at path; length -1
// is the rest of the file. limit bounds what a tensor's shape can need.
func readRange(path string, offset, length, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("not a regular file")
	}
	if length < 0 {
		length = st.Size() - offset
	}
	if offset+length > st.Size() || length < 0 || limit >= 0 && length > limit {
		return nil, fmt.Errorf("%d bytes at %d do not fit the file (%d bytes) or the tensor", length, offset, st.Size())
	}
	b := make([]byte, length)
	_, err = f.ReadAt(b, offset)
	if err == io.EOF && length == 0 {
		err = nil
	}
	return b, err
}
