package serve

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
)

// LoadError is a model that could not be opened, by New or Reload: which
// one, from which file, and why.
type LoadError struct {
	Name, Path string
	Err        error
}

func (e *LoadError) Error() string { return fmt.Sprintf("model %q: %v", e.Name, e.Err) }
func (e *LoadError) Unwrap() error { return e.Err }

// httpError is a refusal: the status a request gets and the message of
// its JSON body. retryAfter, in seconds, goes to a Retry-After header.
type httpError struct {
	status     int
	msg        string
	retryAfter int
}

func (e *httpError) Error() string { return e.msg }

// fail makes the refusal of a request with status and a message that names
// what is wrong and, where it can, what to do instead.
func fail(status int, format string, args ...any) *httpError {
	return &httpError{status: status, msg: fmt.Sprintf(format, args...)}
}

// errorBody is the protocol's error object.
type errorBody struct {
	Error string `json:"error"`
}

// writeJSON answers with v as JSON and status. The body is marshalled
// first, so that a value JSON cannot hold (a NaN) becomes a 500 rather than
// half a body.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("serve: encoding the answer: %w", err)
	}
	b = append(b, '\n')
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, err = w.Write(b)
	return err
}

// writeError answers with err's status and message, or with 500 for an
// error that is no refusal: that is the server's fault, and its words
// go to the log, not to the client.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var he *httpError
	if !errors.As(err, &he) {
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		he = fail(http.StatusInternalServerError, "the server failed to answer; its log says why")
	}
	if he.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(he.retryAfter))
	}
	writeJSON(w, he.status, errorBody{he.msg})
}
