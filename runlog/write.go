package runlog

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"

	"github.com/lenetkit/lenetkit/modelfile"
)

// Writer appends the lines of metrics.jsonl to an io.Writer, buffered: a
// run logs every step, and the file is read back (by report, to draw the
// run so far) only after Flush. The first error sticks: every later call
// returns it, and nothing more is written.
type Writer struct {
	bw  *bufio.Writer
	enc *json.Encoder
	err error
}

// NewWriter returns a Writer appending to w, which is opened (and closed)
// by the caller: where and how a log is written is the caller's to say.
func NewWriter(w io.Writer) *Writer {
	bw := bufio.NewWriter(w)
	return &Writer{bw: bw, enc: json.NewEncoder(bw)}
}

func (w *Writer) write(v any) error {
	if w.err == nil {
		w.err = w.enc.Encode(v)
	}
	return w.err
}

// Step appends a step's line.
func (w *Writer) Step(s Step) error { return w.write(s) }

// Epoch appends a finished epoch's line.
func (w *Writer) Epoch(e Epoch) error { return w.write(e) }

// Test appends the test figures' line, the run's last.
func (w *Writer) Test(t Test) error { return w.write(t) }

// Flush writes what is buffered; it returns the first error of any call.
func (w *Writer) Flush() error {
	if w.err == nil {
		w.err = w.bw.Flush()
	}
	return w.err
}

// Rewind copies the log src to dst as it read when the run was at
// globalStep, in epoch (a checkpoint's position): the steps up to
// globalStep and the epochs before epoch. What the run wrote past that
// (steps after it, the epoch it was in, a test), lines cut short by a
// stop, and lines of no kind known here are left out, so that a resumed
// run's log reads as an uninterrupted run's. A line longer than
// modelfile.MaxMetricsLine is an error: src is input.
func Rewind(dst io.Writer, src io.Reader, globalStep, epoch int) error {
	r := bufio.NewReaderSize(src, 64<<10)
	for {
		b, err := readLine(r, modelfile.MaxMetricsLine)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		var m map[string]json.RawMessage
		if len(bytes.TrimSpace(b)) == 0 || b[len(b)-1] != '\n' || json.Unmarshal(b, &m) != nil {
			continue // a line cut short by the stop
		}
		var step, ep int
		json.Unmarshal(m["step"], &step)
		json.Unmarshal(m["epoch"], &ep)
		_, isStep := m["step"]
		_, isEpoch := m["val_loss"]
		if (isStep && step <= globalStep) || (!isStep && isEpoch && ep < epoch) {
			if _, err := dst.Write(b); err != nil {
				return err
			}
		}
	}
}

// readLine reads a line, with its newline if it has one; a line of more
// than limit bytes is an error, not a buffer that grows without end.
func readLine(r *bufio.Reader, limit int) ([]byte, error) {
	var b []byte
	for {
		chunk, err := r.ReadSlice('\n')
		b = append(b, chunk...)
		if len(b) > limit {
			return nil, fmt.Errorf("a line of more than %d bytes: not a lenetkit log", limit)
		}
		switch {
		case err == bufio.ErrBufferFull:
			continue
		case err == io.EOF && len(b) > 0:
			return b, nil
		}
		return b, err
	}
}
