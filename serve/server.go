package serve

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Options say how a Server batches, what it accepts and where it logs.
// Zero values mean the defaults.
type Options struct {
	// MaxBatch is the most images a model runs at once (default 32).
	MaxBatch int
	// MaxDelay is how long the first request of a batch waits for others
	// to join it. Zero or negative (the default): it waits for none, and
	// runs with whatever is queued already, so that under load the
	// requests that queue while a batch runs make the next one, and alone
	// a request waits for nothing (Triton's dynamic batcher's default too).
	// A delay helps only where a batch runs much faster per image than
	// single images do and the clients are many.
	MaxDelay time.Duration
	// QueueSize is the most images waiting for a model (default 256);
	// more are refused with 503 and Retry-After.
	QueueSize int
	// MaxBody is the largest request body in bytes (default 8 MiB);
	// larger ones are refused with 413.
	MaxBody int64
	// MaxPixels is the largest image /v1/classify decodes, in pixels
	// (default 16,777,216, 4096x4096); larger ones are refused with 413.
	MaxPixels int
	// MaxConns is the most connections Serve keeps open (default 256);
	// one more is answered 503 and closed.
	MaxConns int
	// Timeouts of Serve's connections: for a request's headers (default
	// 5 s), its whole body (30 s), the answer (60 s) and an idle
	// keep-alive connection (120 s). They bound what a slow client holds.
	ReadHeaderTimeout, ReadTimeout, WriteTimeout, IdleTimeout time.Duration
	// DrainTimeout bounds how long Serve waits, once told to stop, for
	// requests under way to be answered (default 30 s).
	DrainTimeout time.Duration
	// Backend runs the models: "" picks what infer.OpenClassifier picks.
	Backend string
	// Version is the server version GET /v2 reports.
	Version string
	// Logger receives the access log (a record per request, at Info) and
	// the server's events; nil discards them.
	Logger *slog.Logger
	// TLS, when set, makes Serve answer HTTPS, and ServeGRPC gRPC over
	// TLS too, with its certificates; nil: plain HTTP and gRPC.
	TLS *tls.Config
}

// withDefaults is opt with its zero values filled in.
func (opt Options) withDefaults() Options {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defDur := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&opt.MaxBatch, 32)
	def(&opt.QueueSize, 256)
	def(&opt.MaxPixels, 1<<24)
	def(&opt.MaxConns, 256)
	if opt.MaxBody <= 0 {
		opt.MaxBody = 8 << 20
	}
	defDur(&opt.ReadHeaderTimeout, 5*time.Second)
	defDur(&opt.ReadTimeout, 30*time.Second)
	defDur(&opt.WriteTimeout, 60*time.Second)
	defDur(&opt.IdleTimeout, 120*time.Second)
	defDur(&opt.DrainTimeout, 30*time.Second)
	if opt.Version == "" {
		opt.Version = "dev"
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return opt
}

// Server serves a set of models over HTTP. Its methods are safe for
// concurrent use.
type Server struct {
	opt     Options
	log     *slog.Logger
	specs   []ModelSpec
	models  atomic.Pointer[map[string]*model] // by name; Reload swaps the whole map
	queues  map[string]*batcher               // by name, for the server's life
	met     *metrics
	handler http.Handler
	// decoding bounds the images decoded at once: decoding is work for a
	// CPU and memory for the image, so more at once only piles up.
	decoding chan struct{}

	reloading sync.Mutex
	closing   atomic.Bool // draining or closed: no longer ready
	closeOnce sync.Once
}

// New opens every model of specs and makes a Server for them; the first
// is /v1/classify's default. Names must be distinct, and Labels, when
// given, one a class.
func New(specs []ModelSpec, opt Options) (*Server, error) {
	if len(specs) == 0 {
		return nil, errors.New("serve: no model to serve")
	}
	if opt.MaxBatch < 0 || opt.QueueSize < 0 || opt.MaxBody < 0 || opt.MaxPixels < 0 || opt.MaxConns < 0 {
		return nil, errors.New("serve: negative limit in Options")
	}
	opt = opt.withDefaults()
	s := &Server{opt: opt, log: opt.Logger, specs: append([]ModelSpec(nil), specs...), queues: map[string]*batcher{},
		met: newMetrics(), decoding: make(chan struct{}, runtime.GOMAXPROCS(0))}
	models := map[string]*model{}
	for _, spec := range specs {
		if !validName.MatchString(spec.Name) {
			return nil, fmt.Errorf("serve: model name %q: use letters, digits, '.', '_' and '-', starting with a letter or digit", spec.Name)
		}
		if _, dup := models[spec.Name]; dup {
			return nil, fmt.Errorf("serve: two models are named %q: name them apart", spec.Name)
		}
		m, err := openModel(spec, opt.Backend)
		if err != nil {
			return nil, err
		}
		models[spec.Name] = m
		g := m.m.Input
		s.log.Info("model loaded", "model", spec.Name, "path", spec.Path, "format", m.m.Format, "backend", m.m.Backend,
			"input", fmt.Sprintf("%dx%dx%d", g.Channels, g.Height, g.Width), "classes", m.m.Classes, "classify", m.digitPad >= 0)
	}
	s.models.Store(&models)
	for _, spec := range specs {
		b := newBatcher(spec.Name, opt, s.log, s.met)
		s.queues[spec.Name] = b
		s.met.queueDepth(b)
	}
	s.handler = s.routes()
	return s, nil
}

// Handler is the server's routes, with its limits, metrics and access log.
func (s *Server) Handler() http.Handler { return s.handler }

// model is the model named name as it is now, or nil.
func (s *Server) model(name string) *model { return (*s.models.Load())[name] }

// first is the model /v1/classify uses when the request names none.
func (s *Server) first() *model { return s.model(s.specs[0].Name) }

// Reload opens every model's file again and swaps the new models in at
// once: requests already queued finish with the model they were checked
// against, later ones get the new one. A file that fails to open keeps
// its old model serving; the error names each such model, and the log
// says which were reloaded and which were not.
func (s *Server) Reload() error {
	s.reloading.Lock()
	defer s.reloading.Unlock()
	old := *s.models.Load()
	next := make(map[string]*model, len(old))
	var errs []error
	for _, spec := range s.specs {
		m, err := openModel(spec, s.opt.Backend)
		if err != nil {
			next[spec.Name] = old[spec.Name]
			errs = append(errs, err)
			s.met.reloads.WithLabelValues(spec.Name, "failed").Inc()
			s.log.Error("reload failed; the old model goes on serving", "model", spec.Name, "path", spec.Path, "err", err)
			continue
		}
		next[spec.Name] = m
		s.met.reloads.WithLabelValues(spec.Name, "ok").Inc()
		s.log.Info("model reloaded", "model", spec.Name, "path", spec.Path, "format", m.m.Format, "classes", m.m.Classes)
	}
	s.models.Store(&next)
	return errors.Join(errs...)
}

// Close stops the batchers once they have answered every request queued;
// requests after it are refused with 503. It does not stop an
// http.Server that uses Handler: Serve does both, in order.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.closing.Store(true)
		for _, b := range s.queues {
			b.close()
		}
	})
	return nil
}
