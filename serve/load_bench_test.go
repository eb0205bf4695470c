package serve_test

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/lenetkit/lenetkit/bench"
	"github.com/lenetkit/lenetkit/internal/testtool"
)

// BenchmarkServeLoad is issue 22's load test: `lenetkit serve` and its peer,
// reference/ort_serve.js (ONNX Runtime for Node.js), each a separate process
// on a free loopback port with the same ONNX file, under a closed-loop load
// of real MNIST digits at concurrency 1, 8 and 64 on /v1/classify (the PNG
// files) and on the v2 infer route (batch-1 FP32 requests of the same
// digits); and lenetkit alone (the peer has no gRPC) on gRPC's ModelInfer,
// the same tensors in fp32_contents, from one client connection as gRPC
// clients keep. Run it with
//
//	go test ./serve -run '^$' -bench ServeLoad -benchtime 1x
//
// It prints a table of requests per second, p50 and p99 latency, errors and
// each server's peak RSS (VmHWM after the cell), the CPU and the load
// average, and the ratios lenetkit/peer. The servers take turns cell by
// cell, never loaded at the same time. Any non-200 answer, one that does
// not parse, or one whose class is not the one that server gave the image
// before the load is an error; both servers must agree on every image's
// class. The whole run takes about a minute.
//
// LENETKIT_LOAD_JSON=FILE also writes the figures as JSON;
// LENETKIT_LOAD_MODEL=FILE.onnx serves another file (default
// testdata/onnx/seed_view.onnx); LENETKIT_LOAD_SERVE_ARGS adds flags to
// lenetkit serve (e.g. "--max-delay 0") and LENETKIT_LOAD_PEER_ARGS to
// the peer (e.g. "--threads 1"); LENETKIT_LOAD_BIN=FILE runs that
// lenetkit binary instead of building one (a build with a profiler, say);
// LENETKIT_LOAD_ONLY=lenetkit or peer loads one server alone.
func BenchmarkServeLoad(b *testing.B) {
	node := testtool.RequireORT(b)
	if runtime.GOOS != "linux" {
		b.Skip("reads peak RSS from /proc")
	}
	root := testtool.RepoRoot()
	tmp := b.TempDir()

	model := testtool.Testdata("onnx/seed_view.onnx")
	if m := os.Getenv("LENETKIT_LOAD_MODEL"); m != "" {
		model, _ = filepath.Abs(m)
	}
	name := strings.TrimSuffix(filepath.Base(model), filepath.Ext(model))
	digits := loadDigits(b, testtool.Testdata("images/clean"))

	bin := filepath.Join(tmp, "lenetkit")
	serveArgs := []string{"serve", "--addr", "ADDR", "--grpc-addr", "GRPCADDR"}
	serveArgs = append(serveArgs, strings.Fields(os.Getenv("LENETKIT_LOAD_SERVE_ARGS"))...)
	serveArgs = append(serveArgs, name+"="+model)
	servers := []*loadServer{
		{Name: "lenetkit", prog: bin, args: serveArgs},
		{Name: "onnxruntime-node", prog: node, args: append([]string{testtool.Reference("ort_serve.js"), "--model", model, "--name", name, "--port", "PORT"},
			strings.Fields(os.Getenv("LENETKIT_LOAD_PEER_ARGS"))...)},
	}
	switch only := os.Getenv("LENETKIT_LOAD_ONLY"); only {
	case "":
	case "lenetkit":
		servers = servers[:1]
	case "peer", "onnxruntime-node":
		servers = servers[1:]
	default:
		b.Fatalf("LENETKIT_LOAD_ONLY=%s: want lenetkit or peer", only)
	}
	if p := os.Getenv("LENETKIT_LOAD_BIN"); p != "" {
		bin, _ = filepath.Abs(p)
		servers[0].prog = bin
	} else if servers[0].Name == "lenetkit" {
		build := exec.Command(goTool(), "build", "-o", bin, "./cmd/lenetkit")
		build.Dir = root
		if out, err := build.CombinedOutput(); err != nil {
			b.Fatalf("go build ./cmd/lenetkit: %v\n%s", err, out)
		}
	}
	report := loadReport{
		Command:     "go test ./serve -run '^$' -bench ServeLoad -benchtime 1x",
		CPU:         bench.CPUModel(),
		CPUs:        runtime.NumCPU(),
		LoadBefore:  machineLoad(),
		Go:          runtime.Version(),
		Node:        commandLine(node, "--version"),
		ORT:         ortVersion(),
		Commit:      commitOf(root),
		Model:       relTo(root, model),
		ModelSHA256: fileSHA256(b, model),
		Images:      len(digits),
		Limits:      "warm-up 0.5 s or 200 requests, then 3 s or 5000 requests, whichever first",
	}
	for _, s := range servers {
		s.start(b, tmp)
		report.Servers = append(report.Servers, loadServerInfo{Name: s.Name, Command: s.display(root, tmp)})
	}
	for _, s := range servers {
		s.wait(b, 60*time.Second)
		s.describe(b, name)
		s.prepare(b, name, digits)
	}

	// Correctness: each server's classes for every image, by both routes,
	// one request at a time; then the servers must agree.
	for _, s := range servers {
		s.classes = s.answers(b, digits)
	}
	agree, right := 0, 0
	maxDiff := 0.0
	for i, d := range digits {
		a, p := servers[0].classes[i], servers[len(servers)-1].classes[i]
		if a.class != p.class {
			b.Errorf("%s: lenetkit says %d, ONNX Runtime %d", d.file, a.class, p.class)
		} else {
			agree++
		}
		if a.class == d.label {
			right++
		}
		for k := range a.probs {
			if k < len(p.probs) {
				maxDiff = max(maxDiff, abs(a.probs[k]-p.probs[k]))
			}
		}
	}
	report.Agreement = fmt.Sprintf("%d of %d images the same class on both servers and both routes; %d of %d the label; largest probability difference %.2g", agree, len(digits), right, len(digits), maxDiff)

	lim := loadLimits{warmTime: 500 * time.Millisecond, warmRequests: 200, runTime: 3 * time.Second, runRequests: 5000}
	for _, route := range []string{"/v1/classify", "/v2/models/{name}/infer", "grpc ModelInfer"} {
		for _, conc := range []int{1, 8, 64} {
			for _, s := range servers {
				r := s.routes[route]
				if r == nil {
					continue
				}
				client := newLoadClient(conc)
				var cpu cpuUse
				res := r.measure(client, conc, lim, func() func() {
					c0 := cpuNow(s.cmd.Process.Pid)
					return func() { cpu = cpuNow(s.cmd.Process.Pid).since(c0) }
				})
				res.ServerCPU, res.ClientCPU, res.OtherCPU = cpu.server, cpu.client, cpu.other
				if res.Requests > 0 {
					// The server's CPU per request, which other work on the
					// machine moves less than its requests per second.
					res.ServerCPUPer1000 = cpu.server * res.Seconds / float64(res.Requests) * 1000
				}
				client.CloseIdleConnections()
				c := loadCell{Server: s.Name, Route: route, loadResult: res, PeakRSSBytes: s.peakRSS(b)}
				if c.Errors > 0 {
					b.Errorf("%s %s c=%d: %d errors of %d, the first: %s", s.Name, route, conc, c.Errors, c.Requests, c.FirstError)
				}
				report.Cells = append(report.Cells, c)
			}
		}
	}
	report.LoadAfter = machineLoad()

	for _, s := range servers {
		if code := s.stop(10 * time.Second); code != 0 {
			b.Errorf("%s: exit status %d after SIGTERM\n%s", s.Name, code, s.logTail())
		}
	}
	report.ratios()
	report.print(os.Stdout)
	for _, r := range report.Ratios {
		if r.Concurrency == 8 {
			tag := "classify"
			if strings.HasPrefix(r.Route, "/v2") {
				tag = "v2"
			}
			b.ReportMetric(r.RPSRatio, "rps-ratio-"+tag+"-c8")
			b.ReportMetric(r.P99Ratio, "p99-ratio-"+tag+"-c8")
		}
	}
	if path := os.Getenv("LENETKIT_LOAD_JSON"); path != "" {
		out, err := json.MarshalIndent(report, "", "  ")
		if err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(path, append(out, '\n'), 0o644); err != nil {
			b.Fatal(err)
		}
	}
}

// ---- the report ----

type loadReport struct {
	Command     string           `json:"command"`
	CPU         string           `json:"cpu"`
	CPUs        int              `json:"cpus"`
	LoadBefore  string           `json:"load_average_before"`
	LoadAfter   string           `json:"load_average_after"`
	Go          string           `json:"go"`
	Node        string           `json:"node"`
	ORT         string           `json:"onnxruntime_node"`
	Commit      string           `json:"commit"`
	Model       string           `json:"model"`
	ModelSHA256 string           `json:"model_sha256"`
	Images      int              `json:"images"`
	Limits      string           `json:"limits"`
	Servers     []loadServerInfo `json:"servers"`
	Agreement   string           `json:"agreement"`
	Cells       []loadCell       `json:"cells"`
	Ratios      []loadRatio      `json:"ratios"`
}

type loadServerInfo struct {
	Name    string `json:"name"`
	Command string `json:"command"`
}

type loadCell struct {
	Server string `json:"server"`
	Route  string `json:"route"`
	loadResult
	PeakRSSBytes int64 `json:"peak_rss_bytes"`
}

// A loadRatio is lenetkit's figure over the peer's in one route and
// concurrency; the goal is RPSRatio >= 1.5 and P99Ratio < 1 at 8.
type loadRatio struct {
	Route       string  `json:"route"`
	Concurrency int     `json:"concurrency"`
	RPSRatio    float64 `json:"rps_ratio"`
	P99Ratio    float64 `json:"p99_ratio"`
	Goal        string  `json:"goal,omitempty"`
}

func (r *loadReport) ratios() {
	find := func(server, route string, conc int) *loadCell {
		for i := range r.Cells {
			c := &r.Cells[i]
			if c.Server == server && c.Route == route && c.Concurrency == conc {
				return c
			}
		}
		return nil
	}
	for _, c := range r.Cells {
		if c.Server != "lenetkit" {
			continue
		}
		p := find("onnxruntime-node", c.Route, c.Concurrency)
		if p == nil || p.RPS == 0 || p.P99Ms == 0 {
			continue
		}
		q := loadRatio{Route: c.Route, Concurrency: c.Concurrency, RPSRatio: c.RPS / p.RPS, P99Ratio: c.P99Ms / p.P99Ms}
		if q.Concurrency == 8 {
			q.Goal = "met"
			if q.RPSRatio < 1.5 || q.P99Ratio >= 1 {
				q.Goal = "missed"
			}
		}
		r.Ratios = append(r.Ratios, q)
	}
}

func (r *loadReport) print(w io.Writer) {
	fmt.Fprintf(w, "\nCPU: %s (%d CPUs); load average before %s, after %s\n", r.CPU, r.CPUs, r.LoadBefore, r.LoadAfter)
	fmt.Fprintf(w, "%s; node %s, onnxruntime-node %s; commit %s\n", r.Go, r.Node, r.ORT, r.Commit)
	fmt.Fprintf(w, "model %s (sha256 %s...), %d images; %s\n", r.Model, r.ModelSHA256[:12], r.Images, r.Limits)
	for _, s := range r.Servers {
		fmt.Fprintf(w, "  %s: %s\n", s.Name, s.Command)
	}
	fmt.Fprintf(w, "%s\n\n", r.Agreement)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "server\troute\tconc\trequests\trps\tp50 ms\tp99 ms\terrors\tpeak RSS MiB\tCPUs: server\tclient\tother\tserver CPU s/1000 req\t")
	for _, c := range r.Cells {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%.0f\t%.2f\t%.2f\t%d\t%.1f\t%.2f\t%.2f\t%.2f\t%.3f\t\n", c.Server, c.Route, c.Concurrency, c.Requests, c.RPS, c.P50Ms, c.P99Ms, c.Errors, float64(c.PeakRSSBytes)/(1<<20), c.ServerCPU, c.ClientCPU, c.OtherCPU, c.ServerCPUPer1000)
	}
	tw.Flush()
	fmt.Fprintln(w, "\nlenetkit / onnxruntime-node:")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "route\tconc\trps ratio\tp99 ratio\tgoal (c=8: rps >= 1.5x, lower p99)\t")
	for _, q := range r.Ratios {
		fmt.Fprintf(tw, "%s\t%d\t%.2f\t%.2f\t%s\t\n", q.Route, q.Concurrency, q.RPSRatio, q.P99Ratio, q.Goal)
	}
	tw.Flush()
}

// ---- the digits ----

type loadDigit struct {
	file  string
	label int
	png   []byte
	pix   []float32 // 28x28, value/255
}

// loadDigits reads the folder's PNG files and labels.csv; each must be a
// 28x28 8-bit grey MNIST digit.
func loadDigits(b testing.TB, dir string) []loadDigit {
	b.Helper()
	labels := map[string]int{}
	f, err := os.Open(filepath.Join(dir, "labels.csv"))
	if err != nil {
		b.Fatal(err)
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		file, l, ok := strings.Cut(strings.TrimSpace(sc.Text()), ",")
		if n, err := strconv.Atoi(l); ok && err == nil {
			labels[file] = n
		}
	}
	f.Close()
	files, _ := filepath.Glob(filepath.Join(dir, "*.png"))
	sort.Strings(files)
	var out []loadDigit
	for _, p := range files {
		data, err := os.ReadFile(p)
		if err != nil {
			b.Fatal(err)
		}
		img, err := png.Decode(bytes.NewReader(data))
		if err != nil {
			b.Fatalf("%s: %v", p, err)
		}
		g, ok := img.(*image.Gray)
		if !ok || g.Rect.Dx() != 28 || g.Rect.Dy() != 28 {
			b.Fatalf("%s: %T of %v, want an 8-bit grey 28x28 digit", p, img, img.Bounds())
		}
		l, ok := labels[filepath.Base(p)]
		if !ok {
			b.Fatalf("%s: not in labels.csv", p)
		}
		d := loadDigit{file: filepath.Base(p), label: l, png: data, pix: make([]float32, 28*28)}
		for y := 0; y < 28; y++ {
			for x := 0; x < 28; x++ {
				d.pix[y*28+x] = float32(g.GrayAt(g.Rect.Min.X+x, g.Rect.Min.Y+y).Y) / 255
			}
		}
		out = append(out, d)
	}
	if len(out) == 0 {
		b.Fatalf("no PNG files in %s", dir)
	}
	return out
}

// ---- a server under load ----

type loadServer struct {
	Name string
	prog string
	args []string

	shown   []string // args before ADDR and PORT are filled in
	cmd     *exec.Cmd
	exited  chan struct{}
	log     *os.File
	base    string
	grpc    string // the gRPC address, when the server has one
	input   string
	shape   []int64
	routes  map[string]*loadRoute
	classes []loadAnswer
	// grpcClass is each image's class by gRPC, before the load.
	grpcClass []int
}

type loadAnswer struct {
	class int
	probs []float64
}

// start runs the server on a free loopback port; ADDR and PORT in its
// arguments become the address and the port.
func (s *loadServer) start(b testing.TB, tmp string) {
	b.Helper()
	s.shown = append([]string(nil), s.args...)
	port := freePort(b)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	s.base = "http://" + addr
	for i, a := range s.args {
		switch a {
		case "ADDR":
			s.args[i] = addr
		case "PORT":
			s.args[i] = strconv.Itoa(port)
		case "GRPCADDR":
			s.grpc = net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(b)))
			s.args[i] = s.grpc
		}
	}
	var err error
	if s.log, err = os.Create(filepath.Join(tmp, s.Name+".log")); err != nil {
		b.Fatal(err)
	}
	s.cmd = exec.Command(s.prog, s.args...)
	s.cmd.Dir = testtool.RepoRoot()
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	if err := s.cmd.Start(); err != nil {
		b.Fatalf("%s: %v", s.Name, err)
	}
	s.exited = make(chan struct{})
	go func() { s.cmd.Wait(); close(s.exited) }()
	b.Cleanup(func() {
		select {
		case <-s.exited:
		default:
			s.cmd.Process.Kill()
			<-s.exited
		}
	})
}

// display is the server's command line with the checkout and the
// temporary folder left out, ADDR and PORT as they were.
func (s *loadServer) display(root, tmp string) string {
	parts := []string{filepath.Base(s.prog)}
	for _, a := range s.shown {
		a = strings.ReplaceAll(a, root+string(filepath.Separator), "")
		a = strings.ReplaceAll(a, tmp+string(filepath.Separator), "")
		parts = append(parts, a)
	}
	return strings.Join(parts, " ")
}

func (s *loadServer) logTail() string {
	data, _ := os.ReadFile(s.log.Name())
	if len(data) > 2000 {
		data = data[len(data)-2000:]
	}
	return string(data)
}

// wait polls GET /v2/health/ready until it answers 200.
func (s *loadServer) wait(b testing.TB, d time.Duration) {
	b.Helper()
	deadline := time.Now().Add(d)
	client := &http.Client{Timeout: time.Second}
	for {
		select {
		case <-s.exited:
			b.Fatalf("%s exited before it was ready: %v\n%s", s.Name, s.cmd.ProcessState, s.logTail())
		default:
		}
		resp, err := client.Get(s.base + "/v2/health/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			b.Fatalf("%s not ready after %v (last: %v)\n%s", s.Name, d, err, s.logTail())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// describe reads the model's input name and shape from GET /v2/models/NAME.
func (s *loadServer) describe(b testing.TB, name string) {
	b.Helper()
	resp, err := http.Get(s.base + "/v2/models/" + name)
	if err != nil {
		b.Fatalf("%s: %v", s.Name, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b.Fatalf("%s: GET /v2/models/%s: %s: %s", s.Name, name, resp.Status, body)
	}
	var meta struct {
		Inputs []struct {
			Name     string  `json:"name"`
			Datatype string  `json:"datatype"`
			Shape    []int64 `json:"shape"`
		} `json:"inputs"`
	}
	if err := json.Unmarshal(body, &meta); err != nil || len(meta.Inputs) != 1 {
		b.Fatalf("%s: GET /v2/models/%s: want one input, got %s (%v)", s.Name, name, body, err)
	}
	in := meta.Inputs[0]
	if in.Datatype != "FP32" || len(in.Shape) != 4 || in.Shape[1] != 1 || in.Shape[2] < 28 || in.Shape[3] < 28 || (in.Shape[2]-28)%2 != 0 || (in.Shape[3]-28)%2 != 0 {
		b.Fatalf("%s: input %s %s %v: want FP32 [N,1,H,W] of a grey digit", s.Name, in.Name, in.Datatype, in.Shape)
	}
	s.input, s.shape = in.Name, in.Shape
}

// prepare makes both routes' requests: the PNG files as they are, and
// batch-1 v2 requests of the same digits, value/255, zero-padded to the
// model's input (ToTensor then Pad, as the seed's MNIST).
func (s *loadServer) prepare(b testing.TB, name string, digits []loadDigit) {
	b.Helper()
	h, w := int(s.shape[2]), int(s.shape[3])
	py, px := (h-28)/2, (w-28)/2
	classify := &loadRoute{url: s.base + "/v1/classify?model=" + name + "&top=3", ctype: "image/png"}
	infer := &loadRoute{url: s.base + "/v2/models/" + name + "/infer", ctype: "application/json"}
	for _, d := range digits {
		classify.bodies = append(classify.bodies, d.png)
		x := make([]float32, h*w)
		for y := 0; y < 28; y++ {
			copy(x[(y+py)*w+px:], d.pix[y*28:y*28+28])
		}
		body, err := json.Marshal(map[string]any{"inputs": []map[string]any{{
			"name": s.input, "shape": []int{1, 1, h, w}, "datatype": "FP32", "data": x,
		}}})
		if err != nil {
			b.Fatal(err)
		}
		infer.bodies = append(infer.bodies, body)
	}
	// Under load an answer must parse and give the class the server gave
	// the image beforehand (s.classes, filled by answers).
	classify.check = func(i int, body []byte) error {
		a, err := parseClassify(body)
		if err != nil {
			return err
		}
		if s.classes != nil && a.class != s.classes[i].class {
			return fmt.Errorf("image %d: class %d under load, %d alone", i, a.class, s.classes[i].class)
		}
		return nil
	}
	infer.check = func(i int, body []byte) error {
		a, err := parseInfer(body)
		if err != nil {
			return err
		}
		if s.classes != nil && a.class != s.classes[i].class {
			return fmt.Errorf("image %d: class %d under load, %d alone", i, a.class, s.classes[i].class)
		}
		return nil
	}
	s.routes = map[string]*loadRoute{"/v1/classify": classify, "/v2/models/{name}/infer": infer}
	if s.grpc != "" {
		s.routes["grpc ModelInfer"] = s.grpcRoute(b, name, infer.bodies)
	}
}

// answers asks for every digit's class by both routes; they must agree.
func (s *loadServer) answers(b testing.TB, digits []loadDigit) []loadAnswer {
	b.Helper()
	client := newLoadClient(1)
	defer client.CloseIdleConnections()
	out := make([]loadAnswer, len(digits))
	for i, d := range digits {
		var got [2]loadAnswer
		for k, route := range []string{"/v1/classify", "/v2/models/{name}/infer"} {
			body, err := s.routes[route].fetch(b.Context(), client, i)
			if err == nil && k == 0 {
				got[k], err = parseClassify(body)
			} else if err == nil {
				got[k], err = parseInfer(body)
			}
			if err != nil {
				b.Fatalf("%s %s, %s: %v", s.Name, route, d.file, err)
			}
		}
		if got[0].class != got[1].class {
			b.Errorf("%s, %s: class %d by /v1/classify, %d by v2 infer", s.Name, d.file, got[0].class, got[1].class)
		}
		if g := s.routes["grpc ModelInfer"]; g != nil {
			if err := g.call(b.Context(), i); err != nil {
				b.Fatalf("%s gRPC ModelInfer, %s: %v", s.Name, d.file, err)
			}
			if s.grpcClass[i] != got[1].class {
				b.Errorf("%s, %s: class %d by gRPC, %d by v2 infer", s.Name, d.file, s.grpcClass[i], got[1].class)
			}
		}
		out[i] = got[0]
	}
	return out
}

func parseClassify(body []byte) (loadAnswer, error) {
	var v struct {
		Results []struct {
			Class         *int      `json:"class"`
			Probabilities []float64 `json:"probabilities"`
		} `json:"results"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return loadAnswer{}, fmt.Errorf("classify answer: %v: %s", err, truncate(string(body), 200))
	}
	if len(v.Results) != 1 || v.Results[0].Class == nil {
		return loadAnswer{}, fmt.Errorf("classify answer without one result's class: %s", truncate(string(body), 200))
	}
	return loadAnswer{class: *v.Results[0].Class, probs: v.Results[0].Probabilities}, nil
}

// parseInfer reads a v2 answer of one [1,K] output; its class is the
// argmax and its probabilities the softmax of the output.
func parseInfer(body []byte) (loadAnswer, error) {
	var v struct {
		Outputs []struct {
			Datatype string    `json:"datatype"`
			Shape    []int     `json:"shape"`
			Data     []float64 `json:"data"`
		} `json:"outputs"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return loadAnswer{}, fmt.Errorf("v2 answer: %v: %s", err, truncate(string(body), 200))
	}
	if len(v.Outputs) < 1 || len(v.Outputs[0].Shape) != 2 || v.Outputs[0].Shape[0] != 1 || len(v.Outputs[0].Data) != v.Outputs[0].Shape[1] || len(v.Outputs[0].Data) == 0 {
		return loadAnswer{}, fmt.Errorf("v2 answer without one [1,K] output: %s", truncate(string(body), 200))
	}
	d := v.Outputs[0].Data
	best := 0
	for k := range d {
		if d[k] > d[best] {
			best = k
		}
	}
	return loadAnswer{class: best}, nil
}

// peakRSS is the process's VmHWM, its peak resident set so far.
func (s *loadServer) peakRSS(b testing.TB) int64 {
	b.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		b.Errorf("%s: %v", s.Name, err)
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			f := strings.Fields(rest)
			if n, err := strconv.ParseInt(f[0], 10, 64); err == nil && len(f) == 2 && f[1] == "kB" {
				return n << 10
			}
		}
	}
	b.Errorf("%s: no VmHWM in /proc/PID/status", s.Name)
	return 0
}

// stop sends SIGTERM and returns the exit status (-1 when it had to be
// killed after d).
func (s *loadServer) stop(d time.Duration) int {
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(d):
		s.cmd.Process.Kill()
		<-s.exited
		return -1
	}
	return s.cmd.ProcessState.ExitCode()
}

// ---- the machine ----

// A cpuUse is CPU time in seconds, or in CPUs once divided by the time.
type cpuUse struct {
	at                    time.Time
	busy                  float64 // the whole machine's, from /proc/stat
	server, client, other float64
}

// userHZ is the unit of /proc's CPU times, 100 on Linux for x86 and ARM.
const userHZ = 100

// cpuNow reads the machine's busy time, the server pid's and this
// process's CPU time.
func cpuNow(pid int) cpuUse {
	u := cpuUse{at: time.Now()}
	if data, err := os.ReadFile("/proc/stat"); err == nil {
		line, _, _ := strings.Cut(string(data), "\n")
		f := strings.Fields(line)
		// cpu user nice system idle iowait irq softirq steal ...
		for i, v := range f {
			if i == 0 || i == 4 || i == 5 || i > 8 {
				continue
			}
			n, _ := strconv.ParseFloat(v, 64)
			u.busy += n / userHZ
		}
	}
	if data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		if i := bytes.LastIndexByte(data, ')'); i >= 0 {
			// After the command: state is field 3, utime 14, stime 15.
			f := strings.Fields(string(data[i+1:]))
			if len(f) > 12 {
				ut, _ := strconv.ParseFloat(f[11], 64)
				st, _ := strconv.ParseFloat(f[12], 64)
				u.server = (ut + st) / userHZ
			}
		}
	}
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		u.client = time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
	}
	return u
}

// since is the use from u0 to u in CPUs: the server's, this process's and
// the rest of the machine's busy time.
func (u cpuUse) since(u0 cpuUse) cpuUse {
	d := u.at.Sub(u0.at).Seconds()
	if d <= 0 {
		return cpuUse{}
	}
	s, c := u.server-u0.server, u.client-u0.client
	return cpuUse{server: s / d, client: c / d, other: max(0, (u.busy-u0.busy)-s-c) / d}
}

func freePort(b testing.TB) int {
	b.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func goTool() string {
	if p := filepath.Join(runtime.GOROOT(), "bin", "go"); fileExists(p) {
		return p
	}
	return "go"
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// machineLoad is the load average as uptime writes it, or "unknown".
func machineLoad() string {
	if avg, ok := bench.LoadAverage(); ok {
		return bench.FormatLoad(avg)
	}
	return "unknown"
}

func commandLine(prog string, args ...string) string {
	out, err := exec.Command(prog, args...).Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}

// commitOf is the checkout's commit, with the number of files changed
// since when there are any.
func commitOf(root string) string {
	c := commandLine("git", "-C", root, "rev-parse", "--short", "HEAD")
	if st := commandLine("git", "-C", root, "status", "--porcelain", "--untracked-files=no"); st != "" && st != "unknown" {
		c += fmt.Sprintf(" (%d tracked files changed since)", len(strings.Split(st, "\n")))
	}
	return c
}

func ortVersion() string {
	data, err := os.ReadFile(testtool.Reference(filepath.Join("node_modules", "onnxruntime-node", "package.json")))
	if err != nil {
		return "unknown"
	}
	var v struct{ Version string }
	if json.Unmarshal(data, &v) != nil {
		return "unknown"
	}
	return v.Version
}

func fileSHA256(b testing.TB, p string) string {
	b.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		b.Fatal(err)
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

func relTo(root, p string) string {
	if r, err := filepath.Rel(root, p); err == nil && !strings.HasPrefix(r, "..") {
		return r
	}
	return filepath.Base(p)
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}
