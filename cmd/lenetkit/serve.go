package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"math"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/lenetkit/lenetkit/dataset"
	"github.com/lenetkit/lenetkit/internal/kernel"
	"github.com/lenetkit/lenetkit/serve"
)

func serveCommand() *cli.Command {
	return &cli.Command{
		Name:      "serve",
		Usage:     "answer classification requests over HTTP (and gRPC): the Open Inference Protocol, image files and a drawing page",
		ArgsUsage: "MODEL...",
		Description: `Each MODEL is a model file of any format lenetkit reads (.pth, .pt,
.safetensors, .onnx: the seed's LeNet or any ONNX image classifier; one of
colour images takes tensors alone), as PATH or NAME=PATH. A model's name is the file's base name
without its extension unless NAME= or --name gives one; the first model is
the default. The routes:

   GET  /                         a page to draw a digit on and drop files
   POST /v1/classify              image files -> top classes (multipart/form-data,
                                  every file part an image, or one image as the body;
                                  ?model=NAME&top=K&invert=auto|always|never&preview=1)
   GET  /v1/models                the models, their classes and labels
   GET  /v2/health/live, /v2/health/ready, /v2
   GET  /v2/models/NAME[/versions/1][/ready]
   POST /v2/models/NAME[/versions/1]/infer   the Open Inference Protocol (KServe v2):
                                  one tensor "input" [N,C,H,W], FP32 pixels 0 to 1 or
                                  UINT8 0 to 255 -> "output" [N,classes], FP32
   GET  /metrics                  Prometheus metrics

With --grpc-addr, the same protocol over gRPC as well (KServe's v2
inference.GRPCInferenceService: ServerLive, ServerReady, ModelReady,
ServerMetadata, ModelMetadata, ModelInfer), off unless given. ModelInfer
takes the tensor in contents (fp32_contents, uint_contents for UINT8) or
raw_input_contents, and answers raw when asked raw. The server answers
gRPC's server reflection (grpcurl needs no .proto). With --tls-cert and
--tls-key, both REST (HTTPS) and gRPC go over TLS. gRPC calls share the
models, batches, limits (--max-body bounds a message), metrics, reload and
drain with REST, and are refused with InvalidArgument, NotFound,
ResourceExhausted or Unavailable where REST says 400, 404, 413 or 503.

Requests that arrive together run as one batch per model (--max-batch,
--max-delay); a model's queue holds --queue images, and a request that
does not fit is answered 503 with Retry-After. Bad input gets a 4xx and a
JSON error {"error": "..."} saying what is wrong. Every request is logged
to standard error (--format text or json; -q logs only errors).

SIGTERM or Ctrl-C drains: no new connections, every request already
accepted is answered, then lenetkit exits 0 (a second signal aborts).
SIGHUP reloads every model from its file, and its --labels file; a file
that fails to load keeps its old model serving, and the log says why. docs/serve.md has the whole
protocol, curl examples and every error.

Examples:
   lenetkit serve parameter.pth
   lenetkit serve --addr :9000 lenet=parameter.pth cnn=cnn28.onnx
   lenetkit serve fashion.onnx --labels fashion-classes.txt
   lenetkit serve fashion.onnx --mean 0.5 --std 0.5    # trained with Normalize(0.5, 0.5)
   lenetkit serve --max-batch 64 --max-delay 5ms --queue 1024 model.onnx
   lenetkit serve --grpc-addr 127.0.0.1:8081 parameter.pth
   lenetkit serve --addr :8443 --tls-cert server.crt --tls-key server.key parameter.pth
   curl -F image=@seven.png 'http://127.0.0.1:8080/v1/classify?top=3'`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "addr", Value: "127.0.0.1:8080", Usage: "listen on `HOST:PORT` (:8080 for every interface; port 0 picks a free one)"},
			&cli.StringFlag{Name: "grpc-addr", Usage: "serve the protocol over gRPC too, on `HOST:PORT` (such as 127.0.0.1:8081, KServe's port; :8081 for every interface; default: no gRPC)"},
			&cli.StringFlag{Name: "tls-cert", Usage: "answer HTTPS, and gRPC over TLS, with the certificate (chain) in PEM `FILE`; needs --tls-key"},
			&cli.StringFlag{Name: "tls-key", Usage: "the certificate's private key, a PEM `FILE`"},
			&cli.StringSliceFlag{Name: "name", Usage: "name the models in order, one `NAME` a flag (instead of NAME=PATH)"},
			&cli.StringSliceFlag{Name: "labels", Usage: "class names, one a line, from `FILE` for the first model, or NAME=FILE for another (default: the names the file records, as lenetkit train writes them, else 0, 1, ...)"},
			&cli.StringSliceFlag{Name: "mean", Usage: "the mean of the torchvision Normalize the first model was trained with, on pixels in [0,1], or NAME=`MEAN` for another (default: what the file declares, else 0)"},
			&cli.StringSliceFlag{Name: "std", Usage: "the std of that Normalize, for the first model, or NAME=`STD` for another (default: what the file declares, else 1)"},
			&cli.StringSliceFlag{Name: "prep", Usage: "how /v1/classify makes a picture the first model's input: digit (found, cropped and centred as MNIST's), " +
				"or resize (grey, the whole picture resized to the input, as torchvision's Resize; resize:area to average), or NAME=`PREP` for another (default: digit)"},
			&cli.StringSliceFlag{Name: "colour", Aliases: []string{"color"}, Usage: "give the model named `NAME`, of 3 channels and --prep resize, each picture's red, green and blue, where pictures are made grey"},
			&cli.StringSliceFlag{Name: "orient", Usage: "turn each upright image into the one the first model was trained on (transpose: EMNIST as torchvision gives it; mirror, flip, or several separated by commas), or NAME=`STEPS` for another (default: what the file declares, else none)"},
			backendFlag,
			&cli.StringFlag{Name: "format", Value: "text", Usage: "the log's format: text (key=value) or json (a JSON object a line)"},
			&cli.IntFlag{Name: "threads", Value: 0, Usage: "CPUs one batch's forward pass uses (0: all; 1 leaves the others to parse, decode and answer requests meanwhile)"},
			&cli.IntFlag{Name: "max-batch", Value: 32, Usage: "the most images a model runs at once"},
			&cli.DurationFlag{Name: "max-delay", Value: serveDefaults.MaxDelay, Usage: "how long a request waits for others to join its batch (0: none; the requests queued while a batch runs make the next)"},
			&cli.IntFlag{Name: "queue", Value: 256, Usage: "the most images waiting for a model; more are answered 503"},
			&cli.StringFlag{Name: "max-body", Value: "8MiB", Usage: "the largest request body, in bytes or with KiB, MiB, KB, MB"},
			&cli.IntFlag{Name: "max-pixels", Value: 1 << 24, Usage: "the largest image decoded, in pixels (width times height)"},
			&cli.IntFlag{Name: "max-conns", Value: 256, Usage: "the most connections open at once; one more is answered 503"},
			&cli.DurationFlag{Name: "read-header-timeout", Value: serveDefaults.ReadHeaderTimeout, Usage: "time a client has to send a request's headers"},
			&cli.DurationFlag{Name: "read-timeout", Value: serveDefaults.ReadTimeout, Usage: "time a client has to send a whole request"},
			&cli.DurationFlag{Name: "write-timeout", Value: serveDefaults.WriteTimeout, Usage: "time to answer a request, from the end of its headers"},
			&cli.DurationFlag{Name: "idle-timeout", Value: serveDefaults.IdleTimeout, Usage: "how long an idle keep-alive connection stays open"},
			&cli.DurationFlag{Name: "drain-timeout", Value: serveDefaults.DrainTimeout, Usage: "on SIGTERM, how long requests under way may take before they are cut off"},
		},
		Action: runServe,
	}
}

// serveDefaults are package serve's defaults, which the flags show.
var serveDefaults = serve.Options{ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second,
	WriteTimeout: 60 * time.Second, IdleTimeout: 120 * time.Second, DrainTimeout: 30 * time.Second}

func runServe(c *cli.Context) error {
	if c.NArg() == 0 {
		return usageError("serve needs at least one MODEL file, as PATH or NAME=PATH (see lenetkit serve --help)")
	}
	format := c.String("format")
	if err := checkFormat(format, "text", "json"); err != nil {
		return err
	}
	specs, err := modelSpecs(c.Args().Slice(), c.StringSlice("name"))
	if err != nil {
		return err
	}
	if err := readServeLabels(specs, c.StringSlice("labels")); err != nil {
		return err
	}
	if err := readServeSteps(specs, c.StringSlice("prep"), c.StringSlice("orient")); err != nil {
		return err
	}
	for _, name := range c.StringSlice("colour") {
		i := slices.IndexFunc(specs, func(sp serve.ModelSpec) bool { return sp.Name == name })
		if i < 0 {
			return usageError("--colour %s: no model is named %q", name, name)
		}
		specs[i].Colour = true
	}
	if err := readServeNormalize(specs, c.StringSlice("mean"), c.StringSlice("std")); err != nil {
		return err
	}
	opt, err := serveOptions(c)
	if err != nil {
		return err
	}
	if t := c.Int("threads"); t < 0 {
		return usageError("--threads %d: want 0 (every CPU) or more", t)
	}
	kernel.SetWorkers(c.Int("threads"))
	level := slog.LevelInfo
	if c.Bool("quiet") {
		level = slog.LevelWarn
	}
	hopt := &slog.HandlerOptions{Level: level}
	if format == "json" {
		opt.Logger = slog.New(slog.NewJSONHandler(os.Stderr, hopt))
	} else {
		opt.Logger = slog.New(slog.NewTextHandler(os.Stderr, hopt))
	}
	opt.Version = version

	// The first SIGINT or SIGTERM drains; a second aborts (handleSignals).
	graceful.Store(true)
	ctx, cancel := context.WithCancel(c.Context)
	defer cancel()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)

	// Listen first: an address that cannot be had is one line, before
	// the models are opened and logged.
	l, err := net.Listen("tcp", c.String("addr"))
	if err != nil {
		return err
	}
	defer l.Close()
	var g net.Listener
	if addr := c.String("grpc-addr"); addr != "" {
		if g, err = net.Listen("tcp", addr); err != nil {
			return fmt.Errorf("--grpc-addr: %w", err)
		}
		defer g.Close()
	}
	s, err := serve.New(specs, opt)
	if err != nil {
		return err
	}
	go func() {
		for sig := range sigs {
			if sig == syscall.SIGHUP {
				if err := s.Reload(); err != nil {
					opt.Logger.Warn("SIGHUP: reloaded, except for what failed", "err", err)
				} else {
					opt.Logger.Info("SIGHUP: every model reloaded")
				}
				continue
			}
			opt.Logger.Info("stopping on "+sig.String()+"; a second signal aborts", "signal", sig.String())
			signal.Stop(sigs) // handleSignals has the second
			cancel()
			return
		}
	}()
	names := make([]string, len(specs))
	for i, sp := range specs {
		names[i] = sp.Name
	}
	scheme := "http"
	if opt.TLS != nil {
		scheme = "https"
	}
	attrs := []any{"url", scheme + "://" + l.Addr().String() + "/", "models", strings.Join(names, ",")}
	if g != nil {
		attrs = append(attrs, "grpc", g.Addr().String())
	}
	opt.Logger.Info("listening", attrs...)
	return s.ServeGRPC(ctx, l, g)
}

// modelSpecs reads the MODEL arguments, PATH or NAME=PATH, and --name.
// An argument that names an existing file is a PATH even with a '=' in it.
func modelSpecs(args, names []string) ([]serve.ModelSpec, error) {
	if len(names) > len(args) {
		return nil, usageError("--name given %d times for %d models", len(names), len(args))
	}
	specs := make([]serve.ModelSpec, len(args))
	seen := map[string]bool{}
	for i, a := range args {
		sp := serve.ModelSpec{Path: a}
		named := false
		if name, path, ok := strings.Cut(a, "="); ok {
			if _, err := os.Stat(a); err != nil {
				sp.Name, sp.Path, named = name, path, true
			}
		}
		if sp.Path == "" {
			return nil, usageError("model %q: NAME=PATH needs a PATH", a)
		}
		if i < len(names) {
			if named {
				return nil, usageError("model %q is named twice, by NAME= and by --name %q", a, names[i])
			}
			sp.Name = names[i]
		}
		if sp.Name == "" {
			sp.Name = strings.TrimSuffix(filepath.Base(sp.Path), filepath.Ext(sp.Path))
		}
		if seen[sp.Name] {
			return nil, usageError("two models are named %q: name them apart, NAME=PATH or --name", sp.Name)
		}
		seen[sp.Name] = true
		specs[i] = sp
	}
	return specs, nil
}

// readServeLabels reads --labels: FILE for the first model, NAME=FILE for
// any.
func readServeLabels(specs []serve.ModelSpec, flags []string) error {
	return perModel(specs, "labels", flags, func(sp *serve.ModelSpec, path string) error {
		if sp.LabelsPath != "" {
			return usageError("--labels given twice for model %q", sp.Name)
		}
		// Read here for the error's sake; the server reads the file
		// again at each SIGHUP, with the model.
		if _, err := dataset.ReadClassNames(path); err != nil {
			return fmt.Errorf("--labels: %w", err)
		}
		sp.LabelsPath = path
		return nil
	})
}

// readServeSteps reads --prep and --orient: VALUE for the first model,
// NAME=VALUE for any, how its pictures are made its input in place of the
// digit pipeline and what its file declares.
func readServeSteps(specs []serve.ModelSpec, preps, orients []string) error {
	for _, flag := range []struct {
		name, want string
		values     []string
		parse      func(string) (string, error)
		set        func(*serve.ModelSpec, string) bool // false: set already
	}{
		{"prep", "digit, resize or resize:area", preps,
			func(v string) (string, error) { p, err := dataset.ParsePrep(v); return p.String(), err },
			func(sp *serve.ModelSpec, v string) bool { ok := sp.Prep == ""; sp.Prep = v; return ok }},
		{"orient", "transpose, mirror or flip, several separated by commas, or none", orients,
			func(v string) (string, error) { o, err := dataset.ParseOrientation(v); return o.String(), err },
			func(sp *serve.ModelSpec, v string) bool { ok := sp.Orient == nil; sp.Orient = &v; return ok }},
	} {
		err := perModel(specs, flag.name, flag.values, func(sp *serve.ModelSpec, v string) error {
			s, err := flag.parse(v)
			if err != nil {
				return usageError("--%s %q: want %s", flag.name, v, flag.want)
			}
			if !flag.set(sp, s) {
				return usageError("--%s given twice for model %q", flag.name, sp.Name)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// readServeNormalize reads --mean and --std: VALUE for the first model,
// NAME=VALUE for any, the torchvision Normalize it was trained with in
// place of what its file declares.
func readServeNormalize(specs []serve.ModelSpec, means, stds []string) error {
	for _, flag := range []struct {
		name   string
		values []string
		set    func(*serve.ModelSpec) **float32
	}{
		{"mean", means, func(sp *serve.ModelSpec) **float32 { return &sp.Mean }},
		{"std", stds, func(sp *serve.ModelSpec) **float32 { return &sp.Std }},
	} {
		err := perModel(specs, flag.name, flag.values, func(sp *serve.ModelSpec, v string) error {
			f, err := strconv.ParseFloat(v, 32)
			want := "a number"
			if flag.name == "std" {
				want = "a number above 0"
			}
			switch {
			case err != nil || math.IsNaN(f) || math.IsInf(f, 0) || flag.name == "std" && f <= 0:
				return usageError("--%s %q: want %s", flag.name, v, want)
			case *flag.set(sp) != nil:
				return usageError("--%s given twice for model %q", flag.name, sp.Name)
			}
			v32 := float32(f)
			*flag.set(sp) = &v32
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// perModel applies a per-model flag's values, VALUE for the first model
// or NAME=VALUE for the model of that name, with set. A VALUE holding
// '=' that names a file is the first model's.
func perModel(specs []serve.ModelSpec, flag string, values []string, set func(*serve.ModelSpec, string) error) error {
	for _, f := range values {
		i, v := 0, f
		if name, rest, ok := strings.Cut(f, "="); ok {
			if _, err := os.Stat(f); err != nil {
				i = slices.IndexFunc(specs, func(sp serve.ModelSpec) bool { return sp.Name == name })
				if i < 0 {
					return usageError("--%s %s: no model is named %q", flag, f, name)
				}
				v = rest
			}
		}
		if err := set(&specs[i], v); err != nil {
			return err
		}
	}
	return nil
}

// serveOptions reads the limits, refusing values that make no sense.
func serveOptions(c *cli.Context) (serve.Options, error) {
	maxBody, err := parseSize(c.String("max-body"))
	if err != nil {
		return serve.Options{}, usageError("--max-body %q: %v", c.String("max-body"), err)
	}
	opt := serve.Options{MaxBatch: c.Int("max-batch"), MaxDelay: c.Duration("max-delay"), QueueSize: c.Int("queue"),
		MaxBody: maxBody, MaxPixels: c.Int("max-pixels"), MaxConns: c.Int("max-conns"),
		ReadHeaderTimeout: c.Duration("read-header-timeout"), ReadTimeout: c.Duration("read-timeout"),
		WriteTimeout: c.Duration("write-timeout"), IdleTimeout: c.Duration("idle-timeout"),
		DrainTimeout: c.Duration("drain-timeout"), Backend: c.String("backend")}
	for _, f := range []struct {
		name string
		v    int
	}{{"max-batch", opt.MaxBatch}, {"queue", opt.QueueSize}, {"max-pixels", opt.MaxPixels}, {"max-conns", opt.MaxConns}} {
		if f.v < 1 {
			return opt, usageError("--%s %d: want 1 or more", f.name, f.v)
		}
	}
	if opt.QueueSize < opt.MaxBatch {
		return opt, usageError("--queue %d is under --max-batch %d: a batch could never fill", opt.QueueSize, opt.MaxBatch)
	}
	if opt.MaxDelay < 0 {
		return opt, usageError("--max-delay %v: want 0 or more", opt.MaxDelay)
	}
	for _, f := range []string{"read-header-timeout", "read-timeout", "write-timeout", "idle-timeout", "drain-timeout"} {
		if d := c.Duration(f); d <= 0 {
			return opt, usageError("--%s %v: want a duration over 0, such as 30s", f, d)
		}
	}
	opt.TLS, err = serveTLS(c.String("tls-cert"), c.String("tls-key"))
	return opt, err
}

// serveTLS loads --tls-cert and --tls-key: both PEM files, or neither (nil:
// no TLS).
func serveTLS(certFile, keyFile string) (*tls.Config, error) {
	if certFile == "" && keyFile == "" {
		return nil, nil
	}
	if certFile == "" || keyFile == "" {
		return nil, usageError("--tls-cert and --tls-key go together: give the certificate and its private key, both PEM files")
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("--tls-cert %s, --tls-key %s: %v (want a PEM certificate and its PEM private key)", certFile, keyFile, err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// parseSize reads a size in bytes: a whole number, or one with KB, MB,
// GB (powers of 1000) or KiB, MiB, GiB (powers of 1024).
func parseSize(s string) (int64, error) {
	units := []struct {
		suffix string
		n      int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}}
	mult := int64(1)
	for _, u := range units {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = strings.TrimSpace(num), u.n
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 1 || n > (1<<40)/mult {
		return 0, fmt.Errorf("want a size from 1 byte to 1 TiB, such as 8MiB or 500000")
	}
	return n * mult, nil
}
