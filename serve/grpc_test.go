package serve_test

import (
	"context"
	"encoding/binary"
	"math"
	"net"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"

	"github.com/lenetkit/lenetkit/serve"
	"github.com/lenetkit/lenetkit/serve/oippb"
)

// grpcOn serves s's REST routes and gRPC service on loopback ports, as
// lenetkit serve --grpc-addr does, and returns the REST base URL, a gRPC
// client and the stop that drains both, as SIGTERM does.
func grpcOn(t testing.TB, s *serve.Server) (string, oippb.GRPCInferenceServiceClient, func() error) {
	t.Helper()
	u, conn, stop := grpcConnOn(t, s)
	return u, oippb.NewGRPCInferenceServiceClient(conn), stop
}

// grpcConnOn is grpcOn with the connection itself, for other services'
// clients.
func grpcConnOn(t testing.TB, s *serve.Server) (string, *grpc.ClientConn, func() error) {
	t.Helper()
	rest, g, stop := serveBoth(t, s)
	conn, err := grpc.NewClient("passthrough:///"+g, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return "http://" + rest, conn, stop
}

// serveBoth serves s's REST routes and gRPC service on loopback ports and
// returns their addresses and the stop that drains both (once; later
// calls return the first's result), which the test's end calls too.
func serveBoth(t testing.TB, s *serve.Server) (rest, g string, stop func() error) {
	t.Helper()
	listen := func() net.Listener {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	l, gl := listen(), listen()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.ServeGRPC(ctx, l, gl) }()
	var stopped bool
	var result error
	stop = func() error {
		if !stopped {
			stopped = true
			cancel()
			result = <-done
		}
		return result
	}
	t.Cleanup(func() { stop() })
	return l.Addr().String(), gl.Addr().String(), stop
}

// grpcCtx bounds a test's call.
func grpcCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// inferReq is a ModelInferRequest of one input tensor: x as FP32 or, when
// u8, x*255 as UINT8; typed in contents, or raw.
func inferReq(model string, shape []int64, x []float32, u8, raw bool) *oippb.ModelInferRequest {
	in := &oippb.ModelInferRequest_InferInputTensor{Name: "input", Datatype: "FP32", Shape: shape}
	req := &oippb.ModelInferRequest{ModelName: model, Id: "req-1", Inputs: []*oippb.ModelInferRequest_InferInputTensor{in}}
	var b []byte
	var c oippb.InferTensorContents
	for _, v := range x {
		if u8 {
			q := uint8(math.Round(float64(v) * 255))
			b = append(b, q)
			c.UintContents = append(c.UintContents, uint32(q))
		} else {
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
			c.Fp32Contents = append(c.Fp32Contents, v)
		}
	}
	if u8 {
		in.Datatype = "UINT8"
	}
	if raw {
		req.RawInputContents = [][]byte{b}
	} else {
		in.Contents = &c
	}
	return req
}

// grpcOutput reads the one output of an answer, [n, classes], from its
// contents or, when raw, from raw_output_contents.
func grpcOutput(t *testing.T, r *oippb.ModelInferResponse, raw bool) ([]int64, []float32) {
	t.Helper()
	if len(r.Outputs) != 1 || r.Outputs[0].Name != "output" || r.Outputs[0].Datatype != "FP32" {
		t.Fatalf("outputs %v, want one FP32 \"output\"", r.Outputs)
	}
	o := r.Outputs[0]
	if !raw {
		if len(r.RawOutputContents) != 0 {
			t.Errorf("raw_output_contents in the answer to a request without raw inputs")
		}
		return o.Shape, o.GetContents().GetFp32Contents()
	}
	if o.Contents != nil || len(r.RawOutputContents) != 1 {
		t.Fatalf("contents %v and %d raw_output_contents; want raw only", o.Contents, len(r.RawOutputContents))
	}
	b := r.RawOutputContents[0]
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return o.Shape, out
}

// TestGRPCMethods calls each method of the service other than ModelInfer
// and checks the answer is what the protocol documents, with the REST
// routes' facts.
func TestGRPCMethods(t *testing.T) {
	s, err := serve.New([]serve.ModelSpec{{Name: "lenet", Path: trainedPTH}, {Name: "cnn28", Path: cnn28ONNX}}, serve.Options{Version: "9.9-test"})
	if err != nil {
		t.Fatal(err)
	}
	_, c, _ := grpcOn(t, s)
	ctx := grpcCtx(t)
	tensor := func(name, dt string, shape ...int64) *oippb.ModelMetadataResponse_TensorMetadata {
		return &oippb.ModelMetadataResponse_TensorMetadata{Name: name, Datatype: dt, Shape: shape}
	}
	for _, tc := range []struct {
		name string
		call func() (proto.Message, error)
		want proto.Message
	}{
		{"ServerLive", func() (proto.Message, error) { return c.ServerLive(ctx, &oippb.ServerLiveRequest{}) },
			&oippb.ServerLiveResponse{Live: true}},
		{"ServerReady", func() (proto.Message, error) { return c.ServerReady(ctx, &oippb.ServerReadyRequest{}) },
			&oippb.ServerReadyResponse{Ready: true}},
		{"ModelReady", func() (proto.Message, error) { return c.ModelReady(ctx, &oippb.ModelReadyRequest{Name: "lenet"}) },
			&oippb.ModelReadyResponse{Ready: true}},
		{"ModelReady version 1", func() (proto.Message, error) {
			return c.ModelReady(ctx, &oippb.ModelReadyRequest{Name: "cnn28", Version: "1"})
		}, &oippb.ModelReadyResponse{Ready: true}},
		{"ServerMetadata", func() (proto.Message, error) { return c.ServerMetadata(ctx, &oippb.ServerMetadataRequest{}) },
			&oippb.ServerMetadataResponse{Name: "lenetkit", Version: "9.9-test"}},
		{"ModelMetadata lenet", func() (proto.Message, error) {
			return c.ModelMetadata(ctx, &oippb.ModelMetadataRequest{Name: "lenet"})
		}, &oippb.ModelMetadataResponse{Name: "lenet", Versions: []string{"1"}, Platform: "lenetkit_pth",
			Inputs:  []*oippb.ModelMetadataResponse_TensorMetadata{tensor("input", "FP32", -1, 1, 32, 32)},
			Outputs: []*oippb.ModelMetadataResponse_TensorMetadata{tensor("output", "FP32", -1, 10)}}},
		{"ModelMetadata cnn28 version 1", func() (proto.Message, error) {
			return c.ModelMetadata(ctx, &oippb.ModelMetadataRequest{Name: "cnn28", Version: "1"})
		}, &oippb.ModelMetadataResponse{Name: "cnn28", Versions: []string{"1"}, Platform: "lenetkit_onnx",
			Inputs:  []*oippb.ModelMetadataResponse_TensorMetadata{tensor("input", "FP32", -1, 1, 28, 28)},
			Outputs: []*oippb.ModelMetadataResponse_TensorMetadata{tensor("output", "FP32", -1, 10)}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.call()
			if err != nil {
				t.Fatal(err)
			}
			if !proto.Equal(got, tc.want) {
				t.Errorf("got  %v\nwant %v", got, tc.want)
			}
		})
	}
}

// TestGRPCInfer runs a batch of digits through ModelInfer, FP32 and UINT8,
// typed and raw, on each kind of model, and checks the answer is the
// REST route's for the same tensor to the bit, and names the digits.
func TestGRPCInfer(t *testing.T) {
	s, err := serve.New([]serve.ModelSpec{{Name: "lenet", Path: trainedPTH}, {Name: "softmax", Path: softmaxONNX},
		{Name: "cnn28", Path: cnn28ONNX}}, serve.Options{})
	if err != nil {
		t.Fatal(err)
	}
	base, c, _ := grpcOn(t, s)
	ctx := grpcCtx(t)
	digits := cleanDigits(t)[:3]
	for _, tc := range []struct {
		model   string
		side    int
		u8, raw bool
	}{
		{"lenet", 32, false, false}, {"lenet", 32, false, true}, {"lenet", 32, true, false}, {"lenet", 32, true, true},
		{"softmax", 32, false, false}, {"softmax", 32, true, true},
		{"cnn28", 28, false, true}, {"cnn28", 28, true, false},
	} {
		dt := map[bool]string{false: "FP32", true: "UINT8"}[tc.u8]
		t.Run(tc.model+" "+dt+map[bool]string{false: " contents", true: " raw"}[tc.raw], func(t *testing.T) {
			var x []float32
			for _, d := range digits {
				x = append(x, digitInput(t, d.png, tc.side)...)
			}
			shape := []int64{int64(len(digits)), 1, int64(tc.side), int64(tc.side)}
			r, err := c.ModelInfer(ctx, inferReq(tc.model, shape, x, tc.u8, tc.raw))
			if err != nil {
				t.Fatal(err)
			}
			if r.ModelName != tc.model || r.ModelVersion != "1" || r.Id != "req-1" {
				t.Errorf("model %q version %q id %q", r.ModelName, r.ModelVersion, r.Id)
			}
			gotShape, got := grpcOutput(t, r, tc.raw)
			if !reflect.DeepEqual(gotShape, []int64{int64(len(digits)), 10}) || len(got) != len(digits)*10 {
				t.Fatalf("shape %v, %d values; want [%d 10]", gotShape, len(got), len(digits))
			}
			for i, d := range digits {
				if k := argmax(got[i*10 : i*10+10]); k != d.label {
					t.Errorf("image %d: class %d, want %d", i, k, d.label)
				}
			}
			// The REST route's answer to the same tensor.
			var data any = x
			if tc.u8 {
				u := make([]int, len(x))
				for i, v := range x {
					u[i] = int(math.Round(float64(v) * 255))
				}
				data = u
			}
			var rest inferAnswer
			a := post(t, base+"/v2/models/"+tc.model+"/infer", inferBody(t, "", []int{len(digits), 1, tc.side, tc.side}, dt, data))
			a.decode(t, &rest)
			if a.status != http.StatusOK || len(rest.Outputs) != 1 {
				t.Fatalf("REST: status %d %s", a.status, a.body)
			}
			for i, v := range rest.Outputs[0].Data {
				if math.Float32bits(v) != math.Float32bits(got[i]) {
					t.Fatalf("output[%d]: gRPC %v, REST %v: not the same bits", i, got[i], v)
				}
			}
		})
	}
}

// post sends a JSON body to url.
func post(t testing.TB, url string, body []byte) answer {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	return answer{resp.StatusCode, resp.Header, readAll(t, resp)}
}
