package train

import (
	"math"
	"slices"
	"testing"
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
