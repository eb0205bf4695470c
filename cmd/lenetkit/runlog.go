package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/lenetkit/lenetkit/internal/atomicfile"
	"github.com/lenetkit/lenetkit/internal/safeio"
	"github.com/lenetkit/lenetkit/modelfile"
	"github.com/lenetkit/lenetkit/runlog"
	"github.com/lenetkit/lenetkit/train"
)

// runLog keeps a run's log (package runlog) in its directory: config.json
// and metrics.jsonl. What the records are and how they are encoded is
// runlog's; this is where they go on disk and how the files are opened.
// A nil *runLog logs nothing.
type runLog struct {
	f   *os.File // metrics.jsonl, open to append
	w   *runlog.Writer
	err error // the first error, which Close reports
}

// newRunLog starts the log of a new run of cfg, stepsPerEpoch steps an
// epoch, in dir.
func newRunLog(dir string, cfg train.Config, stepsPerEpoch int) (*runLog, error) {
	return createRunLog(dir, cfg.Record(stepsPerEpoch, time.Now()))
}

// createRunLog writes conf as dir's config.json and starts an empty
// metrics.jsonl beside it: a run that records more than train.Config
// (runlog.Config's Extra) starts its log here.
func createRunLog(dir string, conf runlog.Config) (*runLog, error) {
	// Its callers name the flag that gave dir when they check it up front;
	// this says what failed in terms of dir itself (sweep's run folders
	// are under --out, not a --log-dir).
	if err := atomicfile.CheckDir(dir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("cannot create %s: %w", dir, err)
	}
	b, err := runlog.MarshalConfig(conf)
	if err != nil {
		return nil, err
	}
	config := filepath.Join(dir, runlog.ConfigName)
	err = atomicfile.Write(config, func(w io.Writer) error {
		_, err := w.Write(b)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("write %s: %w", config, err)
	}
	f, err := openLogFile(filepath.Join(dir, runlog.MetricsName), true)
	if err != nil {
		return nil, err
	}
	return &runLog{f: f, w: runlog.NewWriter(f)}, nil
}

// openLogFile opens a log for writing, emptied when truncate is set, else
// to append. A log dir may be another's, or a copy: its files are never
// written through a symbolic link (which would write outside it, or create
// a dangling link's target) nor when they are not regular files (a named
// pipe would block). Only the opened file is checked, so nothing can be
// swapped in between; it is emptied once it is known to be a plain file.
func openLogFile(path string, truncate bool) (*os.File, error) {
	flag := os.O_WRONLY | os.O_CREATE | syscall.O_NOFOLLOW | syscall.O_NONBLOCK
	if !truncate {
		flag |= os.O_APPEND
	}
	f, err := os.OpenFile(path, flag, 0o644)
	if errors.Is(err, syscall.ELOOP) {
		return nil, fmt.Errorf("%s is a symbolic link; lenetkit writes a run's logs only as plain files: remove it, or use another --log-dir", path)
	}
	if errors.Is(err, syscall.ENXIO) {
		return nil, fmt.Errorf("%s is a named pipe, not a file: remove it, or use another --log-dir", path)
	}
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err == nil && !st.Mode().IsRegular() {
		err = fmt.Errorf("%s is not a regular file: remove it, or use another --log-dir", path)
	}
	if err == nil && truncate {
		err = f.Truncate(0)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// resumeRunLog continues the log in dir of a run resumed at globalStep,
// in epoch: the lines the stopped run wrote past its checkpoint (steps
// after it, the epoch it was in, a test) are dropped first
// (runlog.Rewind), so that the log reads as an uninterrupted run's.
func resumeRunLog(dir string, globalStep, epoch int) (*runLog, error) {
	path := filepath.Join(dir, runlog.MetricsName)
	// The log is input here: read as a plain file, never through a link,
	// in bounded lines, and streamed into its replacement.
	if st, err := os.Lstat(path); err == nil && st.Mode()&fs.ModeSymlink != 0 {
		return nil, fmt.Errorf("--resume: %s is a symbolic link; lenetkit reads and writes a run's logs only as plain files: remove it", path)
	}
	in, err := safeio.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--resume: the run's log: %w", err)
	}
	defer in.Close()
	err = atomicfile.Write(path, func(w io.Writer) error {
		return runlog.Rewind(w, safeio.LimitReader(in, path, modelfile.MaxMetricsBytes), globalStep, epoch)
	})
	if err != nil {
		return nil, fmt.Errorf("--resume: rewrite %s: %w", path, err)
	}
	f, err := openLogFile(path, false)
	if err != nil {
		return nil, fmt.Errorf("--resume: %w", err)
	}
	return &runLog{f: f, w: runlog.NewWriter(f)}, nil
}

// step, epoch and test append the events' records; the first error is
// kept for Close.
func (l *runLog) step(e train.StepEvent) {
	if l != nil && l.err == nil {
		l.err = l.w.Step(e.Record())
	}
}

func (l *runLog) epoch(e train.EpochEvent) {
	if l != nil && l.err == nil {
		l.err = l.w.Epoch(e.Record())
	}
}

func (l *runLog) graphEpoch(e train.GraphEpoch) {
	if l != nil && l.err == nil {
		l.err = l.w.Epoch(e.Record())
	}
}

func (l *runLog) graphTest(r *train.GraphResult) {
	if l != nil && l.err == nil {
		l.err = l.w.Test(r.TestRecord())
	}
}

func (l *runLog) test(r *train.Result) {
	if l != nil && l.err == nil {
		l.err = l.w.Test(r.TestRecord())
	}
}

// Close flushes the log; it reports the first write error.
func (l *runLog) Close() error {
	if l == nil {
		return nil
	}
	if err := l.w.Flush(); l.err == nil {
		l.err = err
	}
	if err := l.f.Close(); l.err == nil {
		l.err = err
	}
	return l.err
}
