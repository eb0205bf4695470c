package dataset

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/lenetkit/lenetkit/mnist"
)

func TestParseVal(t *testing.T) {
	tests := []struct {
		in   string
		want Val
		size int // of 60,000
		ok   bool
	}{
		{"5000", Val{Count: 5000}, 5000, true},
		{"0", Val{}, 0, true},
		{"0.1", Val{Fraction: 0.1}, 6000, true},
		{"12.5%", Val{Fraction: 0.125}, 7500, true},
		{"60000", Val{Count: 60000}, 0, false}, // leaves nothing to train on
		{"-3", Val{}, 0, false},
		{"1.5", Val{}, 0, false},
		{"100%", Val{}, 0, false},
		{"many", Val{}, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			v, err := ParseVal(tc.in)
			if err == nil {
				var size int
				size, err = v.Size(60000)
				if err == nil && (v != tc.want || size != tc.size) {
					t.Errorf("got %+v, size %d; want %+v, %d", v, size, tc.want, tc.size)
				}
			}
			if (err == nil) != tc.ok || err != nil && !errors.Is(err, ErrOption) {
				t.Errorf("error %v, want ok %v", err, tc.ok)
			}
		})
	}
}

// TestSplitIsMNISTs: a split of a part is mnist.Split's, so that MNIST's
// 60,000 split 55,000/5,000 as the seed's recipe does; the two sides share
// no image and cover the part.
func TestSplitIsMNISTs(t *testing.T) {
	const n = 50
	labels := make([]byte, n)
	for i := range labels {
		labels[i] = byte(i % 4)
	}
	dir := t.TempDir()
	writeIDX(t, dir, "", "train", labels, false)
	d, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []Val{{Count: 7}, {Fraction: 0.2}, {}} {
		train, val, err := d.Train.Split(v, 42)
		if err != nil {
			t.Fatal(err)
		}
		size, _ := v.Size(n)
		wantTr, wantVa, _ := mnist.Split(n, size, 42)
		var seen []int
		for k, want := range wantTr {
			// Image i's pixels are all i (writeIDX).
			if got := int(train.Pixels(k)[0]); got != want || train.Label(k) != int(labels[want]) {
				t.Fatalf("%v: train image %d is %d, want %d", v, k, got, want)
			}
			seen = append(seen, want)
		}
		for k, want := range wantVa {
			if got := int(val.Pixels(k)[0]); got != want {
				t.Fatalf("%v: validation image %d is %d, want %d", v, k, got, want)
			}
			seen = append(seen, want)
		}
		slices.Sort(seen)
		if len(seen) != n || slices.Compact(seen)[n-1] != n-1 || val.Len() != size {
			t.Errorf("%v: the split does not cover the part once", v)
		}
		if o := train.Origin(0); o != filepath.Join(dir, "train-images-idx3-ubyte")+"["+itoa(wantTr[0])+"]" {
			t.Errorf("origin %s", o)
		}
	}
}

func itoa(i int) string { return string(rune('0'+i/10)) + string(rune('0'+i%10)) }

func TestReadClassNames(t *testing.T) {
	tests := []struct {
		name, text string
		want       []string
		err        string
	}{
		{"plain", "T-shirt/top\nTrouser\r\nPullover\n\n\n", []string{"T-shirt/top", "Trouser", "Pullover"}, ""},
		{"spaces kept inside", "  ankle boot \nbag", []string{"ankle boot", "bag"}, ""},
		{"empty", "\n\n", nil, "no class names"},
		{"blank between", "a\n\nb\n", nil, "line 2 is blank"},
		{"twice", "a\nb\na\n", nil, `lines 1 and 3 both name "a"`},
		{"control", "a\x1b[31m\n", nil, "control character"},
	}
	dir := t.TempDir()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, "names.txt")
			if err := os.WriteFile(p, []byte(tc.text), 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := ReadClassNames(p)
			if tc.err != "" {
				if !errors.Is(err, ErrClassNames) {
					t.Fatalf("got %q, %v; want a class names error", got, err)
				}
				oneLine(t, err, p, tc.err)
				return
			}
			if err != nil || !slices.Equal(got, tc.want) {
				t.Errorf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
	if _, err := ReadClassNames(filepath.Join(dir, "none")); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing file: %v", err)
	}
}
