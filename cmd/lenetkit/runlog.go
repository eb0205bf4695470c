package main

import (
	"bufio"
	"bytes"
	"encoding/json"
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
	"github.com/lenetkit/lenetkit/train"
)

// runLog keeps, in --log-dir, the run's configuration and what the seed's
// notebook logged to Weights & Biases: train_loss and learning_rate every
// step; val_loss, val_acc and the epoch's mean train_loss every epoch.
// A nil *runLog logs nothing.
type runLog struct {
	f   *os.File
	w   *bufio.Writer
	enc *json.Encoder
	err error
}

func newRunLog(dir string, cfg train.Config, stepsPerEpoch int) (*runLog, error) {
	var freeze any // null: train mode throughout
	if n, ok := cfg.FreezePoint(stepsPerEpoch); ok {
		freeze = n
	}
	// Its callers name the flag that gave dir when they check it up front;
	// this says what failed in terms of dir itself (sweep's run folders
	// are under --out, not a --log-dir).
	if err := atomicfile.CheckDir(dir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("cannot create %s: %w", dir, err)
	}
	conf, err := json.MarshalIndent(map[string]any{
		"epochs": cfg.Epochs, "batch_size": cfg.BatchSize, "lr": cfg.LR, "max_lr": cfg.MaxLR,
		"weight_decay": cfg.WeightDecay, "dropout": cfg.Dropout, "dropout_mode": cfg.DropoutMode,
		"val_size": cfg.ValSize, "limit": cfg.Limit, "seed": cfg.Seed,
		"recipe": cfg.Recipe, "freeze_bn_after": freeze, "recipe_description": cfg.Describe(stepsPerEpoch),
		"optimizer": "Adam(betas=(0.9, 0.999), eps=1e-8, coupled L2)", "scheduler": "OneCycleLR(defaults, cycle_momentum)",
		"started": time.Now().UTC().Format(time.RFC3339),
	}, "", "  ")
	if err != nil {
		return nil, err
	}
	config := filepath.Join(dir, "config.json")
	err = atomicfile.Write(config, func(w io.Writer) error {
		_, err := w.Write(append(conf, '\n'))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("write %s: %w", config, err)
	}
	f, err := openLogFile(filepath.Join(dir, "metrics.jsonl"), true)
	if err != nil {
		return nil, err
	}
	w := bufio.NewWriter(f)
	return &runLog{f: f, w: w, enc: json.NewEncoder(w)}, nil
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
// after it, the epoch it was in, a test) are dropped first, so that the
// log reads as an uninterrupted run's.
func resumeRunLog(dir string, globalStep, epoch int) (*runLog, error) {
	path := filepath.Join(dir, "metrics.jsonl")
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
		r := bufio.NewReaderSize(safeio.LimitReader(in, path, modelfile.MaxMetricsBytes), 64<<10)
		for {
			line, err := readLogLine(r, modelfile.MaxMetricsLine)
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			var m map[string]json.RawMessage
			if len(bytes.TrimSpace(line)) == 0 || line[len(line)-1] != '\n' || json.Unmarshal(line, &m) != nil {
				continue // a line cut short by the stop
			}
			var step, ep int
			json.Unmarshal(m["step"], &step)
			json.Unmarshal(m["epoch"], &ep)
			_, isStep := m["step"]
			_, isEpoch := m["val_loss"]
			if (isStep && step <= globalStep) || (!isStep && isEpoch && ep < epoch) {
				if _, err := w.Write(line); err != nil {
					return err
				}
			}
		}
	})
	if err != nil {
		return nil, fmt.Errorf("--resume: rewrite %s: %w", path, err)
	}
	f, err := openLogFile(path, false)
	if err != nil {
		return nil, fmt.Errorf("--resume: %w", err)
	}
	w := bufio.NewWriter(f)
	return &runLog{f: f, w: w, enc: json.NewEncoder(w)}, nil
}

// readLogLine reads a line, with its newline if it has one; a line of more
// than limit bytes is an error, not a buffer that grows without end.
func readLogLine(r *bufio.Reader, limit int) ([]byte, error) {
	var line []byte
	for {
		chunk, err := r.ReadSlice('\n')
		line = append(line, chunk...)
		if len(line) > limit {
			return nil, fmt.Errorf("a line of more than %d bytes: not a lenetkit log", limit)
		}
		switch {
		case err == bufio.ErrBufferFull:
			continue
		case err == io.EOF && len(line) > 0:
			return line, nil
		}
		return line, err
	}
}

func (l *runLog) write(v any) {
	if l != nil && l.err == nil {
		l.err = l.enc.Encode(v)
	}
}

func (l *runLog) step(e train.StepEvent) {
	l.write(map[string]any{"step": e.GlobalStep, "epoch": e.Epoch, "train_loss": e.Loss, "learning_rate": e.LR, "beta1": e.Beta1,
		"eval_mode": e.Eval})
}

func (l *runLog) epoch(e train.EpochEvent) {
	l.write(map[string]any{"epoch": e.Epoch, "train_loss": e.TrainLoss, "val_loss": e.Val.Loss, "val_acc": e.Val.Accuracy,
		"seconds": e.Duration.Seconds()})
}

func (l *runLog) test(r *train.Result) {
	l.write(map[string]any{"test_acc": r.Test.Accuracy, "test_loss": r.Test.Loss, "test_images": r.Test.Images,
		"test_acc_full": r.TestFull.Accuracy, "test_loss_full": r.TestFull.Loss})
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
