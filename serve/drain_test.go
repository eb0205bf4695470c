package serve_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lenetkit/lenetkit/serve"
)

// TestDrain stops a server under load, as SIGTERM does: every request the
// server accepted must be answered, 200, and Serve must return nil. Each
// request has a connection of its own, so a request the clients see fail
// is one whose connection the server never accepted; the server's own
// count of the requests it answered must equal the clients' count of 200s.
func TestDrain(t *testing.T) {
	s, err := serve.New([]serve.ModelSpec{{Name: "lenet", Path: trainedPTH}}, serve.Options{MaxDelay: 100 * time.Millisecond, MaxBatch: 64})
	// A batch of more images than there are clients always waits out
	// MaxDelay, so each client's request spends nearly all its time queued:
	// when the stop comes, requests are under way, however loaded the
	// machine is.
	if err != nil {
		t.Fatal(err)
	}
	base, stop := serveOn(t, s)
	digits := cleanDigits(t)
	body := inferBody(t, "", []int{1, 1, 32, 32}, "FP32", digitInput(t, digits[0].png, 32))

	var (
		sent, ok, failed atomic.Int64
		afterStop        atomic.Int64 // 200s that came after the stop began
		stopAt           atomic.Int64 // unix nanoseconds
		done             atomic.Bool
		wg               sync.WaitGroup
	)
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !done.Load() {
				sent.Add(1)
				resp, err := client.Post(base+"/v2/models/lenet/infer", "application/json", bytes.NewReader(body))
				if err != nil {
					failed.Add(1) // not accepted: the listener was closed
					time.Sleep(time.Millisecond)
					continue
				}
				var r inferAnswer
				answer{resp.StatusCode, resp.Header, readAll(t, resp)}.decode(t, &r)
				if resp.StatusCode != http.StatusOK || len(r.Outputs) != 1 || argmax(r.Outputs[0].Data) != digits[0].label {
					t.Errorf("status %d, %+v", resp.StatusCode, r)
					continue
				}
				ok.Add(1)
				if at := stopAt.Load(); at != 0 && time.Now().UnixNano() > at {
					afterStop.Add(1)
				}
			}
		}()
	}
	// Load for a while, then stop the server as SIGTERM would.
	deadline := time.Now().Add(10 * time.Second)
	for ok.Load() < 50 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	// A batch has just been answered, all at once: half a batch's delay
	// later its clients' next requests are queued.
	time.Sleep(50 * time.Millisecond)
	stopAt.Store(time.Now().UnixNano())
	if err := stop(); err != nil {
		t.Errorf("Serve: %v", err)
	}
	done.Store(true)
	wg.Wait()

	// The server's count, from its metrics, which outlive Serve.
	answered, codes := answeredOn(s, "POST /v2/models/{model}/infer")
	t.Logf("%d requests sent, %d answered 200 (%d after the stop began), %d not accepted; the server answered %d, by code %v",
		sent.Load(), ok.Load(), afterStop.Load(), failed.Load(), answered, codes)
	if int64(answered) != ok.Load() || codes["200"] != answered {
		t.Errorf("the server answered %d requests (%v), the clients got %d 200s: an accepted request went unanswered", answered, codes, ok.Load())
	}
	if ok.Load() == 0 || sent.Load() != ok.Load()+failed.Load() {
		t.Errorf("%d sent, %d answered, %d failed", sent.Load(), ok.Load(), failed.Load())
	}
	if afterStop.Load() == 0 {
		t.Errorf("no request was answered after the stop began: the drain was not tested")
	}
	// After the drain the batchers are closed: a request is refused, not
	// left waiting.
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest("POST", "/v2/models/lenet/infer", bytes.NewReader(body)))
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("after the drain: status %d %s, want 503", rec.Code, rec.Body)
	}
}

func readAll(t testing.TB, resp *http.Response) []byte {
	t.Helper()
	defer resp.Body.Close()
	var b bytes.Buffer
	if _, err := b.ReadFrom(resp.Body); err != nil {
		t.Error(err)
	}
	return b.Bytes()
}
