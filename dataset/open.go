package dataset

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/lenetkit/lenetkit/mnist"
)

// Layout is the form of data Open found.
type Layout int

const (
	LayoutIDX    Layout = iota // an IDX file pair per part
	LayoutFolder               // class folders of image files
)

func (l Layout) String() string {
	if l == LayoutFolder {
		return "image folder"
	}
	return "IDX"
}

// Parts selects the parts of an IDX set Open reads.
type Parts int

const (
	// AllParts reads the train and the test pair, whichever the directory
	// holds (at least one).
	AllParts Parts = iota
	// TestPart reads only the test pair (t10k-...), which must be there:
	// what an evaluation needs.
	TestPart
	// TrainPart reads only the training pair, which must be there.
	TrainPart
)

// Options say how Open reads data.
type Options struct {
	// Prep is how a folder's image files are made into images. IDX
	// images are used as they are, unless Prep.Resize: then those of
	// another size than Height x Width are resized to it, as
	// torchvision's Resize does to the PIL images of its MNIST (a
	// LeNet-5 of 32x32 inputs trained with Resize(32)).
	Prep Prep
	// Height and Width are the size a folder's images are made to;
	// 0 means 28, MNIST's. PrepDigit needs 28 or more.
	Height, Width int
	// Classes names the classes, replacing a folder's names (in sorted
	// order) or an IDX set's "0", "1", ...; see ReadClassNames. Class
	// folders that are each named by one of them take their name's label
	// instead, as ModelClasses gives it: a folder of some of the classes,
	// in any order.
	Classes []string
	// ClassesByNumber gives class folders named by numbers ("0" to "9")
	// their number as label, the classes running from 0 to the largest:
	// a folder of digits lacking the 8s keeps the 9s' label 9 (a model's
	// output 9), where torchvision's ImageFolder would make them class 8.
	// It applies only when every class folder's name is a number below
	// 1000 written without leading zeros; Classes then needs a name for
	// each number up to the largest, and may name more.
	ClassesByNumber bool
	// ModelClasses are the class names a model declares, in its order
	// (infer.Model.Labels), for data it is measured on. Class folders take
	// the label of their name among them, whatever folders there are (a
	// few of the classes, in any order), and a folder of another name is
	// an error; an IDX set's numbered classes take them as names. Classes
	// (--labels) overrides them, and so do folders numbered as
	// ClassesByNumber takes them.
	ModelClasses []string
	// Colour reads a folder's pictures in red, green and blue, as PIL's
	// convert("RGB") gives them, each resized (Prep must resize), into
	// Sets of Colour channels, for a colour model: where they are made
	// grey otherwise. IDX sets are grey, and refused with it.
	Colour bool
	// FirstLabel is an IDX set's first label, which becomes class 0: 1 for
	// EMNIST letters, labelled 1 to 26 (torchvision's "N/A" class 0 has no
	// image), read by a model of 26 outputs trained on label - 1. A label
	// below it is an error. Folders take their labels from their names.
	FirstLabel int
	// Parts is which parts of an IDX set to read.
	Parts Parts
	// Verify refuses IDX files named as MNIST's that are none of the data
	// sets package mnist knows by checksum (MNIST, Fashion-MNIST): a
	// damaged copy, or another set, which lenetkit takes only with
	// --skip-checksum. Without it any IDX set is read.
	Verify bool
}

// imageBytes is one image's bytes: Colour planes of Height x Width, or
// one.
func (o Options) imageBytes() int {
	if o.Colour {
		return Colour * o.Height * o.Width
	}
	return o.Height * o.Width
}

// Data is what Open read.
type Data struct {
	Path   string
	Layout Layout
	// Name is the known data set the IDX files are ("MNIST",
	// "Fashion-MNIST"), or "".
	Name    string
	Classes []string
	// Train is an IDX set's training pair, or all of a folder's images:
	// what training splits into train and validation sets. Test is an IDX
	// set's test pair. Either is nil when not read.
	Train, Test *Set
	// Skipped lists the files of a folder's class folders that are not
	// images by their name, left out as torchvision leaves them out.
	Skipped []string
	// TestFolder names the folder of a split image folder's held-out part
	// (test, else val, ...) beside train/, whose images are Test; "" for a
	// folder of class folders alone. ValFolder names its validation part,
	// val/ (or valid/, validation/) beside test/, whose images are Val, ""
	// for none: a trainer validates on them instead of splitting Train.
	// Ignored are further folders of those names, which nothing reads.
	TestFolder, ValFolder string
	Val                   *Set
	Ignored               []string
	// LowestLabel is the lowest label of an IDX set's parts read, before
	// Options.FirstLabel: above 0, the set's classes may start there.
	LowestLabel int
	// ResizedFrom is an IDX set's own image size, height and width, when
	// Options.Prep resized its images to another; zero otherwise.
	ResizedFrom [2]int
}

// Eval is the Set an evaluation measures: an IDX set's test part, else all
// of a folder.
func (d *Data) Eval() *Set {
	if d.Test != nil {
		return d.Test
	}
	return d.Train
}

// String says what the data is, for a person: "Fashion-MNIST (IDX) from
// DIR", "image folder DIR (3 classes)".
func (d *Data) String() string {
	classes := fmt.Sprintf("%d classes", len(d.Classes))
	if len(d.Classes) == 1 {
		classes = "1 class"
	}
	if d.Layout == LayoutFolder && d.TestFolder != "" {
		parts := "train/ and " + d.TestFolder + "/"
		if d.ValFolder != "" {
			parts = "train/, " + d.ValFolder + "/ and " + d.TestFolder + "/"
		}
		for _, f := range d.Ignored {
			parts += ", " + f + "/ left out"
		}
		return fmt.Sprintf("image folder %s (%s, %s)", d.Path, classes, parts)
	}
	if d.Layout == LayoutFolder {
		return fmt.Sprintf("image folder %s (%s)", d.Path, classes)
	}
	name := d.Name
	if name == "" {
		name = "IDX data"
	} else {
		name += " (IDX)"
	}
	if r := d.ResizedFrom; r != [2]int{} {
		s := d.Eval()
		classes += fmt.Sprintf(", resized from %dx%d to %dx%d", r[0], r[1], s.Height, s.Width)
	}
	return fmt.Sprintf("%s from %s (%s)", name, d.Path, classes)
}

// Open reads the data at path: an IDX set or an image folder (see the
// package comment).
func Open(path string, opt Options) (*Data, error) {
	opt, err := checkSize(opt)
	if err != nil {
		return nil, err
	}
	fi, err := os.Stat(path)
	if err != nil {
		// DIR/emnist-balanced names the set of that prefix in DIR.
		if dir, prefix := filepath.Dir(path), filepath.Base(path)+"-"; errors.Is(err, fs.ErrNotExist) && hasIDX(dir, prefix) {
			return openIDX(dir, prefix, path, opt)
		}
		return nil, &Error{Path: path, Kind: ErrNotFound, Msg: "cannot read it: " + cause(err), Err: err}
	}
	if !fi.IsDir() {
		return nil, newError(ErrNotFound, path, "not a directory: give the directory of an IDX set or of class folders")
	}
	prefixes, err := idxPrefixes(path)
	if err != nil {
		return nil, err
	}
	switch {
	case slices.Contains(prefixes, ""):
		return openIDX(path, "", path, opt)
	case len(prefixes) == 1:
		return openIDX(path, prefixes[0], path, opt)
	case len(prefixes) > 1:
		names := make([]string, len(prefixes))
		for i, p := range prefixes {
			names[i] = filepath.Join(path, strings.TrimSuffix(p, "-"))
		}
		return nil, newError(ErrLayout, path, fmt.Sprintf("holds %d IDX sets: name one, as %s", len(names), strings.Join(names, " or ")))
	}
	return openFolder(path, opt)
}

// checkSize gives opt its default size, 28x28, and refuses one that no
// image is made to.
func checkSize(opt Options) (Options, error) {
	if opt.Height == 0 && opt.Width == 0 {
		opt.Height, opt.Width = digitSide, digitSide
	}
	if opt.Height < 1 || opt.Width < 1 || opt.Height > 4096 || opt.Width > 4096 {
		return opt, newError(ErrOption, "", fmt.Sprintf("image size %dx%d: want 1 to 4096 pixels a side", opt.Height, opt.Width))
	}
	if !opt.Prep.Resize && (opt.Height < digitSide || opt.Width < digitSide) {
		return opt, newError(ErrOption, "", fmt.Sprintf("digit preparation makes 28x28 digits, which do not fit %dx%d: use resize (--prep resize: the images made to that size)", opt.Height, opt.Width))
	}
	if opt.Colour && !opt.Prep.Resize {
		return opt, newError(ErrOption, "", "colour pictures are resized whole, red, green and blue: use resize (--prep resize), not the digit preparation, which makes them grey")
	}
	return opt, nil
}

// cause is an os error's words without the path it repeats.
func cause(err error) string {
	if pe, ok := errors.AsType[*fs.PathError](err); ok {
		return pe.Err.Error()
	}
	return err.Error()
}

// The names of the image files of the two parts, after a prefix.
var idxImageNames = []string{"train-images-idx3-ubyte", "t10k-images-idx3-ubyte"}

// idxPrefixes lists the prefixes of the IDX sets in dir, sorted: "" for
// MNIST's names, "emnist-balanced-" and so on for EMNIST's.
func idxPrefixes(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, &Error{Path: dir, Kind: ErrNotFound, Msg: "cannot read it: " + cause(err), Err: err}
	}
	var found []string
	for _, e := range entries {
		name := strings.TrimSuffix(e.Name(), ".gz")
		for _, base := range idxImageNames {
			if p, ok := strings.CutSuffix(name, base); ok && !slices.Contains(found, p) {
				found = append(found, p)
			}
		}
	}
	slices.Sort(found)
	return found, nil
}

// hasIDX tells whether dir holds an IDX set of that prefix.
func hasIDX(dir, prefix string) bool {
	return mnist.HasPart(dir, prefix, "train") || mnist.HasPart(dir, prefix, "test")
}

// openIDX reads the parts opt asks for of the IDX set in dir with the
// prefix; path is what the caller named, for messages.
func openIDX(dir, prefix, path string, opt Options) (*Data, error) {
	if opt.Colour {
		return nil, newError(ErrOption, path, "IDX images are grey; colour is for a folder of pictures")
	}
	d := &Data{Path: path, Layout: LayoutIDX}
	mopt := mnist.Options{SkipChecksum: !opt.Verify, AnyLabels: true, Prefix: prefix}
	parts := []string{"train", "test"}
	switch opt.Parts {
	case TestPart:
		parts = parts[1:]
	case TrainPart:
		parts = parts[:1]
	default:
		if !mnist.HasPart(dir, prefix, "train") {
			parts = parts[1:]
		} else if !mnist.HasPart(dir, prefix, "test") {
			parts = parts[:1]
		}
	}
	var sets []*mnist.Set
	for _, part := range parts {
		s, err := mnist.Load(dir, part, mopt)
		if err != nil {
			return nil, err
		}
		if d.Name = s.Dataset; len(sets) > 0 && sets[0].Dataset != s.Dataset {
			d.Name = ""
		}
		if len(sets) > 0 && (s.Rows != sets[0].Rows || s.Cols != sets[0].Cols) {
			return nil, newError(ErrCorrupt, path, fmt.Sprintf("its training images are %dx%d, its test images %dx%d: the parts must be of one set", sets[0].Rows, sets[0].Cols, s.Rows, s.Cols))
		}
		sets = append(sets, s)
	}
	sets, err := shiftLabels(path, sets, opt.FirstLabel, &d.LowestLabel)
	if err != nil {
		return nil, err
	}
	return finishIDX(d, dir, prefix, path, parts, sets, opt)
}

// shiftLabels returns the sets with first subtracted from every label,
// copied, and sets *lowest to the lowest label there was.
func shiftLabels(path string, sets []*mnist.Set, first int, lowest *int) ([]*mnist.Set, error) {
	*lowest = -1
	for _, s := range sets {
		for _, l := range s.Labels {
			if *lowest < 0 || int(l) < *lowest {
				*lowest = int(l)
			}
		}
	}
	*lowest = max(*lowest, 0) // a set without images starts nowhere
	if first == 0 {
		return sets, nil
	}
	if first < 0 || first > *lowest {
		return nil, newError(ErrOption, path, fmt.Sprintf("first label %d: its lowest label is %d; give a first label from 0 to %d", first, *lowest, *lowest))
	}
	out := make([]*mnist.Set, len(sets))
	for i, s := range sets {
		c := *s
		c.Labels = make([]uint8, len(s.Labels))
		for k, l := range s.Labels {
			c.Labels[k] = l - uint8(first)
		}
		out[i] = &c
	}
	return out, nil
}

// finishIDX makes the Sets of an IDX set's parts, their labels as read.
func finishIDX(d *Data, dir, prefix, path string, parts []string, sets []*mnist.Set, opt Options) (*Data, error) {
	classes, err := idxClasses(path, sets, len(parts) == 2 || opt.Parts == TrainPart, opt.Classes, opt.ModelClasses)
	if err != nil {
		return nil, err
	}
	d.Classes = classes
	for i, s := range sets {
		name := filepath.Join(dir, prefix+idxImageNames[0])
		if parts[i] == "test" {
			name = filepath.Join(dir, prefix+idxImageNames[1])
		}
		if _, err := os.Stat(name); err != nil {
			name += ".gz"
		}
		st := &store{pix: s.Images, labels: make([]int32, s.N), idxPath: name}
		for k, l := range s.Labels {
			st.labels[k] = int32(l)
		}
		h, w := s.Rows, s.Cols
		if opt.Prep.Resize && (h != opt.Height || w != opt.Width) {
			st.pix = resizeAll(s.Images, s.N, w, h, opt.Width, opt.Height, opt.Prep.Area)
			d.ResizedFrom = [2]int{h, w}
			h, w = opt.Height, opt.Width
		}
		set := newSet(h, w, classes, st)
		if parts[i] == "train" {
			d.Train = set
		} else {
			d.Test = set
		}
	}
	return d, nil
}

// idxClasses are the class names of IDX sets: names when given, else a
// model's names (Options.ModelClasses) when there are as many as the
// labels show (or more, when not every part was read), else "0" to the
// largest label. complete says every part was read, so that the largest
// label seen is the largest there is.
func idxClasses(path string, sets []*mnist.Set, complete bool, names, model []string) ([]string, error) {
	var seen [256]int
	top := -1
	for _, s := range sets {
		for _, l := range s.Labels {
			seen[l]++
			top = max(top, int(l))
		}
	}
	n := top + 1
	empty := 0
	for _, c := range seen[:n] {
		if c == 0 {
			empty++
		}
	}
	// A labels file of another kind (pixels, say) has labels up to 255
	// with most values unused; EMNIST letters leave one of 27 unused.
	if n > 10 && empty > n/2 {
		return nil, newError(ErrClasses, path, fmt.Sprintf("labels go up to %d but %d of those %d classes have no image: the labels file is not one of class labels", top, empty, n))
	}
	if names == nil && model != nil && (len(model) == n || !complete && len(model) > n) {
		names = model
	}
	if names == nil {
		names = make([]string, n)
		for i := range names {
			names[i] = strconv.Itoa(i)
		}
		return names, nil
	}
	if len(names) < n || complete && len(names) != n {
		return nil, newError(ErrClassNames, path, fmt.Sprintf("%d class names given for labels 0 to %d (%d classes): give one name a line for each class", len(names), top, n))
	}
	return names, nil
}
