package serve_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"net/http"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/lenetkit/lenetkit/serve"
	"github.com/lenetkit/lenetkit/serve/oippb"
)

// selfSigned is a certificate for 127.0.0.1, signed by its own key, and
// the pool that trusts it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "lenetkit test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// TestTLS: with Options.TLS both the REST routes and the gRPC service
// answer over TLS to a client that trusts the certificate, and a client
// that speaks plain HTTP or gRPC to those ports gets no answer.
func TestTLS(t *testing.T) {
	cert, pool := selfSigned(t)
	s, err := serve.New([]serve.ModelSpec{{Name: "lenet", Path: trainedPTH}},
		serve.Options{TLS: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}})
	if err != nil {
		t.Fatal(err)
	}
	listen := func() net.Listener {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	l, g := listen(), listen()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.ServeGRPC(ctx, l, g) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})

	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	r, err := client.Get("https://" + l.Addr().String() + "/v2/health/ready")
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusOK || r.TLS == nil {
		t.Errorf("HTTPS /v2/health/ready: %s, TLS %v", r.Status, r.TLS != nil)
	}
	plain := &http.Client{Timeout: 10 * time.Second}
	if r, err := plain.Get("http://" + l.Addr().String() + "/v2/health/ready"); err == nil {
		r.Body.Close()
		if r.StatusCode == http.StatusOK {
			t.Error("plain HTTP to the TLS port was answered 200")
		}
	}

	call := func(creds credentials.TransportCredentials) (*oippb.ServerReadyResponse, error) {
		conn, err := grpc.NewClient("passthrough:///"+g.Addr().String(), grpc.WithTransportCredentials(creds))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		cctx, ccancel := context.WithTimeout(ctx, 5*time.Second)
		defer ccancel()
		return oippb.NewGRPCInferenceServiceClient(conn).ServerReady(cctx, &oippb.ServerReadyRequest{})
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
	cert, pool := selfSigned(t)
	cfg := &tls.Config{RootCAs: pool}
	s, err := serve.New([]serve.ModelSpec{{Name: "lenet", Path: trainedPTH}},
		serve.Options{MaxConns: 1, TLS: &tls.Config{Certificates: []tls.Certificate{cert}}})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, l) }()
	t.Cleanup(func() { cancel(); <-done })
	held, err := tls.Dial("tcp", l.Addr().String(), cfg) // the one slot
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
	r, err := client.Get("https://" + l.Addr().String() + "/v2/health/ready")
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusServiceUnavailable || r.Header.Get("Retry-After") == "" {
		t.Errorf("a connection over the limit: %s, Retry-After %q; want 503 with Retry-After", r.Status, r.Header.Get("Retry-After"))
	}
}
