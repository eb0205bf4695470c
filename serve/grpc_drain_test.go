package serve_test

import (
	"net/http"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/lenetkit/lenetkit/serve"
	"github.com/lenetkit/lenetkit/serve/oippb"
)

// TestGRPCReload swaps another model's file in and reloads, as SIGHUP
// does: the next gRPC calls see the new model, its metadata and its
// answers, which are those of REST for the same tensor.
func TestGRPCReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "model.onnx")
	replaceFile(t, path, readTestdata(t, "onnx/seed_view.onnx"))
	s, err := serve.New([]serve.ModelSpec{{Name: "m", Path: path}}, serve.Options{})
	if err != nil {
		t.Fatal(err)
	}
	base, c, _ := grpcOn(t, s)
	ctx := grpcCtx(t)
	pic := cleanDigits(t)[2]
	run := func(side int) []float32 {
		t.Helper()
		meta, err := c.ModelMetadata(ctx, &oippb.ModelMetadataRequest{Name: "m"})
		if err != nil {
			t.Fatal(err)
		}
		if want := []int64{-1, 1, int64(side), int64(side)}; !reflect.DeepEqual(meta.Inputs[0].Shape, want) {
			t.Fatalf("input %v, want %v", meta.Inputs[0].Shape, want)
		}
		x := digitInput(t, pic.png, side)
		r, err := c.ModelInfer(ctx, inferReq("m", []int64{1, 1, int64(side), int64(side)}, x, false, true))
		if err != nil {
			t.Fatal(err)
		}
		_, out := grpcOutput(t, r, true)
		if argmax(out) != pic.label {
			t.Errorf("class %d, want %d", argmax(out), pic.label)
		}
		var rest inferAnswer
		post(t, base+"/v2/models/m/infer", inferBody(t, "", []int{1, 1, side, side}, "FP32", x)).decode(t, &rest)
		if !reflect.DeepEqual(rest.Outputs[0].Data, out) {
			t.Errorf("gRPC %v, REST %v", out, rest.Outputs[0].Data)
		}
		return out
	}
	before := run(32)
	replaceFile(t, path, readTestdata(t, "onnx/cnn28.onnx"))
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	if after := run(28); reflect.DeepEqual(after, before) {
		t.Errorf("the same output after the reload: the old model answered")
	}
}

// TestGRPCDrain stops a server under gRPC and REST load, as SIGTERM does:
// every call the server accepted is answered OK, the server's count of
// them equals the clients', and a call it did not accept is Unavailable
// to the client, never a refusal of the server's.
// As in TestDrain, a batch waits out MaxDelay, so that calls are under way
// when the stop comes.
func TestGRPCDrain(t *testing.T) {
	s, err := serve.New([]serve.ModelSpec{{Name: "lenet", Path: trainedPTH}}, serve.Options{MaxDelay: 100 * time.Millisecond, MaxBatch: 64})
	if err != nil {
		t.Fatal(err)
	}
	base, c, stop := grpcOn(t, s)
	d := cleanDigits(t)[0]
	x := digitInput(t, d.png, 32)
	req := inferReq("lenet", []int64{1, 1, 32, 32}, x, false, false)
	body := inferBody(t, "", []int{1, 1, 32, 32}, "FP32", x)
	var (
		ok, restOK, refused, afterStop, stopAt atomic.Int64
		done                                   atomic.Bool
		wg                                     sync.WaitGroup
	)
	ctx := grpcCtx(t)
	for range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !done.Load() {
				r, err := c.ModelInfer(ctx, req)
				if status.Code(err) == codes.Unavailable {
					refused.Add(1) // not accepted: the server had stopped taking calls
					time.Sleep(time.Millisecond)
					continue
				}
				if err != nil || argmax(r.Outputs[0].Contents.Fp32Contents) != d.label {
					t.Errorf("%v %v", r, err)
					return
				}
				ok.Add(1)
				if at := stopAt.Load(); at != 0 && time.Now().UnixNano() > at {
					afterStop.Add(1)
				}
			}
		}()
	}
	// REST requests batch with the calls.
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
			for !done.Load() {
				resp, err := client.Post(base+"/v2/models/lenet/infer", "application/json", strings.NewReader(string(body)))
				if err != nil {
					time.Sleep(time.Millisecond)
					continue
				}
				if readAll(t, resp); resp.StatusCode == http.StatusOK {
					restOK.Add(1)
				}
			}
		}()
	}
	deadline := time.Now().Add(10 * time.Second)
	for ok.Load() < 40 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // half a batch's delay: calls are queued
	stopAt.Store(time.Now().UnixNano())
	if err := stop(); err != nil {
		t.Errorf("ServeGRPC: %v", err)
	}
	done.Store(true)
	wg.Wait()

	// The server's count, from its metrics, which outlive ServeGRPC.
	answered, codesSeen := answeredOn(s, "grpc ModelInfer")
	t.Logf("%d calls answered OK (%d after the stop began), %d refused Unavailable, %d REST answers; the server answered %d, by code %v",
		ok.Load(), afterStop.Load(), refused.Load(), restOK.Load(), answered, codesSeen)
	if int64(codesSeen["OK"]) != ok.Load() {
		t.Errorf("the server answered %d calls OK, the clients got %d", codesSeen["OK"], ok.Load())
	}
	if answered != codesSeen["OK"] {
		t.Errorf("the server answered calls other than OK, %v: an accepted call was refused", codesSeen)
	}
	if afterStop.Load() == 0 || restOK.Load() == 0 {
		t.Errorf("%d calls answered after the stop began, %d REST answers: the drain was not tested under both", afterStop.Load(), restOK.Load())
	}
}
