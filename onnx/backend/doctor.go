package backend

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/lenetkit/lenetkit/modelfile"
	"github.com/lenetkit/lenetkit/onnx"
)

// Diagnosis is everything Diagnose found about a model file: what it is,
// every reason the backend cannot run it (not only the first), and for a
// file that runs, how the plan reads it.
type Diagnosis struct {
	File      string `json:"file"`
	IRVersion int64  `json:"ir_version"`
	Opset     int64  `json:"opset"`
	Producer  string `json:"producer,omitempty"`
	Nodes     int    `json:"nodes"`
	// Upgraded says the graph, of an opset before 7, is read in opset 7's
	// forms (onnx.Upgrade).
	Upgraded bool `json:"upgraded,omitempty"`
	// Reordered says the nodes were out of topological order (sorted).
	Reordered bool      `json:"reordered"`
	Blockers  []Blocker `json:"blockers"`
	// Runs is true when nothing blocks: the plan compiled.
	Runs bool `json:"runs"`
	// Input is the image input the plan takes, for a file that runs.
	Input *InputInfo `json:"input,omitempty"`
	// Fused lists the node chains the plan runs as one fused kernel.
	Fused [][]string `json:"fused,omitempty"`
	// Int8Kernel names the int8 kernel the plan's quantized convolutions
	// and products run, for a quantized file.
	Int8Kernel string `json:"int8_kernel,omitempty"`
	// Refused are what makes ONNX Runtime refuse a file that lenetkit
	// runs: attributes its operators do not have at the file's opset
	// (onnx.StrayAttributes), an input of another float type than the
	// weights it meets, declared shapes that the nodes do not compute.
	// lenetkit goes by the attributes and the nodes, in float32.
	Refused []string `json:"onnxruntime_refuses,omitempty"`
}

// Blocker is one reason a file does not run.
type Blocker struct {
	// Kind is format, opset, operator, control-flow, dtype, dynamic-shape,
	// external-data, training, values or compile.
	Kind    string   `json:"kind"`
	Message string   `json:"message"`
	Op      string   `json:"op,omitempty"`
	Nodes   []string `json:"nodes,omitempty"`
}

// InputInfo is a classifier's image input.
type InputInfo struct {
	Name     string `json:"name"`
	Layout   string `json:"layout"` // NCHW, NHWC, HW ([batch, H, W]) or flat ([batch, H*W]), as the file declares it
	Declared string `json:"declared"`
	Channels int    `json:"channels"`
	Height   int    `json:"height"`
	Width    int    `json:"width"`
	// FixedBatch is the batch the file fixes, above 1, which lenetkit
	// reads as any (Plan.FixedBatch); 0 for a symbolic batch or 1.
	FixedBatch int `json:"fixed_batch,omitempty"`
}

// Diagnose reads the model at path and reports every blocker at once.
// The error is only for a file it cannot read at all (missing, not a
// regular file); a file that is not ONNX is a Diagnosis with a format
// blocker.
func Diagnose(path string, opt modelfile.ReadOptions) (*Diagnosis, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("onnx: %w", err)
	}
	d := &Diagnosis{File: path, Blockers: []Blocker{}}
	pm, err := onnx.Unmarshal(data, path)
	if err != nil {
		d.block("format", err, "", nil)
		return d, nil
	}
	d.IRVersion, d.Nodes = pm.IrVersion, len(pm.Graph.Node)
	external, err := resolveExternal(pm, filepath.Dir(path))
	if err != nil {
		d.block("external-data", err, "", nil)
		dropExternal(pm)
	}
	m := d.decode(pm)
	if m == nil {
		return d, nil
	}
	d.Opset, d.Producer, d.Reordered = cmp.Or(d.Opset, m.Upgraded, m.Opset), m.Producer, m.Graph.Reordered
	d.Upgraded = m.Upgraded != 0
	d.model(m, opt)
	if len(d.Blockers) > 0 {
		return d, nil
	}
	var stray []string // before compile, which rewrites the graph
	for _, a := range onnx.StrayAttributes(m) {
		stray = append(stray, a.String())
	}
	stray = append(stray, mixedInputTypes(m.Graph)...)
	p, err := compile(m, int64(len(data))+external, Options{ReadOptions: opt})
	if err != nil {
		d.block("compile", err, "", nil)
		return d, nil
	}
	d.Runs = true
	d.Fused, d.Int8Kernel = p.Fused, p.Int8Kernel
	d.Refused = append(stray, p.staleShapes...)
	in := m.Graph.Inputs[0]
	d.Input = &InputInfo{Name: in.Name, Layout: "NCHW", Declared: in.String(), Channels: p.Channels, Height: p.Height, Width: p.Width,
		FixedBatch: p.FixedBatch}
	if len(in.Dims) == 4 && (in.Dims[1] != int64(p.Channels) || in.Dims[2] != int64(p.Height) || in.Dims[3] != int64(p.Width)) {
		d.Input.Layout = "NHWC"
	}
	switch len(in.Dims) {
	case 2:
		d.Input.Layout = "flat" // a square grey image, row by row
	case 3:
		d.Input.Layout = "HW" // a grey image without its channel axis
		if flatWithChannel(in) {
			d.Input.Layout = "flat"
		}
	}
	return d, nil
}

func (d *Diagnosis) block(kind string, err error, op string, nodes []string) {
	d.Blockers = append(d.Blockers, Blocker{Kind: kind, Message: err.Error(), Op: op, Nodes: nodes})
}

// decode decodes the model, recording every initializer that does not
// decode as a blocker and decoding the rest of the graph without it, so
// that the operators are checked too.
func (d *Diagnosis) decode(pm *onnx.ModelProto) *onnx.Model {
	kept := pm.Graph.Initializer[:0:0]
	for _, t := range pm.Graph.Initializer {
		if _, err := onnx.DecodeTensor(t); err != nil {
			kind := "format"
			switch {
			case errors.Is(err, onnx.ErrUnsupported):
				kind = "dtype"
			case errors.Is(err, modelfile.ErrLimit):
				kind = "limit"
			}
			d.block(kind, fmt.Errorf("initializer %q: %w", t.Name, err), "", nil)
			continue
		}
		kept = append(kept, t)
	}
	g := *pm.Graph
	g.Initializer = kept
	cp := *pm
	cp.Graph = &g
	m, err := onnx.Decode(&cp)
	var old *onnx.UpgradeError
	if errors.As(err, &old) {
		// The rest of the graph is checked as the opset it was to become.
		d.block("opset", err, "", nil)
		d.Opset = old.Opset
		cp.OpsetImport = []*onnx.OperatorSetIdProto{{Version: onnx.UpgradeOpset}}
		m, err = onnx.Decode(&cp)
	}
	if err != nil {
		d.block("format", err, "", nil)
		return nil
	}
	return m
}

// dropExternal removes the initializers whose external data was not
// read, which resolveExternal reported.
func dropExternal(pm *onnx.ModelProto) {
	pm.Graph.Initializer = slices.DeleteFunc(slices.Clone(pm.Graph.Initializer), func(t *onnx.TensorProto) bool {
		return t.DataLocation == onnx.TensorProto_EXTERNAL
	})
}

// model collects the blockers of a decoded model.
func (d *Diagnosis) model(m *onnx.Model, opt modelfile.ReadOptions) {
	if m.Opset < MinOpset || m.Opset > MaxOpset {
		d.block("opset", fmt.Errorf("opset %d: this backend reads opsets %d to %d", m.Opset, MinOpset, MaxOpset), "", nil)
	}
	var u *onnx.UnsupportedError
	if errors.As(onnx.Unsupported(m.Graph, SupportedOp), &u) {
		for _, o := range u.Ops {
			count := fmt.Sprintf("%d nodes", len(o.Nodes))
			if len(o.Nodes) == 1 {
				count = "1 node"
			}
			d.block("operator", fmt.Errorf("%s is not supported (%s)", onnx.OpName(o.Type), count), o.Type, o.Nodes)
		}
	}
	for _, n := range m.Graph.Nodes {
		var subs []string
		for _, name := range n.Attrs.Subgraphs() {
			subs = append(subs, onnx.OpName(name))
		}
		if len(subs) > 0 {
			d.block("control-flow", fmt.Errorf("%s has subgraphs (%s); control flow is not supported", n.Describe(), strings.Join(subs, ", ")), n.OpType, []string{nodeName(n)})
		}
	}
	constants := map[string]*onnx.Tensor{}
	for name, t := range m.Graph.Initializers {
		constants[name] = t
	}
	for _, n := range m.Graph.Nodes {
		if err := inferenceNode(n, constants); err != nil {
			d.block("training", err, n.OpType, []string{nodeName(n)})
		}
	}
	if err := checkValues(m.Graph, opt); err != nil {
		d.block("values", err, "", nil)
	}
	d.inputs(m.Graph)
}

// inputs checks the graph's data inputs as a classifier's: one float32
// image of fixed size with a batch dimension.
func (d *Diagnosis) inputs(g *onnx.Graph) {
	switch len(g.Inputs) {
	case 0:
		d.block("format", errors.New("the graph has no input that is not a weight"), "", nil)
		return
	case 1:
	default:
		names := make([]string, len(g.Inputs))
		for i, in := range g.Inputs {
			names[i] = in.Name
		}
		d.block("input", fmt.Errorf("the graph takes %d inputs (%q); an image classifier takes one (lenetkit run takes several)", len(g.Inputs), names), "", nil)
	}
	for _, in := range g.Inputs {
		if in.DType != 0 && !in.DType.IsFloat() {
			d.block("dtype", fmt.Errorf("input %q is %s; only float images are supported", in.Name, in.DType), "", nil)
		}
		for i := 1; i < len(in.Dims); i++ {
			if in.Dims[i] < 0 {
				d.block("dynamic-shape", fmt.Errorf("input %q %s: dimension %d is %s; only the batch dimension may be symbolic", in.Name, in, i, dimName(in, i)), "", nil)
			}
		}
	}
}

// nodeName is n's Label, or its position for a node with neither name
// nor output.
func nodeName(n *onnx.Node) string {
	if l := n.Label(); l != "" {
		return l
	}
	return fmt.Sprint("#", n.Index)
}
