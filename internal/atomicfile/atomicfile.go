// Package atomicfile writes a file so that it appears whole or not at all:
// through a temporary file in the same directory, renamed into place.
// Every output lenetkit writes goes through it, so a failure or an
// interrupt never leaves half a model behind.
package atomicfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
)

// live holds the temporary files being written, for RemoveTemps.
var live sync.Map // name -> struct{}

// RemoveTemps removes every temporary file a Write in progress has made: a
// program about to exit on a signal calls it, so that no half-written file
// is left behind, not even a hidden one.
func RemoveTemps() {
	live.Range(func(k, _ any) bool {
		os.RemoveAll(k.(string))
		live.Delete(k)
		return true
	})
}

// Write calls write with a temporary file beside path and renames it to
// path once write, the sync and the close have succeeded. On any error the
// temporary file is removed and path is untouched. The file is made 0644
// like the files of torch.save and ONNX tools (CreateTemp's would be 0600).
func Write(path string, write func(io.Writer) error) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	live.Store(f.Name(), struct{}{})
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
		live.Delete(f.Name())
	}()
	if err = write(f); err != nil {
		return err
	}
	if err = f.Chmod(0o644); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// ErrExist is Publish's error when path exists and replace is false.
var ErrExist = fs.ErrExist

// Publish makes a file at path with write, which writes a whole file at the
// name it is given (a library's Save function, say): into a temporary
// folder beside path, under path's own base name (formats that record it,
// like torch's archive name, or read the extension, see the real one), then
// moved into place. Without replace, the move is a hard link, which fails
// when path exists, so that two writers racing for a new name cannot both
// succeed: the check and the write are one step.
func Publish(path string, replace bool, write func(tmp string) error) (err error) {
	dir, err := os.MkdirTemp(filepath.Dir(path), "."+filepath.Base(path)+".new*")
	if err != nil {
		return err
	}
	live.Store(dir, struct{}{})
	defer func() {
		os.RemoveAll(dir) // after a link, a second name only; after a rename, nothing
		live.Delete(dir)
	}()
	tmp := filepath.Join(dir, filepath.Base(path))
	if err := write(tmp); err != nil {
		return err
	}
	if replace {
		return os.Rename(tmp, path)
	}
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%s: %w", path, ErrExist)
		}
		return err
	}
	return nil
}
