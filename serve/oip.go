package serve

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
)

// The Open Inference Protocol's REST routes (KServe's v2), as its
// specification gives them: health, server and model metadata, and
// inference on JSON tensors.

func (s *Server) live(w http.ResponseWriter, r *http.Request) error {
	return writeJSON(w, http.StatusOK, map[string]bool{"live": true})
}

// ready says whether every model can take requests: all were opened when
// the server started, so the server is ready until it shuts down.
func (s *Server) ready(w http.ResponseWriter, r *http.Request) error {
	if s.closing.Load() {
		return writeJSON(w, http.StatusServiceUnavailable, map[string]bool{"ready": false})
	}
	return writeJSON(w, http.StatusOK, map[string]bool{"ready": true})
}

func (s *Server) serverMetadata(w http.ResponseWriter, r *http.Request) error {
	return writeJSON(w, http.StatusOK, struct {
		Name       string   `json:"name"`
		Version    string   `json:"version"`
		Extensions []string `json:"extensions"`
	}{"lenetkit", s.opt.Version, []string{}})
}

// modelFor is the model a protocol route's path names, with its version
// when the path has one: 404, with the models there are, for any other.
func (s *Server) modelFor(r *http.Request) (*model, error) {
	return s.modelVersion(r.PathValue("model"), r.PathValue("version"))
}

// names lists the models' names, quoted, for an error.
func (s *Server) names() string {
	var b []byte
	for i, spec := range s.specs {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = fmt.Appendf(b, "%q", spec.Name)
	}
	return string(b)
}

// tensorMeta is the protocol's $metadata_tensor.
type tensorMeta struct {
	Name     string  `json:"name"`
	Datatype string  `json:"datatype"`
	Shape    []int64 `json:"shape"`
}

func (s *Server) modelMetadata(w http.ResponseWriter, r *http.Request) error {
	m, err := s.modelFor(r)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, struct {
		Name     string       `json:"name"`
		Versions []string     `json:"versions"`
		Platform string       `json:"platform"`
		Inputs   []tensorMeta `json:"inputs"`
		Outputs  []tensorMeta `json:"outputs"`
	}{m.name, []string{version}, m.platform(),
		[]tensorMeta{{inputName, "FP32", m.inputShape()}},
		[]tensorMeta{{outputName, "FP32", []int64{-1, int64(m.m.Classes)}}}})
}

func (s *Server) modelReady(w http.ResponseWriter, r *http.Request) error {
	m, err := s.modelFor(r)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, struct {
		Name  string `json:"name"`
		Ready bool   `json:"ready"`
	}{m.name, !s.closing.Load()})
}

// inferRequest is the protocol's $inference_request. Parameters are
// accepted and ignored: lenetkit defines none.
type inferRequest struct {
	ID         *string         `json:"id"`
	Parameters map[string]any  `json:"parameters"`
	Inputs     []requestTensor `json:"inputs"`
	Outputs    []requestOutput `json:"outputs"`
}

type requestTensor struct {
	Name       string          `json:"name"`
	Shape      []int64         `json:"shape"`
	Datatype   string          `json:"datatype"`
	Parameters map[string]any  `json:"parameters"`
	Data       json.RawMessage `json:"data"`
}

type requestOutput struct {
	Name       string         `json:"name"`
	Parameters map[string]any `json:"parameters"`
}

// responseTensor is the protocol's $response_output.
type responseTensor struct {
	Name     string    `json:"name"`
	Datatype string    `json:"datatype"`
	Shape    []int64   `json:"shape"`
	Data     []float32 `json:"data"`
}

type inferResponse struct {
	ModelName    string           `json:"model_name"`
	ModelVersion string           `json:"model_version"`
	ID           *string          `json:"id,omitempty"`
	Outputs      []responseTensor `json:"outputs"`
}

// infer runs the model on a batch of images given as one tensor of the
// model's input shape, [N, C, H, W], FP32 pixel values as ToTensor gives
// them (0 to 1) or UINT8 ones (0 to 255); the model's normalisation is
// applied here. The answer is the model's output, [N, classes]: logits,
// or probabilities for a graph that ends in Softmax.
func (s *Server) infer(w http.ResponseWriter, r *http.Request) error {
	m, err := s.modelFor(r)
	if err != nil {
		return err
	}
	var req inferRequest
	release, err := readInferRequest(r, &req)
	defer release()
	if err != nil {
		return err
	}
	var ib, ob [1]string // on the stack for the one input and output of most requests
	inputs, outputs := ib[:0], ob[:0]
	for _, in := range req.Inputs {
		inputs = append(inputs, in.Name)
	}
	for _, o := range req.Outputs {
		outputs = append(outputs, o.Name)
	}
	if err := checkTensors(m, inputs, outputs, "GET /v2/models/"); err != nil {
		return err
	}
	in := req.Inputs[0]
	n, err := checkShape(m, in.Shape)
	if err != nil {
		return err
	}
	size := m.m.InputSize()
	x, err := tensorData(in.Datatype, in.Data, n*size)
	if err != nil {
		return err
	}
	if len(*x) != n*size {
		return fail(http.StatusBadRequest, "inputs[0].data has %d value(s); shape %s needs %d", len(*x), shapeString(in.Shape), n*size)
	}
	out, err := s.runInfer(r.Context(), m, *x, n)
	if err != nil {
		return err // the batcher may yet write the buffers: they are not given back
	}
	defer putFloats(x)
	defer putFloats(out)
	resp := inferResponse{ModelName: m.name, ModelVersion: version, ID: req.ID,
		Outputs: []responseTensor{{Name: outputName, Datatype: "FP32", Shape: []int64{int64(n), int64(m.m.Classes)}, Data: *out}}}
	return writeAnswer(w, func(b []byte) ([]byte, error) { return appendInferAnswer(b, &resp) })
}

// checkShape checks a tensor's shape against the model's input, [N, C, H,
// W], or the same images flattened, [N, C*H*W] (how an MLP's file declares
// its input), and returns N. The batch dimension is required, as Triton
// requires it of a model that batches.
func checkShape(m *model, shape []int64) (int, error) {
	g := m.m.Input
	want := fmt.Sprintf("[N,%d,%d,%d] or [N,%d]", g.Channels, g.Height, g.Width, g.Channels*g.Height*g.Width)
	flat := len(shape) == 2 && shape[1] == int64(g.Channels*g.Height*g.Width)
	if !flat && (len(shape) != 4 || shape[1] != int64(g.Channels) || shape[2] != int64(g.Height) || shape[3] != int64(g.Width)) {
		return 0, fail(http.StatusBadRequest, "inputs[0].shape is %s; model %q takes %s, N images with the batch dimension first", shapeString(shape), m.name, want)
	}
	if shape[0] < 1 || shape[0] > math.MaxInt32 {
		return 0, fail(http.StatusBadRequest, "inputs[0].shape is %s: N, the number of images, must be 1 or more", shapeString(shape))
	}
	return int(shape[0]), nil
}

// shapeString is a shape as JSON writes it.
func shapeString(shape []int64) string {
	b := []byte{'['}
	for i, d := range shape {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, d, 10)
	}
	return string(append(b, ']'))
}
