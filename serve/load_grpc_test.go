package serve_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/lenetkit/lenetkit/serve/oippb"
)

// grpcRoute is BenchmarkServeLoad's gRPC cell for a server with a gRPC
// address: ModelInfer of the v2 route's tensors (bodies, its JSON
// requests), in fp32_contents, on one connection shared by the workers.
// Before the load (s.classes nil) a call records the image's class in
// s.grpcClass; under load it must give the class the server gave the
// image alone.
func (s *loadServer) grpcRoute(b testing.TB, name string, bodies [][]byte) *loadRoute {
	b.Helper()
	conn, err := grpc.NewClient("passthrough:///"+s.grpc, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close() })
	c := oippb.NewGRPCInferenceServiceClient(conn)
	reqs := make([]*oippb.ModelInferRequest, len(bodies))
	for i, body := range bodies {
		var v struct {
			Inputs []struct {
				Name  string    `json:"name"`
				Shape []int64   `json:"shape"`
				Data  []float32 `json:"data"`
			} `json:"inputs"`
		}
		if err := json.Unmarshal(body, &v); err != nil || len(v.Inputs) != 1 {
			b.Fatalf("the v2 request %d: %v", i, err)
		}
		in := v.Inputs[0]
		reqs[i] = &oippb.ModelInferRequest{ModelName: name, Inputs: []*oippb.ModelInferRequest_InferInputTensor{{
			Name: in.Name, Datatype: "FP32", Shape: in.Shape, Contents: &oippb.InferTensorContents{Fp32Contents: in.Data}}}}
	}
	s.grpcClass = make([]int, len(bodies))
	// bodies only count the requests, which run takes in turn.
	return &loadRoute{bodies: bodies, call: func(ctx context.Context, i int) error {
		r, err := c.ModelInfer(ctx, reqs[i])
		if err != nil {
			return err
		}
		if len(r.Outputs) != 1 || len(r.Outputs[0].GetContents().GetFp32Contents()) == 0 {
			return fmt.Errorf("gRPC answer without one output's fp32_contents: %v", r)
		}
		k := argmax(r.Outputs[0].Contents.Fp32Contents)
		if s.classes == nil {
			s.grpcClass[i] = k
		} else if k != s.classes[i].class {
			return fmt.Errorf("image %d: class %d under load, %d alone", i, k, s.classes[i].class)
		}
		return nil
	}}
}
