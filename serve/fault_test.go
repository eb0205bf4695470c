package serve_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/png"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/lenetkit/lenetkit/serve"
)

// serveOn runs s.Serve on a loopback port until the test ends, and
// returns the server's base URL and a function that stops it and returns
// what Serve returned.
func serveOn(t testing.TB, s *serve.Server) (string, func() error) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, l) }()
	var once bool
	var result error
	stop := func() error {
		if !once {
			once = true
			cancel()
			result = <-done
		}
		return result
	}
	t.Cleanup(func() { stop() })
	return "http://" + l.Addr().String(), stop
}

func pngOf(t testing.TB, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// fault is a bad request and what the server must answer it.
type fault struct {
	name, method, path, contentType string
	body                            []byte
	status                          int
	message                         string // the JSON error must contain it
}

// TestFaults sends each kind of bad input, and checks it gets its 4xx and
// a JSON error that says what is wrong; then that slow clients and too many
// connections are cut off; then that the server still answers a good
// request. Run with -v, it logs every answer: the fault table of
// docs/serve.md.
func TestFaults(t *testing.T) {
	s, err := serve.New([]serve.ModelSpec{{Name: "lenet", Path: trainedPTH}}, serve.Options{
		MaxBody: 64 << 10, MaxPixels: 256 * 256, MaxConns: 4,
		ReadHeaderTimeout: 200 * time.Millisecond, ReadTimeout: 400 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	base, _ := serveOn(t, s)
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}

	digits := cleanDigits(t)
	x := digitInput(t, digits[0].png, 32)
	good := inferBody(t, "", []int{1, 1, 32, 32}, "FP32", x)
	withData := func(shape, datatype, data string) []byte {
		return []byte(`{"inputs":[{"name":"input","shape":` + shape + `,"datatype":"` + datatype + `","data":` + data + `}]}`)
	}
	data := string(mustMarshal(t, x))
	form := func(files ...string) (string, []byte) {
		var b bytes.Buffer
		w := multipart.NewWriter(&b)
		w.WriteField("field", "not a file")
		for _, f := range files {
			fw, _ := w.CreateFormFile("image", f)
			fw.Write(digits[0].png)
		}
		w.Close()
		return w.FormDataContentType(), b.Bytes()
	}
	noFiles, noFilesBody := form()
	big := image.NewGray(image.Rect(0, 0, 300, 300)) // 90,000 pixels, over 256x256
	for i := range big.Pix {
		big.Pix[i] = 255
	}
	big.Pix[150*300+150] = 0
	const infer = "/v2/models/lenet/infer"
	faults := []fault{
		{"malformed JSON", "POST", infer, "application/json", []byte(`{"inputs": [`), 400, "malformed JSON"},
		{"JSON of another shape", "POST", infer, "application/json", []byte(`[1, 2]`), 400, "the request is a JSON array, not an object"},
		{"two JSON objects", "POST", infer, "application/json", append(append([]byte{}, good...), good...), 400, "more follows the request object"},
		{"empty body", "POST", infer, "application/json", nil, 400, "empty body"},
		{"no inputs", "POST", infer, "application/json", []byte(`{}`), 400, `takes one input, "input"; the request has 0`},
		{"an input of another name", "POST", infer, "application/json", []byte(strings.Replace(string(good), `"input"`, `"x"`, 1)), 400, `inputs[0] is named "x"`},
		{"an output that does not exist", "POST", infer, "application/json",
			[]byte(`{"inputs":[{"name":"input","shape":[1,1,32,32],"datatype":"FP32","data":` + data + `}],"outputs":[{"name":"probs"}]}`), 400, `asks for "probs"`},
		{"id not a string", "POST", infer, "application/json", []byte(`{"id":42,"inputs":[]}`), 400, "id is a JSON number, not a string"},
		{"wrong shape", "POST", infer, "application/json", withData("[1,1,28,28]", "FP32", data), 400, "takes [N,1,32,32] or [N,1024]"},
		{"no batch dimension", "POST", infer, "application/json", withData("[1,32,32]", "FP32", data), 400, "batch dimension first"},
		{"batch of none", "POST", infer, "application/json", withData("[0,1,32,32]", "FP32", "[]"), 400, "must be 1 or more"},
		{"datatype the model does not take", "POST", infer, "application/json", withData("[1,1,32,32]", "FP64", data), 400, "datatype is FP64"},
		{"datatype of no protocol", "POST", infer, "application/json", withData("[1,1,32,32]", "FLOAT", data), 400, `"FLOAT" is no datatype`},
		{"NaN in FP32 data", "POST", infer, "application/json", withData("[1,1,32,32]", "FP32", "[NaN"+data[2:]), 400, "NaN and Infinity are not JSON numbers"},
		{"Infinity in FP32 data", "POST", infer, "application/json", withData("[1,1,32,32]", "FP32", "[1e39,"+data[1:]), 400, "1e39, not a finite FP32 value"},
		{"a string in the data", "POST", infer, "application/json", withData("[1,1,32,32]", "FP32", `["0.5"]`), 400, "data[0] is not a number"},
		{"UINT8 out of range", "POST", infer, "application/json", withData("[1,1,32,32]", "UINT8", "[256]"), 400, "whole numbers 0 to 255"},
		{"data shorter than the shape", "POST", infer, "application/json", withData("[1,1,32,32]", "FP32", "[0.5]"), 400, "has 1 value(s); shape [1,1,32,32] needs 1024"},
		{"data longer than the shape", "POST", infer, "application/json", withData("[1,1,32,32]", "FP32", "[0,"+data[1:]), 400, "more than the 1024 values"},
		{"no data", "POST", infer, "application/json", []byte(`{"inputs":[{"name":"input","shape":[1,1,32,32],"datatype":"FP32"}]}`), 400, "data is missing"},
		{"unknown model", "POST", "/v2/models/nope/infer", "application/json", good, 404, `no model "nope": the models are "lenet"`},
		{"unknown model's metadata", "GET", "/v2/models/nope", "", nil, 404, `no model "nope"`},
		{"unknown version", "GET", "/v2/models/lenet/versions/2/ready", "", nil, 404, `no version "2"`},
		{"unknown route", "GET", "/v3/models", "", nil, 404, "no route /v3/models"},
		{"wrong method for infer", "GET", infer, "", nil, 405, "this route takes POST"},
		{"wrong method for metadata", "DELETE", "/v2/models/lenet", "", nil, 405, "this route takes GET, HEAD"},
		{"wrong method for classify", "PUT", "/v1/classify", "image/png", digits[0].png, 405, "this route takes POST"},
		{"body over --max-body, infer", "POST", infer, "application/json", withData("[1,1,32,32]", "FP32", "["+strings.Repeat("0.5,", 20000)+"0]"), 413, "over 65536 bytes (--max-body)"},
		{"body over --max-body, classify", "POST", "/v1/classify", "image/png", append(append([]byte{}, digits[0].png...), make([]byte, 70<<10)...), 413, "over 65536 bytes (--max-body)"},
		{"image over --max-pixels", "POST", "/v1/classify", "image/png", pngOf(t, big), 413, "(--max-pixels 65536)"},
		{"not an image", "POST", "/v1/classify", "image/png", []byte("hello, not a picture"), 415, "not a PNG, JPEG, GIF or BMP image"},
		{"truncated image", "POST", "/v1/classify", "image/png", digits[0].png[:len(digits[0].png)/2], 415, `image "body"`},
		{"no image", "POST", "/v1/classify", "image/png", nil, 400, `image "body" is empty`},
		{"blank image", "POST", "/v1/classify", "image/png", pngOf(t, image.NewGray(image.Rect(0, 0, 28, 28))), 422, "no digit"},
		{"a form without files", "POST", "/v1/classify", noFiles, noFilesBody, 400, "no image in the form"},
		{"a form without its boundary", "POST", "/v1/classify", "multipart/form-data", digits[0].png, 400, "without a boundary"},
		{"classify with an unknown model", "POST", "/v1/classify?model=nope", "image/png", digits[0].png, 404, `no model "nope"`},
		{"top of none", "POST", "/v1/classify?top=0", "image/png", digits[0].png, 400, "top=0: want a whole number from 1 to 10"},
		{"top over the classes", "POST", "/v1/classify?top=11", "image/png", digits[0].png, 400, "top=11"},
		{"invert of another word", "POST", "/v1/classify?invert=sideways", "image/png", digits[0].png, 400, "want auto"},
		{"preview of another word", "POST", "/v1/classify?preview=maybe", "image/png", digits[0].png, 400, "preview=maybe"},
	}
	for _, f := range faults {
		t.Run(f.name, func(t *testing.T) {
			req, err := http.NewRequest(f.method, base+f.path, bytes.NewReader(f.body))
			if err != nil {
				t.Fatal(err)
			}
			if f.contentType != "" {
				req.Header.Set("Content-Type", f.contentType)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var e struct{ Error string }
			if err := json.Unmarshal(b, &e); err != nil || e.Error == "" || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
				t.Fatalf("status %d: no JSON error (%v): %q", resp.StatusCode, err, b)
			}
			if resp.StatusCode != f.status || !strings.Contains(e.Error, f.message) {
				t.Errorf("status %d %q; want %d and %q", resp.StatusCode, e.Error, f.status, f.message)
			}
			if f.status == 405 && resp.Header.Get("Allow") == "" {
				t.Errorf("405 without Allow")
			}
			t.Logf("| %s | %d | %s |", f.name, resp.StatusCode, e.Error)
		})
	}

	addr := strings.TrimPrefix(base, "http://")
	t.Run("slow client, headers", func(t *testing.T) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		start := time.Now()
		io.WriteString(c, "POST "+infer+" HTTP/1.1\r\nHost: x\r\n") // and nothing more
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		b, err := io.ReadAll(c)
		if d := time.Since(start); err != nil || d > 3*time.Second {
			t.Errorf("connection not closed after the header timeout: %v after %v", err, d)
		}
		t.Logf("| slow client: headers not sent within --read-header-timeout | connection closed after %v | %q |", time.Since(start).Round(10*time.Millisecond), b)
	})
	t.Run("slow client, body", func(t *testing.T) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		io.WriteString(c, "POST "+infer+" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n{\"inputs\":")
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("no answer: %v", err)
		}
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusRequestTimeout || !bytes.Contains(b, []byte("--read-timeout")) {
			t.Errorf("status %d %s, want 408", resp.StatusCode, b)
		}
		t.Logf("| slow client: body not sent within --read-timeout | %d | %s |", resp.StatusCode, bytes.TrimSpace(b))
	})
	t.Run("too many connections", func(t *testing.T) {
		// Four connections hold the four slots, each answered 200: a
		// connection of the cases above that the server has not closed
		// yet may hold one a moment longer, and have one of the four
		// refused; when it goes, its slot would serve the request below.
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		deadline := time.Now().Add(5 * time.Second)
		for len(held) < 4 {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			io.WriteString(c, "GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n")
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode == http.StatusOK {
				held = append(held, c)
				continue
			}
			c.Close()
			if time.Now().After(deadline) {
				t.Fatalf("%d connections held; the next one answered %d", len(held), resp.StatusCode)
			}
			time.Sleep(20 * time.Millisecond)
		}
		resp, err := client.Get(base + "/v2/health/live")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || !bytes.Contains(b, []byte("--max-conns")) {
			t.Errorf("status %d %s, want 503 with Retry-After", resp.StatusCode, b)
		}
		t.Logf("| a connection over --max-conns | %d | %s |", resp.StatusCode, bytes.TrimSpace(b))
	})

	// After all of that, a good request is answered, once the held
	// connections' slots are free.
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := client.Post(base+infer, "application/json", bytes.NewReader(good))
		if err != nil {
			t.Fatal(err)
		}
		var r inferAnswer
		json.NewDecoder(resp.Body).Decode(&r)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			if len(r.Outputs) != 1 || argmax(r.Outputs[0].Data) != digits[0].label {
				t.Errorf("a good request after the faults: %+v", r)
			}
			break
		}
		if resp.StatusCode != http.StatusServiceUnavailable || time.Now().After(deadline) {
			t.Fatalf("a good request after the faults: status %d", resp.StatusCode)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestQueueFull: with a queue of two images, a model busy with two
// requests refuses a third at once with 503 and Retry-After, and answers
// it once the queue has room.
func TestQueueFull(t *testing.T) {
	s, ts := newTestServer(t, serve.Options{QueueSize: 2, MaxBatch: 8, MaxDelay: 300 * time.Millisecond})
	good := inferBody(t, "", []int{1, 1, 32, 32}, "FP32", digitInput(t, cleanDigits(t)[0].png, 32))
	_ = s
	first := make(chan answer, 2)
	for range 2 {
		go func() { first <- call(t, ts, "POST", "/v2/models/lenet/infer", "application/json", good) }()
	}
	// The two wait for the batch to fill up or the delay to pass; the
	// queue depth says when both are in.
	waitFor(t, ts, `lenetkit_queue_depth_images{model="lenet"} 2`)
	a := call(t, ts, "POST", "/v2/models/lenet/infer", "application/json", good)
	var e struct{ Error string }
	a.decode(t, &e)
	if a.status != http.StatusServiceUnavailable || a.header.Get("Retry-After") != "1" || !strings.Contains(e.Error, "--queue") {
		t.Errorf("status %d, Retry-After %q, %s; want 503, 1", a.status, a.header.Get("Retry-After"), a.body)
	}
	t.Logf("| a request over a full --queue | %d | %s |", a.status, e.Error)
	for range 2 {
		if a := <-first; a.status != http.StatusOK {
			t.Errorf("a queued request: status %d %s", a.status, a.body)
		}
	}
	if a := call(t, ts, "POST", "/v2/models/lenet/infer", "application/json", good); a.status != http.StatusOK {
		t.Errorf("after the queue emptied: status %d %s", a.status, a.body)
	}
	if m := metricsOf(t, ts); !strings.Contains(m, `lenetkit_queue_rejected_total{model="lenet"} 1`) {
		t.Errorf("rejection not counted:\n%s", grep(m, "lenetkit_queue"))
	}
}

// metricsOf is the server's /metrics page.
func metricsOf(t testing.TB, ts *httptest.Server) string {
	t.Helper()
	a := call(t, ts, "GET", "/metrics", "", nil)
	if a.status != http.StatusOK {
		t.Fatalf("/metrics: status %d", a.status)
	}
	return string(a.body)
}

// waitFor polls /metrics until it has line.
func waitFor(t testing.TB, ts *httptest.Server, line string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(metricsOf(t, ts), line) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in /metrics after 5 s", line)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// grep is the lines of s that contain word.
func grep(s, word string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, word) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
