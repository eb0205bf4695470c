package report

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	"github.com/lenetkit/lenetkit/internal/atomicfile"
)

// Files are the paths Write wrote.
type Files struct {
	HTML   string   `json:"html"`
	Charts []string `json:"charts"`
}

// Write renders runs into dir: dir/report.html, one page with everything,
// and each chart again as dir/charts/NAME.png. Several runs share each
// chart's axes, labelled by their directories' names. Every file appears
// whole or not at all, so a page being rewritten while training goes on
// is never seen half written.
func Write(dir string, runs ...*Run) (Files, error) {
	if len(runs) == 0 || slices.Contains(runs, nil) {
		return Files{}, errors.New("report: no run to write")
	}
	names := labels(runs)
	charts := runCharts(runs, names)
	pngs := make([][]byte, len(charts))
	for i, c := range charts {
		b, err := c.png()
		if err != nil {
			return Files{}, err
		}
		pngs[i] = b
	}
	chartDir := filepath.Join(dir, "charts")
	if err := os.MkdirAll(chartDir, 0o755); err != nil {
		return Files{}, fmt.Errorf("report: %w", err)
	}
	var files Files
	for i, c := range charts {
		name := filepath.Join(chartDir, c.file+".png")
		if err := writeFile(name, pngs[i]); err != nil {
			return Files{}, err
		}
		files.Charts = append(files.Charts, name)
	}
	var page bytes.Buffer
	if err := newPage(runs, names, charts, pngs).write(&page); err != nil {
		return Files{}, fmt.Errorf("report: page: %w", err)
	}
	files.HTML = filepath.Join(dir, "report.html")
	if err := writeFile(files.HTML, page.Bytes()); err != nil {
		return Files{}, err
	}
	return files, nil
}

// labels names each run by its directory's name, or by the whole path
// where two runs' directories share a name (runs/a/1 and runs/b/1).
func labels(runs []*Run) []string {
	count := map[string]int{}
	for _, r := range runs {
		count[r.name()]++
	}
	names := make([]string, len(runs))
	for i, r := range runs {
		names[i] = r.name()
		if count[names[i]] > 1 {
			names[i] = filepath.Clean(r.Dir)
		}
	}
	return names
}

// writeFile writes b to name atomically.
func writeFile(name string, b []byte) error {
	err := atomicfile.Write(name, func(w io.Writer) error {
		_, err := w.Write(b)
		return err
	})
	if err != nil {
		return fmt.Errorf("report: write %s: %w", name, err)
	}
	return nil
}
