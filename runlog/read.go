package runlog

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"

	"github.com/lenetkit/lenetkit/internal/safeio"
	"github.com/lenetkit/lenetkit/modelfile"
)

// Log is a run directory as read back.
type Log struct {
	// Config is config.json as written, every field of it, numbers as
	// json.Number (0.0001 stays 0.0001): what a page shows. Nil when the
	// directory has none. ReadConfig gives the same file as a Config.
	Config map[string]any
	Steps  []Step
	Epochs []Epoch
	// Test is nil when the run stopped before testing.
	Test *Test
	// Notes say what Read tolerated: a missing config.json, a partial
	// last line, no test figures.
	Notes []string
}

// ErrNoMetrics is Read's error for a directory without metrics.jsonl.
var ErrNoMetrics = errors.New("no " + MetricsName)

// LineError is a line of metrics.jsonl that is not what a run writes.
type LineError struct {
	Path string
	Line int // from 1
	Err  error
}

func (e *LineError) Error() string { return fmt.Sprintf("%s:%d: %v", e.Path, e.Line, e.Err) }
func (e *LineError) Unwrap() error { return e.Err }

// Read reads the run in dir. A run that stopped early is a run: no test
// line, fewer epochs than configured, no line at all yet. A last line cut
// short without its newline (the process killed while writing) is left
// out with a note; any other line that is not what a run writes is a
// *LineError. metrics.jsonl is read up to modelfile.MaxDrawnMetricsBytes:
// every step is held in memory.
func Read(dir string) (*Log, error) {
	l := &Log{}
	if err := l.readConfig(filepath.Join(dir, ConfigName)); err != nil {
		return nil, err
	}
	name := filepath.Join(dir, MetricsName)
	f, err := safeio.Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s is not a run directory of lenetkit train --log-dir: %w", dir, ErrNoMetrics)
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	br := bufio.NewReader(safeio.LimitReader(f, name, modelfile.MaxDrawnMetricsBytes))
	for n := 1; ; n++ {
		b, err := br.ReadBytes('\n')
		if err != nil && err != io.EOF {
			return nil, &LineError{name, n, err}
		}
		last := err == io.EOF
		if len(bytes.TrimSpace(b)) > 0 {
			if perr := l.parse(b); perr != nil {
				if last && !bytes.HasSuffix(b, []byte("\n")) {
					l.Notes = append(l.Notes, fmt.Sprintf("%s ends in a partial line %d (the run was stopped while writing it); left out", MetricsName, n))
					break
				}
				return nil, &LineError{name, n, perr}
			}
		}
		if last {
			break
		}
	}
	if l.Test == nil && l.finished() {
		l.Notes = append(l.Notes, "no test figures: the run trained all its epochs on data without a test part (an image folder)")
	} else if l.Test == nil {
		l.Notes = append(l.Notes, "no test figures: the run stopped before testing, or is still training")
	}
	return l, nil
}

// finished says whether the log's last epoch is the last its config.json
// asks for.
func (l *Log) finished() bool {
	n, ok := l.Config["epochs"].(json.Number)
	if !ok || len(l.Epochs) == 0 {
		return false
	}
	epochs, err := n.Int64()
	return err == nil && int64(l.Epochs[len(l.Epochs)-1].Epoch) == epochs
}

func (l *Log) readConfig(name string) error {
	b, err := safeio.ReadFile(name, modelfile.MaxRunRecordBytes)
	if errors.Is(err, fs.ErrNotExist) {
		l.Notes = append(l.Notes, "no "+ConfigName)
		return nil
	}
	if err != nil {
		return err
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber() // show 0.0001 as the run wrote it, not as 1e-04
	if err := d.Decode(&l.Config); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}
