package train

import (
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/lenetkit/lenetkit/mnist"
	"github.com/lenetkit/lenetkit/modelfile"
)

// A Grid is the study the seed set out to make: every combination of
// dropout and weight decay, each trained once per seed.
type Grid struct {
	Dropouts     []float64
	WeightDecays []float64
	Seeds        []uint64
}

// A Cell is one training run of a Grid.
type Cell struct {
	Dropout     float64 `json:"dropout"`
	WeightDecay float64 `json:"weight_decay"`
	Seed        uint64  `json:"seed"`
}

// Name is the cell's directory name, the same on every machine, so that
// slices of a sweep run apart can be merged and an interrupted one resumed.
func (c Cell) Name() string {
	return fmt.Sprintf("dropout%s-wd%s-seed%d", fmtFloat(c.Dropout), fmtFloat(c.WeightDecay), c.Seed)
}

func fmtFloat(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// Validate refuses empty axes, repeated values and values no training run
// accepts.
func (g Grid) Validate() error {
	if len(g.Dropouts) == 0 || len(g.WeightDecays) == 0 || len(g.Seeds) == 0 {
		return fmt.Errorf("sweep: the grid needs at least one dropout, weight decay and seed")
	}
	// Before Cells builds it; each factor is at most the bound, so the
	// products cannot overflow.
	if n := len(g.Dropouts); n > modelfile.MaxGridCells || n*len(g.WeightDecays) > modelfile.MaxGridCells ||
		len(g.WeightDecays) > modelfile.MaxGridCells || len(g.Seeds) > modelfile.MaxGridCells ||
		n*len(g.WeightDecays)*len(g.Seeds) > modelfile.MaxGridCells {
		return fmt.Errorf("sweep: %d dropouts x %d weight decays x %d seeds is more than %d runs: split the study into several sweeps",
			len(g.Dropouts), len(g.WeightDecays), len(g.Seeds), modelfile.MaxGridCells)
	}
	for _, d := range g.Dropouts {
		if d < 0 || d >= 1 || math.IsNaN(d) {
			return fmt.Errorf("sweep: dropout %g outside [0, 1)", d)
		}
	}
	for _, w := range g.WeightDecays {
		if !(w >= 0 && w <= modelfile.MaxWeightDecay) {
			return fmt.Errorf("sweep: weight decay %g, want a number in [0, %d]", w, modelfile.MaxWeightDecay)
		}
	}
	if hasDup(g.Dropouts) || hasDup(g.WeightDecays) || hasDup(g.Seeds) {
		return fmt.Errorf("sweep: a value is repeated in the grid")
	}
	return nil
}

func hasDup[T comparable](xs []T) bool {
	seen := make(map[T]bool, len(xs))
	for _, x := range xs {
		if seen[x] {
			return true
		}
		seen[x] = true
	}
	return false
}

// Cells lists the grid's runs, dropout slowest and seed fastest.
func (g Grid) Cells() []Cell {
	var cells []Cell
	for _, d := range g.Dropouts {
		for _, w := range g.WeightDecays {
			for _, s := range g.Seeds {
				cells = append(cells, Cell{d, w, s})
			}
		}
	}
	return cells
}

// Shard returns the i-th (from 0) of n slices of cells: every n-th cell from
// the i-th, so that each slice gets a share of every configuration and
// slices take about as long as each other. Together the n slices hold every
// cell once.
func Shard(cells []Cell, i, n int) ([]Cell, error) {
	if n < 1 || i < 0 || i >= n {
		return nil, fmt.Errorf("sweep: shard %d/%d: want 0 <= I < N", i, n)
	}
	var out []Cell
	for k := i; k < len(cells); k += n {
		out = append(out, cells[k])
	}
	return out, nil
}

// ParseShard reads "I/N".
func ParseShard(s string) (i, n int, err error) {
	a, b, ok := strings.Cut(s, "/")
	if ok {
		i, err = strconv.Atoi(a)
		if err == nil {
			n, err = strconv.Atoi(b)
		}
	}
	if !ok || err != nil || n < 1 || i < 0 || i >= n {
		return 0, 0, fmt.Errorf("shard %q: want I/N with 0 <= I < N, e.g. 0/4", s)
	}
	return i, n, nil
}

// A CellResult is a finished run's test figures under the seed's protocol.
type CellResult struct {
	Cell
	Accuracy float64 `json:"accuracy"` // percent
	Loss     float64 `json:"loss"`
	Seconds  float64 `json:"seconds"`
}

// Validate refuses figures no run gives: a result.json is input (sweep
// collect reads other machines' runs), and one accuracy of 500 % or a
// negative loss would skew every mean of the table.
func (r CellResult) Validate() error {
	finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	switch {
	case !(r.Dropout >= 0 && r.Dropout < 1):
		return fmt.Errorf("dropout %g outside [0, 1)", r.Dropout)
	case !(r.WeightDecay >= 0 && r.WeightDecay <= modelfile.MaxWeightDecay):
		return fmt.Errorf("weight decay %g outside [0, %d]", r.WeightDecay, modelfile.MaxWeightDecay)
	case !(r.Accuracy >= 0 && r.Accuracy <= 100):
		return fmt.Errorf("accuracy %g %% outside [0, 100]", r.Accuracy)
	case !finite(r.Loss) || r.Loss < 0:
		return fmt.Errorf("loss %g is not a finite number >= 0", r.Loss)
	case !finite(r.Seconds) || r.Seconds < 0:
		return fmt.Errorf("seconds %g is not a finite number >= 0", r.Seconds)
	}
	return nil
}

// A Summary is one configuration's figures over its seeds.
type Summary struct {
	Dropout      float64  `json:"dropout"`
	WeightDecay  float64  `json:"weight_decay"`
	Seeds        []uint64 `json:"seeds"`
	AccuracyMean float64  `json:"accuracy_mean"`
	AccuracySD   float64  `json:"accuracy_sd"`
	LossMean     float64  `json:"loss_mean"`
	LossSD       float64  `json:"loss_sd"`
}

// Summarize groups results by configuration, in the order of dropout then
// weight decay. The sd is the sample standard deviation (n-1), 0 for one
// seed. A cell repeated in results is an error: merged slices overlapped.
func Summarize(results []CellResult) ([]Summary, error) {
	type key struct{ d, w float64 }
	groups := map[key][]CellResult{}
	seen := map[Cell]bool{}
	for _, r := range results {
		if seen[r.Cell] {
			return nil, fmt.Errorf("sweep: run %s appears twice", r.Cell.Name())
		}
		seen[r.Cell] = true
		k := key{r.Dropout, r.WeightDecay}
		groups[k] = append(groups[k], r)
	}
	var out []Summary
	for k, rs := range groups {
		slices.SortFunc(rs, func(a, b CellResult) int { return cmp.Compare(a.Seed, b.Seed) })
		s := Summary{Dropout: k.d, WeightDecay: k.w}
		acc := make([]float64, len(rs))
		loss := make([]float64, len(rs))
		for i, r := range rs {
			s.Seeds = append(s.Seeds, r.Seed)
			acc[i], loss[i] = r.Accuracy, r.Loss
		}
		s.AccuracyMean, s.AccuracySD = meanSD(acc)
		s.LossMean, s.LossSD = meanSD(loss)
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b Summary) int {
		if c := cmp.Compare(a.Dropout, b.Dropout); c != 0 {
			return c
		}
		return cmp.Compare(a.WeightDecay, b.WeightDecay)
	})
	return out, nil
}

func meanSD(xs []float64) (mean, sd float64) {
	for _, x := range xs {
		mean += x
	}
	mean /= float64(len(xs))
	if len(xs) < 2 {
		return mean, 0
	}
	for _, x := range xs {
		sd += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(sd / float64(len(xs)-1))
}

// A Setting is one thing a run's result depends on, named as lenetkit's
// flags name it, with its value as text: what a sweep compares a run it
// finds with the run it asks for.
type Setting struct{ Name, Value string }

// Settings lists what the result of a run of c depends on besides its
// data, for a run of stepsPerEpoch steps an epoch. The switch to eval mode
// is the step it happens at ("none" for never), so that a recipe's own
// point and the same point set by FreezeBNAfter compare equal: they train
// alike.
func (c Config) Settings(stepsPerEpoch int) []Setting {
	freeze := "none"
	if n, ok := c.FreezePoint(stepsPerEpoch); ok {
		freeze = strconv.Itoa(n)
	}
	return []Setting{
		{"epochs", strconv.Itoa(c.Epochs)},
		{"batch-size", strconv.Itoa(c.BatchSize)},
		{"lr", fmtFloat(c.LR)},
		{"max-lr", fmtFloat(c.MaxLR)},
		{"weight-decay", fmtFloat(c.WeightDecay)},
		{"dropout", fmtFloat(c.Dropout)},
		{"dropout-mode", string(c.DropoutMode)},
		{"seed", strconv.FormatUint(c.Seed, 10)},
		{"val-size", strconv.Itoa(c.ValSize)},
		{"limit", strconv.Itoa(c.Limit)},
		{"recipe", string(c.Recipe)},
		{"freeze-bn-after", freeze},
	}
}

// A Difference is a setting two runs do not share.
type Difference struct{ Name, Was, Want string }

// Diff lists the settings whose values differ between was and want, in
// want's order. A setting only one side names is not compared: a record
// made before that setting was kept says nothing about it.
func Diff(was, want []Setting) []Difference {
	old := make(map[string]string, len(was))
	for _, s := range was {
		old[s.Name] = s.Value
	}
	var out []Difference
	for _, s := range want {
		if v, ok := old[s.Name]; ok && v != s.Value {
			out = append(out, Difference{s.Name, v, s.Value})
		}
	}
	return out
}

// DataDigest identifies the images and labels of sets, in order: the
// SHA-256 of their sizes and contents, in hex. Two runs with the same
// settings and the same digest train alike; a path would not tell, since
// --skip-checksum reads any IDX files.
func DataDigest(sets ...*mnist.Set) string {
	h := sha256.New()
	for _, s := range sets {
		if s == nil {
			continue
		}
		var dims [24]byte
		binary.LittleEndian.PutUint64(dims[0:], uint64(s.N))
		binary.LittleEndian.PutUint64(dims[8:], uint64(s.Rows))
		binary.LittleEndian.PutUint64(dims[16:], uint64(s.Cols))
		h.Write(dims[:])
		h.Write(s.Images)
		h.Write(s.Labels)
	}
	return hex.EncodeToString(h.Sum(nil))
}
