package serve_test

import (
	"crypto/tls"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/lenetkit/lenetkit/internal/testtool"
	"github.com/lenetkit/lenetkit/serve"
	"github.com/lenetkit/lenetkit/serve/oippb"
)

// TestTLS: with Options.TLS both the REST routes and the gRPC service
// answer over TLS to a client that trusts the certificate (REST in
// HTTP/1.1 or HTTP/2), a client that speaks plain HTTP gets a 400 that
// says so, and plain gRPC gets no answer.
func TestTLS(t *testing.T) {
	c := testtool.SelfSigned(t)
	pool := c.Pool
	s, err := serve.New([]serve.ModelSpec{{Name: "lenet", Path: trainedPTH}},
		serve.Options{TLS: &tls.Config{Certificates: []tls.Certificate{c.TLS}, MinVersion: tls.VersionTLS12}})
	if err != nil {
		t.Fatal(err)
	}
	rest, g, stop := serveBoth(t, s)
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Error(err)
		}
	})

	for _, h2 := range []bool{false, true} {
		client := &http.Client{Timeout: 10 * time.Second,
			Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: h2}}
		r, err := client.Get("https://" + rest + "/v2/health/ready")
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		client.CloseIdleConnections()
		if want := map[bool]int{false: 1, true: 2}[h2]; r.StatusCode != http.StatusOK || r.TLS == nil || r.ProtoMajor != want {
			t.Errorf("HTTPS /v2/health/ready: %s over %s, TLS %v; want 200 over HTTP/%d", r.Status, r.Proto, r.TLS != nil, want)
		}
	}
	// A client that speaks plain HTTP to the port is told what is wrong.
	r, err := (&http.Client{Timeout: 10 * time.Second}).Get("http://" + rest + "/v2/health/ready")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(r.Body)
	r.Body.Close()
	if r.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "HTTPS") {
		t.Errorf("plain HTTP to the TLS port: %s %q; want 400 saying the server speaks HTTPS", r.Status, body)
	}

	call := func(creds credentials.TransportCredentials) (*oippb.ServerReadyResponse, error) {
		conn, err := grpc.NewClient("passthrough:///"+g, grpc.WithTransportCredentials(creds))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		return oippb.NewGRPCInferenceServiceClient(conn).ServerReady(grpcCtx(t), &oippb.ServerReadyRequest{})
	}
	if rr, err := call(credentials.NewTLS(&tls.Config{RootCAs: pool})); err != nil || !rr.GetReady() {
		t.Errorf("gRPC over TLS: ServerReady %v, %v", rr, err)
	}
	if _, err := call(insecure.NewCredentials()); err == nil {
		t.Error("plain gRPC to the TLS port was answered")
	}
}

// TestTLSConnectionLimit: a connection over --max-conns is refused with
// 503 over TLS, which its client can read, not with bytes in the clear.
func TestTLSConnectionLimit(t *testing.T) {
	c := testtool.SelfSigned(t)
	cfg := &tls.Config{RootCAs: c.Pool}
	s, err := serve.New([]serve.ModelSpec{{Name: "lenet", Path: trainedPTH}},
		serve.Options{MaxConns: 1, TLS: &tls.Config{Certificates: []tls.Certificate{c.TLS}}})
	if err != nil {
		t.Fatal(err)
	}
	rest, _, _ := serveBoth(t, s)
	held, err := tls.Dial("tcp", rest, cfg) // the one slot
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
	r, err := client.Get("https://" + rest + "/v2/health/ready")
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusServiceUnavailable || r.Header.Get("Retry-After") == "" {
		t.Errorf("a connection over the limit: %s, Retry-After %q; want 503 with Retry-After", r.Status, r.Header.Get("Retry-After"))
	}
}
