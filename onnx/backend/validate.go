package backend

import (
	"fmt"

	"github.com/lenetkit/lenetkit/modelfile"
	"github.com/lenetkit/lenetkit/onnx"
)

// validate checks a model read by onnx.Unmarshal, which has already bounded
// its nesting and node count and validated its graph (onnx.Validate:
// topological order, one producer per value, no Constant shadowing an
// initializer), before the backend builds anything from it: the graph again,
// for models that did not come through Unmarshal, and its weights, refused
// when NaN or infinite unless opt allows them. It returns the bytes to hand
// onnx-go: m encoded again, so that onnx-go's decoder, which reads fields
// outside lenetkit's onnx.proto with its own limits, sees only what was
// checked.
func validate(m *onnx.ModelProto, opt modelfile.ReadOptions) ([]byte, error) {
	if err := onnx.Validate(m); err != nil {
		return nil, fmt.Errorf("invalid graph: %w", err)
	}
	if err := onnx.CheckFinite(m, opt); err != nil {
		return nil, err
	}
	return onnx.Marshal(m)
}
