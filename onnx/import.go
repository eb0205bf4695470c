package onnx

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/lenetkit/lenetkit/lenet"
	"github.com/lenetkit/lenetkit/modelfile"
)

// ToStateDict extracts the state dict of the seed's LeNet from m: from
// lenetkit's own exports and from torch.onnx.export's (opsets 9 to 17, with
// or without constant folding, any names). The graph is matched by its
// structure: the sequence of operators from the input to the output, their
// attributes, and which constant feeds which operator input; names do not
// matter. Identity, inference-mode Dropout and the Unsqueeze/Squeeze pair
// torch writes for Dropout1d are passed over. The BatchNorm counters come
// from the metadata lenetkit writes, and are 0 when it is absent.
//
// A graph that is not this network gives one error saying where it differs;
// one that Validate refuses, or with more than modelfile.MaxSeedGraphNodes
// nodes, is refused before it is matched.
func ToStateDict(m *ModelProto) (lenet.StateDict, error) {
	sd, err := toStateDict(m)
	if err != nil {
		return nil, fmt.Errorf("onnx: %w", err)
	}
	return sd, nil
}

// errNotLeNet prefixes every structural mismatch.
const errNotLeNet = "not the seed's LeNet: "

func notLeNet(format string, args ...any) error {
	return fmt.Errorf(errNotLeNet+format, args...)
}

// layer is one operator of the network as the graph must hold it.
type layer struct {
	op    string
	match func(im *importer, n *Node) error
}

// layers is lenet.Layers as ONNX operators; Dropout1d has none at
// inference.
func layers() []layer {
	var ls []layer
	for _, l := range lenet.Layers {
		switch l.Kind {
		case lenet.Conv:
			ls = append(ls, layer{"Conv", func(im *importer, n *Node) error { return im.conv(n, l) }})
		case lenet.ReLU:
			ls = append(ls, layer{"Relu", func(im *importer, n *Node) error { return nil }})
		case lenet.BatchNorm:
			ls = append(ls, layer{"BatchNormalization", func(im *importer, n *Node) error { return im.batchNorm(n, l) }})
		case lenet.MaxPool:
			ls = append(ls, layer{"MaxPool", func(im *importer, n *Node) error { return im.maxPool(n, l.Size) }})
		case lenet.Flatten:
			ls = append(ls, layer{"Flatten", func(im *importer, n *Node) error { return im.flatten(n) }})
		case lenet.Linear:
			ls = append(ls, layer{"Gemm", func(im *importer, n *Node) error { return im.gemm(n, l) }})
		}
	}
	return ls
}

type importer struct {
	consts  map[string]*Tensor
	tensors map[string]*lenet.Tensor
}

func toStateDict(pm *ModelProto) (lenet.StateDict, error) {
	if pm.GetGraph() == nil {
		return nil, errors.New("the model has no graph")
	}
	if err := Validate(pm); err != nil {
		return nil, fmt.Errorf("invalid graph: %w", err)
	}
	m, err := Decode(pm)
	if err != nil {
		return nil, err
	}
	g := m.Graph
	if len(g.Nodes) > modelfile.MaxSeedGraphNodes {
		return nil, notLeNet("the graph has %d nodes, more than the %d a graph of its %d operators may have", len(g.Nodes), modelfile.MaxSeedGraphNodes, len(layers()))
	}
	im := &importer{consts: g.constants(), tensors: map[string]*lenet.Tensor{}}
	value, err := im.input(g)
	if err != nil {
		return nil, err
	}
	want := layers()
	next := 0
	unsqueeze := -1 // file position of an Unsqueeze waiting for its Squeeze
	var unsqueezeAxes []int64
	// The nodes are in topological order; messages give their positions
	// in the file.
	for _, n := range g.Nodes {
		i := n.Index
		op := n.OpType
		if n.Domain != "" {
			op = n.Domain + "." + n.OpType
		}
		if op == "Constant" {
			continue // a value; its users check it
		}
		expected := "the end of the graph"
		if next < len(want) {
			expected = want[next].op
		}
		if unsqueeze >= 0 && op != "Squeeze" {
			return nil, notLeNet("node %d is %s, expected the Squeeze undoing the Unsqueeze of node %d", i, op, unsqueeze)
		}
		passOver := op == "Identity" || op == "Dropout" || op == "Unsqueeze" || op == "Squeeze"
		if !passOver && op != expected {
			return nil, notLeNet("node %d is %s, expected %s", i, op, expected)
		}
		if len(n.Inputs) == 0 || n.Inputs[0] != value || len(n.Outputs) == 0 {
			return nil, notLeNet("node %d (%s) does not take %q, the output of the node before it", i, op, value)
		}
		switch op {
		case "Identity":
		case "Dropout":
			if err := n.inferenceDropout(im.consts); err != nil {
				return nil, notLeNet("node %d (Dropout): %v", i, err)
			}
		case "Unsqueeze":
			axes, _, err := n.squeezeAxes(im.consts)
			if err != nil {
				return nil, notLeNet("node %d: %v", i, err)
			}
			unsqueeze, unsqueezeAxes = i, axes
		case "Squeeze":
			axes, _, err := n.squeezeAxes(im.consts)
			if err != nil {
				return nil, notLeNet("node %d: %v", i, err)
			}
			if unsqueeze < 0 || !sameAxes(unsqueezeAxes, axes) {
				return nil, notLeNet("node %d is a Squeeze that does not undo an Unsqueeze, expected %s", i, expected)
			}
			unsqueeze = -1
		default:
			if err := want[next].match(im, n); err != nil {
				return nil, notLeNet("node %d (%s): %v", i, op, err)
			}
			next++
		}
		value = n.Outputs[0]
	}
	if unsqueeze >= 0 {
		return nil, notLeNet("the graph ends after the Unsqueeze of node %d", unsqueeze)
	}
	if next < len(want) {
		return nil, notLeNet("the graph ends after %d of the network's %d layers, expected %s next", next, len(want), want[next].op)
	}
	if len(g.Outputs) != 1 || g.Outputs[0].Name != value {
		return nil, notLeNet("the graph's outputs are %s, expected only %q, the last Gemm's", valueNames(g.Outputs), value)
	}
	return im.stateDict(m)
}

// input finds the graph's one data input (Decode leaves out the inputs
// that are initializers) and checks that it takes [batch, 1, 32, 32] float
// images.
func (im *importer) input(g *Graph) (string, error) {
	if len(g.Inputs) != 1 {
		return "", notLeNet("the graph has %d data inputs %s, expected 1", len(g.Inputs), valueNames(g.Inputs))
	}
	in := g.Inputs[0]
	if in.DType == 0 && in.Dims == nil {
		return "", notLeNet("input %q is not a tensor", in.Name)
	}
	if in.DType != Float {
		return "", notLeNet("input %q is %s, expected FLOAT", in.Name, in.DType)
	}
	if in.Dims != nil {
		want := []int64{-1, 1, lenet.InputSize, lenet.InputSize}
		ok := len(in.Dims) == len(want)
		for i := 1; ok && i < len(want); i++ {
			if d := in.Dims[i]; d >= 0 && d != want[i] {
				ok = false
			}
		}
		if !ok {
			return "", notLeNet("input %q has shape %s, expected [batch, 1, %d, %d]", in.Name, in, lenet.InputSize, lenet.InputSize)
		}
	}
	return in.Name, nil
}

// weight reads input i of n, a constant of the given shape, as state-dict
// entry name.
func (im *importer) weight(n *Node, i int, name string, shape ...int) error {
	in := n.Input(i)
	if in == "" {
		return fmt.Errorf("input %d (%s) is missing", i, name)
	}
	what := fmt.Sprintf("input %d (%s)", i, name)
	if in != name {
		what += fmt.Sprintf(" %q", in)
	}
	t, ok := im.consts[in]
	if !ok {
		return fmt.Errorf("%s is not a constant", what)
	}
	if !slices.Equal(t.Shape, shape) {
		return fmt.Errorf("%s has shape %s, expected %s", what, dimsString(dims64(t.Shape)), dimsString(dims64(shape)))
	}
	if t.DType != Float {
		return fmt.Errorf("input %d (%s): tensor %q is %s, expected FLOAT", i, name, t.Name, t.DType)
	}
	im.tensors[name] = &lenet.Tensor{Name: name, Shape: shape, DType: lenet.Float32, F32: t.Float}
	return nil
}

func (im *importer) conv(n *Node, b lenet.Layer) error {
	k, p := int64(b.Size), int64(b.Size/2)
	if err := checkInts(n, "kernel_shape", k, k); err != nil {
		return err
	}
	if err := checkInts(n, "strides", 1, 1); err != nil {
		return err
	}
	if err := checkInts(n, "dilations", 1, 1); err != nil {
		return err
	}
	if g, err := n.Attrs.Int("group", 1); err != nil || g != 1 {
		return attrError("group", g, err, "1")
	}
	autoPad, err := n.Attrs.Str("auto_pad", "NOTSET")
	if err != nil {
		return err
	}
	switch autoPad {
	case "SAME_UPPER", "SAME_LOWER":
		// A 3x3 kernel at stride 1 pads 1 on every side either way.
		if n.Attrs.Has("pads") {
			return errors.New("attribute pads given with auto_pad " + autoPad)
		}
	case "NOTSET", "":
		pads, err := n.Attrs.Ints("pads")
		if err != nil || !slices.Equal(pads, []int64{p, p, p, p}) {
			return attrError("pads", pads, err, "[1, 1, 1, 1]")
		}
	default:
		return fmt.Errorf("attribute auto_pad is %s, expected NOTSET with pads [1, 1, 1, 1]", autoPad)
	}
	if err := im.weight(n, 1, b.Param("weight"), b.Out, b.In, b.Size, b.Size); err != nil {
		return err
	}
	return im.weight(n, 2, b.Param("bias"), b.Out)
}

func (im *importer) batchNorm(n *Node, b lenet.Layer) error {
	eps, err := n.Attrs.Float("epsilon", 1e-5)
	if err != nil || math.Abs(float64(eps)-lenet.BatchNormEps) > 1e-5*lenet.BatchNormEps {
		return attrError("epsilon", eps, err, fmt.Sprint(lenet.BatchNormEps))
	}
	if t, err := n.Attrs.Int("training_mode", 0); err != nil || t != 0 {
		return attrError("training_mode", t, err, "0 (inference)")
	}
	for i, s := range []string{"weight", "bias", "running_mean", "running_var"} {
		if err := im.weight(n, i+1, b.Param(s), b.Out); err != nil {
			return err
		}
	}
	return nil
}

func (im *importer) maxPool(n *Node, pool int) error {
	p := int64(pool)
	if err := checkInts(n, "kernel_shape", p, p); err != nil {
		return err
	}
	strides, err := n.Attrs.Ints("strides")
	if err != nil || !slices.Equal(strides, []int64{p, p}) {
		return attrError("strides", strides, err, dimsString([]int64{p, p}))
	}
	if err := checkInts(n, "dilations", 1, 1); err != nil {
		return err
	}
	if err := checkInts(n, "pads", 0, 0, 0, 0); err != nil {
		return err
	}
	if a, err := n.Attrs.Str("auto_pad", "NOTSET"); err != nil || (a != "NOTSET" && a != "" && a != "VALID") {
		return attrError("auto_pad", a, err, "NOTSET or VALID")
	}
	// ceil_mode does not matter: every pooled size divides exactly.
	return nil
}

func (im *importer) flatten(n *Node) error {
	axis, err := n.Attrs.Int("axis", 1)
	if err != nil || (axis != 1 && axis != -3) {
		return attrError("axis", axis, err, "1")
	}
	return nil
}

func (im *importer) gemm(n *Node, l lenet.Layer) error {
	for _, a := range []string{"alpha", "beta"} {
		if v, err := n.Attrs.Float(a, 1); err != nil || v != 1 {
			return attrError(a, v, err, "1")
		}
	}
	if t, err := n.Attrs.Int("transA", 0); err != nil || t != 0 {
		return attrError("transA", t, err, "0")
	}
	transB, err := n.Attrs.Int("transB", 0)
	if err != nil {
		return err
	}
	name := l.Param("weight")
	switch transB {
	case 1:
		if err := im.weight(n, 1, name, l.Out, l.In); err != nil {
			return err
		}
	case 0:
		// B stored as [in, out]: the transpose of nn.Linear's weight.
		if err := im.weight(n, 1, name, l.In, l.Out); err != nil {
			return err
		}
		t := im.tensors[name]
		w := make([]float32, len(t.F32))
		for i := range l.In {
			for o := range l.Out {
				w[o*l.In+i] = t.F32[i*l.Out+o]
			}
		}
		t.Shape, t.F32 = []int{l.Out, l.In}, w
	default:
		return attrError("transB", transB, nil, "0 or 1")
	}
	return im.weight(n, 2, l.Param("bias"), l.Out)
}

// stateDict assembles the tensors found, in PyTorch's order, with the
// BatchNorm counters from the metadata.
func (im *importer) stateDict(m *Model) (lenet.StateDict, error) {
	meta := m.Metadata
	var sd lenet.StateDict
	for _, p := range lenet.Params() {
		if p.DType == lenet.Int64 {
			var v int64
			if s, ok := meta[p.Name]; ok {
				var err error
				if v, err = strconv.ParseInt(s, 10, 64); err != nil {
					return nil, fmt.Errorf("metadata %s is %q, not an integer", p.Name, s)
				}
			}
			sd = append(sd, &lenet.Tensor{Name: p.Name, Shape: p.Shape, DType: lenet.Int64, I64: []int64{v}})
			continue
		}
		sd = append(sd, im.tensors[p.Name])
	}
	if err := lenet.Check(sd); err != nil {
		return nil, err // the matcher missed something: a bug, said clearly
	}
	return sd, nil
}

// checkInts checks an INTS attribute that, when present, must equal want.
func checkInts(n *Node, name string, want ...int64) error {
	v, err := n.Attrs.Ints(name)
	if err != nil || (v != nil && !slices.Equal(v, want)) {
		return attrError(name, v, err, dimsString(want))
	}
	return nil
}

func attrError(name string, got any, err error, want string) error {
	if err != nil {
		return err
	}
	if v, ok := got.([]int64); ok {
		if v == nil {
			return fmt.Errorf("attribute %s is absent, expected %s", name, want)
		}
		got = dimsString(v)
	}
	return fmt.Errorf("attribute %s is %v, expected %s", name, got, want)
}

func valueNames(vs []*Value) string {
	names := make([]string, len(vs))
	for i, v := range vs {
		names[i] = strconv.Quote(v.Name)
	}
	return "[" + strings.Join(names, ", ") + "]"
}
