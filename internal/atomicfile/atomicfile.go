// Package atomicfile writes a file so that it appears whole or not at all:
// through a temporary file in the same directory, renamed into place.
// Every output lenetkit writes goes through it, so a failure or an
// interrupt never leaves half a model behind.
package atomicfile

import (
	"io"
	"os"
	"path/filepath"
)

// Write calls write with a temporary file beside path and renames it to
// path once write, the sync and the close have succeeded. On any error the
// temporary file is removed and path is untouched. The file is made 0644
// like the files of torch.save and ONNX tools (CreateTemp's would be 0600).
func Write(path string, write func(io.Writer) error) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
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
