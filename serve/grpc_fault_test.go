package serve_test

import (
	"context"
	"math"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/lenetkit/lenetkit/serve"
	"github.com/lenetkit/lenetkit/serve/oippb"
)

// TestGRPCRefusals sends ModelInfer and the metadata methods each kind of
// bad request: each is refused with its gRPC code and a message that says
// what is wrong, a good request is answered after it, and /metrics counts
// the calls by method and code.
func TestGRPCRefusals(t *testing.T) {
	s, err := serve.New([]serve.ModelSpec{{Name: "lenet", Path: trainedPTH}}, serve.Options{MaxBody: 64 << 10, QueueSize: 40})
	if err != nil {
		t.Fatal(err)
	}
	base, c, _ := grpcOn(t, s)
	ctx := grpcCtx(t)
	x := digitInput(t, cleanDigits(t)[0].png, 32)
	one := []int64{1, 1, 32, 32}
	good := func() *oippb.ModelInferRequest { return inferReq("lenet", one, x, false, false) }
	with := func(edit func(r *oippb.ModelInferRequest)) *oippb.ModelInferRequest {
		r := good()
		edit(r)
		return r
	}
	raw := func(u8 bool, edit func(r *oippb.ModelInferRequest)) *oippb.ModelInferRequest {
		r := inferReq("lenet", one, x, u8, true)
		edit(r)
		return r
	}
	nan := append([]float32(nil), x...)
	nan[7] = float32(math.NaN())
	inf := append([]float32(nil), x...)
	inf[3] = float32(math.Inf(1))
	big := make([]float32, 40*1024) // 160 KB of FP32, over MaxBody
	for _, tc := range []struct {
		name string
		req  *oippb.ModelInferRequest
		code codes.Code
		msg  string
	}{
		{"unknown model", with(func(r *oippb.ModelInferRequest) { r.ModelName = "nope" }), codes.NotFound, `no model "nope": the models are "lenet"`},
		{"unknown version", with(func(r *oippb.ModelInferRequest) { r.ModelVersion = "2" }), codes.NotFound, `model "lenet" has no version "2": its one version is "1"`},
		{"no input", with(func(r *oippb.ModelInferRequest) { r.Inputs = nil }), codes.InvalidArgument, `takes one input, "input"; the request has 0`},
		{"two inputs", with(func(r *oippb.ModelInferRequest) { r.Inputs = append(r.Inputs, r.Inputs[0]) }), codes.InvalidArgument, "the request has 2"},
		{"an input of another name", with(func(r *oippb.ModelInferRequest) { r.Inputs[0].Name = "x" }), codes.InvalidArgument, `inputs[0] is named "x"; model "lenet"'s input is "input" (ModelMetadata of lenet)`},
		{"an output of another name", with(func(r *oippb.ModelInferRequest) {
			r.Outputs = []*oippb.ModelInferRequest_InferRequestedOutputTensor{{Name: "probs"}}
		}), codes.InvalidArgument, `outputs[0] asks for "probs"; model "lenet" has one output, "output"`},
		{"no batch dimension", with(func(r *oippb.ModelInferRequest) { r.Inputs[0].Shape = []int64{1, 32, 32} }), codes.InvalidArgument, "inputs[0].shape is [1,32,32]; model \"lenet\" takes [N,1,32,32] or [N,1024]"},
		{"no image", with(func(r *oippb.ModelInferRequest) { r.Inputs[0].Shape = []int64{0, 1, 32, 32} }), codes.InvalidArgument, "must be 1 or more"},
		{"INT32", with(func(r *oippb.ModelInferRequest) { r.Inputs[0].Datatype = "INT32" }), codes.InvalidArgument, "inputs[0].datatype is INT32; the model takes FP32"},
		{"no datatype", with(func(r *oippb.ModelInferRequest) { r.Inputs[0].Datatype = "" }), codes.InvalidArgument, `inputs[0].datatype "" is no datatype of the protocol`},
		{"fewer values than the shape", with(func(r *oippb.ModelInferRequest) { r.Inputs[0].Contents.Fp32Contents = x[:10] }), codes.InvalidArgument, "inputs[0].contents.fp32_contents has 10 value(s); shape [1,1,32,32] needs 1024"},
		{"UINT8 values missing", raw(true, func(r *oippb.ModelInferRequest) {
			r.Inputs[0].Contents = &oippb.InferTensorContents{}
			r.RawInputContents = nil
		}), codes.InvalidArgument, "inputs[0].contents.uint_contents has 0 value(s); shape [1,1,32,32] needs 1024"},
		{"no contents", with(func(r *oippb.ModelInferRequest) { r.Inputs[0].Contents = nil }), codes.InvalidArgument, "inputs[0] has no contents and the request no raw_input_contents"},
		{"FP32 in uint_contents", raw(true, func(r *oippb.ModelInferRequest) {
			r.Inputs[0].Datatype = "FP32"
			r.Inputs[0].Contents = &oippb.InferTensorContents{UintContents: []uint32{1}}
			r.RawInputContents = nil
		}), codes.InvalidArgument, "inputs[0] is FP32 but its values are in contents.uint_contents"},
		{"UINT8 in fp32_contents", with(func(r *oippb.ModelInferRequest) { r.Inputs[0].Datatype = "UINT8" }), codes.InvalidArgument, "inputs[0] is UINT8 but its values are in contents.fp32_contents"},
		{"UINT8 over 255", raw(true, func(r *oippb.ModelInferRequest) {
			u := make([]uint32, 1024)
			u[5] = 256
			r.Inputs[0].Contents = &oippb.InferTensorContents{UintContents: u}
			r.RawInputContents = nil
		}), codes.InvalidArgument, "uint_contents[5] is 256; UINT8 values are whole numbers 0 to 255"},
		{"NaN", inferReq("lenet", one, nan, false, false), codes.InvalidArgument, "inputs[0].contents.fp32_contents[7] is NaN, not a finite FP32 value"},
		{"infinity, raw", inferReq("lenet", one, inf, false, true), codes.InvalidArgument, "raw_input_contents[0][3] is +Inf, not a finite FP32 value"},
		{"raw bytes short", raw(false, func(r *oippb.ModelInferRequest) { r.RawInputContents[0] = r.RawInputContents[0][:4000] }), codes.InvalidArgument, "raw_input_contents[0] has 4000 bytes; shape [1,1,32,32] of FP32 needs 4096"},
		{"raw UINT8 bytes long", raw(true, func(r *oippb.ModelInferRequest) { r.RawInputContents[0] = append(r.RawInputContents[0], 0) }), codes.InvalidArgument, "has 1025 bytes; shape [1,1,32,32] of UINT8 needs 1024 (a byte a value)"},
		{"raw and contents", raw(false, func(r *oippb.ModelInferRequest) { r.Inputs[0].Contents = &oippb.InferTensorContents{} }), codes.InvalidArgument, "give the values in one of them"},
		{"two raw inputs", raw(false, func(r *oippb.ModelInferRequest) { r.RawInputContents = append(r.RawInputContents, nil) }), codes.InvalidArgument, "raw_input_contents has 2 entries for the request's 1 input"},
		{"more images than the queue", inferReq("lenet", []int64{41, 1, 32, 32}, make([]float32, 41*1024), true, true), codes.ResourceExhausted, `41 images in one request; model "lenet" queues at most 40 (--queue)`},
		{"a message over --max-body", inferReq("lenet", []int64{40, 1, 32, 32}, big, false, true), codes.ResourceExhausted, "larger than max"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.ModelInfer(ctx, tc.req)
			st := status.Convert(err)
			t.Logf("%v: %s", st.Code(), st.Message())
			if st.Code() != tc.code || !strings.Contains(st.Message(), tc.msg) {
				t.Errorf("%v %q\nwant %v and %q", st.Code(), st.Message(), tc.code, tc.msg)
			}
			if strings.Contains(st.Message(), "\n") {
				t.Errorf("a message of more than one line: %q", st.Message())
			}
			if r, err := c.ModelInfer(ctx, good()); err != nil || argmax(r.Outputs[0].Contents.Fp32Contents) != cleanDigits(t)[0].label {
				t.Errorf("a good request after it: %v %v", r, err)
			}
		})
	}
	for _, tc := range []struct {
		name string
		call func() error
		code codes.Code
		msg  string
	}{
		{"ModelMetadata of no model", func() error {
			_, err := c.ModelMetadata(ctx, &oippb.ModelMetadataRequest{Name: "nope"})
			return err
		}, codes.NotFound, `no model "nope"`},
		{"ModelReady of no version", func() error {
			_, err := c.ModelReady(ctx, &oippb.ModelReadyRequest{Name: "lenet", Version: "7"})
			return err
		}, codes.NotFound, `no version "7"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if st := status.Convert(tc.call()); st.Code() != tc.code || !strings.Contains(st.Message(), tc.msg) {
				t.Errorf("%v %q, want %v and %q", st.Code(), st.Message(), tc.code, tc.msg)
			}
		})
	}

	// gRPC counts a call when it has ended, after the client has its
	// answer: the counts are polled until they are all there.
	want := []string{
		`lenetkit_http_requests_total{code="OK",route="grpc ModelInfer"} 24`,
		`lenetkit_http_requests_total{code="InvalidArgument",route="grpc ModelInfer"} 20`,
		`lenetkit_http_requests_total{code="NotFound",route="grpc ModelInfer"} 2`,
		`lenetkit_http_requests_total{code="ResourceExhausted",route="grpc ModelInfer"} 2`,
		`lenetkit_http_requests_total{code="NotFound",route="grpc ModelMetadata"} 1`,
		`lenetkit_http_requests_total{code="NotFound",route="grpc ModelReady"} 1`,
		`lenetkit_http_request_duration_seconds_count{route="grpc ModelInfer"} 48`,
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := http.Get(base + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		m := string(readAll(t, resp))
		var missing []string
		for _, line := range want {
			if !strings.Contains(m, line) {
				missing = append(missing, line)
			}
		}
		if len(missing) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("/metrics lacks, after 5 s:\n%s\nit has:\n%s", strings.Join(missing, "\n"), grep(m, "grpc"))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestGRPCBusy fills a model's queue: a call that does not fit is refused
// Unavailable at once, with the retry hint, and the one queued is
// answered.
func TestGRPCBusy(t *testing.T) {
	s, err := serve.New([]serve.ModelSpec{{Name: "lenet", Path: trainedPTH}}, serve.Options{MaxBatch: 2, QueueSize: 2, MaxDelay: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	base, c, _ := grpcOn(t, s)
	ctx := grpcCtx(t)
	x := digitInput(t, cleanDigits(t)[0].png, 32)
	// One image waits MaxDelay for a second to join its batch: the queue
	// holds 1 of 2 meanwhile, and a call of 2 does not fit.
	first := make(chan error, 1)
	go func() {
		_, err := c.ModelInfer(ctx, inferReq("lenet", []int64{1, 1, 32, 32}, x, false, false))
		first <- err
	}()
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := http.Get(base + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(readAll(t, resp)), `lenetkit_queue_depth_images{model="lenet"} 1`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the first call never queued")
		}
		time.Sleep(5 * time.Millisecond)
	}
	var trailer metadata.MD
	_, err = c.ModelInfer(ctx, inferReq("lenet", []int64{2, 1, 32, 32}, append(x, x...), false, false), grpc.Trailer(&trailer))
	st := status.Convert(err)
	if st.Code() != codes.Unavailable || !strings.Contains(st.Message(), `model "lenet" is busy: 1 images are queued, 2 at most (--queue); retry shortly`) {
		t.Errorf("%v %q, want Unavailable, busy", st.Code(), st.Message())
	}
	if got := trailer.Get("grpc-retry-pushback-ms"); len(got) != 1 || got[0] != "1000" {
		t.Errorf("trailer grpc-retry-pushback-ms %v, want [1000]", got)
	}
	if err := <-first; err != nil {
		t.Errorf("the queued call: %v", err)
	}
}

// TestGRPCConnectionLimit: with --max-conns 1 the one gRPC connection held
// is answered, and a second client's call fails Unavailable: its
// connection is closed at once, not left waiting in the backlog.
func TestGRPCConnectionLimit(t *testing.T) {
	s, err := serve.New([]serve.ModelSpec{{Name: "lenet", Path: trainedPTH}}, serve.Options{MaxConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.ServeGRPC(ctx, l, g) }()
	defer func() { stop(); <-done }()
	client := func() (oippb.GRPCInferenceServiceClient, func()) {
		conn, err := grpc.NewClient("passthrough:///"+g.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		return oippb.NewGRPCInferenceServiceClient(conn), func() { conn.Close() }
	}
	first, closeFirst := client()
	defer closeFirst()
	if _, err := first.ServerLive(grpcCtx(t), &oippb.ServerLiveRequest{}); err != nil {
		t.Fatalf("the first connection: %v", err)
	}
	second, closeSecond := client()
	defer closeSecond()
	call, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if _, err := second.ServerLive(call, &oippb.ServerLiveRequest{}); status.Code(err) != codes.Unavailable {
		t.Fatalf("a second connection over --max-conns 1: %v, want Unavailable", err)
	}
	if _, err := first.ServerLive(grpcCtx(t), &oippb.ServerLiveRequest{}); err != nil {
		t.Fatalf("the first connection after the second was refused: %v", err)
	}
}
