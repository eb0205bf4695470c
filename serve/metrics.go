package serve

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are a server's Prometheus metrics, in a registry of its own
// rather than the global one, so that a process (a test) may run several
// servers.
type metrics struct {
	reg       *prometheus.Registry
	requests  *prometheus.CounterVec   // by route and status code; gRPC's too, route "grpc METHOD"
	latency   *prometheus.HistogramVec // by route
	batch     *prometheus.HistogramVec // images a model ran at once, by model
	rejected  *prometheus.CounterVec   // requests a full queue refused, by model
	reloads   *prometheus.CounterVec   // by model and result, "ok" or "failed"
	connsShed prometheus.Counter       // connections over --max-conns
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lenetkit_http_requests_total",
			Help: "Requests answered, by route and code: an HTTP route pattern and status code, or \"grpc METHOD\" and the gRPC status's name."}, []string{"route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "lenetkit_http_request_duration_seconds",
			Help:    "Time from a request's headers to its answer, by route: an HTTP route pattern or \"grpc METHOD\".",
			Buckets: []float64{.0005, .001, .002, .005, .01, .02, .05, .1, .2, .5, 1, 2, 5, 10}}, []string{"route"}),
		batch: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "lenetkit_batch_size_images",
			Help:    "Images a model ran in one pass: requests that arrived together, batched.",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256}}, []string{"model"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lenetkit_queue_rejected_total",
			Help: "Requests refused with 503 because the model's queue was full."}, []string{"model"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lenetkit_model_reloads_total",
			Help: "Model reloads (SIGHUP), by model and result: ok, or failed (the old model kept serving)."}, []string{"model", "result"}),
		connsShed: prometheus.NewCounter(prometheus.CounterOpts{Name: "lenetkit_connections_refused_total",
			Help: "Connections answered 503 and closed because --max-conns were open."}),
	}
	m.reg.MustRegister(m.requests, m.latency, m.batch, m.rejected, m.reloads, m.connsShed,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// queueDepth registers the gauge of images queued or running for a
// model's batcher.
func (m *metrics) queueDepth(b *batcher) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "lenetkit_queue_depth_images",
		Help:        "Images waiting in a model's queue or running.",
		ConstLabels: prometheus.Labels{"model": b.name}}, func() float64 { return float64(b.queued.Load()) }))
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}
