package main

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/lenetkit/lenetkit/infer"
	"github.com/lenetkit/lenetkit/mnist"
)

func inferCommand() *cli.Command {
	return &cli.Command{
		Name:      "infer",
		Usage:     "classify digit images (or MNIST) with a model of any format",
		ArgsUsage: "MODEL PATH...",
		Description: `MODEL is a .pth, .pt, .safetensors or .onnx file of the seed's LeNet. A PATH is
an image file (PNG, JPEG, GIF, BMP; any size, colour or grey), a directory
(walked recursively; other files are skipped with a note), or mnist:test or
mnist:train. Images are prepared as MNIST's were: grey, light digit on dark
(inverted if needed), cropped to the ink, scaled into 20x20, centred by centre
of mass in 28x28, then padded to 32x32. A 28x28 light-on-dark image is used
as it is. When a file's parent directory is named 0-9 (torchvision's
ImageFolder layout) that digit is its label, and accuracy and loss are
reported.

Predictions go to standard output; notes, failures and the summary to
standard error. A file that cannot be read is reported and the run goes on;
the exit code is then 1.

Examples:
   lenetkit infer model.onnx digits/
   lenetkit infer parameter.pth seven.png --top-k 3
   lenetkit infer model.safetensors mnist:test --format jsonl > predictions.jsonl`,
		Flags: []cli.Flag{
			dataFlag, skipChecksumFlag, backendFlag, meanFlag, stdFlag,
			&cli.StringFlag{Name: "format", Value: "text", Usage: "text (a table), json (one array), csv or jsonl (a row per image, as they come)"},
			&cli.IntFlag{Name: "top-k", Value: 1, Usage: "list the K most probable digits per image"},
		},
		Action: runInfer,
	}
}

func runInfer(c *cli.Context) error {
	if c.NArg() < 2 {
		return usageError("infer needs a MODEL and at least one PATH (see lenetkit infer --help)")
	}
	format, topK := c.String("format"), c.Int("top-k")
	if format == "table" { // its name before --format meant the same everywhere
		format = "text"
	}
	if err := checkFormat(format, "text", "json", "csv", "jsonl"); err != nil {
		return err
	}
	if topK < 1 || topK > 10 {
		return usageError("--top-k %d: want 1 to 10", topK)
	}
	m, err := openModel(c)
	if err != nil {
		return err
	}
	out := newPredictionWriter(c.App.Writer, format, topK)
	opt := infer.Options{Data: c.String("data"), MNIST: mnist.Options{SkipChecksum: c.Bool("skip-checksum")}}
	prog := newCountProgress(statusOut(c), -1, "infer")
	defer prog.finish()
	sum, err := infer.Classify(c.Context, counted{m, prog}, c.Args().Tail(), opt, infer.Handlers{
		Prediction: out.write,
		Failed: func(path string, err error) {
			fmt.Fprintln(os.Stderr, "lenetkit: "+oneLine(err.Error()))
		},
		Skipped: func(it infer.Item) {
			fmt.Fprintf(statusOut(c), "note: skipping %s: %s\n", it.Path, it.Skipped)
		},
	})
	if ferr := out.flush(); err == nil {
		err = ferr
	}
	if err != nil {
		return err
	}
	line := fmt.Sprintf("%d images", sum.Images)
	if sum.Labelled > 0 {
		line += fmt.Sprintf(", %d labelled: accuracy %.2f%%, loss %.4f", sum.Labelled, sum.Accuracy(), sum.Loss())
	}
	if sum.Failed > 0 {
		line += fmt.Sprintf("; %d failed", sum.Failed)
	}
	fmt.Fprintf(statusOut(c), "%s (%s, %s backend)\n", line, m.Path, m.Backend)
	if sum.Failed > 0 {
		return cli.Exit("", 1)
	}
	if sum.Images == 0 {
		return fmt.Errorf("no image could be classified")
	}
	return nil
}

type predictionWriter struct {
	format string
	topK   int
	tw     *tabwriter.Writer
	csv    *csv.Writer
	json   *json.Encoder
	rows   int
	all    []map[string]any // --format json: the records, written at the end as one array
}

func newPredictionWriter(w io.Writer, format string, topK int) *predictionWriter {
	p := &predictionWriter{format: format, topK: topK}
	switch format {
	case "text":
		p.tw = tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	case "csv":
		p.csv = csv.NewWriter(w)
	default:
		p.json = json.NewEncoder(w)
	}
	return p
}

type ranked struct {
	Digit       int     `json:"digit"`
	Probability float64 `json:"probability"`
}

func (p *predictionWriter) top(pr infer.Prediction) []ranked {
	r := make([]ranked, len(pr.Probabilities))
	for d, v := range pr.Probabilities {
		r[d] = ranked{d, v}
	}
	sort.SliceStable(r, func(i, j int) bool { return r[i].Probability > r[j].Probability })
	return r[:p.topK]
}

func (p *predictionWriter) write(pr infer.Prediction) error {
	label := ""
	if pr.Label >= 0 {
		label = strconv.Itoa(pr.Label)
	}
	var top []string
	if p.topK > 1 {
		for _, r := range p.top(pr) {
			top = append(top, fmt.Sprintf("%d:%.4f", r.Digit, r.Probability))
		}
	}
	defer func() { p.rows++ }()
	switch p.format {
	case "text":
		if p.rows == 0 {
			head := "PATH\tPREDICTION\tCONFIDENCE\tLABEL"
			if p.topK > 1 {
				head += "\tTOP"
			}
			fmt.Fprintln(p.tw, head)
		}
		line := fmt.Sprintf("%s\t%d\t%.4f\t%s", pr.Path, pr.Digit, pr.Confidence, label)
		if p.topK > 1 {
			line += "\t" + strings.Join(top, " ")
		}
		_, err := fmt.Fprintln(p.tw, line)
		return err
	case "csv":
		if p.rows == 0 {
			head := []string{"path", "prediction", "confidence", "label"}
			if p.topK > 1 {
				head = append(head, "top")
			}
			p.csv.Write(head)
		}
		rec := []string{pr.Path, strconv.Itoa(pr.Digit), strconv.FormatFloat(pr.Confidence, 'f', 6, 64), label}
		if p.topK > 1 {
			rec = append(rec, strings.Join(top, " "))
		}
		return p.csv.Write(rec)
	}
	rec := map[string]any{"path": pr.Path, "prediction": pr.Digit, "confidence": pr.Confidence, "probabilities": pr.Probabilities}
	if pr.Label >= 0 {
		rec["label"] = pr.Label
	}
	if p.topK > 1 {
		rec["top"] = p.top(pr)
	}
	if p.format == "json" {
		p.all = append(p.all, rec)
		return nil
	}
	return p.json.Encode(rec)
}

func (p *predictionWriter) flush() error {
	switch p.format {
	case "text":
		return p.tw.Flush()
	case "json":
		if p.all == nil {
			p.all = []map[string]any{}
		}
		p.json.SetIndent("", "  ")
		return p.json.Encode(p.all)
	case "csv":
		p.csv.Flush()
		return p.csv.Error()
	}
	return nil
}
