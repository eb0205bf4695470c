package serve_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/lenetkit/lenetkit/internal/kernel"
	"github.com/lenetkit/lenetkit/internal/testtool"
	"github.com/lenetkit/lenetkit/serve"
)

// BenchmarkHandler is the server's CPU cost per request without the
// network: the load test's requests (the clean MNIST digits as PNG bodies
// for /v1/classify, as batch-1 FP32 JSON for the v2 infer route) sent to
// Handler at concurrency 8, the model and options of the load test
// (seed_view.onnx, defaults, an access log formatted as the command's is,
// to nowhere). Besides ns/op, which 8 requests in flight share, it reports
// cpu-ns/op, the process's CPU time per request (the forward pass's
// worker threads included), and allocs/op. Run it with
//
//	go test ./serve -run '^$' -bench Handler -benchtime 3000x -count 5
//
// LENETKIT_HANDLER_THREADS=1 runs each batch's forward pass on one CPU, as
// lenetkit serve --threads 1 does: the pass's workers then never wait for
// each other, and what is left of the CPU time moves less with other work
// on the machine.
func BenchmarkHandler(b *testing.B) {
	if v := os.Getenv("LENETKIT_HANDLER_THREADS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			b.Fatalf("LENETKIT_HANDLER_THREADS=%s: want a number", v)
		}
		kernel.SetWorkers(n)
		b.Cleanup(func() { kernel.SetWorkers(0) })
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	s, err := serve.New([]serve.ModelSpec{{Name: "seed_view", Path: testtool.Testdata("onnx/seed_view.onnx")}}, serve.Options{Logger: log})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	h := s.Handler()
	digits := loadDigits(b, testtool.Testdata("images/clean"))

	var pngs, tensors [][]byte
	for _, d := range digits {
		pngs = append(pngs, d.png)
		x := make([]float32, 32*32)
		for y := range 28 {
			copy(x[(y+2)*32+2:], d.pix[y*28:y*28+28])
		}
		body, err := json.Marshal(map[string]any{"inputs": []map[string]any{{
			"name": "input", "shape": []int{1, 1, 32, 32}, "datatype": "FP32", "data": x,
		}}})
		if err != nil {
			b.Fatal(err)
		}
		tensors = append(tensors, body)
	}
	routes := []struct {
		name, url, ctype string
		bodies           [][]byte
	}{
		{"classify", "/v1/classify?model=seed_view&top=3", "image/png", pngs},
		{"v2", "/v2/models/seed_view/infer", "application/json", tensors},
	}
	for _, rt := range routes {
		b.Run(rt.name, func(b *testing.B) {
			var next atomic.Int64
			send := func() {
				i := int(next.Add(1)) % len(rt.bodies)
				req := httptest.NewRequest(http.MethodPost, rt.url, bytes.NewReader(rt.bodies[i]))
				req.Header.Set("Content-Type", rt.ctype)
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				if w.Code != http.StatusOK {
					b.Errorf("%s: status %d: %s", rt.url, w.Code, w.Body)
				}
			}
			for range 50 { // warm the model's buffers and the pools
				send()
			}
			// Eight requests in flight, as the load test's concurrency 8.
			b.SetParallelism(max(1, 8/runtime.GOMAXPROCS(0)))
			b.ReportAllocs()
			c0 := processCPU()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					send()
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(processCPU()-c0)/float64(b.N), "cpu-ns/op")
		})
	}
}

// processCPU is the process's user and system CPU time so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
