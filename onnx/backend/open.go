package backend

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/lenetkit/lenetkit/lenet"
	"github.com/lenetkit/lenetkit/modelfile"
	"github.com/lenetkit/lenetkit/onnx"
)

// The operator sets this backend reads: ONNX 1.0 (opset 1) to 1.16 (21).
// onnx.Decode rewrites a graph older than opset 7 into opset 7's forms, so
// the compiler sees opsets 7 to 21 only.
const (
	MinOpset = 1
	MaxOpset = 21
)

// Open reads the ONNX model at path and compiles it. External data is
// read from files inside the model's folder; a reference outside it is
// refused, as are training graphs, operators the backend lacks (all of
// them named in one *onnx.UnsupportedError), graphs that onnx.Validate
// refuses, graphs beyond modelfile's limits and NaN or infinite weights
// (OpenWith can allow them).
func Open(path string) (*Plan, error) {
	return OpenWith(path, modelfile.ReadOptions{})
}

// OpenWith is Open with the given options.
func OpenWith(path string, opt modelfile.ReadOptions) (*Plan, error) {
	return OpenOptions(path, Options{ReadOptions: opt})
}

// OpenOptions is Open with the given options; Options.Shapes makes a plan
// of whole tensors.
func OpenOptions(path string, opt Options) (*Plan, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("onnx: %w", err)
	}
	return open(data, path, filepath.Dir(path), opt)
}

// OpenData is OpenOptions on a model's encoded content that is in no file,
// such as a graph a program rewrote in memory; name names it in errors.
// Its tensors must all be in data: there is no folder to read external
// data from.
func OpenData(data []byte, name string, opt Options) (*Plan, error) {
	return open(data, name, "", opt)
}

// OpenStateDict compiles the graph lenetkit exports for the seed's
// weights in sd (onnx.FromStateDict), made in memory: the plan eval runs
// for a .pth or .safetensors file, whose 3x3 convolutions run by
// Winograd's transforms, twice as fast as lenet's own forward pass. name
// names the weights in errors.
func OpenStateDict(sd lenet.StateDict, name string, opt Options) (*Plan, error) {
	pm, err := onnx.FromStateDict(sd, onnx.ExportOptions{})
	if err != nil {
		return nil, fmt.Errorf("onnx: %s: %w", name, err)
	}
	data, err := onnx.Marshal(pm)
	if err != nil {
		return nil, fmt.Errorf("onnx: %s: %w", name, err)
	}
	return OpenData(data, name, opt)
}

// open is OpenOptions on a file's content; path names it in errors and
// dir is the folder its external data is read from.
func open(data []byte, path, dir string, opt Options) (*Plan, error) {
	m, size, err := Load(data, path, dir, opt.ReadOptions)
	if err != nil {
		return nil, err
	}
	p, err := compile(m, size, opt)
	if err != nil {
		return nil, fmt.Errorf("onnx: %s: %w", path, err)
	}
	return p, nil
}

// Load decodes a model's content with its external data (read from files
// in dir) and checks that the backend can run it, as Open does before it
// compiles. It returns the model and its size, file and external data.
func Load(data []byte, path, dir string, opt modelfile.ReadOptions) (*onnx.Model, int64, error) {
	m, external, err := Decode(data, path, dir)
	if err != nil {
		return nil, 0, err
	}
	if err := Check(m); err != nil {
		return nil, 0, fmt.Errorf("onnx: %s: %w", path, err)
	}
	if err := checkInference(m.Graph); err != nil {
		return nil, 0, fmt.Errorf("onnx: %s: %w", path, trainingError{err})
	}
	if err := checkValues(m.Graph, opt); err != nil {
		return nil, 0, fmt.Errorf("onnx: %s: %w", path, err)
	}
	return m, int64(len(data)) + external, nil
}

// Decode decodes a model's content with its external data, read from
// files in dir, as Load does, without Load's checks: for what reads a
// file the backend may not run (its input's shape, its quantized
// tensors). It returns the model and the bytes of external data read.
func Decode(data []byte, path, dir string) (*onnx.Model, int64, error) {
	pm, err := onnx.Unmarshal(data, path)
	if err != nil {
		return nil, 0, err
	}
	external, err := resolveExternal(pm, dir)
	if err != nil {
		return nil, 0, fmt.Errorf("onnx: %s: %w", path, err)
	}
	m, err := onnx.Decode(pm)
	if err != nil {
		return nil, 0, fmt.Errorf("onnx: %s: %w", path, err)
	}
	return m, external, nil
}

// Check refuses what the backend cannot run: an opset outside the range
// it reads, operators it lacks (every one, in an *onnx.UnsupportedError),
// control flow, nodes without an output.
func Check(m *onnx.Model) error {
	if m.Opset < MinOpset || m.Opset > MaxOpset {
		return fmt.Errorf("opset %d: this backend reads opsets %d to %d: %w", m.Opset, MinOpset, MaxOpset, onnx.ErrUnsupported)
	}
	if err := onnx.Unsupported(m.Graph, SupportedOp); err != nil {
		return err
	}
	for _, n := range m.Graph.Nodes {
		if subs := n.Attrs.Subgraphs(); len(subs) > 0 {
			return fmt.Errorf("%s has a subgraph (%s); control flow is %w", n.Describe(), onnx.OpName(subs[0]), onnx.ErrUnsupported)
		}
		// Every operator the backend runs has a first output, which the
		// compiler reads.
		if len(n.Outputs) == 0 || n.Outputs[0] == "" {
			return modelfile.FormatErrorf("%s has no output", n.Describe())
		}
	}
	return nil
}

// checkInference refuses the marks of a training graph, at every opset:
// BatchNormalization that outputs running statistics or says training_mode
// 1, and Dropout whose training_mode is true or not a constant.
func checkInference(g *onnx.Graph) error {
	constants := map[string]*onnx.Tensor{}
	for name, t := range g.Initializers {
		constants[name] = t
	}
	for _, n := range g.Nodes {
		if err := inferenceNode(n, constants); err != nil {
			return err
		}
	}
	return nil
}

// trainingError is checkInference's refusal: errors.Is matches it with
// onnx.ErrUnsupported, as lenetkit runs inference graphs only.
type trainingError struct{ err error }

func (e trainingError) Error() string {
	return "a training graph, not an inference one: " + e.err.Error() +
		"; export it again after model.eval() (torch.onnx.export's training=TrainingMode.EVAL, its default)"
}
func (e trainingError) Is(target error) bool { return target == onnx.ErrUnsupported }

// inferenceNode checks one node, in topological order: constants holds
// the values known so far, and a Constant node adds its own.
func inferenceNode(n *onnx.Node, constants map[string]*onnx.Tensor) error {
	name := n.Label()
	switch n.OpType {
	case "Constant":
		if t, err := n.Attrs.ConstantValue(); err == nil && len(n.Outputs) > 0 {
			constants[n.Outputs[0]] = t
		}
	case "BatchNormalization":
		outs := 0
		for _, o := range n.Outputs {
			if o != "" {
				outs++
			}
		}
		if outs > 1 {
			return fmt.Errorf("BatchNormalization %q has %d outputs (it updates running statistics)", name, outs)
		}
		if t, _ := n.Attrs.Int("training_mode", 0); t != 0 {
			return fmt.Errorf("BatchNormalization %q has training_mode 1", name)
		}
	case "Dropout":
		if mode := n.Input(2); mode != "" {
			t, ok := constants[mode]
			if !ok {
				return fmt.Errorf("Dropout %q takes training_mode from the graph's input", name)
			}
			if slices.ContainsFunc(t.Ints(), func(v int64) bool { return v != 0 }) {
				return fmt.Errorf("Dropout %q has training_mode true", name)
			}
		}
	}
	return nil
}

// region is one initializer's external data: bytes [off, end) of a file.
type region struct {
	name     string // the initializer's
	location string
	file     os.FileInfo
	fileID   int // the same for every name of one file (links included)
	path     string
	off, end int64
}

// resolveExternal reads every initializer stored outside the model into
// the model, from regular files inside dir only, and returns how many
// bytes it read. Every region is checked before any is read: inside its
// file, exactly the tensor's bytes long, and overlapping no other, so
// that no byte is read twice (sixteen tensors on one 256 MB region would
// otherwise take 4 GB) and a model reads at most the files beside it.
func resolveExternal(m *onnx.ModelProto, dir string) (int64, error) {
	var (
		regions []region
		files   []os.FileInfo
	)
	root := ""
	for _, t := range m.Graph.Initializer {
		if t.DataLocation != onnx.TensorProto_EXTERNAL {
			continue
		}
		if dir == "" {
			return 0, fmt.Errorf("initializer %q: its data is in an external file, and this model has no folder to read it from", t.Name)
		}
		if root == "" {
			var err error
			if root, err = filepath.EvalSymlinks(dir); err != nil {
				return 0, err
			}
		}
		r, err := externalRegion(t, root)
		if err != nil {
			return 0, fmt.Errorf("initializer %q: %w", t.Name, err)
		}
		r.fileID = slices.IndexFunc(files, func(fi os.FileInfo) bool { return os.SameFile(fi, r.file) })
		if r.fileID < 0 {
			r.fileID = len(files)
			files = append(files, r.file)
		}
		regions = append(regions, r)
	}
	if err := overlaps(regions); err != nil {
		return 0, err
	}
	total := int64(0)
	for _, r := range regions {
		total += r.end - r.off // regions do not overlap: at most the files' sizes
	}
	k := 0
	for _, t := range m.Graph.Initializer {
		if t.DataLocation != onnx.TensorProto_EXTERNAL {
			continue
		}
		r := regions[k]
		k++
		b, err := readRange(r.path, r.off, r.end-r.off)
		if err != nil {
			return 0, fmt.Errorf("initializer %q: external data %s: %w", t.Name, r.location, err)
		}
		t.RawData, t.DataLocation, t.ExternalData = b, onnx.TensorProto_DEFAULT, nil
	}
	return total, nil
}

// externalRegion checks where t's external data lies, inside root.
func externalRegion(t *onnx.TensorProto, root string) (region, error) {
	r := region{name: t.Name}
	length := int64(-1)
	for _, kv := range t.ExternalData {
		var err error
		switch kv.Key {
		case "location":
			r.location = kv.Value
		case "offset":
			r.off, err = strconv.ParseInt(kv.Value, 10, 64)
		case "length":
			length, err = strconv.ParseInt(kv.Value, 10, 64)
		}
		if err != nil || r.off < 0 || kv.Key == "length" && length < 0 {
			return r, modelfile.FormatErrorf("external data %s=%q", kv.Key, kv.Value)
		}
	}
	if r.location == "" || filepath.IsAbs(r.location) {
		return r, fmt.Errorf("external data location %q is not a path inside the model's folder", r.location)
	}
	p, err := filepath.EvalSymlinks(filepath.Join(root, r.location))
	if err != nil {
		return r, externalError(r.location, err)
	}
	if rel, err := filepath.Rel(root, p); err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return r, fmt.Errorf("external data %q points outside the model's folder; refused", r.location)
	}
	r.path = p
	if r.file, err = os.Stat(p); err != nil {
		return r, externalError(r.location, err)
	}
	if !r.file.Mode().IsRegular() {
		return r, fmt.Errorf("external data %s: not a regular file", r.location)
	}
	size := r.file.Size()
	want, err := tensorBytes(t)
	if err != nil {
		return r, err
	}
	if length < 0 {
		length = max(size-r.off, 0)
	}
	if length != want {
		return r, modelfile.FormatErrorf("external data %s: %d bytes for a tensor of %d", r.location, length, want)
	}
	if r.end, err = addChecked(r.off, length, size); err != nil {
		return r, modelfile.FormatErrorf("external data %s: %d bytes at %d do not fit the file (%d bytes)", r.location, length, r.off, size)
	}
	return r, nil
}

// overlaps refuses two regions of one file that share a byte.
func overlaps(regions []region) error {
	sorted := slices.Clone(regions)
	slices.SortFunc(sorted, func(a, b region) int {
		if a.fileID != b.fileID {
			return a.fileID - b.fileID
		}
		return cmp.Compare(a.off, b.off)
	})
	for i := 1; i < len(sorted); i++ {
		a, b := sorted[i-1], sorted[i]
		if a.fileID == b.fileID && b.off < a.end {
			return modelfile.LimitErrorf("initializers %q and %q: their external data overlap in %s (bytes %d to %d and %d to %d); each byte is read once, refused",
				a.name, b.name, b.location, a.off, a.end, b.off, b.end)
		}
	}
	return nil
}

// tensorBytes is the size of t's data as its shape and type declare it.
func tensorBytes(t *onnx.TensorProto) (int64, error) {
	n, err := elements(t.Dims)
	if err != nil {
		return 0, err
	}
	size := int64(onnx.DType(t.DataType).Size())
	if size == 0 {
		return 0, fmt.Errorf("external data of %s: not supported", onnx.TensorProto_DataType(t.DataType))
	}
	return int64(n) * size, nil
}

// readRange reads length bytes at offset of the file at path, a region
// externalRegion checked.
func readRange(path string, offset, length int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := make([]byte, length)
	_, err = f.ReadAt(b, offset)
	if err == io.EOF && length == 0 {
		err = nil
	}
	return b, err
}

// externalError reports a file system error on external data at location,
// the location quoted: it comes from the model file and may hold anything,
// a newline too, which the one line of an error must not.
func externalError(location string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("external data %q: %w", location, pe.Err)
	}
	return fmt.Errorf("external data %q: %w", location, err)
}
