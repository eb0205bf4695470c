package serve_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The load generator of BenchmarkServeLoad: closed loop, keep-alive, one
// connection per worker, bounded in time and requests.

// A loadRoute is what one cell sends: POSTs of bodies[i] (taken in turn)
// to url, each answer checked by check(i, body); or, when call is set,
// the gRPC call call(ctx, i), which checks its own answer.
type loadRoute struct {
	url    string
	ctype  string
	bodies [][]byte
	check  func(i int, body []byte) error
	call   func(ctx context.Context, i int) error
}

// A loadLimits bounds a cell: a warm-up of warmTime or warmRequests
// (whichever ends first), then a measured run of runTime or runRequests.
type loadLimits struct {
	warmTime     time.Duration
	warmRequests int
	runTime      time.Duration
	runRequests  int
}

// A loadResult is one measured run.
type loadResult struct {
	Requests    int     `json:"requests"` // answered, errors included
	Errors      int     `json:"errors"`
	FirstError  string  `json:"first_error,omitempty"`
	Seconds     float64 `json:"seconds"`
	RPS         float64 `json:"rps"` // answers without error per second
	P50Ms       float64 `json:"p50_ms"`
	P99Ms       float64 `json:"p99_ms"`
	MeanMs      float64 `json:"mean_ms"`
	MaxMs       float64 `json:"max_ms"`
	Concurrency int     `json:"concurrency"`
	// CPU time spent during the measured run, in CPUs (seconds a second):
	// by the server process, by this process (the load generator), and by
	// everything else on the machine.
	ServerCPU float64 `json:"server_cpus"`
	ClientCPU float64 `json:"client_cpus"`
	OtherCPU  float64 `json:"other_cpus"`
	// ServerCPUPer1000 is the server's CPU seconds per 1000 requests
	// answered in the measured run.
	ServerCPUPer1000 float64 `json:"server_cpu_s_per_1000,omitempty"`
}

// newLoadClient is a keep-alive client with an idle connection kept for
// every worker, so that no request pays a connect after the warm-up.
func newLoadClient(conns int) *http.Client {
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        2 * conns,
			MaxIdleConnsPerHost: 2 * conns,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
			ForceAttemptHTTP2:   false,
		},
	}
}

// do sends one request, reads the whole answer and checks it.
func (r *loadRoute) do(ctx context.Context, client *http.Client, i int) error {
	if r.call != nil {
		return r.call(ctx, i)
	}
	body, err := r.fetch(ctx, client, i)
	if err != nil {
		return err
	}
	return r.check(i, body)
}

// fetch sends request i and returns the answer's body; any status but 200
// is an error.
func (r *loadRoute) fetch(ctx context.Context, client *http.Client, i int) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.url, bytes.NewReader(r.bodies[i]))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", r.ctype)
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %d: %s", resp.StatusCode, strings.TrimSpace(truncate(string(body), 200)))
	}
	return body, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// run drives conc workers, each sending its next request as soon as the
// last is answered, until maxReq requests have been sent or d has passed.
// It returns each answered request's latency, errors apart.
func (r *loadRoute) run(client *http.Client, conc int, d time.Duration, maxReq int) (lat []time.Duration, errs int, first string, elapsed time.Duration) {
	var (
		issued  atomic.Int64
		nerr    atomic.Int64
		once    sync.Once
		wg      sync.WaitGroup
		perWork = make([][]time.Duration, conc)
	)
	ctx := context.Background()
	start := time.Now()
	deadline := start.Add(d)
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			own := make([]time.Duration, 0, min(maxReq/conc+1, 1<<14))
			for {
				n := issued.Add(1)
				if n > int64(maxReq) || time.Now().After(deadline) {
					break
				}
				t0 := time.Now()
				err := r.do(ctx, client, int(n-1)%len(r.bodies))
				dt := time.Since(t0)
				if err != nil {
					nerr.Add(1)
					once.Do(func() { first = err.Error() })
					continue
				}
				own = append(own, dt)
			}
			perWork[w] = own
		}(w)
	}
	wg.Wait()
	elapsed = time.Since(start)
	for _, l := range perWork {
		lat = append(lat, l...)
	}
	return lat, int(nerr.Load()), first, elapsed
}

// measure runs one cell: the warm-up, then the measured run.
// When around is not nil it is called just before the measured run and
// its result just after it.
func (r *loadRoute) measure(client *http.Client, conc int, lim loadLimits, around func() func()) loadResult {
	_, werr, wfirst, _ := r.run(client, conc, lim.warmTime, lim.warmRequests)
	var after func()
	if around != nil {
		after = around()
	}
	lat, errs, first, elapsed := r.run(client, conc, lim.runTime, lim.runRequests)
	if after != nil {
		after()
	}
	if first == "" && werr > 0 {
		first = "warm-up: " + wfirst
	}
	res := summarize(lat, elapsed)
	res.Errors = errs + werr
	res.Requests += errs
	res.FirstError = first
	res.Concurrency = conc
	return res
}

// summarize gives the rate and latency percentiles (nearest rank) of
// answered requests.
func summarize(lat []time.Duration, elapsed time.Duration) loadResult {
	res := loadResult{Requests: len(lat), Seconds: elapsed.Seconds()}
	if len(lat) == 0 || elapsed <= 0 {
		return res
	}
	sorted := append([]time.Duration(nil), lat...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	var sum time.Duration
	for _, l := range sorted {
		sum += l
	}
	ms := func(d time.Duration) float64 { return float64(d) / 1e6 }
	res.RPS = float64(len(lat)) / elapsed.Seconds()
	res.P50Ms = ms(percentile(sorted, 0.50))
	res.P99Ms = ms(percentile(sorted, 0.99))
	res.MeanMs = ms(sum / time.Duration(len(sorted)))
	res.MaxMs = ms(sorted[len(sorted)-1])
	return res
}

// percentile is the nearest-rank percentile of sorted values.
func percentile(sorted []time.Duration, p float64) time.Duration {
	k := int(math.Ceil(p*float64(len(sorted)))) - 1
	if k < 0 {
		k = 0
	}
	if k >= len(sorted) {
		k = len(sorted) - 1
	}
	return sorted[k]
}

func TestLoadPercentile(t *testing.T) {
	var v []time.Duration
	for i := 1; i <= 100; i++ {
		v = append(v, time.Duration(i)*time.Millisecond)
	}
	if got := percentile(v, 0.50); got != 50*time.Millisecond {
		t.Errorf("p50 of 1..100 ms = %v, want 50ms", got)
	}
	if got := percentile(v, 0.99); got != 99*time.Millisecond {
		t.Errorf("p99 of 1..100 ms = %v, want 99ms", got)
	}
	if got := percentile(v[:1], 0.99); got != time.Millisecond {
		t.Errorf("p99 of one value = %v", got)
	}
}

// TestLoadGenerator runs the generator against an in-process server that
// fails every tenth request and gives a body that does not parse every
// seventh: both count as errors, and the bounds hold.
func TestLoadGenerator(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		k := n.Add(1)
		io.Copy(io.Discard, r.Body)
		switch {
		case k%10 == 0:
			http.Error(w, "busy", http.StatusServiceUnavailable)
		case k%7 == 0:
			w.Write([]byte(`{"class":`))
		default:
			w.Write([]byte(`{"class":3}`))
		}
	}))
	defer srv.Close()
	route := &loadRoute{
		url:    srv.URL,
		ctype:  "application/json",
		bodies: [][]byte{[]byte("{}"), []byte("{}")},
		check: func(i int, body []byte) error {
			var v struct{ Class int }
			return json.Unmarshal(body, &v)
		},
	}
	client := newLoadClient(4)
	res := route.measure(client, 4, loadLimits{warmTime: time.Second, warmRequests: 0, runTime: 5 * time.Second, runRequests: 700}, nil)
	if res.Requests != 700 {
		t.Errorf("%d requests answered, want 700", res.Requests)
	}
	if int(n.Load()) != 700 {
		t.Errorf("server saw %d requests, want 700", n.Load())
	}
	// Of 1..700: 70 multiples of 10, 100 of 7, 10 of both.
	if res.Errors != 160 {
		t.Errorf("%d errors, want 160 (first: %s)", res.Errors, res.FirstError)
	}
	if res.RPS <= 0 || res.P50Ms <= 0 || res.P99Ms < res.P50Ms {
		t.Errorf("figures %+v", res)
	}
	res = route.measure(client, 2, loadLimits{warmTime: 0, warmRequests: 0, runTime: 200 * time.Millisecond, runRequests: 1 << 30}, nil)
	if res.Seconds > 2 {
		t.Errorf("a 200 ms run took %.2f s", res.Seconds)
	}
}
