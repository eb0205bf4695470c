package infer

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/lenetkit/lenetkit/internal/safeio"
)

// Item is one input that Walk finds.
type Item struct {
	// Path is the image file: an argument, or a file below a directory
	// argument joined to it. For a part of MNIST, it is the argument
	// ("mnist:test").
	Path string
	// Label is the digit the file's parent directory is named by, as in
	// torchvision's ImageFolder layout (digits/7/a.png is a 7), or -1.
	Label int
	// MNIST is "test" or "train" when the argument named that part of
	// MNIST; the caller reads its images and labels with package mnist.
	MNIST string
	// Skipped, when not empty, says why a file found in a directory is not
	// an input, for the caller to print as a note.
	Skipped string
}

// mnistPrefix marks an argument that names a part of MNIST rather than a
// file; a file whose name begins so is reached as ./mnist:...
const mnistPrefix = "mnist:"

// imageExts are the extensions, in lower case, of the files a directory
// walk reads; digit.LoadImage itself goes by the file's content.
var imageExts = map[string]bool{".png": true, ".jpg": true, ".jpeg": true, ".gif": true, ".bmp": true}

// Walk calls fn for each input that paths name, in order. A path is:
//   - mnist:test or mnist:train, one Item for the whole part;
//   - a file, one Item, whatever its name, since digit.LoadImage decodes
//     by content;
//   - a directory, walked depth first with each directory's entries in
//     lexical order (filepath.WalkDir): an Item for each file whose
//     extension is .png, .jpg, .jpeg, .gif or .bmp, in any case, and an
//     Item with Skipped set for every other file. Symbolic links to files
//     are followed, those to directories are not. A directory holding no
//     image at any depth is an error.
//
// Walk checks every path before it calls fn at all, so that a mistyped
// argument stops a run before any work. It stops at the first error fn
// returns, and returns it.
func Walk(paths []string, fn func(Item) error) error {
	if len(paths) == 0 {
		return errors.New("infer: no images given")
	}
	var items []Item
	for _, p := range paths {
		found, err := expand(p)
		if err != nil {
			return err
		}
		items = append(items, found...)
	}
	for _, it := range items {
		if err := fn(it); err != nil {
			return err
		}
	}
	return nil
}

// expand lists the items that one argument names.
func expand(arg string) ([]Item, error) {
	if part, ok := strings.CutPrefix(arg, mnistPrefix); ok {
		if part != "test" && part != "train" {
			return nil, fmt.Errorf("infer: %s: unknown part of MNIST, want mnist:test or mnist:train", arg)
		}
		return []Item{{Path: arg, Label: -1, MNIST: part}}, nil
	}
	fi, err := os.Stat(arg)
	if err != nil {
		return nil, pathError(arg, err)
	}
	if !fi.IsDir() {
		// Opening a named pipe or a device to read it could block for ever.
		if !fi.Mode().IsRegular() {
			return nil, fmt.Errorf("infer: %s: not a regular file (%s)", arg, safeio.Kind(fi.Mode()))
		}
		return []Item{{Path: arg, Label: label(arg)}}, nil
	}

	var items []Item
	images := 0
	err = filepath.WalkDir(arg, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return pathError(path, err)
		}
		if d.IsDir() {
			return nil
		}
		it := Item{Path: path, Label: label(path)}
		if reason := skip(path, d); reason != "" {
			it.Skipped = reason
		} else {
			images++
		}
		items = append(items, it)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if images == 0 {
		return nil, fmt.Errorf("infer: %s: no images", arg)
	}
	return items, nil
}

// pathError puts the path first, once: the errors of package os name it
// after the operation ("stat digits: ...").
func pathError(path string, err error) error {
	if pe, ok := errors.AsType[*fs.PathError](err); ok {
		err = pe.Err
	}
	return fmt.Errorf("infer: %s: %w", path, err)
}

// skip says why a file found in a directory is not an input, or returns ""
// if it is one. Reading a named pipe or a device could block for ever,
// hence only regular files.
func skip(path string, d fs.DirEntry) string {
	mode := d.Type()
	if mode&fs.ModeSymlink != 0 {
		fi, err := os.Stat(path)
		if err != nil {
			return "broken symbolic link"
		}
		if fi.IsDir() {
			return "symbolic link to a directory, not followed"
		}
		mode = fi.Mode().Type()
	}
	if !imageExts[strings.ToLower(filepath.Ext(path))] {
		return "not a .png, .jpg, .jpeg, .gif or .bmp file"
	}
	if !mode.IsRegular() {
		return "not a regular file"
	}
	return ""
}

// label returns the digit that names the parent directory of path, or -1.
func label(path string) int {
	dir := filepath.Base(filepath.Dir(path))
	if len(dir) == 1 && '0' <= dir[0] && dir[0] <= '9' {
		return int(dir[0] - '0')
	}
	return -1
}
