package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/lenetkit/lenetkit/convert"
	"github.com/lenetkit/lenetkit/dataset"
	"github.com/lenetkit/lenetkit/infer"
	"github.com/lenetkit/lenetkit/internal/atomicfile"
	"github.com/lenetkit/lenetkit/internal/safeio"
	"github.com/lenetkit/lenetkit/lenet"
	"github.com/lenetkit/lenetkit/modelfile"
	"github.com/lenetkit/lenetkit/onnx"
	"github.com/lenetkit/lenetkit/onnx/backend"
	"github.com/lenetkit/lenetkit/onnxtrain"
	"github.com/lenetkit/lenetkit/quantize"
	"github.com/lenetkit/lenetkit/runlog"
	"github.com/lenetkit/lenetkit/train"
)

// graphFlags are train's flags for training an ONNX graph (--model).
var graphFlags = []cli.Flag{
	&cli.StringFlag{Name: "model", Usage: "train this ONNX classifier `FILE` instead of the seed's LeNet: fine-tune its weights, or train it from scratch with --init; " +
		"lenet: the seed's LeNet as a graph, from train's initialisation"},
	&cli.StringFlag{Name: "freeze", Usage: "with --model: keep the initializers these comma-separated `PATTERNS` match fixed (* and ?; a name's prefix before a dot also matches: conv1 freezes conv1.weight and conv1.bias)"},
	&cli.IntFlag{Name: "classes", Usage: "with --model: replace the last Gemm or MatMul with a new one of `N` outputs, for another label set"},
	&cli.BoolFlag{Name: "init", Usage: "with --model: start from PyTorch's initialisation instead of the file's weights"},
	prepFlag, labelsFlag, firstLabelFlag, colourFlag, augmentFlag, valFlag, meanFlag, stdFlag, orientFlag,
}

// seedOnlyFlags are the seed recipe's flags, which a --model run refuses.
var seedOnlyFlags = []string{"recipe", "freeze-bn-after", "dropout", "dropout-mode", "lr", "val-size"}

// graphRunError is the line a failed --model run ends with.
func graphRunError(err error, cfg train.GraphConfig, out, ckpt string) error {
	var diverged *train.DivergedError
	if !errors.As(err, &diverged) {
		if errors.Is(err, train.ErrOtherModel) || errors.Is(err, train.ErrOtherData) {
			return fmt.Errorf("--resume: %s: %w; nothing was written", ckpt, err)
		}
		return err
	}
	kept := "no checkpoint was written"
	if _, serr := os.Stat(ckpt); serr == nil {
		kept = ckpt + " keeps the run as of its last good epoch"
	}
	return fmt.Errorf("%v: try a lower --max-lr than %g; %s not written, %s", err, cfg.MaxLR, out, kept)
}

// graphSetup is the run's configuration, the checkpoint's when res
// resumes one, and m made the graph the run trains: --init, --classes and
// the preprocessing, checked before anything is written.
func graphSetup(c *cli.Context, res *graphResume, m *onnx.Model, path, sum string, builtin bool, status io.Writer) (train.GraphConfig, error) {
	if res != nil {
		cfg := res.st.Config
		return cfg, rebuildGraph(m, cfg.Source, cfg.Seed)
	}
	cfg, err := graphConfig(c, builtin)
	if err != nil {
		return cfg, err
	}
	cfg.Source = train.GraphSource{Model: dataPath(path), SHA256: sum, Init: c.Bool("init")}
	if builtin {
		cfg.Source.Model = builtinLeNet // a name, where a file's path is absolute
	}
	if c.IsSet("classes") {
		cfg.Source.Classes = c.Int("classes")
	}
	if err := onnxtrain.CheckFreeze(m, cfg.Freeze); err != nil {
		return cfg, err
	}
	if dir := c.String("log-dir"); dir != "" && !c.Bool("force") && errors.Is(train.CheckNewLogDir(dir), train.ErrRunExists) {
		return cfg, fmt.Errorf("--log-dir %s holds a run already (%s); continue it with --resume %s, use another directory, or --force to replace it", dir, runlog.MetricsName, dir)
	}
	if c.Bool("init") {
		onnxtrain.Reinit(m, cfg.Seed)
	}
	h, w, err := imageSize(m.Graph.Inputs[0])
	if err != nil {
		return cfg, fmt.Errorf("--model %s: %w", path, err)
	}
	if h*w == 0 {
		return cfg, fmt.Errorf("--model %s: input %q has shape %v; lenetkit trains image classifiers, [batch, C, H, W] or [batch, H, W, C] of 1 or 3 channels, or a square image flattened, [batch, H*W]", path, m.Graph.Inputs[0].Name, m.Graph.Inputs[0])
	}
	if in := m.Graph.Inputs[0].Shape(); !c.Bool("colour") && slices.Contains(in[1:], dataset.GreyChannels) && numel(in[1:]) == dataset.GreyChannels*h*w {
		fmt.Fprintln(status, greyNote(path, dataset.GreyChannels))
	}
	if cfg.Prep, err = graphPrep(m, h, w); err != nil {
		return cfg, fmt.Errorf("--model %s: %w", path, err)
	}
	if err := declaredPrep(c, path, cfg.Prep.Resize); err != nil {
		return cfg, err
	}
	// The file written says the images were resized.
	if _, declared := m.Metadata[onnx.MetaPreprocess]; padGivesWay(c, declared) {
		cfg.Prep.Pad = 0
	}
	cfg.Prep.Resize = prepResize(c)
	return cfg, prepFlags(c, &cfg.Prep, status, path, m, h, w)
}

// graphRunLog starts --log-dir's config.json and metrics.jsonl for a
// --model run, in the run log's one format (package runlog); nil without
// --log-dir. A folder that holds a run already is refused unless --force.
func graphRunLog(c *cli.Context, cfg train.GraphConfig, model string, data *dataset.Data, valSize int, start time.Time) (*runLog, error) {
	dir := c.String("log-dir")
	if dir == "" {
		return nil, nil
	}
	if err := flagError("--log-dir", atomicfile.CheckDir(dir)); err != nil {
		return nil, err
	}
	conf, err := cfg.Record(model, data.String(), valSize, start)
	if err != nil {
		return nil, err
	}
	return createRunLog(dir, conf)
}

// loadTrainable reads and checks an ONNX file as the backend does, so that
// a file the backend refuses is refused here with the same words.
func loadTrainable(path string) (*onnx.Model, error) {
	m, _, err := loadTrainableSum(path)
	return m, err
}

// loadTrainableSum is loadTrainable that also gives the file's SHA-256
// (hex), which a run's checkpoint records to know the file again.
func loadTrainableSum(path string) (*onnx.Model, string, error) {
	// Opened as a plain file: a checkpoint names the file a resume reads,
	// and a named pipe there would block.
	f, err := safeio.Open(path)
	if err != nil {
		return nil, "", fmt.Errorf("--model %s: %w", path, unwrapPath(err))
	}
	b, err := io.ReadAll(f)
	f.Close()
	if err != nil {
		return nil, "", fmt.Errorf("--model %s: %w", path, err)
	}
	if err := modelfile.CheckContent(path, "onnx"); err != nil {
		return nil, "", fmt.Errorf("--model: %w", err)
	}
	m, _, err := backend.Load(b, path, filepath.Dir(path), modelfile.ReadOptions{})
	if err != nil {
		return nil, "", err
	}
	if n := quantize.QuantizedNode(m); n != nil {
		return nil, "", fmt.Errorf("--model %s is quantized (%s): lenetkit trains float graphs: train its float original, then quantize it again (lenetkit quantize)", path, n.Describe())
	}
	// paddle2onnx's weights are Constant nodes: trained as initializers.
	onnx.LiftWeights(m.Graph)
	// What training writes must be writable: a graph Encode refuses
	// fails here, not after the run.
	if _, err := onnx.Encode(m); err != nil {
		return nil, "", fmt.Errorf("--model %s: its graph could not be written back after training: %w", path, err)
	}
	sum := sha256.Sum256(b)
	return m, hex.EncodeToString(sum[:]), nil
}

// imageSize is the height and width of the images a graph's input takes,
// declared [batch, C, H, W], [batch, H, W, C] of 1 or 3 channels, or
// [batch, H*W] (a square image flattened, read as the backend reads it);
// 0 and 0 for another shape.
func imageSize(v *onnx.Value) (h, w int, err error) {
	in := v.Shape()
	switch {
	case len(in) == 2 || len(in) == 3 && in[1] == 1:
		if side, err := backend.SquareSide(v); side > 0 || err != nil {
			return side, side, err // flattened, [batch, 1, H*W] too
		}
	case len(in) < 3:
		return 0, 0, nil
	case len(in) == 4 && (in[3] == 1 || in[3] == dataset.GreyChannels) && in[1] != in[3]: // NHWC
		return in[1], in[2], nil
	}
	return in[len(in)-2], in[len(in)-1], nil
}

// prepFlags applies --mean and --std to p, and says when a file that
// declares no preprocessing is trained on pixels in [0, 1] as they are:
// a graph trained with Normalize and fine-tuned without it starts from a
// loss far above its own and may be wrecked before it recovers.
func prepFlags(c *cli.Context, p *train.Prep, status io.Writer, path string, m *onnx.Model, h, w int) error {
	mean, std := c.Float64("mean"), c.Float64("std")
	if c.IsSet("mean") && !(math.Abs(mean) <= math.MaxFloat32) || c.IsSet("std") && !(std > 0 && std <= math.MaxFloat32) {
		return usageError("--mean %g --std %g: the mean must be a finite number and the std one above 0", mean, std)
	}
	if c.IsSet("mean") {
		p.Mean = float32(mean)
	}
	if c.IsSet("std") {
		p.Std = float32(std)
	}
	if c.IsSet("orient") {
		pp := infer.Preprocessing{Orient: p.Orient}
		if err := setOrient(c, &pp, h, w); err != nil {
			return err
		}
		p.Orient = pp.Orient
	}
	if _, declared := m.Metadata[onnx.MetaPreprocess]; !declared && !c.IsSet("mean") && !c.IsSet("std") {
		fmt.Fprintf(status, "note: %s declares no preprocessing: training on pixels in [0, 1] (mean 0, std 1); if it was trained with torchvision's Normalize, give its --mean and --std\n", path)
	}
	return nil
}

// graphPrep is the preprocessing the graph declares (its preprocess
// metadata), or pixels in [0, 1] padded as infer assumes
// (infer.AssumedPad): MNIST's 28 in an input up to 32.
func graphPrep(m *onnx.Model, h, w int) (train.Prep, error) {
	p := train.Prep{Std: 1}
	if v, ok := m.Metadata[onnx.MetaPreprocess]; ok {
		var d struct {
			Pad       int
			Mean, Std *float32
			Resize    string
			Orient    string
		}
		if err := json.Unmarshal([]byte(v), &d); err != nil {
			return p, fmt.Errorf("metadata %s is not JSON: %v", onnx.MetaPreprocess, err)
		}
		p.Pad, p.Resize, p.Orient = d.Pad, d.Resize, d.Orient
		if d.Mean != nil {
			p.Mean = *d.Mean
		}
		if d.Std != nil {
			p.Std = *d.Std
		}
		o, err := dataset.ParseOrientation(p.Orient)
		if !(p.Std > 0) || p.Pad < 0 || 2*p.Pad >= min(h, w) || p.Resize != "" && p.Resize != "bilinear" && p.Resize != "area" || err != nil || !o.Fits(h, w) {
			return p, fmt.Errorf("metadata %s %s does not fit a %dx%d input", onnx.MetaPreprocess, v, h, w)
		}
		return p, nil
	}
	p.Pad = infer.AssumedPad(h, w)
	return p, nil
}

// openData opens the data j.m trains on, split as j.cfg says, and gives
// a fresh run its new last layer (--classes); a resumed run's checkpoint
// must fit the graph and the data, checked before anything is written.
//
// The built-in LeNet has a new last layer of the data's classes unless
// they are 10 or --classes says otherwise: it starts from scratch, so no
// trained weights are lost; j.cfg records it for a resume.
func (j *graphJob) openData() (err error) {
	c, m := j.c, j.m
	h, w, err := imageSize(m.Graph.Inputs[0])
	if err != nil {
		return err
	}
	h, w = h-2*j.cfg.Prep.Pad, w-2*j.cfg.Prep.Pad
	j.data, j.trainSet, j.valSet, j.testSet, err = graphData(c, h, w, j.cfg.Seed)
	if err != nil {
		return err
	}
	if err := fitsModel(j.data, j.data.Train, j.path, h, w); err != nil {
		return err
	}
	if j.builtin && j.res == nil && !c.IsSet("classes") && len(j.data.Classes) < 2 {
		return fmt.Errorf("--data %s has 1 class (%q): a classifier learns to tell 2 or more apart: give a folder of images for each class", j.data.Path, j.data.Classes[0])
	}
	if j.auto != "" {
		fmt.Fprintf(j.status, "note: the seed's recipe reads MNIST's IDX files, not %s: training the seed's LeNet as a graph, as --model %s does "+
			"(from train's initialisation with --seed %d; Adam under OneCycleLR, train mode throughout, no dropout)\n", j.data, builtinLeNet, j.cfg.Seed)
	}
	fmt.Fprintf(j.status, "%s: %d training, %d validation, %d test images\n", j.data, j.trainSet.Len(), lenOf(j.valSet), lenOf(j.testSet))
	if j.res != nil {
		if err := j.res.st.Fits(m, j.trainSet); err != nil {
			hint := ""
			if errors.Is(err, train.ErrOtherData) {
				hint = " (give the run's data with --data)"
			}
			return fmt.Errorf("--resume: %s: %w%s; nothing was written", j.res.ckpt, err, hint)
		}
		return nil
	}
	n := c.Int("classes")
	if j.builtin && !c.IsSet("classes") && len(j.data.Classes) != lenet.Classes {
		n = len(j.data.Classes)
		j.cfg.Source.Classes = n
	}
	if n > 0 {
		head, err := onnxtrain.ReplaceHead(m, n, j.cfg.Seed)
		if err != nil {
			return fmt.Errorf("--classes %d: %w", n, err)
		}
		fmt.Fprintf(j.status, "the last layer, %s, replaced: %d inputs, %d classes, new weights %s and %s\n", head.Node.Describe(), head.In, head.Out, head.Weight, head.Bias)
	}
	return nil
}

// graphData opens --data (MNIST when absent) for images of h x w before
// the graph's padding, and splits the validation set off its training part,
// unless the data has a validation part of its own (a folder's val/).
func graphData(c *cli.Context, h, w int, seed uint64) (d *dataset.Data, trainSet, valSet, testSet *dataset.Set, err error) {
	if err := defaultData(c); err != nil {
		return nil, nil, nil, nil, err
	}
	if d, err = openData(c, dataset.Options{Height: h, Width: w, Parts: dataset.AllParts}); err != nil {
		return nil, nil, nil, nil, err
	}
	if d.Train == nil {
		return nil, nil, nil, nil, fmt.Errorf("--data %s has no training images", d.Path)
	}
	if d.Val != nil {
		if c.IsSet("val") {
			return nil, nil, nil, nil, usageError("--val %s: %s has %s/ to validate on, not a split of train/: leave --val out, or move %s/ away", c.String("val"), d.Path, d.ValFolder, d.ValFolder)
		}
		return d, d.Train, d.Val, d.Test, nil
	}
	v, err := validation(c, d.Train.Len())
	if err != nil {
		return nil, nil, nil, nil, err
	}
	if trainSet, valSet, err = d.Train.Split(v, seed); err != nil {
		return nil, nil, nil, nil, fmt.Errorf("--val: %w", err)
	}
	return d, trainSet, valSet, d.Test, nil
}

func lenOf(s *dataset.Set) int {
	if s == nil {
		return 0
	}
	return s.Len()
}

// graphConfig is a new --model run's configuration from its flags. The
// peak learning rate is the seed's for a graph that starts from scratch
// (--init, the built-in LeNet), a tenth of it for fine-tuning.
func graphConfig(c *cli.Context, builtin bool) (train.GraphConfig, error) {
	cfg := train.GraphConfig{Epochs: c.Int("epochs"), BatchSize: c.Int("batch-size"), MaxLR: c.Float64("max-lr"),
		WeightDecay: c.Float64("weight-decay"), Limit: c.Int("limit"), Seed: c.Uint64("seed")}
	if !c.IsSet("max-lr") && !c.Bool("init") && !builtin {
		cfg.MaxLR = 1e-3 // fine-tuning: a tenth of the seed's peak
	}
	if f := c.String("freeze"); f != "" {
		cfg.Freeze = strings.Split(f, ",")
	}
	var err error
	if cfg.Augment, err = augmentation(c); err != nil {
		return cfg, err
	}
	switch {
	case cfg.Epochs < 1 || cfg.Epochs > modelfile.MaxEpochs:
		return cfg, usageError("--epochs %d: want 1 to %d", cfg.Epochs, modelfile.MaxEpochs)
	case cfg.BatchSize < 2 || cfg.BatchSize > modelfile.MaxBatchSize:
		return cfg, usageError("--batch-size %d: want 2 to %d", cfg.BatchSize, modelfile.MaxBatchSize)
	case !(cfg.MaxLR > 0 && cfg.MaxLR <= modelfile.MaxLearningRate):
		return cfg, usageError("--max-lr %g: want a number in (0, %d]", cfg.MaxLR, modelfile.MaxLearningRate)
	case !(cfg.WeightDecay >= 0 && cfg.WeightDecay <= modelfile.MaxWeightDecay):
		return cfg, usageError("--weight-decay %g: want a number in [0, %d]", cfg.WeightDecay, modelfile.MaxWeightDecay)
	case cfg.Limit < 0:
		return cfg, usageError("--limit %d is negative", cfg.Limit)
	case c.IsSet("classes") && c.Int("classes") < 2:
		return cfg, usageError("--classes %d: a classifier has at least 2", c.Int("classes"))
	}
	return cfg, nil
}

// graphOutputs are the files a --model run writes: the trained graph
// (--out FILE.onnx, by default the model's name with -trained), and with
// --out FILE.pth or FILE.safetensors that state dict of its initializers
// too, beside the graph of the same name. Both are checked before training.
func graphOutputs(c *cli.Context, model string) (out, extra string, err error) {
	out = strings.TrimSuffix(filepath.Base(model), filepath.Ext(model)) + "-trained.onnx"
	if c.IsSet("out") {
		out = c.String("out")
	}
	switch ext := strings.ToLower(filepath.Ext(out)); ext {
	case ".onnx":
	case ".pth", ".safetensors":
		extra, out = out, strings.TrimSuffix(out, filepath.Ext(out))+".onnx"
	default:
		return "", "", usageError("--out %s: a --model run writes .onnx, and .pth or .safetensors of its initializers beside it; name one of those", out)
	}
	for _, p := range []string{out, extra} {
		if p != "" {
			if err := checkWritableIn(p, c.String("log-dir"), c.Bool("force")); err != nil {
				return "", "", err
			}
		}
	}
	return out, extra, nil
}

// trainedMetadata brings the metadata a trained graph inherits up to date:
// BatchNorm's counters (num_batches_tracked, kept as metadata by lenetkit's
// export) advance by the train-mode steps taken, as PyTorch's do, and the
// checksum of the file the weights were read from no longer describes them.
func trainedMetadata(m *onnx.Model, steps int) {
	delete(m.Metadata, onnx.MetaSourceSHA256)
	for k, v := range m.Metadata {
		if !strings.HasSuffix(k, ".num_batches_tracked") {
			continue
		}
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			m.Metadata[k] = strconv.FormatInt(n+int64(steps), 10)
		}
	}
}

// writeGraph writes the trained graph, with the preprocessing it was
// trained with and the names of the classes it learnt (onnx.MetaClasses,
// which infer and serve answer by) as metadata, and the state dict extra
// names.
func writeGraph(m *onnx.Model, p train.Prep, classes []string, out, extra string, force bool) error {
	prep := map[string]any{"pad": p.Pad, "mean": p.Mean, "std": p.Std}
	if p.Resize != "" {
		prep["resize"] = p.Resize
	}
	if p.Orient != "" {
		prep["orient"] = p.Orient
	}
	meta, err := json.Marshal(prep)
	if err != nil {
		return err
	}
	m.Metadata[onnx.MetaPreprocess] = string(meta)
	delete(m.Metadata, onnx.MetaClasses) // a file's own, which may name classes it no longer has
	if out := m.Graph.Outputs; len(out) == 1 && len(out[0].Shape()) > 0 && out[0].Shape()[len(out[0].Shape())-1] == len(classes) {
		names, err := json.Marshal(classes)
		if err != nil {
			return err
		}
		m.Metadata[onnx.MetaClasses] = string(names)
	}
	proto, err := onnx.Encode(m)
	if err != nil {
		return err
	}
	b, err := onnx.Marshal(proto)
	if err != nil {
		return err
	}
	err = atomicfile.Publish(out, force, func(tmp string) error {
		return atomicfile.Write(tmp, func(w io.Writer) error { _, err := w.Write(b); return err })
	})
	if err != nil {
		return fmt.Errorf("--out %s: %w", out, err)
	}
	if extra == "" {
		return nil
	}
	sd := initializers(m)
	err = atomicfile.Publish(extra, force, func(tmp string) error {
		if strings.EqualFold(filepath.Ext(extra), ".pth") {
			return convert.SavePTH(tmp, sd)
		}
		return convert.SaveSafetensors(tmp, sd, map[string]string{"format": "pt"})
	})
	if err != nil {
		return fmt.Errorf("--out %s: %w (%s was written)", extra, err, out)
	}
	return nil
}

// initializers are the graph's float initializers as a state dict, by
// name, in name order.
func initializers(m *onnx.Model) lenet.StateDict {
	var sd lenet.StateDict
	for _, name := range slices.Sorted(maps.Keys(m.Graph.Initializers)) {
		t := m.Graph.Initializers[name]
		if t.DType.IsFloat() {
			sd = append(sd, &lenet.Tensor{Name: name, Shape: t.Shape, DType: lenet.Float32, F32: t.Float})
		}
	}
	return sd
}

func printGraphSummary(w io.Writer, format, out, extra string, data *dataset.Data, res *train.GraphResult, took time.Duration) error {
	if format == "json" {
		perClass := map[string]any{}
		for i, a := range res.Test.PerClass {
			name := fmt.Sprint(i)
			if i < len(data.Classes) {
				name = data.Classes[i]
			}
			if !math.IsNaN(a) {
				perClass[name] = a
			}
		}
		var epochs []map[string]any
		for _, e := range res.Epochs {
			epochs = append(epochs, map[string]any{"epoch": e.Epoch, "train_loss": e.TrainLoss, "val_accuracy": e.Val.Accuracy,
				"val_loss": e.Val.Loss, "seconds": e.Duration.Seconds()})
		}
		out := map[string]any{"model": out, "state_dict": extra, "data": data.String(), "epochs": epochs,
			"steps": res.Steps, "seconds": took.Seconds()}
		if res.Test.Images > 0 { // a folder has no test part: no figures, rather than zeros
			out["test_accuracy"], out["test_loss"], out["test_images"] = res.Test.Accuracy, res.Test.Loss, res.Test.Images
			out["per_class_accuracy"] = perClass
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	if res.Test.Images > 0 {
		fmt.Fprintf(w, "Accuracy: %.2f%%\nAverage Loss: %.4f\n(%d test images)\n", res.Test.Accuracy, res.Test.Loss, res.Test.Images)
		for i, a := range res.Test.PerClass {
			if !math.IsNaN(a) && i < len(data.Classes) {
				fmt.Fprintf(w, "  %-12s %6.2f %% of %d\n", data.Classes[i], a, res.Test.Count[i])
			}
		}
	}
	fmt.Fprintf(w, "wrote %s", out)
	if extra != "" {
		fmt.Fprintf(w, " and %s", extra)
	}
	fmt.Fprintf(w, " (%.0f s)\n", took.Seconds())
	return nil
}
