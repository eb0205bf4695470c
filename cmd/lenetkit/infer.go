package main

import (
	"cmp"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"unicode"
	"unicode/utf8"

	"github.com/urfave/cli/v2"

	"github.com/lenetkit/lenetkit/digit"
	"github.com/lenetkit/lenetkit/infer"
	"github.com/lenetkit/lenetkit/internal/atomicfile"
	"github.com/lenetkit/lenetkit/mnist"
)

func inferCommand() *cli.Command {
	return &cli.Command{
		Name:      "infer",
		Usage:     "classify images (digits, MNIST, or a data set's) with a model of any format",
		ArgsUsage: "MODEL PATH... | MODEL --data DIR",
		Description: `MODEL is a .pth, .pt, .safetensors or .onnx file of the seed's LeNet. A PATH is
an image file (PNG, JPEG, GIF, BMP; any size, colour or grey), a directory
(walked recursively; other files are skipped with a note), or mnist:test or
mnist:train. When a file's parent directory is named 0-9 (torchvision's
ImageFolder layout) that digit is its label, and accuracy and loss are
reported.

Without PATHs, --data DIR classifies a data set: an IDX set's test part
(gzipped or not; any IDX images and labels, with --skip-checksum unless
MNIST's or Fashion-MNIST's) or every image of a folder with one subfolder
per class (classes are the subfolder names sorted, as torchvision's
ImageFolder; folders named by numbers keep their number as label), its
pictures prepared as --prep says: digit (below) or resize (grey, resized
to the model's input; resize:area averages). Each row's path is the image's
file, or the IDX file and the image's index. --labels FILE names the
classes, one a line (by default the names the model records, as lenetkit
train writes them, when they are more than numbers; class folders are then
taken by name); with --data or names, accuracy per class follows
the summary on standard error. With --data, MODEL may be any ONNX
classifier of grey images, of any number of classes and input size (see
lenetkit eval --help), the data of as many classes; rows name the data's
classes, and JSON records add "prediction_class" and "label_class". With
PATHs, --data is where mnist:test and mnist:train come from, as before.

PATHs go to any such classifier too (one of other classes or input size
than a digit's): each file is prepared as --prep says, at the model's
input size, as a folder's images are for eval --data, and labelled by its
folder's name among the model's class names (photos/cat/a.png is a cat).
A file that cannot be prepared fails alone, as any bad file does:
   lenetkit infer letters.onnx new-photos/ --prep resize

Images are prepared as MNIST's were: grey, light digit on dark, cropped to the
ink, scaled into 20x20, centred by centre of mass in 28x28, then padded to
32x32. A 28x28 light-on-dark image is used as it is. Photographs are evened
out first: uneven light is divided out, grain stays below the paper's level,
and specks of dust apart from the digit are left out. A stroke on a
transparent layer in one colour (a drawing app's PNG) is read from its alpha
channel, whatever its colour. --invert auto decides the polarity so;
always reads every image as dark ink on light paper and never as light on
dark (translucent pixels shown over white). With --prep resize a picture
keeps its own polarity, as torchvision's transforms keep it, unless
--invert always: then it goes in as its negative. --save-preprocessed DIR writes
each image file's 28x28 digit, as the model sees it, to DIR as a grey PNG
named after the file; one found in a directory goes below DIR/<that
directory's name>/ with the folders it was in, so labels survive.

Predictions go to standard output, a row for every input, in every format;
notes, failures and the summary also go to standard error. Each row has a
status: ok; unsure, when the answer's probability is under --min-confidence
(the digit is still given); or error, with the error: a file that cannot be
read or decoded, or a blank image. The run goes on past errors; the exit code
is then 1 (unsure answers leave it 0).

Each row's flags say why an answer may not be what the image shows:
  several-components   the ink is in two or more separate marks of comparable
                       size side by side ("42", a word), not one digit
  guessed-preparation  which grey is paper and which ink was a guess (the
                       border is not mostly one grey); --invert decides it
  low-confidence       the most probable digit's probability is under 0.9
                       (or under --min-confidence, when that is higher)
The model answers every image with a digit, letters too; the flags and
--min-confidence are the way to tell.

A graph that declares no preprocessing (no "preprocess" metadata entry, which
lenetkit convert writes) is fed pixels in [0,1] with mean 0 and std 1; a note
says so, and --format json and jsonl carry it in each record as
"preprocess_assumed". A model trained with Normalize needs --mean and --std.

Examples:
   lenetkit infer model.onnx digits/
   lenetkit infer parameter.pth seven.png --top-k 3
   lenetkit infer parameter.pth photos/ --save-preprocessed seen/
   lenetkit infer model.safetensors mnist:test --format jsonl > predictions.jsonl
   lenetkit infer cnn28.onnx photos/ --mean 0.5 --std 0.5 --min-confidence 0.9
   lenetkit infer parameter.pth --data digits/ --format csv > rows.csv
   lenetkit infer fashion.onnx shirts/ --prep resize   # each picture resized whole, not searched for a digit
   lenetkit infer emnist.onnx letters/ --orient transpose --labels letters.txt
   lenetkit infer cifar10.onnx photos/ --prep resize --colour --mean 0.5 --std 0.5   # red, green and blue`,
		Flags: []cli.Flag{
			ownDataFlag, prepFlag, labelsFlag, firstLabelFlag, colourFlag, skipChecksumFlag, backendFlag, meanFlag, stdFlag, orientFlag, allowNonFiniteFlag, verboseFlag,
			&cli.StringFlag{Name: "format", Value: "text", Usage: "text (a table), json (one array), csv or jsonl (a row per input, as they come)"},
			&cli.IntFlag{Name: "top-k", Value: 1, Usage: "list the K most probable digits per image"},
			&cli.StringFlag{Name: "invert", Value: "auto", Usage: "auto (decide per image), always (dark ink on light paper) or never (light ink on dark, as MNIST)"},
			&cli.StringFlag{Name: "save-preprocessed", Usage: "write each image's 28x28 digit, as the model sees it, as a grey PNG under `DIR`"},
			&cli.Float64Flag{Name: "min-confidence", Usage: "mark answers whose probability is under `P` (0 to 1) unsure; the digit is still reported", DefaultText: "0, off"},
		},
		Action: runInfer,
	}
}

func runInfer(c *cli.Context) error {
	ownData := c.NArg() == 1 && c.IsSet("data")
	if c.NArg() < 2 && !ownData {
		return usageError("infer needs a MODEL and at least one PATH, or --data DIR (see lenetkit infer --help)")
	}
	format, topK := c.String("format"), c.Int("top-k")
	if format == "table" { // its name before --format meant the same everywhere
		format = "text"
	}
	if err := checkFormat(format, "text", "json", "csv", "jsonl"); err != nil {
		return err
	}
	if topK < 1 || topK > 10 && !ownData || topK > infer.MaxClasses {
		maxK := 10
		if ownData {
			maxK = infer.MaxClasses
		}
		return usageError("--top-k %d: want 1 to %d", topK, maxK)
	}
	inv, err := digit.ParseInvert(c.String("invert"))
	if err != nil {
		return usageError("--invert %q: want auto, always or never", c.String("invert"))
	}
	if c.IsSet("save-preprocessed") && c.String("save-preprocessed") == "" {
		return usageError("--save-preprocessed needs a directory")
	}
	minConf := c.Float64("min-confidence")
	if !(minConf >= 0 && minConf <= 1) {
		return usageError("--min-confidence %g: want a probability from 0 to 1", minConf)
	}
	// Asked for before openModel sets --prep from what the model declares:
	// a digit classifier trained on resized digits still takes a picture
	// of one through the digit pipeline, its digit then resized.
	askedResize := c.IsSet("prep") && prepResizes(c)
	colour := c.Bool("colour")
	m, err := openModel(c, ownData || colour)
	anyFiles := colour && !ownData // files for a classifier of other classes or input than a digit's
	if err != nil && !ownData && !colour {
		if other, oerr := openModel(c, true); oerr == nil {
			m, err, anyFiles = other, nil, true
		}
	}
	if err != nil {
		return err
	}
	// --prep resize makes each file the whole input, as --data's images:
	// a digit classifier's files too (Fashion-MNIST's 28x28 pictures),
	// which the digit pipeline would crop to their ink.
	resized := !ownData && !anyFiles && askedResize && c.NArg() > 1
	if resized && c.IsSet("save-preprocessed") {
		return usageError("--save-preprocessed writes the 28x28 digits --prep digit makes; --prep resize makes each picture the model's whole input")
	}
	anyFiles = anyFiles || resized
	if anyFiles && c.IsSet("save-preprocessed") {
		return usageError("--save-preprocessed writes the 28x28 digits a digit classifier sees; %s scores %d classes of %dx%d images", m.Path, m.Classes, m.Input.Height, m.Input.Width)
	}
	if topK > m.Classes {
		return usageError("--top-k %d: want 1 to %d: %s scores %d classes", topK, m.Classes, m.Path, m.Classes)
	}
	assumed := assumedPreprocess(c, m)
	notePreprocess(c, m, assumed)
	out := newPredictionWriter(c.App.Writer, format, topK)
	out.assumed = assumed
	opt := infer.Options{Data: c.String("data"), MNIST: mnist.Options{SkipChecksum: c.Bool("skip-checksum")}, MinConfidence: minConf}
	var model mnist.Classifier = m
	opt.Image.Invert = inv
	if dir := c.String("save-preprocessed"); dir != "" {
		s, err := newDigitSaver(dir, c.Args().Tail())
		if err != nil {
			return err
		}
		opt.Image.Prepared = s.save
	}
	classes, src, err := inferData(c, m, ownData)
	if err != nil {
		return err
	}
	if anyFiles {
		if src, err = newFileSource(c, m, c.Args().Tail(), classes); err != nil {
			return err
		}
		if classes == nil {
			classes = numberNames(m.Classes)
		}
	}
	// Rows name the classes by the data's names, --labels or the model's,
	// and files are labelled by their folders' names among them.
	out.names, opt.Names = classes, classes
	if src != nil {
		// The data's images are made to the model's own size.
		model, opt.Classes, opt.InputSize = m.AtInputSize(), m.Classes, m.InputSize()
	}
	prog := newCountProgress(statusOut(c), -1, "infer")
	defer prog.finish()
	tally := newClassTally(classes)
	h := infer.Handlers{
		Prediction: func(pr infer.Prediction) error {
			if pr.Err != nil {
				// Also here: a row on standard output may go to a file.
				fmt.Fprintln(os.Stderr, "lenetkit: "+oneLine(pr.Err.Error()))
			}
			tally.add(pr)
			return out.write(pr)
		},
		Skipped: func(it infer.Item) {
			fmt.Fprintf(statusOut(c), "note: skipping %s: %s\n", quoteName(it.Path), printable(it.Skipped))
		},
	}
	var sum infer.Summary
	if src != nil {
		sum, err = infer.ClassifySource(c.Context, counted{model, prog}, src, opt, h)
	} else {
		sum, err = infer.Classify(c.Context, counted{model, prog}, c.Args().Tail(), opt, h)
	}
	if ferr := out.flush(); err == nil {
		err = ferr
	}
	if err != nil {
		return err
	}
	line := nouns(sum.Images, "image")
	if sum.Labelled > 0 {
		line += fmt.Sprintf(", %d labelled: accuracy %.2f%%, loss %.4f", sum.Labelled, sum.Accuracy(), sum.Loss())
	}
	if sum.Failed > 0 {
		line += fmt.Sprintf("; %d failed", sum.Failed)
	}
	if sum.Unsure > 0 {
		line += fmt.Sprintf("; %d unsure", sum.Unsure)
	}
	if sum.Flagged > 0 {
		line += fmt.Sprintf("; %d flagged", sum.Flagged)
	}
	fmt.Fprintf(statusOut(c), "%s (%s, %s backend)\n", line, m.Path, m.Backend)
	if classes != nil && (sum.Labelled > 0 || !anyFiles) {
		printPerClass(statusOut(c), tally.rows())
	}
	if sum.Failed > 0 {
		return cli.Exit("", 1)
	}
	if sum.Images == 0 {
		return fmt.Errorf("no image could be classified")
	}
	return nil
}

type predictionWriter struct {
	format  string
	topK    int
	assumed string // assumedPreprocess's, for every JSON record
	// names are the classes of --data: the rows name the prediction and
	// the label by them (JSON records add "prediction_class" and
	// "label_class" to the numbers); nil for digits.
	names []string
	tw    *tabwriter.Writer
	csv   *csv.Writer
	json  *json.Encoder
	rows  int
	all   []map[string]any // --format json: the records, written at the end as one array
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
	Class       string  `json:"class,omitempty"` // its name, with --data
	Probability float64 `json:"probability"`
}

func (p *predictionWriter) top(pr infer.Prediction) []ranked {
	r := make([]ranked, len(pr.Probabilities))
	for d, v := range pr.Probabilities {
		r[d] = ranked{Digit: d, Probability: v}
		if p.names != nil {
			r[d].Class = p.name(d)
		}
	}
	sort.SliceStable(r, func(i, j int) bool { return r[i].Probability > r[j].Probability })
	return r[:min(p.topK, len(r))]
}

// name is class k as a row gives it: its name with --data, else its number.
func (p *predictionWriter) name(k int) string {
	if k >= 0 && k < len(p.names) {
		return p.names[k]
	}
	return strconv.Itoa(k)
}

// rowError is an input's error as its row says it: the row names the
// file, so the "digit: PATH: " the message starts with goes.
func rowError(pr infer.Prediction) string {
	if pr.Err == nil {
		return ""
	}
	return oneLine(strings.TrimPrefix(pr.Err.Error(), "digit: "+pr.Path+": "))
}

func (p *predictionWriter) write(pr infer.Prediction) error {
	failed := pr.Status == infer.StatusError
	label, digit, conf := "", "", ""
	if pr.Label >= 0 {
		label = p.name(pr.Label)
	}
	if !failed {
		digit, conf = p.name(pr.Digit), strconv.FormatFloat(pr.Confidence, 'f', 6, 64)
	}
	flags := make([]string, len(pr.Flags))
	for i, f := range pr.Flags {
		flags[i] = string(f)
	}
	var top []string
	if p.topK > 1 && !failed {
		for _, r := range p.top(pr) {
			top = append(top, fmt.Sprintf("%s:%.4f", p.name(r.Digit), r.Probability))
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
			fmt.Fprintln(p.tw, head+"\tFLAGS\tSTATUS")
		}
		// "-" for nothing, so that every row has every column; the
		// status, with an error's words, comes last.
		dash := func(s string) string { return cmp.Or(s, "-") }
		if !failed {
			conf = fmt.Sprintf("%.4f", pr.Confidence)
		}
		line := fmt.Sprintf("%s\t%s\t%s\t%s", quoteName(pr.Path), dash(quoteName(digit)), dash(conf), dash(quoteName(label)))
		if p.topK > 1 {
			line += "\t" + dash(strings.Join(top, " "))
		}
		status := string(pr.Status)
		if failed {
			status += ": " + rowError(pr)
		}
		_, err := fmt.Fprintln(p.tw, line+"\t"+dash(strings.Join(flags, ","))+"\t"+status)
		return err
	case "csv":
		if p.rows == 0 {
			head := []string{"path", "prediction", "confidence", "label"}
			if p.topK > 1 {
				head = append(head, "top")
			}
			p.csv.Write(append(head, "status", "flags", "error"))
		}
		rec := []string{pr.Path, digit, conf, label}
		if p.topK > 1 {
			rec = append(rec, strings.Join(top, " "))
		}
		return p.csv.Write(append(rec, string(pr.Status), strings.Join(flags, ","), rowError(pr)))
	}
	// Every record has every key, null where there is nothing, so that a
	// reader of the first record knows them all.
	rec := map[string]any{"path": pr.Path, "status": pr.Status, "flags": flags,
		"prediction": nil, "confidence": nil, "probabilities": nil}
	if !failed {
		rec["prediction"], rec["confidence"], rec["probabilities"] = pr.Digit, pr.Confidence, pr.Probabilities
		if p.names != nil {
			rec["prediction_class"] = p.name(pr.Digit)
		}
	}
	if failed {
		rec["error"] = rowError(pr)
	}
	if pr.Label >= 0 {
		rec["label"] = pr.Label
		if p.names != nil {
			rec["label_class"] = p.name(pr.Label)
		}
	}
	if p.topK > 1 && !failed {
		rec["top"] = p.top(pr)
	}
	if p.assumed != "" {
		rec["preprocess_assumed"] = p.assumed
	}
	if p.format == "json" {
		p.all = append(p.all, rec)
		return nil
	}
	return p.json.Encode(finiteJSON{rec})
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
		return p.json.Encode(finiteJSON{p.all})
	case "csv":
		p.csv.Flush()
		return p.csv.Error()
	}
	return nil
}

// digitSaver writes the digits the model sees, for --save-preprocessed.
type digitSaver struct {
	dir  string
	args []string        // the PATH arguments that are directories, cleaned
	used map[string]bool // names written in this run
}

func newDigitSaver(dir string, paths []string) (*digitSaver, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("--save-preprocessed: %w", err)
	}
	s := &digitSaver{dir: dir, used: map[string]bool{}}
	for _, p := range paths {
		if fi, err := os.Stat(p); err == nil && fi.IsDir() {
			s.args = append(s.args, filepath.Clean(p))
		}
	}
	return s, nil
}

// name is where the digit of the image file at path goes: its path from
// the directory argument it was found in, that directory's name first, or
// its file name, with the extension .png; a name already written in this
// run gets -2, -3, ...
func (s *digitSaver) name(path string) string {
	rel := filepath.Base(path)
	for _, a := range s.args {
		if r, err := filepath.Rel(a, path); err == nil && r != "." && r != ".." && !strings.HasPrefix(r, ".."+string(filepath.Separator)) {
			if base := filepath.Base(a); base != "." && base != ".." && base != string(filepath.Separator) {
				r = filepath.Join(base, r)
			}
			rel = r
			break
		}
	}
	stem := strings.TrimSuffix(rel, filepath.Ext(rel))
	name := stem + ".png"
	for k := 2; s.used[name]; k++ {
		name = fmt.Sprintf("%s-%d.png", stem, k)
	}
	s.used[name] = true
	return filepath.Join(s.dir, name)
}

func (s *digitSaver) save(path string, digit *image.Gray) error {
	name := s.name(path)
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		return fmt.Errorf("--save-preprocessed: %w", err)
	}
	if err := atomicfile.Write(name, func(w io.Writer) error { return png.Encode(w, digit) }); err != nil {
		return fmt.Errorf("--save-preprocessed: %w", err)
	}
	return nil
}

// quoteName is a file name as one cell of a table: one whose bytes could
// break the row (a tab, a line break) or command the terminal is written as
// a Go-quoted string, like ls --quoting-style=c does.
func quoteName(name string) string {
	if strings.ContainsFunc(name, unicode.IsControl) || !utf8.ValidString(name) {
		return strconv.Quote(name)
	}
	return name
}
