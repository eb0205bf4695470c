package train

import (
	"math"
	"slices"
	"testing"

	"github.com/lenetkit/lenetkit/mnist"
)

func TestGridShardsCoverEveryCellOnce(t *testing.T) {
	g := Grid{Dropouts: []float64{0, 0.3, 0.5}, WeightDecays: []float64{0, 0.002, 0.01}, Seeds: []uint64{0, 1, 2}}
	cells := g.Cells()
	if len(cells) != 27 || cells[0] != (Cell{0, 0, 0}) || cells[26] != (Cell{0.5, 0.01, 2}) {
		t.Fatalf("%d cells, first %v, last %v", len(cells), cells[0], cells[len(cells)-1])
	}
	for _, n := range []int{1, 2, 4, 27, 30} {
		seen := map[Cell]int{}
		for i := range n {
			part, err := Shard(cells, i, n)
			if err != nil {
				t.Fatal(err)
			}
			if d := len(part) - len(cells)/n; d < 0 || d > 1 {
				t.Errorf("shard %d/%d has %d cells of %d", i, n, len(part), len(cells))
			}
			for _, c := range part {
				seen[c]++
			}
		}
		for _, c := range cells {
			if seen[c] != 1 {
				t.Errorf("%d shards: %s runs %d times", n, c.Name(), seen[c])
			}
		}
	}
	names := map[string]bool{}
	for _, c := range cells {
		names[c.Name()] = true
	}
	if len(names) != len(cells) || !names["dropout0.3-wd0.002-seed1"] {
		t.Errorf("cell names collide or differ: %v", names)
	}
}

func TestParseShard(t *testing.T) {
	for _, tt := range []struct {
		in   string
		i, n int
		ok   bool
	}{
		{"0/2", 0, 2, true}, {"1/2", 1, 2, true}, {"0/1", 0, 1, true},
		{"2/2", 0, 0, false}, {"-1/2", 0, 0, false}, {"1", 0, 0, false}, {"a/b", 0, 0, false}, {"0/0", 0, 0, false},
	} {
		i, n, err := ParseShard(tt.in)
		if (err == nil) != tt.ok || i != tt.i || n != tt.n {
			t.Errorf("ParseShard(%q) = %d, %d, %v", tt.in, i, n, err)
		}
	}
}

func TestGridValidate(t *testing.T) {
	good := Grid{[]float64{0, 0.3}, []float64{0.002}, []uint64{0}}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, g := range []Grid{
		{nil, []float64{0}, []uint64{0}},
		{[]float64{1}, []float64{0}, []uint64{0}},
		{[]float64{0.3}, []float64{-0.1}, []uint64{0}},
		{[]float64{0.3, 0.3}, []float64{0}, []uint64{0}},
		{[]float64{0.3}, []float64{0}, []uint64{1, 1}},
		{[]float64{math.NaN()}, []float64{0}, []uint64{0}},
	} {
		if g.Validate() == nil {
			t.Errorf("%+v accepted", g)
		}
	}
}

func TestSummarize(t *testing.T) {
	rs := []CellResult{
		{Cell{0.3, 0.002, 1}, 99.0, 0.03, 1},
		{Cell{0, 0.01, 0}, 98.0, 0.05, 1},
		{Cell{0.3, 0.002, 0}, 99.2, 0.02, 1},
		{Cell{0.3, 0.002, 2}, 99.1, 0.04, 1},
	}
	sum, err := Summarize(rs)
	if err != nil {
		t.Fatal(err)
	}
	if len(sum) != 2 || sum[0].Dropout != 0 || sum[1].Dropout != 0.3 {
		t.Fatalf("summary %+v", sum)
	}
	s := sum[1]
	if !slices.Equal(s.Seeds, []uint64{0, 1, 2}) || math.Abs(s.AccuracyMean-99.1) > 1e-9 ||
		math.Abs(s.AccuracySD-0.1) > 1e-9 || math.Abs(s.LossMean-0.03) > 1e-12 || math.Abs(s.LossSD-0.01) > 1e-12 {
		t.Errorf("0.3/0.002: %+v; want seeds 0,1,2, accuracy 99.1 ± 0.1, loss 0.03 ± 0.01", s)
	}
	if sum[0].AccuracySD != 0 || sum[0].AccuracyMean != 98 {
		t.Errorf("one seed: %+v", sum[0])
	}
	if _, err := Summarize(append(rs, rs[0])); err == nil {
		t.Error("a run given twice was summarised")
	}
}

// TestSweepSettingsDiff: the settings a sweep compares runs by differ where
// the runs would train differently, and only there.
func TestSweepSettingsDiff(t *testing.T) {
	base := DefaultConfig()
	base.Recipe = RecipeStandard
	with := func(f func(*Config)) Config { c := base; f(&c); return c }
	published := with(func(c *Config) { c.Recipe = RecipePublished })
	for _, tt := range []struct {
		name     string
		was      Config
		wasSteps int
		want     []Difference
	}{
		{"same", base, 429, nil},
		{"epochs", with(func(c *Config) { c.Epochs = 1 }), 429, []Difference{{"epochs", "1", "10"}}},
		{"limit and steps", with(func(c *Config) { c.Limit = 6400 }), 50, []Difference{{"limit", "6400", "0"}}},
		{"recipe and switch point", published, 429, []Difference{{"recipe", "published", "standard"}, {"freeze-bn-after", "79", "none"}}},
		{"lr", with(func(c *Config) { c.LR, c.MaxLR = 1e-3, 0.02 }), 429, []Difference{{"lr", "0.001", "0.0001"}, {"max-lr", "0.02", "0.01"}}},
		{"dropout mode", with(func(c *Config) { c.DropoutMode = DropoutElement }), 429, []Difference{{"dropout-mode", "element", "row"}}},
		{"val size", with(func(c *Config) { c.ValSize = 0 }), 429, []Difference{{"val-size", "0", "5000"}}},
		{"batch", with(func(c *Config) { c.BatchSize = 64 }), 859, []Difference{{"batch-size", "64", "128"}}},
	} {
		got := Diff(tt.was.Settings(tt.wasSteps), base.Settings(429))
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
	// The published recipe's own switch point, and the same step asked for
	// by FreezeBNAfter (as config.json records it), train alike.
	at79 := published
	at79.FreezeBNAfter = PublishedFreezeStep
	if d := Diff(at79.Settings(0), published.Settings(429)); d != nil {
		t.Errorf("switch point 79 given two ways: %v", d)
	}
	notebook := with(func(c *Config) { c.Recipe = RecipeNotebook })
	if d := Diff(notebook.Settings(50), notebook.Settings(429)); len(d) != 1 || d[0].Name != "freeze-bn-after" {
		t.Errorf("notebook recipe over epochs of 50 and 429 steps: %v", d)
	}
	// A setting one record lacks (data, before runs recorded it) is not
	// compared.
	if d := Diff(base.Settings(429), append(base.Settings(429), Setting{"data", "sha256 0123"})); d != nil {
		t.Errorf("a setting one side lacks: %v", d)
	}
}

func TestSweepDataDigest(t *testing.T) {
	set := func(label byte) *mnist.Set {
		return &mnist.Set{Images: make([]byte, 2*4), Labels: []byte{1, label}, N: 2, Rows: 2, Cols: 2}
	}
	a, b := DataDigest(set(3), set(4)), DataDigest(set(3), set(4))
	if a != b || len(a) != 64 {
		t.Fatalf("digest %q then %q", a, b)
	}
	square := &mnist.Set{Images: make([]byte, 2*4), Labels: []byte{1, 4}, N: 2, Rows: 4, Cols: 1}
	for name, d := range map[string]string{
		"a label":           DataDigest(set(3), set(5)),
		"the sets' order":   DataDigest(set(4), set(3)),
		"the images' shape": DataDigest(set(3), square),
		"one set":           DataDigest(set(3)),
	} {
		if d == a {
			t.Errorf("%s changed, the digest did not", name)
		}
	}
}
