package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/lenetkit/lenetkit/internal/atomicfile"
	"github.com/lenetkit/lenetkit/onnx"
	"github.com/lenetkit/lenetkit/onnx/backend"
	"github.com/lenetkit/lenetkit/onnx/tensorfile"
)

func runCommand() *cli.Command {
	return &cli.Command{
		Name:      "run",
		Usage:     "run any ONNX graph of float32 tensors on the inputs in a folder, as ONNX's test data lays them out",
		ArgsUsage: "MODEL DATASET_DIR",
		Description: `MODEL is an .onnx file; DATASET_DIR holds its inputs as ONNX's backend tests
store them: input_0.pb, input_1.pb, ... (serialized TensorProto), or
input_0.npy, ... (numpy.save's .npy, C order), taken in index order as the
graph's inputs by position, each of the shape its file has. The graph runs
once on lenetkit's kernels, as a plan of whole tensors; every input and
output is float32.

--out DIR writes the outputs there as output_0.pb, output_1.pb, ... in the
graph's order (each a TensorProto named after its output), or as .npy with
--out-format npy. Each file is written whole or not at all, and a failed run
writes none.

--expect compares every output with DATASET_DIR/output_N.pb (or .npy) at
ONNX's tolerances, rtol 1e-3 and atol 1e-7 (numpy.testing.assert_allclose:
|got - want| <= atol + rtol*|want|, NaN equal to NaN). A mismatch exits 1,
naming the output and its worst element, index and both values. Without
--out or --expect, the first values of each output are printed.

reference/onnx_node_tests.py writes ONNX's own node tests in this layout.

Examples:
   lenetkit run test_relu/model.onnx test_relu/test_data_set_0 --expect
   lenetkit run model.onnx inputs/ --out outputs/ --out-format npy
   lenetkit run model.onnx test_data_set_0 --expect --format json`,
		Flags: []cli.Flag{
			allowNonFiniteFlag,
			&cli.StringFlag{Name: "out", Usage: "write the outputs as output_N.pb (or .npy) into `DIR`"},
			&cli.StringFlag{Name: "out-format", Value: "pb", Usage: "pb (TensorProto) or npy (numpy.save's format), for --out"},
			&cli.BoolFlag{Name: "expect", Usage: "compare the outputs with DATASET_DIR/output_N.pb at rtol 1e-3, atol 1e-7; exit 1 on a mismatch"},
			&cli.StringFlag{Name: "format", Value: "text", Usage: "text or json"},
		},
		Action: runRun,
	}
}

// graphRunPort is an input or output in run's report.
type graphRunPort struct {
	Name  string `json:"name"`
	Shape []int  `json:"shape"`
	// File is the input's file, or the output's written file.
	File string `json:"file,omitempty"`
	// Head is the output's first values.
	Head []float32 `json:"head,omitempty"`
	// Expected is the file an output was compared with (--expect), Match
	// whether it matched and Mismatch, when not, by how much.
	Expected string                    `json:"expected,omitempty"`
	Match    *bool                     `json:"match,omitempty"`
	Mismatch *tensorfile.MismatchError `json:"mismatch,omitempty"`
	Error    string                    `json:"error,omitempty"`
}

type graphRun struct {
	Model   string         `json:"model"`
	Dataset string         `json:"dataset"`
	Inputs  []graphRunPort `json:"inputs"`
	Outputs []graphRunPort `json:"outputs"`
	Seconds float64        `json:"seconds"`
	// OK is false when --expect found a mismatch.
	OK bool `json:"ok"`
}

// headValues is how many of each output's values run prints without
// --out or --expect.
const headValues = 8

func runRun(c *cli.Context) error {
	if c.NArg() != 2 {
		return usageError("run takes a MODEL and a DATASET_DIR, got %s (see lenetkit run --help)", nouns(c.NArg(), "argument"))
	}
	format := c.String("format")
	if err := checkFormat(format, "text", "json"); err != nil {
		return err
	}
	outFormat, err := tensorfile.ParseFormat(c.String("out-format"))
	if err != nil || c.String("out-format") != outFormat.String() {
		return usageError("--out-format %q: want pb or npy", c.String("out-format"))
	}
	if c.IsSet("out-format") && !c.IsSet("out") {
		return usageError("--out-format needs --out DIR")
	}
	model, dataset := c.Args().Get(0), c.Args().Get(1)
	out := c.String("out")
	if c.IsSet("out") && out == "" {
		return usageError("--out needs a directory")
	}
	if st, err := os.Stat(dataset); err != nil {
		return fmt.Errorf("DATASET_DIR: %w", err)
	} else if !st.IsDir() {
		return usageError("DATASET_DIR %s is not a folder (run takes MODEL DATASET_DIR)", dataset)
	}
	if out != "" {
		if sameFolder(out, dataset) {
			return usageError("--out %s is DATASET_DIR, whose output_N files are the expected outputs: write elsewhere", out)
		}
		// Fail before the run, not after it.
		if err := atomicfile.CheckDir(out); err != nil {
			return fmt.Errorf("--out: %w", err)
		}
	}

	inFiles, err := indexedFiles(dataset, "input")
	if err != nil {
		return err
	}
	if len(inFiles) == 0 {
		return fmt.Errorf("%s has no input_0.pb or input_0.npy", dataset)
	}
	var wantFiles []string
	if c.Bool("expect") {
		if wantFiles, err = indexedFiles(dataset, "output"); err != nil {
			return err
		}
		if len(wantFiles) == 0 {
			return fmt.Errorf("--expect: %s has no output_0.pb or output_0.npy", dataset)
		}
	}
	names, types, err := graphInputs(model)
	if err != nil {
		return err
	}
	if len(names) != len(inFiles) {
		return fmt.Errorf("%s has %s, but %s takes %s (%s)", dataset, nouns(len(inFiles), "input file"), model, nouns(len(names), "input"), strings.Join(names, ", "))
	}
	r := graphRun{Model: model, Dataset: dataset, OK: true}
	shapes, constants := map[string][]int{}, map[string]*onnx.Tensor{}
	var ins [][]float32
	for i, f := range inFiles {
		x, err := tensorfile.Read(f)
		if err != nil {
			return err
		}
		if types[i] != 0 && x.DType != types[i] {
			return fmt.Errorf("%s is %s, but %s's input %q is %s", f, x.DType, model, names[i], types[i])
		}
		switch x.DType {
		case onnx.Float:
			shapes[names[i]] = x.Shape
			ins = append(ins, x.Float)
		case onnx.Int64, onnx.Int32:
			// Shapes, axes, indices: folded into the plan as its weights are.
			constants[names[i]] = x
		default:
			return fmt.Errorf("%s is %s: lenetkit run feeds float32 inputs, and int64 or int32 ones as constants: %w", f, x.DType, onnx.ErrUnsupported)
		}
		r.Inputs = append(r.Inputs, graphRunPort{Name: names[i], Shape: x.Shape, File: f})
	}
	start := time.Now()
	p, err := backend.OpenOptions(model, backend.Options{ReadOptions: readOptions(c), Shapes: shapes, Constants: constants})
	if err != nil {
		return err
	}
	outs, err := p.Run(ins)
	if err != nil {
		return err
	}
	r.Seconds = time.Since(start).Seconds()
	results := p.Results()
	if len(wantFiles) > 0 && len(wantFiles) != len(results) {
		return fmt.Errorf("--expect: %s has %s, but %s gives %s", dataset, nouns(len(wantFiles), "output file"), model, nouns(len(results), "output"))
	}
	tensors := make([]*onnx.Tensor, len(results))
	for i, res := range results {
		tensors[i] = &onnx.Tensor{Name: res.Name, DType: onnx.Float, Shape: res.Shape, Float: outs[i]}
		port := graphRunPort{Name: res.Name, Shape: res.Shape}
		if out == "" && len(wantFiles) == 0 {
			port.Head = outs[i][:min(len(outs[i]), headValues)]
		}
		r.Outputs = append(r.Outputs, port)
	}
	if out != "" {
		written, err := writeOutputs(out, outFormat, tensors)
		if err != nil {
			return err
		}
		for i := range written {
			r.Outputs[i].File = written[i]
		}
	}
	var mismatch error
	for i, f := range wantFiles {
		want, err := tensorfile.Read(f)
		if err != nil {
			return fmt.Errorf("--expect: %w", err)
		}
		o := &r.Outputs[i]
		o.Expected = f
		match := true
		if err := tensorfile.Compare(tensors[i], want, tensorfile.RTol, tensorfile.ATol); err != nil {
			match, r.OK = false, false
			o.Error = err.Error()
			var me *tensorfile.MismatchError
			if errors.As(err, &me) {
				o.Mismatch = me
			}
			if mismatch == nil {
				mismatch = fmt.Errorf("output %d (%s) differs from %s: %w", i, printable(results[i].Name), f, err)
			}
		}
		o.Match = &match
	}
	if format == "json" {
		if err := printJSON(c.App.Writer, r); err != nil {
			return err
		}
	} else {
		printRun(c.App.Writer, r)
	}
	if mismatch != nil {
		return cli.Exit(mismatch.Error(), exitFailure)
	}
	return nil
}

func printRun(w io.Writer, r graphRun) {
	fmt.Fprintf(w, "Model: %s\n", printable(r.Model))
	for i, in := range r.Inputs {
		fmt.Fprintf(w, "input %d %s %s <- %s\n", i, printable(in.Name), shapeString(in.Shape), printable(in.File))
	}
	for i, o := range r.Outputs {
		fmt.Fprintf(w, "output %d %s %s", i, printable(o.Name), shapeString(o.Shape))
		if o.File != "" {
			fmt.Fprintf(w, " -> %s", printable(o.File))
		}
		if o.Head != nil {
			vals := make([]string, len(o.Head))
			for k, v := range o.Head {
				vals[k] = strconv.FormatFloat(float64(v), 'g', -1, 32)
			}
			more := ""
			if n := numel(o.Shape); n > len(o.Head) {
				more = fmt.Sprintf(" ... (%d values)", n)
			}
			fmt.Fprintf(w, ": %s%s", strings.Join(vals, " "), more)
		}
		fmt.Fprintln(w)
		if o.Match != nil {
			if *o.Match {
				fmt.Fprintf(w, "  matches %s (rtol %g, atol %g)\n", printable(o.Expected), tensorfile.RTol, tensorfile.ATol)
			} else {
				fmt.Fprintf(w, "  MISMATCH with %s: %s\n", printable(o.Expected), printable(o.Error))
			}
		}
	}
	fmt.Fprintf(w, "Time: %.3f s\n", r.Seconds)
}

func numel(s []int) int {
	n := 1
	for _, d := range s {
		n *= d
	}
	return n
}

// indexedFiles lists DIR/kind_0.pb (or .npy), kind_1, ... in index order:
// the indices must run from 0 without a gap, each in one format.
func indexedFiles(dir, kind string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	re := regexp.MustCompile(`^` + kind + `_(0|[1-9][0-9]{0,5})\.(pb|npy)$`)
	byIndex := map[int]string{}
	for _, e := range ents {
		m := re.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		i, _ := strconv.Atoi(m[1])
		if prev, ok := byIndex[i]; ok {
			return nil, fmt.Errorf("%s has both %s and %s: keep one", dir, prev, e.Name())
		}
		byIndex[i] = e.Name()
	}
	files := make([]string, len(byIndex))
	for i := range files {
		name, ok := byIndex[i]
		if !ok {
			return nil, fmt.Errorf("%s has %s files up to index %d but no %s_%d.pb or .npy", dir, kind, slices.Max(intKeys(byIndex)), kind, i)
		}
		files[i] = filepath.Join(dir, name)
	}
	return files, nil
}

func intKeys(m map[int]string) []int {
	out := make([]int, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// graphInputs reads the model's data inputs (the graph inputs that are
// not initializers): their names and declared element types, 0 where the
// file declares none.
func graphInputs(model string) ([]string, []onnx.DType, error) {
	pm, err := onnx.Read(model)
	if err != nil {
		return nil, nil, err
	}
	weights := map[string]bool{}
	for _, t := range pm.Graph.Initializer {
		weights[t.Name] = true
	}
	var (
		names []string
		types []onnx.DType
	)
	for _, v := range pm.Graph.Input {
		if !weights[v.Name] {
			names = append(names, v.Name)
			types = append(types, onnx.DType(v.GetType().GetTensorType().GetElemType()))
		}
	}
	return names, types, nil
}

// writeOutputs writes each tensor to dir/output_N in format f, each file
// atomically; every file is encoded before the first is written, and on
// an error the files this call wrote are removed.
func writeOutputs(dir string, f tensorfile.Format, ts []*onnx.Tensor) ([]string, error) {
	data := make([][]byte, len(ts))
	for i, t := range ts {
		b, err := tensorfile.Encode(t, f)
		if err != nil {
			return nil, fmt.Errorf("output %d (%s): %w", i, t.Name, err)
		}
		data[i] = b
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("--out: %w", err)
	}
	var written []string
	for i, b := range data {
		path := filepath.Join(dir, "output_"+strconv.Itoa(i)+f.Ext())
		err := atomicfile.Write(path, func(w io.Writer) error {
			_, err := w.Write(b)
			return err
		})
		if err != nil {
			for _, p := range written {
				os.Remove(p)
			}
			return nil, err
		}
		written = append(written, path)
	}
	return written, nil
}

// sameFolder reports whether a and b name the same folder.
func sameFolder(a, b string) bool {
	sa, errA := os.Stat(a)
	sb, errB := os.Stat(b)
	if errA == nil && errB == nil {
		return os.SameFile(sa, sb)
	}
	aa, _ := filepath.Abs(a)
	ab, _ := filepath.Abs(b)
	return aa == ab
}
