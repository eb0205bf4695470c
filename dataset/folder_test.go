package dataset

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// makeFolder writes an image folder of three classes, in every format, with
// a file that is no image by its name and a hidden folder, and returns its
// root.
func makeFolder(t *testing.T) string {
	root := t.TempDir()
	files := []string{
		"cat/b.png", "cat/a.jpg", "cat/deeper/c.gif",
		"dog/x.bmp", "dog/y.PNG",
		"ant/only.jpeg",
	}
	for k, f := range files {
		encode(t, filepath.Join(root, f), stroke(40, 30, k))
	}
	writeFile(t, filepath.Join(root, "dog", "notes.txt"), []byte("not an image"))
	encode(t, filepath.Join(root, ".ipynb_checkpoints", "z.png"), stroke(40, 30, 0))
	writeFile(t, filepath.Join(root, "README"), []byte("top-level files are no class"))
	return root
}

func TestOpenFolder(t *testing.T) {
	root := makeFolder(t)
	tests := []struct {
		name string
		opt  Options
		h, w int
	}{
		{"digit", Options{}, 28, 28},
		{"digit padded", Options{Height: 32, Width: 32}, 32, 32},
		{"resize", Options{Prep: PrepResize, Height: 16, Width: 20}, 16, 20},
		{"resize area", Options{Prep: PrepResizeArea, Height: 15, Width: 20}, 15, 20},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := Open(root, tc.opt)
			if err != nil {
				t.Fatal(err)
			}
			if d.Layout != LayoutFolder || d.Test != nil || d.Eval() != d.Train {
				t.Fatalf("layout %v, test %v: want a folder's one set", d.Layout, d.Test)
			}
			if want := []string{"ant", "cat", "dog"}; !slices.Equal(d.Classes, want) {
				t.Errorf("classes %q, want %q", d.Classes, want)
			}
			s := d.Train
			if s.Height != tc.h || s.Width != tc.w || s.Len() != 6 {
				t.Fatalf("%d images of %dx%d, want 6 of %dx%d", s.Len(), s.Height, s.Width, tc.h, tc.w)
			}
			wantOrigins := []string{"ant/only.jpeg", "cat/a.jpg", "cat/b.png", "cat/deeper/c.gif", "dog/x.bmp", "dog/y.PNG"}
			for i, o := range wantOrigins {
				if got := s.Origin(i); got != filepath.Join(root, o) {
					t.Errorf("image %d from %s, want %s", i, got, o)
				}
			}
			if !slices.Equal(s.Counts(), []int{1, 3, 2}) || s.Label(0) != 0 || s.Label(5) != 2 {
				t.Errorf("counts %v, labels %d, %d; want [1 3 2], 0, 2", s.Counts(), s.Label(0), s.Label(5))
			}
			if !slices.Equal(d.Skipped, []string{filepath.Join(root, "dog", "notes.txt")}) {
				t.Errorf("skipped %q, want dog/notes.txt alone", d.Skipped)
			}
			// Digits are light ink on a dark background, as MNIST's;
			// resized pictures keep their white paper and dark bar.
			for i := range s.Len() {
				p := s.Pixels(i)
				paper, ink := p[0] == 0 && p[len(p)-1] <= 8, slices.Max(p) >= 200
				if tc.opt.Prep.Resize {
					paper, ink = p[0] >= 250 && p[len(p)-1] >= 250, slices.Min(p) <= 60
				}
				if !paper || !ink {
					t.Errorf("image %d: corners %d, %d, range %d-%d: not paper with a stroke", i, p[0], p[len(p)-1], slices.Min(p), slices.Max(p))
				}
			}
		})
	}
}

func TestOpenFolderErrors(t *testing.T) {
	tests := []struct {
		name  string
		setup func(root string)
		opt   Options
		kind  error
		wants []string
	}{
		{"missing", func(root string) { os.RemoveAll(root) }, Options{}, ErrNotFound, []string{"no such file"}},
		{"no classes", func(root string) {
			os.RemoveAll(filepath.Join(root, "a"))
			writeFile(t, filepath.Join(root, "a.png"), nil)
		}, Options{}, ErrLayout, []string{"class folders"}},
		{"empty class", func(root string) {
			os.Mkdir(filepath.Join(root, "b"), 0o755)
			writeFile(t, filepath.Join(root, "b", "x.txt"), nil)
		}, Options{}, ErrEmptyClass, []string{"b", "no PNG", "1 other files"}},
		{"text as PNG", func(root string) { writeFile(t, filepath.Join(root, "a", "bad.png"), []byte("hello")) }, Options{}, ErrNotImage, []string{"bad.png", "not a PNG, JPEG, GIF or BMP image", "remove it"}},
		{"truncated PNG", func(root string) {
			b, _ := os.ReadFile(filepath.Join(root, "a", "1.png"))
			writeFile(t, filepath.Join(root, "a", "cut.png"), b[:len(b)/2])
		}, Options{}, ErrNotImage, []string{"cut.png", "truncated"}},
		{"blank digit", func(root string) {
			img := stroke(20, 20, 0)
			for i := range img.Pix {
				img.Pix[i] = 255
			}
			encode(t, filepath.Join(root, "a", "white.png"), img)
		}, Options{}, ErrBlank, []string{"white.png", "--prep resize"}},
		{"too few names", func(string) {}, Options{Classes: []string{"x", "y"}}, ErrClassNames, []string{"2 class names", "1 class folders"}},
		{"digit too small", func(string) {}, Options{Height: 20, Width: 20}, ErrOption, []string{"20x20", "resize"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := filepath.Join(t.TempDir(), "data")
			encode(t, filepath.Join(root, "a", "1.png"), stroke(30, 30, 1))
			tc.setup(root)
			d, err := Open(root, tc.opt)
			if !errors.Is(err, tc.kind) {
				t.Fatalf("Open: %v (data %v), want %v", err, d, tc.kind)
			}
			oneLine(t, err, tc.wants...)
		})
	}
}

// TestBlankAcceptedByResize: an image digit preparation refuses is a
// picture like any other to resize.
func TestBlankAcceptedByResize(t *testing.T) {
	root := t.TempDir()
	img := stroke(20, 20, 0)
	for i := range img.Pix {
		img.Pix[i] = 255
	}
	encode(t, filepath.Join(root, "white", "w.png"), img)
	d, err := Open(root, Options{Prep: PrepResize})
	if err != nil {
		t.Fatal(err)
	}
	if p := d.Train.Pixels(0); p[0] != 255 || slices.Min(p) != 255 {
		t.Errorf("white resized to min %d, want all 255", slices.Min(p))
	}
}

// TestClassesByNumber: digit folders lacking some digits keep each digit's
// label with ClassesByNumber; without it the labels are the folders'
// places, as torchvision's; names that are not all numbers are places.
func TestClassesByNumber(t *testing.T) {
	tests := []struct {
		folders []string
		byNum   bool
		classes []string
		labels  []int
	}{
		{[]string{"0", "2", "9"}, true, []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}, []int{0, 2, 9}},
		{[]string{"0", "2", "9"}, false, []string{"0", "2", "9"}, []int{0, 1, 2}},
		{[]string{"1", "10", "2"}, true, []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10"}, []int{1, 10, 2}},
		{[]string{"0", "02"}, true, []string{"0", "02"}, []int{0, 1}},
		{[]string{"1", "cat"}, true, []string{"1", "cat"}, []int{0, 1}},
	}
	for _, tc := range tests {
		root := t.TempDir()
		for k, f := range tc.folders {
			encode(t, filepath.Join(root, f, "a.png"), stroke(30, 30, k))
		}
		d, err := Open(root, Options{ClassesByNumber: tc.byNum})
		if err != nil {
			t.Fatal(err)
		}
		var labels []int
		for i := range d.Train.Len() {
			labels = append(labels, d.Train.Label(i))
		}
		if !slices.Equal(d.Classes, tc.classes) || !slices.Equal(labels, tc.labels) {
			t.Errorf("%q (by number %v): classes %q, labels %v; want %q, %v", tc.folders, tc.byNum, d.Classes, labels, tc.classes, tc.labels)
		}
	}
}

// TestModelClasses: with a model's class names, class folders take the
// label of their name among them, whatever folders there are; --labels
// (Classes) and folders numbered for ClassesByNumber still rule, --labels
// by name where it names every folder; a folder
// of no class of the model is refused naming it; an IDX set's numbered
// classes take the names when their count fits.
func TestModelClasses(t *testing.T) {
	model := []string{"one", "seven", "zero"}
	tests := []struct {
		folders []string
		opt     Options
		classes []string
		labels  []int
	}{
		{[]string{"seven", "zero"}, Options{ModelClasses: model}, model, []int{1, 2}},
		{[]string{"one", "seven", "zero"}, Options{ModelClasses: model}, model, []int{0, 1, 2}},
		{[]string{"b", "a"}, Options{ModelClasses: []string{"b", "c", "a"}}, []string{"b", "c", "a"}, []int{2, 0}},
		{[]string{"seven", "zero"}, Options{ModelClasses: model, Classes: []string{"x", "y"}}, []string{"x", "y"}, []int{0, 1}},
		// --labels naming the folders: by name, a few of them, any order.
		{[]string{"c", "x"}, Options{Classes: []string{"x", "b", "c", "d"}}, []string{"x", "b", "c", "d"}, []int{2, 0}},
		{[]string{"a", "b"}, Options{Classes: []string{"b", "a"}}, []string{"b", "a"}, []int{1, 0}},
		{[]string{"2", "9"}, Options{ModelClasses: []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}, ClassesByNumber: true},
			[]string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}, []int{2, 9}},
	}
	for _, tc := range tests {
		root := t.TempDir()
		for k, f := range tc.folders {
			encode(t, filepath.Join(root, f, "a.png"), stroke(30, 30, k))
		}
		d, err := Open(root, tc.opt)
		if err != nil {
			t.Fatalf("%q: %v", tc.folders, err)
		}
		var labels []int
		for i := range d.Train.Len() {
			labels = append(labels, d.Train.Label(i))
		}
		// ReadDir sorts the folders: the labels follow the sorted names.
		if !slices.Equal(d.Classes, tc.classes) || !slices.Equal(labels, tc.labels) {
			t.Errorf("%q, %+v: classes %q, labels %v; want %q, %v", tc.folders, tc.opt, d.Classes, labels, tc.classes, tc.labels)
		}
	}

	root := t.TempDir()
	for _, f := range []string{"eight", "zero"} {
		encode(t, filepath.Join(root, f, "a.png"), stroke(30, 30, 1))
	}
	_, err := Open(root, Options{ModelClasses: model})
	if !errors.Is(err, ErrClassNames) {
		t.Fatalf("a folder of no class of the model: %v, want ErrClassNames", err)
	}
	oneLine(t, err, "eight", `none of the model's 3 classes ("one", "seven", "zero")`, "--labels")

	dir := t.TempDir()
	writeIDX(t, dir, "", "test", []byte{0, 2, 1}, false)
	for _, c := range []struct {
		model, want []string
	}{
		{model, model},
		{[]string{"a", "b", "c", "d"}, []string{"a", "b", "c", "d"}}, // the test part alone may lack the last class
		{[]string{"a", "b"}, []string{"0", "1", "2"}},                // too few: numbers, for the caller's count check
	} {
		d, err := Open(dir, Options{ModelClasses: c.model, Parts: TestPart})
		if err != nil {
			t.Errorf("IDX with %q: %v", c.model, err)
		} else if !slices.Equal(d.Classes, c.want) {
			t.Errorf("IDX with %q: classes %q, want %q", c.model, d.Classes, c.want)
		}
	}
}

// TestSplitFolder: train/ and test/ (or val/) of class folders are the two
// parts of one data set, the classes train/'s, test/'s folders labelled
// by name; val/ beside test/ is the validation part; Parts reads one of
// train and test; anything else named so is class folders as before.
func TestSplitFolder(t *testing.T) {
	write := func(root string, files ...string) {
		for k, f := range files {
			encode(t, filepath.Join(root, f), stroke(30, 30, k))
		}
	}
	labelsOf := func(s *Set) []int {
		var l []int
		for i := range s.Len() {
			l = append(l, s.Label(i))
		}
		return l
	}
	root := t.TempDir()
	write(root, "train/cat/1.png", "train/cat/2.png", "train/dog/1.png", "test/dog/1.png", "test/dog/2.png", "val/cat/1.png")
	d, err := Open(root, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(d.Classes, []string{"cat", "dog"}) || d.Test == nil || d.Val == nil || !slices.Equal(labelsOf(d.Train), []int{0, 0, 1}) ||
		!slices.Equal(labelsOf(d.Test), []int{1, 1}) || !slices.Equal(labelsOf(d.Val), []int{0}) || d.Eval() != d.Test ||
		d.TestFolder != "test" || d.ValFolder != "val" {
		t.Errorf("classes %q, train %v, val %v, test %v, folders %q %q", d.Classes, labelsOf(d.Train), d.Val, d.Test, d.TestFolder, d.ValFolder)
	}
	if got := d.String(); got != "image folder "+root+" (2 classes, train/, val/ and test/)" {
		t.Errorf("String: %q", got)
	}
	if d, err := Open(root, Options{Parts: TestPart}); err != nil || d.Train != nil || d.Val != nil || d.Test.Len() != 2 {
		t.Errorf("TestPart: %v, %+v", err, d)
	}
	if d, err := Open(root, Options{Parts: TrainPart}); err != nil || d.Test != nil || d.Val != nil || d.Train.Len() != 3 {
		t.Errorf("TrainPart: %v, %+v", err, d)
	}
	write(root, "valid/cat/1.png")
	if d, err := Open(root, Options{}); err != nil || d.String() != "image folder "+root+" (2 classes, train/, val/ and test/, valid/ left out)" {
		t.Errorf("a fourth part: %v, %v", err, d)
	}
	// The model's names label both parts.
	if d, err := Open(root, Options{ModelClasses: []string{"dog", "bird", "cat"}}); err != nil ||
		!slices.Equal(labelsOf(d.Train), []int{2, 2, 0}) || !slices.Equal(labelsOf(d.Test), []int{0, 0}) {
		t.Errorf("with the model's classes: %v, %+v", err, d)
	}

	val := t.TempDir()
	write(val, "train/a/1.png", "train/b/1.png", "val/a/1.png")
	if d, err := Open(val, Options{}); err != nil || d.TestFolder != "val" || d.ValFolder != "" || d.Val != nil || d.Test.Len() != 1 {
		t.Errorf("train/ and val/: %v, %+v", err, d)
	}

	stray := t.TempDir()
	write(stray, "train/a/1.png", "test/c/1.png")
	_, err = Open(stray, Options{})
	if !errors.Is(err, ErrClassNames) {
		t.Fatalf("a test class train/ lacks: %v, want ErrClassNames", err)
	}
	oneLine(t, err, filepath.Join(stray, "test", "c"), `train/ has none of ("a")`)

	for _, files := range [][]string{
		{"train/1.png", "test/1.png"},                    // classes named train and test
		{"train/a/1.png", "cat/1.png"},                   // a class beside train
		{"train/a/1.png", "train/b.png", "test/a/1.png"}, // train/ holds an image: a class
	} {
		root := t.TempDir()
		write(root, files...)
		d, err := Open(root, Options{})
		if err != nil || d.Test != nil || d.TestFolder != "" {
			t.Errorf("%q: %v, test part %v; want class folders alone", files, err, d.Test)
		}
	}
}
