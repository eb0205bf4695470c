package atomicfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// A FolderError is a file that cannot be written because of the folder it
// goes in: missing, not a folder, or not writable. It names the file and
// the folder as the caller gave them, never the temporary name that
// failed, which the user never chose.
type FolderError struct {
	Path   string // the file or folder to write
	Folder string // the folder at fault
	Err    error  // why: fs.ErrNotExist, fs.ErrPermission, syscall.ENOTDIR, syscall.EROFS, ...
}

func (e *FolderError) Error() string { return "cannot write " + e.Path + ": " + e.Reason() }

// Reason is Error without the file's name, for a caller that names it
// itself (with the flag that gave it, say).
func (e *FolderError) Reason() string {
	switch {
	case errors.Is(e.Err, fs.ErrNotExist):
		return fmt.Sprintf("the folder %s does not exist (create it first)", e.Folder)
	case errors.Is(e.Err, syscall.ENOTDIR) && e.Folder == e.Path:
		return "it is a file, not a folder"
	case errors.Is(e.Err, syscall.ENOTDIR):
		return fmt.Sprintf("%s is a file, not a folder", e.Folder)
	case errors.Is(e.Err, fs.ErrPermission):
		return fmt.Sprintf("the folder %s is not writable", e.Folder)
	case errors.Is(e.Err, syscall.EROFS):
		return fmt.Sprintf("the folder %s is on a read-only file system", e.Folder)
	}
	return fmt.Sprintf("the folder %s: %v", e.Folder, e.Err)
}

func (e *FolderError) Unwrap() error { return e.Err }

// folderError describes err, the failure to make a temporary file or
// folder in dir for path, in terms of dir.
func folderError(path, dir string, err error) error {
	if errors.Is(err, ErrInterrupted) {
		return err
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err // its path is the temporary name
	}
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		// Say which: the folder missing, or a file where it should be.
		if st, serr := os.Stat(dir); serr == nil && !st.IsDir() {
			err = syscall.ENOTDIR
		} else if blocker := fileOnPath(dir); blocker != "" {
			dir, err = blocker, syscall.ENOTDIR
		} else {
			err = fs.ErrNotExist
		}
	}
	return &FolderError{Path: path, Folder: dir, Err: err}
}

// fileOnPath returns the first ancestor of dir (or dir) that exists and is
// not a folder, or "".
func fileOnPath(dir string) string {
	var chain []string
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		chain = append(chain, d)
		if p := filepath.Dir(d); p == d {
			break
		}
	}
	for i := len(chain) - 1; i >= 0; i-- {
		st, err := os.Stat(chain[i])
		if err != nil {
			return ""
		}
		if !st.IsDir() {
			return chain[i]
		}
	}
	return ""
}

// CheckFile fails, with a *FolderError, when a file could not be written
// at path: its folder missing, not a folder, or not writable. It writes
// and removes a temporary file there to know, since permissions alone do
// not say (root, ACLs, read-only mounts). Commands call it before work
// whose result would otherwise be lost at the end.
func CheckFile(path string) error {
	return probe(path, filepath.Dir(path))
}

// CheckDir is CheckFile for a folder that a command creates, with its
// parents, if it is missing (a log or output folder): dir itself when it
// exists, else its nearest ancestor that does, must be a writable folder.
func CheckDir(dir string) error {
	d := filepath.Clean(dir)
	for {
		st, err := os.Stat(d)
		if err == nil {
			if !st.IsDir() {
				return &FolderError{Path: dir, Folder: d, Err: syscall.ENOTDIR}
			}
			return probe(dir, d)
		}
		if errors.Is(err, syscall.ENOTDIR) {
			if f := fileOnPath(d); f != "" {
				return &FolderError{Path: dir, Folder: f, Err: syscall.ENOTDIR}
			}
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return &FolderError{Path: dir, Folder: d, Err: err}
		}
		p := filepath.Dir(d)
		if p == d {
			return &FolderError{Path: dir, Folder: d, Err: err}
		}
		d = p
	}
}

// probe makes and removes a temporary file in dir, registered like any
// other so that a signal meanwhile leaves nothing.
func probe(path, dir string) error {
	name, err := create(func() (string, error) {
		f, err := os.CreateTemp(dir, ".lenetkit-check-*")
		if err != nil {
			return "", err
		}
		f.Close()
		return f.Name(), nil
	})
	if err != nil {
		return folderError(path, dir, err)
	}
	release(name, true)
	return nil
}

// ErrIsDir is the error of a Write or Publish whose path is a directory,
// which a file cannot replace.
var ErrIsDir = errors.New("is a directory, which a file cannot replace")

// placeError describes a failed rename or link into path without the
// temporary name it came from.
func placeError(path string, err error) error {
	if isDir(path) {
		return fmt.Errorf("%s %w", path, ErrIsDir)
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		err = le.Err
	}
	return fmt.Errorf("cannot write %s: %w", path, err)
}

func isDir(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.IsDir()
}
