package serve_test

import (
	"bytes"
	"log/slog"
	"regexp"
	"strconv"
	"sync"
	"testing"

	"github.com/lenetkit/lenetkit/serve"
)

// lockedBuffer is a log's output, written by the server's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestAccessLog checks the access log's record of a request: its fields,
// in order, with the answer's status and size; and none at Warn.
func TestAccessLog(t *testing.T) {
	for _, level := range []slog.Level{slog.LevelInfo, slog.LevelWarn} {
		var out lockedBuffer
		_, ts := newTestServer(t, serve.Options{Logger: slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: level}))})
		a := call(t, ts, "GET", "/v2/health/live", "", nil)
		ts.Close() // the record is written once the answer is
		re := regexp.MustCompile(`level=INFO msg=request method=GET path=/v2/health/live status=200 bytes=` + strconv.Itoa(len(a.body)) + ` duration=[0-9.]+[µnm]?s remote=127\.0\.0\.1:[0-9]+\n`)
		if got := re.MatchString(out.String()); got != (level == slog.LevelInfo) {
			t.Errorf("level %v: access log %q", level, out.String())
		}
	}
}
