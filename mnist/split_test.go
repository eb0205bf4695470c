package mnist

import (
	"slices"
	"testing"
)

func TestSplit(t *testing.T) {
	tests := []struct{ n, val int }{
		{60000, 5000},
		{10, 3},
		{10, 0},
		{10, 10},
		{0, 0},
	}
	for _, tt := range tests {
		train, val, err := Split(tt.n, tt.val, 42)
		if err != nil {
			t.Fatalf("Split(%d, %d): %v", tt.n, tt.val, err)
		}
		if len(train) != tt.n-tt.val || len(val) != tt.val {
			t.Errorf("Split(%d, %d): %d train, %d val", tt.n, tt.val, len(train), len(val))
		}
		// Together the two parts hold each index once: disjoint and complete.
		all := slices.Sorted(slices.Values(append(slices.Clone(train), val...)))
		for i, v := range all {
			if v != i {
				t.Fatalf("Split(%d, %d): sorted union has %d at position %d", tt.n, tt.val, v, i)
			}
		}
		train2, val2, _ := Split(tt.n, tt.val, 42)
		if !slices.Equal(train, train2) || !slices.Equal(val, val2) {
			t.Errorf("Split(%d, %d) differs between two calls with the same seed", tt.n, tt.val)
		}
	}

	a, _, _ := Split(60000, 5000, 1)
	b, _, _ := Split(60000, 5000, 2)
	if slices.Equal(a, b) {
		t.Error("seeds 1 and 2 give the same split")
	}
	if slices.IsSorted(a) {
		t.Error("the training part is in order, not drawn at random")
	}
	// Appending to the training part must not overwrite the validation part.
	train, val, _ := Split(10, 3, 7)
	before := slices.Clone(val)
	_ = append(train, -1)
	if !slices.Equal(val, before) {
		t.Error("appending to train changed val")
	}
}

func TestSplitErrors(t *testing.T) {
	for _, tt := range []struct{ n, val int }{{10, 11}, {10, -1}, {-1, 0}} {
		_, _, err := Split(tt.n, tt.val, 0)
		checkOneLine(t, err, "cannot split")
	}
}

func TestShuffle(t *testing.T) {
	base, _, _ := Split(55000, 0, 9)
	slices.Sort(base)
	order := func(seed uint64, epoch int) []int {
		idx := slices.Clone(base)
		Shuffle(idx, seed, epoch)
		return idx
	}
	e0, e1 := order(5, 0), order(5, 1)
	if !slices.Equal(e0, order(5, 0)) {
		t.Error("the same seed and epoch give different orders")
	}
	if slices.Equal(e0, e1) {
		t.Error("epochs 0 and 1 give the same order")
	}
	if slices.Equal(e0, order(6, 0)) {
		t.Error("seeds 5 and 6 give the same order")
	}
	if slices.Equal(e0, base) {
		t.Error("Shuffle left the order unchanged")
	}
	if !slices.Equal(slices.Sorted(slices.Values(e0)), base) {
		t.Error("Shuffle lost or duplicated indices")
	}
}

func TestBatches(t *testing.T) {
	seq := func(n int) []int {
		s := make([]int, n)
		for i := range s {
			s[i] = i
		}
		return s
	}
	tests := []struct {
		n, size int
		want    int // full batches, drop_last
	}{
		{55000, 128, 429}, // the recipe's 429 steps per epoch
		{5000, 128, 39},
		{10000, 128, 78}, // the seed's 78 test batches
		{9, 3, 3},
		{10, 3, 3},
		{2, 3, 0},
		{5, 0, 0},
	}
	for _, tt := range tests {
		idx := seq(tt.n)
		got := 0
		for b, batch := range Batches(idx, tt.size) {
			if b != got {
				t.Errorf("n=%d size=%d: batch numbered %d, want %d", tt.n, tt.size, b, got)
			}
			if !slices.Equal(batch, idx[b*tt.size:(b+1)*tt.size]) {
				t.Errorf("n=%d size=%d: batch %d = %v...", tt.n, tt.size, b, batch[:1])
			}
			got++
		}
		if got != tt.want {
			t.Errorf("n=%d size=%d: %d batches, want %d", tt.n, tt.size, got, tt.want)
		}
	}
	n := 0
	for range Batches(seq(100), 10) {
		if n++; n == 2 {
			break
		}
	}
	if n != 2 {
		t.Errorf("break after 2 batches ran %d", n)
	}
}
