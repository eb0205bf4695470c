package dataset

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/lenetkit/lenetkit/digit"
)

// imageExts are the extensions, in any case, of the files a class folder's
// images are read from: the formats lenetkit decodes. Other files are
// skipped, as torchvision's ImageFolder skips what its extensions leave
// out.
var imageExts = map[string]bool{".png": true, ".jpg": true, ".jpeg": true, ".gif": true, ".bmp": true}

// hidden names (".git", ".ipynb_checkpoints", macOS's "._x.png") are no
// classes and no images. torchvision takes a hidden folder as a class,
// which shifts every label after it; lenetkit does not.
func hidden(name string) bool { return strings.HasPrefix(name, ".") }

// testSplits are the names of the folder that holds a split image
// folder's held-out part beside train/, in the order one is chosen.
var testSplits = []string{"test", "val", "valid", "validation"}

// openFolder reads an image folder: one subfolder per class, or a split
// one, train/ and test/ (or val/) each of class folders.
func openFolder(root string, opt Options) (*Data, error) {
	dirs, err := subfolders(root)
	if err != nil {
		return nil, err
	}
	if len(dirs) == 0 {
		return nil, newError(ErrLayout, root, "holds neither IDX files (train-images-idx3-ubyte, t10k-images-idx3-ubyte, gzipped or not) nor class folders (one subfolder of images per class)")
	}
	if sp, ok := splitLayout(root, dirs); ok {
		return openSplit(root, sp, opt)
	}
	d := &Data{Path: root, Layout: LayoutFolder}
	labelOf, err := folderLabels(d, root, dirs, opt)
	if err != nil {
		return nil, err
	}
	if d.Train, err = readClasses(d, root, dirs, labelOf, opt); err != nil {
		return nil, err
	}
	return d, nil
}

// subfolders lists dir's folders that are not hidden, sorted by name
// (torchvision's order); a link to a folder counts, as torchvision
// follows it.
func subfolders(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, &Error{Path: dir, Kind: ErrNotFound, Msg: "cannot read it: " + cause(err), Err: err}
	}
	var names []string
	for _, e := range entries {
		if hidden(e.Name()) {
			continue
		}
		if fi, err := os.Stat(filepath.Join(dir, e.Name())); err == nil && fi.IsDir() {
			names = append(names, e.Name())
		}
	}
	return names, nil
}

// split names the folders of a split image folder's parts beside train/.
type split struct {
	test    string   // the held-out part: test/, else val/ (or valid/, validation/)
	val     string   // the validation part, val/ (...) beside test/; "" for none
	ignored []string // further folders of those names, which nothing reads
}

// splitLayout says whether root's folders dirs are the parts of a split
// image folder: train and one or more of testSplits, nothing else, train/
// holding folders and no image directly (a class named "train" holds
// images).
func splitLayout(root string, dirs []string) (sp split, ok bool) {
	if !slices.Contains(dirs, "train") || len(dirs) < 2 {
		return sp, false
	}
	for _, d := range dirs {
		if d != "train" && !slices.Contains(testSplits, d) {
			return sp, false
		}
	}
	entries, err := os.ReadDir(filepath.Join(root, "train"))
	if err != nil {
		return sp, false
	}
	folders := 0
	for _, e := range entries {
		if imageExts[strings.ToLower(filepath.Ext(e.Name()))] && !e.IsDir() {
			return sp, false
		}
		if e.IsDir() && !hidden(e.Name()) {
			folders++
		}
	}
	if folders == 0 {
		return sp, false
	}
	for _, t := range testSplits {
		switch {
		case !slices.Contains(dirs, t):
		case sp.test == "":
			sp.test = t
		case sp.test == "test" && sp.val == "":
			sp.val = t
		default:
			sp.ignored = append(sp.ignored, t)
		}
	}
	return sp, true
}

// openSplit reads a split image folder: the classes are train/'s folders,
// and the other parts' class folders take the label of their name among
// them. opt.Parts chooses the parts read, as for an IDX set; the
// validation part is read with both.
func openSplit(root string, sp split, opt Options) (*Data, error) {
	trainDir := filepath.Join(root, "train")
	d := &Data{Path: root, Layout: LayoutFolder, TestFolder: sp.test, ValFolder: sp.val, Ignored: sp.ignored}
	classes, err := subfolders(trainDir)
	if err != nil {
		return nil, err
	}
	labelOf, err := folderLabels(d, trainDir, classes, opt)
	if err != nil {
		return nil, err
	}
	if opt.Parts != TestPart {
		if d.Train, err = readClasses(d, trainDir, classes, labelOf, opt); err != nil {
			return nil, err
		}
	}
	if opt.Parts != TrainPart {
		if d.Test, err = readPart(d, root, sp.test, classes, labelOf, opt); err != nil {
			return nil, err
		}
	}
	if opt.Parts == AllParts && sp.val != "" {
		if d.Val, err = readPart(d, root, sp.val, classes, labelOf, opt); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// readPart reads the part of a split image folder in root/name, whose
// class folders must be among train/'s classes.
func readPart(d *Data, root, name string, classes []string, labelOf map[string]int, opt Options) (*Set, error) {
	dir := filepath.Join(root, name)
	held, err := subfolders(dir)
	if err != nil {
		return nil, err
	}
	if len(held) == 0 {
		return nil, newError(ErrLayout, dir, "holds no class folder: give it one subfolder of images per class, as train/")
	}
	for _, class := range held {
		if _, ok := labelOf[class]; !ok {
			return nil, newError(ErrClassNames, filepath.Join(dir, class), fmt.Sprintf("a class folder of %s/ that train/ has none of (%s): name it as one of train/'s", name, someNames(classes)))
		}
	}
	return readClasses(d, dir, held, labelOf, opt)
}

// folderLabels sets d.Classes for the class folders classes of dir and
// gives each folder's label: its place among them (torchvision's), its
// number (Options.ClassesByNumber), or its name's place among the model's
// classes (Options.ModelClasses); Options.Classes names them, and where
// every folder is named by one of them, the folders take their names'
// places, as among a model's classes.
func folderLabels(d *Data, dir string, classes []string, opt Options) (map[string]int, error) {
	d.Classes = classes
	labels := make([]int, len(classes)) // of each folder
	for i := range labels {
		labels[i] = i
	}
	if numbers := classNumbers(classes); opt.ClassesByNumber && numbers != nil {
		labels = numbers
		top := slices.Max(numbers)
		d.Classes = make([]string, top+1)
		for i := range d.Classes {
			d.Classes[i] = strconv.Itoa(i)
		}
		if opt.Classes != nil && len(opt.Classes) <= top {
			return nil, newError(ErrClassNames, dir, fmt.Sprintf("%d class names given for class folders numbered up to %d: give one name a line for each of the %d classes", len(opt.Classes), top, top+1))
		}
		if opt.Classes != nil {
			d.Classes = opt.Classes
		}
	} else if opt.Classes != nil && allAmong(classes, opt.Classes) {
		// Folders named by the names given (a model's 26 letters, a
		// folder of 12 of them) take their name's label, in any order.
		for k, class := range classes {
			labels[k] = slices.Index(opt.Classes, class)
		}
		d.Classes = opt.Classes
	} else if opt.Classes != nil {
		if len(opt.Classes) != len(classes) {
			return nil, newError(ErrClassNames, dir, fmt.Sprintf("%d class names given for its %d class folders: give one name a line for each folder, in sorted order", len(opt.Classes), len(classes)))
		}
		d.Classes = opt.Classes
	} else if opt.ModelClasses != nil {
		for k, class := range classes {
			if labels[k] = slices.Index(opt.ModelClasses, class); labels[k] < 0 {
				return nil, newError(ErrClassNames, filepath.Join(dir, class), fmt.Sprintf("a class folder named none of the model's %d classes (%s): "+
					"name each folder as one of them, or give --labels FILE to take the folders in sorted order", len(opt.ModelClasses), someNames(opt.ModelClasses)))
			}
		}
		d.Classes = opt.ModelClasses
	}
	labelOf := make(map[string]int, len(classes))
	for k, class := range classes {
		labelOf[class] = labels[k]
	}
	return labelOf, nil
}

// allAmong reports whether every one of names is among list.
func allAmong(names, list []string) bool {
	for _, n := range names {
		if !slices.Contains(list, n) {
			return false
		}
	}
	return true
}

// readClasses reads and prepares the images of dir's class folders
// classes, each labelled as labelOf says, into a Set of d's classes; the
// files skipped go to d.Skipped.
func readClasses(d *Data, dir string, classes []string, labelOf map[string]int, opt Options) (*Set, error) {
	st := &store{}
	for _, class := range classes {
		files, skipped, err := classFiles(filepath.Join(dir, class))
		if err != nil {
			return nil, err
		}
		d.Skipped = append(d.Skipped, skipped...)
		if len(files) == 0 {
			msg := "class folder with no PNG, JPEG, GIF or BMP image"
			if len(skipped) > 0 {
				msg += fmt.Sprintf(" (%d other files)", len(skipped))
			}
			return nil, newError(ErrEmptyClass, filepath.Join(dir, class), msg+": add its images, or move the folder out of "+dir)
		}
		st.files = append(st.files, files...)
		for range files {
			st.labels = append(st.labels, int32(labelOf[class]))
		}
	}
	st.pix = make([]byte, len(st.files)*opt.imageBytes())
	if err := prepareAll(st, opt); err != nil {
		return nil, err
	}
	s := newSet(opt.Height, opt.Width, d.Classes, st)
	if opt.Colour {
		s.Channels = Colour
	}
	return s, nil
}

// someNames lists the first few of names, quoted, for a message.
func someNames(names []string) string {
	const most = 5
	q := make([]string, 0, most+1)
	for _, n := range names[:min(len(names), most)] {
		q = append(q, strconv.Quote(n))
	}
	if len(names) > most {
		q = append(q, fmt.Sprintf("... %d more", len(names)-most))
	}
	return strings.Join(q, ", ")
}

// classNumbers are the numbers the class folders are named by, or nil
// unless every name is one below 1000 without leading zeros.
func classNumbers(names []string) []int {
	nums := make([]int, len(names))
	for i, n := range names {
		v, err := strconv.Atoi(n)
		if err != nil || v < 0 || v >= 1000 || strconv.Itoa(v) != n {
			return nil
		}
		nums[i] = v
	}
	return nums
}

// classFiles lists a class folder's image files at any depth, sorted by
// path, and the other files.
func classFiles(dir string) (files, skipped []string, err error) {
	err = filepath.WalkDir(dir, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return &Error{Path: path, Kind: ErrNotFound, Msg: "cannot read it: " + cause(err), Err: err}
		}
		if path != dir && hidden(e.Name()) {
			if e.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if e.IsDir() {
			return nil
		}
		if !imageExts[strings.ToLower(filepath.Ext(path))] {
			skipped = append(skipped, path)
			return nil
		}
		// Reading a named pipe or a device could block for ever.
		if fi, err := os.Stat(path); err != nil || !fi.Mode().IsRegular() {
			skipped = append(skipped, path)
			return nil
		}
		files = append(files, path)
		return nil
	})
	return files, skipped, err
}

// prepareAll decodes and prepares every file of st into st.pix, on all
// CPUs. The error is that of the first bad file in order, so that it is
// the same from run to run.
func prepareAll(st *store, opt Options) error {
	n := len(st.files)
	errs := make([]error, n)
	workers := min(runtime.GOMAXPROCS(0), n)
	var wg sync.WaitGroup
	next := make(chan int)
	for range workers {
		wg.Go(func() {
			for i := range next {
				size := opt.imageBytes()
				errs[i] = prepareFile(st.files[i], st.pix[i*size:(i+1)*size], opt, folderAdvice)
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// OpenFile reads the one image file at path as a folder's images are read
// (opt.Prep, opt.Height x opt.Width; the other options do not apply), as a
// Set of that image alone, of class 0 and no class names: what Fill makes
// a model's input of. Errors are *Error of ErrNotImage, ErrBlank or
// ErrNotFound naming the file, or ErrOption for a size no image is made to.
func OpenFile(path string, opt Options) (*Set, error) {
	opt, err := checkSize(opt)
	if err != nil {
		return nil, err
	}
	st := &store{files: []string{path}, labels: []int32{0}, pix: make([]byte, opt.imageBytes())}
	if err := prepareFile(path, st.pix, opt, ""); err != nil {
		return nil, err
	}
	s := newSet(opt.Height, opt.Width, nil, st)
	if opt.Colour {
		s.Channels = Colour
	}
	return s, nil
}

// folderAdvice ends the error of a class folder's file that is not an
// image.
const folderAdvice = ": remove it from the class folder, or replace it with a PNG, JPEG, GIF or BMP image"

// prepareFile reads the image file at path into dst as opt.Prep says.
// advice ends the error of a file that is not an image.
func prepareFile(path string, dst []byte, opt Options, advice string) error {
	img, err := digit.DecodeFile(path)
	if err != nil {
		if errors.Is(err, digit.ErrNotImage) {
			// digit's message starts "digit: PATH: ".
			why := strings.TrimPrefix(err.Error(), "digit: "+path+": ")
			return &Error{Path: path, Kind: ErrNotImage, Err: err, Msg: why + advice}
		}
		return &Error{Path: path, Kind: ErrNotFound, Msg: "cannot read it: " + cause(errors.Unwrap(err)), Err: err}
	}
	var pix []byte
	if opt.Colour {
		pix, err = ColourPlanes(img, opt.Height, opt.Width, opt.Prep.Area, opt.Prep.Invert)
	} else {
		pix, err = opt.Prep.prepare(img, opt.Height, opt.Width)
	}
	if err != nil {
		why := strings.TrimPrefix(err.Error(), "digit: ")
		if errors.Is(err, digit.ErrBlank) {
			return &Error{Path: path, Kind: ErrBlank, Err: err,
				Msg: why + " (digit preparation): remove it, or use --prep resize for pictures that are not digits"}
		}
		return &Error{Path: path, Kind: ErrNotImage, Err: err, Msg: why}
	}
	copy(dst, pix)
	return nil
}
