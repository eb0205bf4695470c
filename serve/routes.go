package serve

import (
	"context"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// route is one of the server's routes: a method and a ServeMux path
// pattern.
type route struct {
	method, path string
	h            func(http.ResponseWriter, *http.Request) error
}

func (s *Server) routes() http.Handler {
	routes := []route{
		{"GET", "/{$}", s.page},
		{"GET", "/v2/health/live", s.live},
		{"GET", "/v2/health/ready", s.ready},
		{"GET", "/v2", s.serverMetadata},
		{"GET", "/v2/models/{model}", s.modelMetadata},
		{"GET", "/v2/models/{model}/versions/{version}", s.modelMetadata},
		{"GET", "/v2/models/{model}/ready", s.modelReady},
		{"GET", "/v2/models/{model}/versions/{version}/ready", s.modelReady},
		{"POST", "/v2/models/{model}/infer", s.infer},
		{"POST", "/v2/models/{model}/versions/{version}/infer", s.infer},
		{"GET", "/v1/models", s.listModels},
		{"POST", "/v1/classify", s.classify},
	}
	mux := http.NewServeMux()
	methods := map[string][]string{}
	var paths []string
	for _, rt := range routes {
		mux.Handle(rt.method+" "+rt.path, s.handle(rt.h))
		if methods[rt.path] == nil {
			paths = append(paths, rt.path)
		}
		methods[rt.path] = append(methods[rt.path], rt.method)
	}
	mux.Handle("GET /metrics", s.met.handler())
	methods["/metrics"], paths = []string{"GET"}, append(paths, "/metrics")
	// A path's other methods get the protocol's JSON error, not
	// ServeMux's plain text.
	for _, p := range paths {
		allow := strings.Join(methods[p], ", ")
		if slices.Contains(methods[p], "GET") {
			allow += ", HEAD"
		}
		mux.Handle(p, s.handle(func(w http.ResponseWriter, r *http.Request) error {
			w.Header().Set("Allow", allow)
			return fail(http.StatusMethodNotAllowed, "%s %s: this route takes %s", r.Method, r.URL.Path, allow)
		}))
	}
	mux.Handle("/", s.handle(func(w http.ResponseWriter, r *http.Request) error {
		return fail(http.StatusNotFound, "no route %s: the routes are GET /v2, /v2/health/live, /v2/health/ready, /v2/models/NAME[/ready], POST /v2/models/NAME/infer, GET /v1/models, POST /v1/classify, GET /metrics and GET /", r.URL.Path)
	}))
	return s.instrument(mux)
}

// handle adapts a handler that returns its refusal. A body that says it
// is over --max-body is refused before any of it is read: a decoder that
// stops at the end of its image would never reach the part over the limit.
func (s *Server) handle(h func(http.ResponseWriter, *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > s.opt.MaxBody {
			s.writeError(w, r, readFault(&http.MaxBytesError{Limit: s.opt.MaxBody}))
			return
		}
		if err := h(w, r); err != nil {
			s.writeError(w, r, err)
		}
	})
}

// recorder keeps the status and size of an answer for the log and the
// metrics.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// instrument bounds every request's body, answers a handler's panic with
// 500 rather than a dropped connection, counts and times requests by route
// and writes the access log.
func (s *Server) instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &recorder{ResponseWriter: w}
		r.Body = http.MaxBytesReader(rec, r.Body, s.opt.MaxBody)
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.log.Error("handler panicked", "method", r.Method, "path", r.URL.Path, "panic", p)
				if rec.status == 0 {
					s.writeError(rec, r, fail(http.StatusInternalServerError, "the server failed to answer; its log says why"))
				}
			}
			if rec.status == 0 {
				rec.status = http.StatusOK
			}
			d := time.Since(start)
			// The pattern ServeMux matched (it sets it on r): a route's
			// name of bounded number, unlike the path.
			route := r.Pattern
			if route == "" {
				route = "none"
			}
			s.met.requests.WithLabelValues(route, strconv.Itoa(rec.status)).Inc()
			s.met.latency.WithLabelValues(route).Observe(d.Seconds())
			// Typed attributes: the record Info would make, without boxing
			// each value, and nothing made when the level leaves it out.
			if ctx := context.Background(); s.log.Enabled(ctx, slog.LevelInfo) {
				s.log.LogAttrs(ctx, slog.LevelInfo, "request", slog.String("method", r.Method), slog.String("path", r.URL.Path),
					slog.Int("status", rec.status), slog.Int64("bytes", rec.bytes), slog.Duration("duration", d), slog.String("remote", r.RemoteAddr))
			}
		}()
		next.ServeHTTP(rec, r)
	})
}
