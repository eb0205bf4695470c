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

// ErrInterrupted is the error of a Write or Publish that RemoveTemps cut
// short: its temporary file is gone and path was left as it was.
var ErrInterrupted = errors.New("interrupted")

// mu orders every step that adds or removes a name on disk (making a
// temporary file, renaming or linking it into place, removing it) against
// RemoveTemps. Without it a signal could land between a create and its
// registration, or RemoveTemps could finish while a create or rename was
// still to come, and the temporary file outlived the process; and a rename
// could fill a folder RemoveAll had just emptied, so the folder stayed.
var (
	mu          sync.Mutex
	live        = map[string]bool{} // temporary files and folders on disk
	interrupted bool                // RemoveTemps has run: no more temporary files, no more renames
)

// step, when set, is called at each point of a write where RemoveTemps
// could come in: its tests interrupt there. It is called with mu unlocked,
// since everything done under mu is atomic to RemoveTemps.
var step func(name string)

func at(name string) {
	if step != nil {
		step(name)
	}
}

// RemoveTemps removes every temporary file a Write or Publish in progress
// has made: a program about to exit on a signal calls it, so that no
// half-written file is left behind, not even a hidden one. From then on
// every Write and Publish fails with ErrInterrupted without touching the
// disk, so that none makes a new temporary file before the program exits.
func RemoveTemps() {
	mu.Lock()
	defer mu.Unlock()
	interrupted = true
	for name := range live {
		os.RemoveAll(name)
		delete(live, name)
	}
}

// create makes a temporary file or folder with mk and registers it in the
// same step under mu, so that RemoveTemps sees either nothing on disk or a
// name it will remove.
func create(mk func() (string, error)) (string, error) {
	mu.Lock()
	defer mu.Unlock()
	if interrupted {
		return "", ErrInterrupted
	}
	name, err := mk()
	if err != nil {
		return "", err
	}
	live[name] = true
	return name, nil
}

// commit does the step that puts a finished file in place, unless
// RemoveTemps has run: the two exclude each other, so the file a signal
// interrupts is either in place already or never will be.
func commit(do func() error) error {
	mu.Lock()
	defer mu.Unlock()
	if interrupted {
		return ErrInterrupted
	}
	return do()
}

// release forgets a temporary name, removing it first when remove is set.
// Removing before forgetting means a name is never on disk unregistered.
func release(name string, remove bool) {
	mu.Lock()
	defer mu.Unlock()
	if remove {
		os.RemoveAll(name)
	}
	delete(live, name)
}

// interruptedErr is what a failed Write or Publish reports once RemoveTemps
// has run, whatever the step that failed saw (a file or folder gone from
// under it, most often, or a nested Write's own ErrInterrupted): the cause
// is the interrupt, and the caller must exit as for one, not as for an
// I/O error.
func interruptedErr(path string, err error) error {
	if err == nil {
		return nil
	}
	mu.Lock()
	stopped := interrupted
	mu.Unlock()
	if stopped || errors.Is(err, ErrInterrupted) {
		return fmt.Errorf("%s: %w", path, ErrInterrupted)
	}
	return err
}

// Write calls write with a temporary file beside path and renames it to
// path once write, the sync and the close have succeeded. On any error the
// temporary file is removed and path is untouched. The file is made 0644
// like the files of torch.save and ONNX tools (CreateTemp's would be 0600).
func Write(path string, write func(io.Writer) error) (err error) {
	var f *os.File
	at("create")
	name, err := create(func() (string, error) {
		var err error
		f, err = os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
		if err != nil {
			return "", err
		}
		return f.Name(), nil
	})
	if err != nil {
		return interruptedErr(path, folderError(path, filepath.Dir(path), err))
	}
	at("created")
	defer func() {
		if err != nil {
			f.Close()
		}
		release(name, err != nil)
		err = interruptedErr(path, err)
	}()
	if err = write(f); err != nil {
		return err
	}
	at("written")
	if err = f.Chmod(0o644); err != nil {
		return err
	}
	at("sync")
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	at("rename")
	if err = commit(func() error { return os.Rename(name, path) }); err != nil {
		return placeError(path, err)
	}
	at("renamed")
	return nil
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
	at("create")
	dir, err := create(func() (string, error) {
		return os.MkdirTemp(filepath.Dir(path), "."+filepath.Base(path)+".new*")
	})
	if err != nil {
		return interruptedErr(path, folderError(path, filepath.Dir(path), err))
	}
	at("created")
	defer func() {
		release(dir, true) // after a link, a second name only; after a rename, nothing
		err = interruptedErr(path, err)
	}()
	tmp := filepath.Join(dir, filepath.Base(path))
	if err := write(tmp); err != nil {
		return err
	}
	at("written")
	at("rename")
	err = commit(func() error {
		if replace {
			return os.Rename(tmp, path)
		}
		return os.Link(tmp, path)
	})
	if errors.Is(err, fs.ErrExist) && !isDir(path) {
		return fmt.Errorf("%s: %w", path, ErrExist)
	}
	if err != nil {
		return placeError(path, err)
	}
	at("renamed")
	return nil
}
