package dataset

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/lenetkit/lenetkit/mnist"
)

func TestOpenIDX(t *testing.T) {
	train, test := []byte{0, 3, 1, 3, 2}, []byte{2, 0, 1}
	var letters []byte // EMNIST letters: 1 to 26, class 0 unused
	for l := range 26 {
		letters = append(letters, byte(l+1))
	}
	tests := []struct {
		name    string
		files   func(dir string)
		path    func(dir string) string
		opt     Options
		classes []string
		nTrain  int // -1: not read
		nTest   int
	}{
		{"plain", func(dir string) {
			writeIDX(t, dir, "", "train", train, false)
			writeIDX(t, dir, "", "test", test, true)
		}, nil, Options{}, []string{"0", "1", "2", "3"}, 5, 3},
		{"test only asked", func(dir string) {
			writeIDX(t, dir, "", "train", train, false)
			writeIDX(t, dir, "", "test", test, true)
		}, nil, Options{Parts: TestPart}, []string{"0", "1", "2"}, -1, 3},
		{"test only there, names", func(dir string) { writeIDX(t, dir, "", "test", test, false) },
			nil, Options{Classes: []string{"a", "b", "c", "d"}}, []string{"a", "b", "c", "d"}, -1, 3},
		{"one EMNIST set", func(dir string) {
			writeIDX(t, dir, "emnist-letters-", "train", letters, true)
			writeIDX(t, dir, "emnist-letters-", "test", []byte{26, 1}, true)
		}, nil, Options{}, nil, 26, 2},
		{"EMNIST set named", func(dir string) {
			writeIDX(t, dir, "emnist-letters-", "train", []byte{1, 26, 5}, true)
			writeIDX(t, dir, "emnist-digits-", "train", []byte{1, 2}, true)
		}, func(dir string) string { return filepath.Join(dir, "emnist-digits") }, Options{}, []string{"0", "1", "2"}, 2, -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			tc.files(dir)
			path := dir
			if tc.path != nil {
				path = tc.path(dir)
			}
			d, err := Open(path, tc.opt)
			if err != nil {
				t.Fatal(err)
			}
			if d.Layout != LayoutIDX || d.Name != "" {
				t.Errorf("layout %v, name %q; want IDX of no known set", d.Layout, d.Name)
			}
			if tc.classes != nil && !slices.Equal(d.Classes, tc.classes) {
				t.Errorf("classes %q, want %q", d.Classes, tc.classes)
			}
			if tc.classes == nil && len(d.Classes) != 27 {
				t.Errorf("%d classes, want EMNIST letters' 27", len(d.Classes))
			}
			for _, p := range []struct {
				s *Set
				n int
			}{{d.Train, tc.nTrain}, {d.Test, tc.nTest}} {
				if (p.s == nil) != (p.n < 0) || p.s != nil && p.s.Len() != p.n {
					t.Fatalf("set %v, want %d images", p.s, p.n)
				}
				if p.s == nil {
					continue
				}
				// Image i's pixels are all i: the storage is the file's.
				if p.s.Height != 28 || p.s.Width != 28 || p.s.Pixels(p.n - 1)[400] != byte(p.n-1) {
					t.Errorf("images %dx%d, last one's pixel %d", p.s.Height, p.s.Width, p.s.Pixels(p.n - 1)[400])
				}
				if o := p.s.Origin(1); filepath.Dir(o) != dir || o[len(o)-3:] != "[1]" {
					t.Errorf("image 1 from %q, want a file of %s and [1]", o, dir)
				}
			}
			if d.Eval() != d.Test && d.Test != nil {
				t.Error("Eval is not the test part")
			}
		})
	}
}

func TestOpenIDXErrors(t *testing.T) {
	good := func(dir string) {
		writeIDX(t, dir, "", "train", []byte{0, 1, 2}, false)
		writeIDX(t, dir, "", "test", []byte{0, 1}, false)
	}
	tests := []struct {
		name  string
		setup func(dir string)
		opt   Options
		kind  error
		wants []string
	}{
		{"truncated images", func(dir string) {
			good(dir)
			p := filepath.Join(dir, "t10k-images-idx3-ubyte")
			b, _ := os.ReadFile(p)
			writeFile(t, p, b[:len(b)-100])
		}, Options{}, ErrTruncated, []string{"t10k-images-idx3-ubyte", "truncated"}},
		{"counts disagree", func(dir string) {
			good(dir)
			writeFile(t, filepath.Join(dir, "train-labels-idx1-ubyte"), idx(0x801, []int{2}, []byte{0, 1}))
		}, Options{}, ErrCountMismatch, []string{"train-labels-idx1-ubyte", "2 labels for the 3 images"}},
		{"test part missing", func(dir string) { writeIDX(t, dir, "", "train", []byte{0}, false) },
			Options{Parts: TestPart}, ErrMissingFile, []string{"t10k-images-idx3-ubyte"}},
		{"labels of no classes", func(dir string) {
			writeIDX(t, dir, "", "test", []byte{0, 200, 100, 7}, false)
		}, Options{}, ErrClasses, []string{"up to 200", "197 of those 201 classes"}},
		{"names too few", good, Options{Classes: []string{"a", "b"}}, ErrClassNames, []string{"2 class names", "3 classes"}},
		{"names too many", good, Options{Classes: []string{"a", "b", "c", "d"}}, ErrClassNames, []string{"4 class names"}},
		{"unknown set verified", good, Options{Verify: true}, nil, []string{"checksum mismatch", "--skip-checksum"}},
		{"two sets", func(dir string) {
			writeIDX(t, dir, "a-", "train", []byte{0}, false)
			writeIDX(t, dir, "b-", "test", []byte{0}, false)
		}, Options{}, ErrLayout, []string{"2 IDX sets", "/a or ", "/b"}},
		{"empty", func(string) {}, Options{}, ErrLayout, []string{"neither IDX files"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			tc.setup(dir)
			d, err := Open(dir, tc.opt)
			if err == nil {
				t.Fatalf("Open gave %v, want an error", d)
			}
			var sum *mnist.ChecksumError
			if tc.kind == nil && !errors.As(err, &sum) || tc.kind != nil && !errors.Is(err, tc.kind) {
				t.Fatalf("Open: %v, want %v", err, tc.kind)
			}
			oneLine(t, err, tc.wants...)
		})
	}
}

// TestOpenIDXResize: --prep resize makes an IDX set's images the size
// asked, each as resize makes it (PIL's, TestResizeMatchesPIL), and says
// so; without it they stay as they are.
func TestOpenIDXResize(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(7, 8))
	labels := []byte{3, 1, 4, 1, 5}
	pix := make([]byte, len(labels)*28*28)
	for i := range pix {
		pix[i] = byte(rng.IntN(256))
	}
	writeFile(t, filepath.Join(dir, "t10k-images-idx3-ubyte"), idx(0x803, []int{len(labels), 28, 28}, pix))
	writeFile(t, filepath.Join(dir, "t10k-labels-idx1-ubyte"), idx(0x801, []int{len(labels)}, labels))
	for _, tc := range []struct {
		name string
		opt  Options
		size int
	}{
		{"resize to 32", Options{Prep: PrepResize, Height: 32, Width: 32}, 32},
		{"area to 14", Options{Prep: PrepResizeArea, Height: 14, Width: 14}, 14},
		{"resize, same size", Options{Prep: PrepResize}, 28},
		{"digit", Options{Height: 32, Width: 32}, 28},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := Open(dir, tc.opt)
			if err != nil {
				t.Fatal(err)
			}
			s := d.Test
			if s.Height != tc.size || s.Width != tc.size || s.Len() != len(labels) {
				t.Fatalf("%d images of %dx%d, want %d of %dx%[4]d", s.Len(), s.Height, s.Width, len(labels), tc.size)
			}
			resized := tc.size != 28
			if got := d.ResizedFrom != [2]int{}; got != resized || strings.Contains(d.String(), "resized from 28x28") != resized {
				t.Errorf("ResizedFrom %v, String %q; resized: %v", d.ResizedFrom, d, resized)
			}
			for i := range labels {
				want := resize(pix[i*784:(i+1)*784], 28, 28, tc.size, tc.size, tc.opt.Prep.Area)
				if !bytes.Equal(s.Pixels(i), want) || s.Label(i) != int(labels[i]) {
					t.Fatalf("image %d differs from resize's, or label %d is not %d", i, s.Label(i), labels[i])
				}
			}
		})
	}
}

// TestFirstLabel: EMNIST letters' labels 1 to 26 become classes 0 to 25
// with FirstLabel 1, in both parts, and the lowest label is reported
// either way; a first label above the lowest is refused by name.
func TestFirstLabel(t *testing.T) {
	dir := t.TempDir()
	writeIDX(t, dir, "emnist-letters-", "train", []byte{1, 3, 2, 1}, true)
	writeIDX(t, dir, "emnist-letters-", "test", []byte{2, 1, 3}, true)
	plain, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(plain.Classes) != 4 || plain.LowestLabel != 1 {
		t.Errorf("as read: %d classes, lowest label %d; want 4 and 1", len(plain.Classes), plain.LowestLabel)
	}
	d, err := Open(dir, Options{FirstLabel: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Classes) != 3 || d.LowestLabel != 1 {
		t.Errorf("first label 1: %d classes, lowest label %d; want 3 and 1", len(d.Classes), d.LowestLabel)
	}
	for _, c := range []struct {
		s    *Set
		want []int
	}{{d.Train, []int{0, 2, 1, 0}}, {d.Test, []int{1, 0, 2}}} {
		for i, want := range c.want {
			if got := c.s.Label(i); got != want {
				t.Fatalf("image %d: label %d, want %d", i, got, want)
			}
		}
	}
	if again, err := Open(dir, Options{}); err != nil || len(again.Classes) != 4 {
		t.Errorf("the shift stayed with the files: %v, %v", again, err)
	}
	_, err = Open(dir, Options{FirstLabel: 2})
	if !errors.Is(err, ErrOption) {
		t.Fatalf("first label 2: %v, want ErrOption", err)
	}
	oneLine(t, err, "first label 2", "lowest label is 1")
}
