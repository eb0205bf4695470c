package serve

import (
	"context"
	"errors"
	"math"
	"net/http"
)

// What an inference request comes to once its transport is read, the same
// over REST and gRPC: the checks of its tensors against the model, and the
// run through the model's batcher, so that requests of either kind batch
// together and are refused in the same words.

// checkTensors checks a request's tensors against m's one input and one
// output: inputs are the names of the request's inputs, outputs those of
// the outputs it asks for (none: every output). meta, followed by the
// model's name, says where the client reads the model's tensors.
func checkTensors(m *model, inputs, outputs []string, meta string) error {
	if len(inputs) != 1 {
		return fail(http.StatusBadRequest, "model %q takes one input, %q; the request has %d", m.name, inputName, len(inputs))
	}
	if inputs[0] != inputName {
		return fail(http.StatusBadRequest, "inputs[0] is named %q; model %q's input is %q (%s%s)", inputs[0], m.name, inputName, meta, m.name)
	}
	for i, o := range outputs {
		if o != outputName {
			return fail(http.StatusBadRequest, "outputs[%d] asks for %q; model %q has one output, %q", i, o, m.name, outputName)
		}
	}
	return nil
}

// pixelDatatype reads an input's datatype: FP32 pixel values (0 to 1) or
// UINT8 ones (0 to 255), and tells which.
func pixelDatatype(datatype string) (uint8s bool, err error) {
	switch datatype {
	case "FP32":
		return false, nil
	case "UINT8":
		return true, nil
	case "BOOL", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64", "FP16", "FP64", "BYTES":
		return false, fail(http.StatusBadRequest, "inputs[0].datatype is %s; the model takes FP32 pixel values (0 to 1) or UINT8 ones (0 to 255)", datatype)
	}
	return false, fail(http.StatusBadRequest, "inputs[0].datatype %q is no datatype of the protocol; the model takes FP32 or UINT8", datatype)
}

// uint8Pixel is a UINT8 value as the model's input takes it, scaled to
// [0, 1] as ToTensor scales it; both transports scale it here, so that
// their answers are the same to the bit.
func uint8Pixel(v uint8) float32 { return float32(v) / 255 }

// runInfer runs m on the n images of x, through m's batcher, and returns
// the model's output, n rows of m's classes: logits, or probabilities for
// a graph that ends in Softmax. The output is a buffer to give back with
// putFloats once read. On an error neither it nor x may be given back:
// the batcher may yet use them.
func (s *Server) runInfer(ctx context.Context, m *model, x []float32, n int) (*[]float32, error) {
	out := getFloats(n * m.m.Classes)
	j := &job{m: m, x: x, n: n, out: *out}
	if err := s.queues[m.name].submit(ctx, j); err != nil {
		return nil, err
	}
	if m.m.Probabilities { // the graph's own output: Logits gives its logarithm
		for i, v := range j.out {
			j.out[i] = float32(math.Exp(float64(v)))
		}
	}
	for _, v := range j.out {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			putFloats(out)
			return nil, errors.New("the model's output is not finite")
		}
	}
	return out, nil
}

// modelVersion is the model named name at version ver (empty: its one
// version), or the 404 that lists what there is.
func (s *Server) modelVersion(name, ver string) (*model, error) {
	m := s.model(name)
	if m == nil {
		return nil, fail(http.StatusNotFound, "no model %q: the models are %s", name, s.names())
	}
	if ver != "" && ver != version {
		return nil, fail(http.StatusNotFound, "model %q has no version %q: its one version is %q", name, ver, version)
	}
	return m, nil
}
