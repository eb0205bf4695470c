package dataset

import (
	"slices"
	"testing"

	"github.com/lenetkit/lenetkit/internal/testtool"
	"github.com/lenetkit/lenetkit/mnist"
)

// TestFashionMNIST opens the real Fashion-MNIST as --data would: 60,000
// training and 10,000 test images of 28x28 in 10 balanced classes, known by
// checksum, split as the seed's recipe splits MNIST.
func TestFashionMNIST(t *testing.T) {
	if testing.Short() {
		t.Skip("reads 70,000 images; skipped with -short")
	}
	fashionDir := testtool.FashionMNIST(t)
	d, err := Open(fashionDir, Options{Verify: true})
	if err != nil {
		t.Fatal(err)
	}
	if d.Name != "Fashion-MNIST" || d.Layout != LayoutIDX || len(d.Classes) != 10 {
		t.Fatalf("%s: name %q, layout %v, %d classes", fashionDir, d.Name, d.Layout, len(d.Classes))
	}
	for _, p := range []struct {
		s       *Set
		n, each int
	}{{d.Train, 60000, 6000}, {d.Test, 10000, 1000}} {
		if p.s.Len() != p.n || p.s.Height != 28 || p.s.Width != 28 {
			t.Errorf("%d images of %dx%d, want %d of 28x28", p.s.Len(), p.s.Height, p.s.Width, p.n)
		}
		if c := p.s.Counts(); !slices.Equal(c, slices.Repeat([]int{p.each}, 10)) {
			t.Errorf("class counts %v, want %d each", c, p.each)
		}
	}
	if d.Eval() != d.Test {
		t.Error("an evaluation would not measure the test part")
	}
	// The storage is mnist's, unconverted: the same pixels and labels.
	m, err := mnist.Load(fashionDir, "test", mnist.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := d.Test.MNIST(); err != nil || !slices.Equal(got.Images, m.Images) || !slices.Equal(got.Labels, m.Labels) {
		t.Errorf("the test part differs from mnist.Load's (%v)", err)
	}
	train, val, err := d.Train.Split(Val{Count: 5000}, 0)
	if err != nil {
		t.Fatal(err)
	}
	wantTr, wantVa, _ := mnist.Split(60000, 5000, 0)
	if train.Len() != 55000 || val.Len() != 5000 || !slices.Equal(train.idx, wantTr) || !slices.Equal(val.idx, wantVa) {
		t.Errorf("split %d/%d, not mnist.Split's", train.Len(), val.Len())
	}
}
