package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/lenetkit/lenetkit/internal/testtool"
	"github.com/lenetkit/lenetkit/serve"
	"github.com/lenetkit/lenetkit/serve/oippb"
)

// TestServeHelp: serve --help shows examples, as every command's does.
func TestServeHelp(t *testing.T) {
	t.Parallel()
	r := run(t, "serve", "--help")
	for _, want := range []string{"Examples:", "lenetkit serve parameter.pth", "/v2/models/NAME", "/v1/classify", "--max-batch", "--max-conns", "--threads", "--grpc-addr 127.0.0.1:8081"} {
		if r.code != 0 || !strings.Contains(r.stdout, want) {
			t.Errorf("exit %d; serve --help lacks %q:\n%s", r.code, want, r.stdout)
		}
	}
}

// TestServeBadInvocation: a model that cannot be opened, or a command
// line that makes no sense, is one line on standard error and a non-zero
// exit, before anything listens.
func TestServeBadInvocation(t *testing.T) {
	t.Parallel()
	absent := filepath.Join(t.TempDir(), "absent.pth")
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"serve", "--addr", "127.0.0.1:0", absent}, 1, "absent.pth"},
		{[]string{"serve", "--addr", "127.0.0.1:0", testtool.Testdata("images/clean/00000.png")}, 1, "00000.png"},
		{[]string{"serve", "--addr", "127.0.0.1:0", "--grpc-addr", "127.0.0.1", trainedPTH}, 1, "--grpc-addr: listen tcp: address 127.0.0.1: missing port"},
		{[]string{"serve"}, 2, "serve needs at least one MODEL"},
		{[]string{"serve", "a=" + trainedPTH, "a=" + trainedPTH}, 2, `two models are named "a"`},
		{[]string{"serve", "--max-body", "lots", trainedPTH}, 2, `--max-body "lots": want a size`},
		{[]string{"serve", "--queue", "0", trainedPTH}, 2, "--queue 0: want 1 or more"},
		{[]string{"serve", "--threads", "-1", trainedPTH}, 2, "--threads -1: want 0"},
		{[]string{"serve", "--format", "yaml", trainedPTH}, 2, `--format "yaml"`},
		{[]string{"serve", "--labels", "nope=x.txt", trainedPTH}, 2, `no model is named "nope"`},
		{[]string{"serve", "--name", "a", "--name", "b", trainedPTH}, 2, "--name given 2 times for 1 models"},
		{[]string{"serve", "--tls-cert", "server.crt", trainedPTH}, 2, "--tls-cert and --tls-key go together"},
		{[]string{"serve", "--tls-cert", absent, "--tls-key", absent, trainedPTH}, 1, "no such file or directory (want a PEM certificate"},
		{[]string{"serve", "--tls-cert", trainedPTH, "--tls-key", trainedPTH, trainedPTH}, 1, "failed to find any PEM data"},
		{[]string{"serve", "--prep", "crop", trainedPTH}, 2, `--prep "crop": want digit, resize or resize:area`},
		{[]string{"serve", "--orient", "sideways", trainedPTH}, 2, `--orient "sideways": want transpose, mirror or flip`},
	}
	for _, c := range cases {
		r := run(t, c.args...)
		line := strings.TrimRight(r.stderr, "\n")
		if r.code != c.code || !strings.Contains(line, c.want) || strings.Contains(line, "\n") || r.stdout != "" {
			t.Errorf("lenetkit %s: exit %d, stderr %q; want exit %d and one line with %q", strings.Join(c.args, " "), r.code, r.stderr, c.code, c.want)
		}
	}
	// The first model loads (its log line) and the second fails: the hint
	// names the one that failed, without its NAME=.
	bad := testtool.Testdata("onnx/seed_train_op13.onnx")
	r := run(t, "serve", "--addr", "127.0.0.1:0", "a="+testtool.Testdata("onnx/mlp.onnx"), "b="+bad)
	lines := strings.Split(strings.TrimRight(r.stderr, "\n"), "\n")
	if last := lines[len(lines)-1]; r.code != 1 || !strings.HasPrefix(last, `lenetkit: model "b": `) || !strings.HasSuffix(last, "; lenetkit doctor "+bad+" lists everything that stops it at once") {
		t.Errorf("a second model that fails: exit %d, stderr %q", r.code, r.stderr)
	}
}

// TestServeStartAndStop runs lenetkit serve as a user does: it says where
// it listens, over HTTP and gRPC, answers both, reloads on SIGHUP, and on
// SIGTERM drains and exits 0.
func TestServeStartAndStop(t *testing.T) {
	t.Parallel()
	cmd := exec.Command(lenetkitBin, "serve", "--addr", "127.0.0.1:0", "--grpc-addr", "127.0.0.1:0", "--format", "json", "lenet="+trainedPTH)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	lines := make(chan map[string]any, 100)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			var rec map[string]any
			if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
				t.Errorf("a log line that is not JSON: %q", sc.Text())
				continue
			}
			lines <- rec
		}
	}()
	// waitLog returns the first record whose message is msg.
	waitLog := func(msg string) map[string]any {
		t.Helper()
		timeout := time.After(30 * time.Second)
		for {
			select {
			case rec, ok := <-lines:
				if !ok {
					t.Fatalf("the log ended before %q", msg)
				}
				if rec["msg"] == msg {
					return rec
				}
			case <-timeout:
				t.Fatalf("no %q in the log after 30 s", msg)
			}
		}
	}
	listening := waitLog("listening")
	url, _ := listening["url"].(string)
	grpcAddr, _ := listening["grpc"].(string)
	if !strings.HasPrefix(url, "http://127.0.0.1:") || !strings.HasPrefix(grpcAddr, "127.0.0.1:") {
		t.Fatalf("listening on %q, gRPC on %q", url, grpcAddr)
	}
	conn, err := grpc.NewClient("passthrough:///"+grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if meta, err := oippb.NewGRPCInferenceServiceClient(conn).ModelMetadata(ctx, &oippb.ModelMetadataRequest{Name: "lenet"}); err != nil || meta.Platform != "lenetkit_pth" {
		t.Errorf("gRPC ModelMetadata: %v %v", meta, err)
	}
	if rec := waitLog("request"); rec["path"] != "/inference.GRPCInferenceService/ModelMetadata" || rec["code"] != "OK" {
		t.Errorf("access log %v", rec)
	}
	pic, err := os.Open(testtool.Testdata("images/clean/00000.png"))
	if err != nil {
		t.Fatal(err)
	}
	defer pic.Close()
	resp, err := http.Post(url+"v1/classify", "image/png", pic)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"label":"7"`) {
		t.Errorf("classify: status %d %s", resp.StatusCode, body)
	}
	if rec := waitLog("request"); rec["path"] != "/v1/classify" || rec["status"] != float64(200) {
		t.Errorf("access log %v", rec)
	}

	cmd.Process.Signal(syscall.SIGHUP)
	waitLog("SIGHUP: every model reloaded")
	cmd.Process.Signal(syscall.SIGTERM)
	waitLog("drained: every request was answered")
	err = cmd.Wait()
	var ee *exec.ExitError
	if errors.As(err, &ee) || err != nil {
		t.Errorf("exit after SIGTERM: %v, want 0", err)
	}
}

// TestReadServeNormalize: --mean and --std give the first model its
// normalisation, NAME=VALUE another's; a value that is no number, a std
// not above 0, a name no model has and a model given one twice are usage
// errors.
func TestReadServeNormalize(t *testing.T) {
	specs := func() []serve.ModelSpec { return []serve.ModelSpec{{Name: "a"}, {Name: "b"}} }
	s := specs()
	if err := readServeNormalize(s, []string{"0.5", "b=0.1307"}, []string{"b=0.3081"}); err != nil {
		t.Fatal(err)
	}
	if s[0].Mean == nil || *s[0].Mean != 0.5 || s[0].Std != nil || s[1].Mean == nil || *s[1].Mean != 0.1307 || s[1].Std == nil || *s[1].Std != 0.3081 {
		t.Errorf("a: mean %v std %v; b: mean %v std %v", s[0].Mean, s[0].Std, s[1].Mean, s[1].Std)
	}
	for _, c := range []struct {
		means, stds []string
		want        string
	}{
		{[]string{"half"}, nil, `--mean "half": want a number`},
		{nil, []string{"0"}, `--std "0": want a number above 0`},
		{nil, []string{"NaN"}, `--std "NaN"`},
		{[]string{"c=0.5"}, nil, `--mean c=0.5: no model is named "c"`},
		{[]string{"0.5", "a=0.1"}, nil, `--mean given twice for model "a"`},
	} {
		err := readServeNormalize(specs(), c.means, c.stds)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("--mean %v --std %v: %v, want %q", c.means, c.stds, err, c.want)
		}
	}
}
