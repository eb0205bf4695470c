package serve

import (
	"context"

	"github.com/lenetkit/lenetkit/serve/oippb"
)

// The Open Inference Protocol's gRPC service (KServe's v2,
// inference.GRPCInferenceService): the REST routes' answers, from the same
// models and batchers, as the protocol's messages. The methods return the
// REST routes' refusals; grpcUnary makes them gRPC statuses.

// grpcService implements oippb.GRPCInferenceServiceServer for a Server.
type grpcService struct {
	oippb.UnimplementedGRPCInferenceServiceServer
	s *Server
}

func (g grpcService) ServerLive(context.Context, *oippb.ServerLiveRequest) (*oippb.ServerLiveResponse, error) {
	return &oippb.ServerLiveResponse{Live: true}, nil
}

// ServerReady is true until the server drains, as GET /v2/health/ready;
// gRPC has no status to say "not ready" with, so the answer says it.
func (g grpcService) ServerReady(context.Context, *oippb.ServerReadyRequest) (*oippb.ServerReadyResponse, error) {
	return &oippb.ServerReadyResponse{Ready: !g.s.closing.Load()}, nil
}

func (g grpcService) ServerMetadata(context.Context, *oippb.ServerMetadataRequest) (*oippb.ServerMetadataResponse, error) {
	return &oippb.ServerMetadataResponse{Name: "lenetkit", Version: g.s.opt.Version, Extensions: []string{}}, nil
}

func (g grpcService) ModelReady(ctx context.Context, req *oippb.ModelReadyRequest) (*oippb.ModelReadyResponse, error) {
	if _, err := g.s.modelVersion(req.GetName(), req.GetVersion()); err != nil {
		return nil, err
	}
	return &oippb.ModelReadyResponse{Ready: !g.s.closing.Load()}, nil
}

func (g grpcService) ModelMetadata(ctx context.Context, req *oippb.ModelMetadataRequest) (*oippb.ModelMetadataResponse, error) {
	m, err := g.s.modelVersion(req.GetName(), req.GetVersion())
	if err != nil {
		return nil, err
	}
	return &oippb.ModelMetadataResponse{Name: m.name, Versions: []string{version}, Platform: m.platform(),
		Inputs:  []*oippb.ModelMetadataResponse_TensorMetadata{{Name: inputName, Datatype: "FP32", Shape: m.inputShape()}},
		Outputs: []*oippb.ModelMetadataResponse_TensorMetadata{{Name: outputName, Datatype: "FP32", Shape: []int64{-1, int64(m.m.Classes)}}},
	}, nil
}

// ModelInfer runs a model as POST /v2/models/NAME/infer does: one input,
// [N, C, H, W], FP32 or UINT8 pixels, in contents or raw_input_contents;
// one output, [N, classes], FP32, raw when the input was (Triton's rule:
// a client that sends raw reads raw).
func (g grpcService) ModelInfer(ctx context.Context, req *oippb.ModelInferRequest) (*oippb.ModelInferResponse, error) {
	s := g.s
	m, err := s.modelVersion(req.GetModelName(), req.GetModelVersion())
	if err != nil {
		return nil, err
	}
	var ib, ob [1]string
	inputs, outputs := ib[:0], ob[:0]
	for _, in := range req.GetInputs() {
		inputs = append(inputs, in.GetName())
	}
	for _, o := range req.GetOutputs() {
		outputs = append(outputs, o.GetName())
	}
	if err := checkTensors(m, inputs, outputs, "ModelMetadata of "); err != nil {
		return nil, err
	}
	in := req.GetInputs()[0]
	n, err := checkShape(m, in.GetShape())
	if err != nil {
		return nil, err
	}
	x, raw, err := grpcTensorData(in, req.GetRawInputContents(), n*m.m.InputSize())
	if err != nil {
		return nil, err
	}
	out, err := s.runInfer(ctx, m, *x, n)
	if err != nil {
		return nil, err // the batcher may yet write the buffers: they are not given back
	}
	defer putFloats(x)
	defer putFloats(out)
	resp := &oippb.ModelInferResponse{ModelName: m.name, ModelVersion: version, Id: req.GetId(),
		Outputs: []*oippb.ModelInferResponse_InferOutputTensor{{Name: outputName, Datatype: "FP32", Shape: []int64{int64(n), int64(m.m.Classes)}}}}
	if raw {
		resp.RawOutputContents = [][]byte{fp32Bytes(*out)}
	} else {
		resp.Outputs[0].Contents = &oippb.InferTensorContents{Fp32Contents: append([]float32(nil), *out...)}
	}
	return resp, nil
}
