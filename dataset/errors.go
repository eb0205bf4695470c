package dataset

import (
	"errors"

	"github.com/lenetkit/lenetkit/digit"
	"github.com/lenetkit/lenetkit/mnist"
)

// Kinds of error, for errors.Is.
var (
	// ErrNotFound: the path given does not exist (or is not a directory).
	ErrNotFound = errors.New("no data there")
	// ErrLayout: a directory that is neither an IDX set nor a folder of
	// class folders, or holds several IDX sets without saying which.
	ErrLayout = errors.New("not a data set")
	// ErrEmptyClass: a class folder with no image in it. torchvision's
	// ImageFolder refuses one too: a class with no example cannot be
	// learnt or measured.
	ErrEmptyClass = errors.New("empty class folder")
	// ErrNotImage: a file with an image's name that is not a PNG, JPEG,
	// GIF or BMP image that can be decoded (digit.ErrNotImage).
	ErrNotImage = digit.ErrNotImage
	// ErrBlank: an image in which digit preparation finds no digit.
	ErrBlank = errors.New("no digit in the image")
	// ErrClassNames: class names that do not fit the data (another count,
	// an empty or repeated name).
	ErrClassNames = errors.New("class names do not fit")
	// ErrClasses: labels whose count of classes makes no sense.
	ErrClasses = errors.New("implausible classes")
	// ErrOption: an option's value that cannot be used (ParseAugment,
	// ParseVal, ParsePrep, Options).
	ErrOption = errors.New("bad option")

	// The kinds of bad IDX data, package mnist's own values.
	ErrTruncated     = mnist.ErrTruncated
	ErrCorrupt       = mnist.ErrCorrupt
	ErrCountMismatch = mnist.ErrCountMismatch
	ErrMissingFile   = mnist.ErrMissingFile
)

// Error is a dataset error: what is wrong with Path, of one of the kinds
// above, and the error that caused it if any.
type Error struct {
	Path string // the file or directory at fault; "" for an option
	Kind error
	Msg  string // what is wrong, and what to do about it
	Err  error  // the cause, or nil
}

func (e *Error) Error() string {
	if e.Path == "" {
		return "dataset: " + e.Msg
	}
	return "dataset: " + e.Path + ": " + e.Msg
}

// Unwrap gives both the kind and the cause to errors.Is and errors.As.
func (e *Error) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Err}
}

func newError(kind error, path, msg string) *Error {
	return &Error{Path: path, Kind: kind, Msg: msg}
}
