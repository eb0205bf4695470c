package backend

import (
	"fmt"
	"maps"
	"math"
	"slices"

	"github.com/lenetkit/lenetkit/modelfile"
	"github.com/lenetkit/lenetkit/onnx"
)

// checkValues refuses the values of a decoded graph that would make the
// plan compute wrong numbers: a NaN or infinite weight, Constant or float
// attribute (Gemm's alpha, a Pad's value) unless opt allows them, and
// BatchNormalization's epsilon below 0, whose square root of variance plus
// epsilon may be of a negative number (ONNX gives it no range; no exporter
// writes one).
func checkValues(g *onnx.Graph, opt modelfile.ReadOptions) error {
	if !opt.AllowNonFinite {
		// In name order: the same error for the same file.
		for _, name := range slices.Sorted(maps.Keys(g.Initializers)) {
			if err := modelfile.CheckFiniteValues(name, g.Initializers[name].Float); err != nil {
				return err
			}
		}
	}
	for _, n := range g.Nodes {
		if err := checkAttributes(n, opt); err != nil {
			return fmt.Errorf("%s: %w", n.Describe(), err)
		}
	}
	return nil
}

func checkAttributes(n *onnx.Node, opt modelfile.ReadOptions) error {
	for _, name := range n.Attrs.Names() {
		a := n.Attrs[name]
		if a.Type == onnx.AttributeProto_FLOAT && name == "epsilon" && a.Float < 0 {
			return modelfile.FormatErrorf("attribute epsilon %g is negative", a.Float)
		}
		if opt.AllowNonFinite {
			continue
		}
		values := a.Floats
		if a.Type == onnx.AttributeProto_FLOAT {
			values = []float32{a.Float}
		}
		if a.Tensor != nil {
			values = a.Tensor.Float
		}
		for _, v := range values {
			if f := float64(v); math.IsNaN(f) || math.IsInf(f, 0) {
				if n.OpType == "Constant" {
					return modelfile.CheckFiniteValues(n.Outputs[0], values)
				}
				return fmt.Errorf("attribute %s is %v; refused (--allow-nonfinite accepts it)", onnx.OpName(name), f)
			}
		}
	}
	return nil
}
