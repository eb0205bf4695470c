package serve_test

import (
	"bufio"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lenetkit/lenetkit/serve"
)

// batchSizes reads the batch size histogram of /metrics: how many batches
// ran, how many images they held, and how many held at most le images.
func batchSizes(t testing.TB, metrics string, le string) (count, sum, atMost int) {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(metrics))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 2 {
			continue
		}
		n, _ := strconv.ParseFloat(f[1], 64)
		switch {
		case strings.HasPrefix(f[0], "lenetkit_batch_size_images_count"):
			count = int(n)
		case strings.HasPrefix(f[0], "lenetkit_batch_size_images_sum"):
			sum = int(n)
		case strings.HasPrefix(f[0], "lenetkit_batch_size_images_bucket") && strings.Contains(f[0], `le="`+le+`"`):
			atMost = int(n)
		}
	}
	return count, sum, atMost
}

// TestBatching: requests that arrive together run as fewer batches than
// requests, none over --max-batch, a request of more images than a batch
// runs a batch at a time, and every request gets its own images' answers.
func TestBatching(t *testing.T) {
	_, ts := newTestServer(t, serve.Options{MaxBatch: 8, MaxDelay: 100 * time.Millisecond})
	digits := cleanDigits(t)
	var wg sync.WaitGroup
	for _, d := range digits { // 20 requests of one image each
		wg.Add(1)
		go func() {
			defer wg.Done()
			a := call(t, ts, "POST", "/v2/models/lenet/infer", "application/json",
				inferBody(t, d.file, []int{1, 1, 32, 32}, "FP32", digitInput(t, d.png, 32)))
			var r inferAnswer
			a.decode(t, &r)
			if a.status != http.StatusOK || r.ID != d.file || argmax(r.Outputs[0].Data) != d.label {
				t.Errorf("%s: status %d, id %q, answer %v; want its digit %d", d.file, a.status, r.ID, r.Outputs, d.label)
			}
		}()
	}
	wg.Wait()
	count, sum, atMost8 := batchSizes(t, metricsOf(t, ts), "8")
	t.Logf("%d single-image requests ran as %d batches", sum, count)
	if sum != len(digits) || count >= len(digits) || count < (len(digits)+7)/8 || atMost8 != count {
		t.Errorf("%d images in %d batches, %d of at most 8: want %d images, fewer batches than requests, none over 8", sum, count, atMost8, len(digits))
	}

	// One request of 20 images: batches of 8, 8 and 4.
	var x []float32
	for _, d := range digits {
		x = append(x, digitInput(t, d.png, 32)...)
	}
	a := call(t, ts, "POST", "/v2/models/lenet/infer", "application/json", inferBody(t, "", []int{len(digits), 1, 32, 32}, "FP32", x))
	var r inferAnswer
	a.decode(t, &r)
	if a.status != http.StatusOK {
		t.Fatalf("status %d %s", a.status, a.body)
	}
	for i, d := range digits {
		if got := argmax(r.Outputs[0].Data[i*10 : i*10+10]); got != d.label {
			t.Errorf("%s in a batch of %d: %d, want %d", d.file, len(digits), got, d.label)
		}
	}
	count2, sum2, atMost8 := batchSizes(t, metricsOf(t, ts), "8")
	if count2-count != 3 || sum2-sum != len(digits) || atMost8 != count2 {
		t.Errorf("a request of %d images ran as %d batches of %d images, want 3 of at most 8", len(digits), count2-count, sum2-sum)
	}
}
