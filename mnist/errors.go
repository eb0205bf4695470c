package mnist

import (
	"errors"
	"fmt"
)

// Kinds of bad IDX data, for callers that tell them apart with errors.Is
// (package dataset names them in its own errors). The messages of the
// errors that wrap them say what exactly is wrong and with which file.
var (
	// ErrTruncated: an IDX file ends before what its header promises.
	ErrTruncated = errors.New("truncated IDX file")
	// ErrCorrupt: an IDX file that is not one (a wrong magic number, a
	// gzip stream that is not, an impossible size, trailing data) or
	// whose labels are out of range.
	ErrCorrupt = errors.New("corrupt IDX file")
	// ErrCountMismatch: the labels file holds another number of labels
	// than the images file holds images.
	ErrCountMismatch = errors.New("images and labels disagree in number")
	// ErrMissingFile: a data directory lacks one of the files it needs.
	ErrMissingFile = errors.New("IDX file missing")
)

// kindError is an error whose message is its own and which errors.Is
// matches to one of the kinds above.
type kindError struct {
	msg  string
	kind error
}

func (e *kindError) Error() string { return e.msg }
func (e *kindError) Unwrap() error { return e.kind }

// errorOf formats a message as fmt.Sprintf does and marks it as kind.
func errorOf(kind error, format string, args ...any) error {
	return &kindError{msg: fmt.Sprintf(format, args...), kind: kind}
}
