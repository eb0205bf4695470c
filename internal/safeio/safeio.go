// Package safeio reads the files a user points lenetkit at that are not
// models (a run directory's config.json, metrics.jsonl, result.json) the
// way the model readers read theirs: only regular files, and never more
// than a stated number of bytes. A symbolic link to /dev/zero, a named pipe
// or a directory in a run directory ends in a one-line error instead of
// filling memory or blocking forever.
package safeio

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
)

// ErrNotRegular is returned for a path that is not a regular file (after
// following symbolic links): a directory, a named pipe, a device, a socket.
var ErrNotRegular = errors.New("not a regular file")

// ErrTooLarge is returned for a file over the limit its reader sets.
var ErrTooLarge = errors.New("file too large")

// Open opens path for reading if it is a regular file. It opens without
// blocking, so that a named pipe with no writer is refused rather than
// waited on, and checks the opened file, not the name, so that the file
// cannot be swapped between the check and the read.
func Open(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, &fs.PathError{Op: "read", Path: path, Err: fmt.Errorf("%w: %s", ErrNotRegular, Kind(st.Mode()))}
	}
	return f, nil
}

// ReadFile is os.ReadFile for a regular file of at most limit bytes.
func ReadFile(path string, limit int64) ([]byte, error) {
	f, err := Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(LimitReader(f, path, limit))
	if err != nil {
		return nil, err
	}
	return b, nil
}

// LimitReader reads r, which holds path, and fails with ErrTooLarge past
// limit bytes; unlike io.LimitReader it does not end quietly at the limit,
// so a reader never mistakes a cut file for a whole one.
func LimitReader(r io.Reader, path string, limit int64) io.Reader {
	return &limitReader{r: r, path: path, left: limit, limit: limit}
}

type limitReader struct {
	r           io.Reader
	path        string
	left, limit int64
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.left < 0 {
		return 0, l.err()
	}
	if int64(len(p)) > l.left+1 {
		p = p[:l.left+1] // one byte past the limit tells a longer file
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	if l.left < 0 {
		return n + int(l.left), l.err()
	}
	return n, err
}

func (l *limitReader) err() error {
	return &fs.PathError{Op: "read", Path: l.path, Err: fmt.Errorf("%w: more than %d bytes", ErrTooLarge, l.limit)}
}

// Kind names a file mode's type the way a person would: "a directory", "a
// named pipe", "a socket", "a device", else "not a plain file".
func Kind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	}
	return "not a plain file"
}
