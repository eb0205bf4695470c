package train

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/lenetkit/lenetkit/runlog"
)

// The rules of where a run keeps its checkpoint, where a resumed run
// writes, and when there is nothing to resume or a run would be lost. A
// checkpoint is input: it chooses no path outside its own folder.

// CheckpointName is a run's checkpoint in its log directory.
const CheckpointName = "checkpoint.pth"

// checkpointSuffix ends the name of a checkpoint written beside its model,
// X.checkpoint.pth for X.pth, when the run has no log directory.
const checkpointSuffix = ".checkpoint.pth"

// The State.Caller entries ResumeOutputs reads: the model path and log
// directory the run was started with ("" for none). A program sets them
// before it saves a checkpoint.
const (
	CallerOut    = "out"
	CallerLogDir = "log_dir"
)

// Errors of the resume rules, for errors.Is.
var (
	// ErrNoRun: what a resume names holds no run.
	ErrNoRun = errors.New("no run to resume")
	// ErrFinished: the run trained every epoch and its model is written.
	ErrFinished = errors.New("the run is finished already")
	// ErrRunExists: a log directory holds another run's log, which a new
	// run would replace.
	ErrRunExists = errors.New("holds a run already")
)

// NoRunError is ErrNoRun for Path: it does not exist, or it is a folder
// (Folder) without a CheckpointName in it.
type NoRunError struct {
	Path   string
	Folder bool
}

func (e *NoRunError) Error() string {
	if e.Folder {
		return fmt.Sprintf("train: %s: %v there: it holds no %s", e.Path, ErrNoRun, CheckpointName)
	}
	return fmt.Sprintf("train: %s: %v: it does not exist", e.Path, ErrNoRun)
}

// Is makes a *NoRunError ErrNoRun.
func (e *NoRunError) Is(target error) bool { return target == ErrNoRun }

// FindCheckpoint is the checkpoint path names: its CheckpointName when
// path is a folder, else path itself. Nothing at path, or a folder
// without a checkpoint, is a *NoRunError; any other failure to look is
// returned as os.Stat gives it.
func FindCheckpoint(path string) (string, error) {
	st, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "", &NoRunError{Path: path}
	case err != nil:
		return "", err
	case !st.IsDir():
		return path, nil
	}
	ckpt := filepath.Join(path, CheckpointName)
	if _, err := os.Stat(ckpt); errors.Is(err, fs.ErrNotExist) {
		return "", &NoRunError{Path: path, Folder: true}
	}
	return ckpt, nil
}

// CheckpointPath is where a run that writes its model to out keeps its
// checkpoint: in logDir when it has one, else beside out (X.checkpoint.pth
// for X.pth), where ResumeOutputs finds the model's name again.
func CheckpointPath(out, logDir string) string {
	if logDir != "" {
		return filepath.Join(logDir, CheckpointName)
	}
	return strings.TrimSuffix(out, filepath.Ext(out)) + checkpointSuffix
}

// Outputs is where a resumed run writes.
type Outputs struct {
	// Model is beside the checkpoint: parameter.pth, X.pth for a
	// checkpoint X.checkpoint.pth, or the name the checkpoint gave it when
	// that was in the checkpoint's folder too.
	Model string
	// LogDir is the checkpoint's folder when the run had a log, else "".
	LogDir string
	// Ignored is a model path the checkpoint names outside its folder,
	// which Model replaces; "" when there is none.
	Ignored string
}

// ResumeOutputs is where the run resumed from st, read from ckpt, writes
// its model and its log, unless the caller is told otherwise (a command's
// --out and --log-dir). The checkpoint chooses no path: its caller entries
// (CallerOut and CallerLogDir, which a program sets when it saves)
// only say whether the run had a log and, when its model was to go into
// the checkpoint's folder too, under which name.
func ResumeOutputs(ckpt string, st *State) Outputs {
	return resumeOutputs(ckpt, st.Caller, "parameter", ".pth")
}

// ResumeGraphOutputs is ResumeOutputs for a graph run: the graph goes
// beside the checkpoint, X.onnx for a checkpoint X.checkpoint.pth, else
// under the name the run gave it when that was in the checkpoint's folder
// too, else as the run's model's name with -trained.
func ResumeGraphOutputs(ckpt string, st *GraphState) Outputs {
	src := filepath.Base(st.Config.Source.Model)
	name := strings.TrimSuffix(src, filepath.Ext(src)) + "-trained"
	if st.Config.Source.Model == "" {
		name = "model-trained"
	}
	return resumeOutputs(ckpt, st.Caller, name, ".onnx")
}

// resumeOutputs is ResumeOutputs with the model's default name (without
// its extension ext) in a log directory.
func resumeOutputs(ckpt string, caller map[string]string, name, ext string) Outputs {
	dir, base := filepath.Dir(ckpt), filepath.Base(ckpt)
	o := Outputs{Model: filepath.Join(dir, name+ext)}
	if name, ok := strings.CutSuffix(base, checkpointSuffix); ok && name != "" {
		o.Model = filepath.Join(dir, name+ext)
	}
	asked := caller[CallerOut]
	switch {
	case asked == "":
	case !sameDir(asked, dir):
		o.Ignored = asked
	case strings.TrimSuffix(filepath.Base(asked), filepath.Ext(asked)) != strings.TrimSuffix(base, filepath.Ext(base)):
		o.Model = filepath.Join(dir, filepath.Base(asked))
	}
	if caller[CallerLogDir] != "" {
		o.LogDir = dir
	}
	return o
}

// CheckUnfinished returns ErrFinished when the run st was taken from (a
// *State or a *GraphState) has trained every epoch and its model is at
// model already: there is nothing left to resume. A finished run whose
// model is missing may be resumed, to test it and write the model.
func CheckUnfinished(st interface{ Finished() bool }, model string) error {
	if !st.Finished() {
		return nil
	}
	if _, err := os.Stat(model); err != nil {
		return nil
	}
	return fmt.Errorf("train: %s: %w", model, ErrFinished)
}

// CheckNewLogDir returns ErrRunExists when logDir holds a run's log
// already, which a new run there would truncate.
func CheckNewLogDir(logDir string) error {
	if _, err := os.Stat(filepath.Join(logDir, runlog.MetricsName)); err == nil {
		return fmt.Errorf("train: %s %w (%s)", logDir, ErrRunExists, runlog.MetricsName)
	}
	return nil
}

// sameDir reports whether path is a file directly in dir, both as given
// or made absolute from the working directory.
func sameDir(path, dir string) bool {
	a, err1 := filepath.Abs(filepath.Dir(path))
	b, err2 := filepath.Abs(dir)
	return err1 == nil && err2 == nil && a == b
}
