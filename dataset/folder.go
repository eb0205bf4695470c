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

// openFolder reads an image folder: one subfolder per class.
func openFolder(root string, opt Options) (*Data, error) {
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil, &Error{Path: root, Kind: ErrNotFound, Msg: "cannot read it: " + cause(err), Err: err}
	}
	var classes []string // ReadDir sorts by name, torchvision's order
	for _, e := range entries {
		if hidden(e.Name()) {
			continue
		}
		// A link to a folder is a class too, as torchvision follows it.
		if fi, err := os.Stat(filepath.Join(root, e.Name())); err == nil && fi.IsDir() {
			classes = append(classes, e.Name())
		}
	}
	if len(classes) == 0 {
		return nil, newError(ErrLayout, root, "holds neither IDX files (train-images-idx3-ubyte, t10k-images-idx3-ubyte, gzipped or not) nor class folders (one subfolder of images per class)")
	}
	d := &Data{Path: root, Layout: LayoutFolder, Classes: classes}
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
			return nil, newError(ErrClassNames, root, fmt.Sprintf("%d class names given for class folders numbered up to %d: give one name a line for each of the %d classes", len(opt.Classes), top, top+1))
		}
		if opt.Classes != nil {
			d.Classes = opt.Classes
		}
	} else if opt.Classes != nil {
		if len(opt.Classes) != len(classes) {
			return nil, newError(ErrClassNames, root, fmt.Sprintf("%d class names given for its %d class folders: give one name a line for each folder, in sorted order", len(opt.Classes), len(classes)))
		}
		d.Classes = opt.Classes
	} else if opt.ModelClasses != nil {
		for k, class := range classes {
			if labels[k] = slices.Index(opt.ModelClasses, class); labels[k] < 0 {
				return nil, newError(ErrClassNames, filepath.Join(root, class), fmt.Sprintf("a class folder named none of the model's %d classes (%s): "+
					"name each folder as one of them, or give --labels FILE to take the folders in sorted order", len(opt.ModelClasses), someNames(opt.ModelClasses)))
			}
		}
		d.Classes = opt.ModelClasses
	}
	st := &store{}
	for k, class := range classes {
		files, skipped, err := classFiles(filepath.Join(root, class))
		if err != nil {
			return nil, err
		}
		d.Skipped = append(d.Skipped, skipped...)
		if len(files) == 0 {
			msg := "class folder with no PNG, JPEG, GIF or BMP image"
			if len(skipped) > 0 {
				msg += fmt.Sprintf(" (%d other files)", len(skipped))
			}
			return nil, newError(ErrEmptyClass, filepath.Join(root, class), msg+": add its images, or move the folder out of "+root)
		}
		st.files = append(st.files, files...)
		for range files {
			st.labels = append(st.labels, int32(labels[k]))
		}
	}
	st.pix = make([]byte, len(st.files)*opt.Height*opt.Width)
	if err := prepareAll(st, opt); err != nil {
		return nil, err
	}
	d.Train = newSet(opt.Height, opt.Width, d.Classes, st)
	return d, nil
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
				errs[i] = prepareFile(st.files[i], st.pix[i*opt.Height*opt.Width:(i+1)*opt.Height*opt.Width], opt)
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

// prepareFile reads the image file at path into dst as opt.Prep says.
func prepareFile(path string, dst []byte, opt Options) error {
	img, err := digit.DecodeFile(path)
	if err != nil {
		if errors.Is(err, digit.ErrNotImage) {
			// digit's message starts "digit: PATH: ".
			why := strings.TrimPrefix(err.Error(), "digit: "+path+": ")
			return &Error{Path: path, Kind: ErrNotImage, Err: err,
				Msg: why + ": remove it from the class folder, or replace it with a PNG, JPEG, GIF or BMP image"}
		}
		return &Error{Path: path, Kind: ErrNotFound, Msg: "cannot read it: " + cause(errors.Unwrap(err)), Err: err}
	}
	pix, err := opt.Prep.prepare(img, opt.Height, opt.Width)
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
