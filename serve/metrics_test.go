package serve_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/lenetkit/lenetkit/serve"
)

// TestMetrics: /metrics counts requests by route and status, times them,
// and has the Go and process collectors; two servers in one process keep
// counts of their own.
func TestMetrics(t *testing.T) {
	_, a := newTestServer(t, serve.Options{})
	_, b := newTestServer(t, serve.Options{})
	for range 3 {
		call(t, a, "GET", "/v2/health/live", "", nil)
	}
	call(t, a, "GET", "/v2/models/nope", "", nil)
	call(t, b, "GET", "/v2/health/live", "", nil)
	m := metricsOf(t, a)
	for _, line := range []string{
		`lenetkit_http_requests_total{code="200",route="GET /v2/health/live"} 3`,
		`lenetkit_http_requests_total{code="404",route="GET /v2/models/{model}"} 1`,
		`lenetkit_http_request_duration_seconds_count{route="GET /v2/health/live"} 3`,
		`lenetkit_queue_depth_images{model="lenet"} 0`,
		"go_goroutines ",
		"process_resident_memory_bytes ",
	} {
		if !strings.Contains(m, line) {
			t.Errorf("/metrics lacks %q:\n%s", line, grep(m, "lenetkit_http"))
		}
	}
	if m := metricsOf(t, b); !strings.Contains(m, fmt.Sprintf(`lenetkit_http_requests_total{code="200",route="GET /v2/health/live"} %d`, 1)) {
		t.Errorf("the second server counts another's requests:\n%s", grep(m, "lenetkit_http_requests"))
	}
}
