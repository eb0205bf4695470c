package main

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lenetkit/lenetkit/internal/testtool"
)

// TestServeTLS runs lenetkit serve with --tls-cert and --tls-key, as a
// user with a certificate does: it says it listens on https, answers a
// client that trusts the certificate, and drains on SIGTERM.
func TestServeTLS(t *testing.T) {
	t.Parallel()
	c, dir := testtool.SelfSigned(t), t.TempDir()
	certFile, keyFile := filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key")
	if err := os.WriteFile(certFile, c.CertPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, c.KeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(lenetkitBin, "serve", "--addr", "127.0.0.1:0", "--format", "json",
		"--tls-cert", certFile, "--tls-key", keyFile, "lenet="+trainedPTH)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	url := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			var rec struct{ Msg, URL string }
			if json.Unmarshal(sc.Bytes(), &rec) == nil && rec.Msg == "listening" {
				url <- rec.URL
			}
		}
	}()
	var base string
	select {
	case base = <-url:
	case <-time.After(30 * time.Second):
		t.Fatal("no listening record in the log after 30 s")
	}
	if !strings.HasPrefix(base, "https://127.0.0.1:") {
		t.Fatalf("listening on %q, want https://127.0.0.1:PORT/", base)
	}
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: c.Pool}}}
	r, err := client.Get(base + "v2/models/lenet/ready")
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusOK {
		t.Errorf("GET %sv2/models/lenet/ready: %s", base, r.Status)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("after SIGTERM: %v, want exit 0", err)
	}
}
