package main

import (
	"fmt"
	"io"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/lenetkit/lenetkit/report"
)

func reportCommand() *cli.Command {
	return &cli.Command{
		Name:      "report",
		Usage:     "draw training runs (train --log-dir) as one HTML page with charts, beside the seed's 99.16 % / 0.0253",
		ArgsUsage: "DIR...",
		Description: `Reads the config.json and metrics.jsonl that lenetkit train --log-dir DIR
keeps and writes DIR/report.html: one self-contained page (it needs no
network) with the test figures beside the seed's, the configuration, and
charts of what the seed's notebook logged to Weights & Biases: training loss,
learning rate and Adam's beta1 per step; validation loss and accuracy and the
mean training loss per epoch. The charts are also written as PNG files in
DIR/charts/. train writes this report itself after every epoch; this command
draws it again, for instance for a run that was stopped.

With several DIRs the runs (seeds, recipes) share each chart's axes, each
labelled by its directory's name, on a page written to --out.

Examples:
   lenetkit report runs/1
   lenetkit report runs/seed1 runs/seed2 runs/seed3 --out runs/seeds
   lenetkit report runs/published runs/standard --out runs/recipes --format json`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "out", Usage: "directory to write report.html and charts/ to (default: the one DIR; required with several)"},
			&cli.StringFlag{Name: "format", Value: "text", Usage: "text or json (the paths written)"},
		},
		Action: runReport,
	}
}

// reportResult is --format json: what was read and what was written.
type reportResult struct {
	Runs   []string `json:"runs"`
	HTML   string   `json:"html"`
	Charts []string `json:"charts"`
}

func runReport(c *cli.Context) error {
	if c.NArg() == 0 {
		return usageError("report takes one or more run directories of train --log-dir, got none (see lenetkit report --help)")
	}
	format := c.String("format")
	if err := checkFormat(format, "text", "json"); err != nil {
		return err
	}
	dirs := c.Args().Slice()
	out := c.String("out")
	if out == "" {
		if len(dirs) > 1 {
			return usageError("report of %d runs needs --out: the page that overlays them belongs in none of their directories", len(dirs))
		}
		out = dirs[0]
	}
	var runs []*report.Run
	status := statusOut(c)
	for _, dir := range dirs {
		r, err := report.Read(dir)
		if err != nil {
			return err
		}
		for _, n := range r.Notes {
			fmt.Fprintf(status, "note: %s: %s\n", filepath.Clean(dir), n)
		}
		runs = append(runs, r)
	}
	files, err := report.Write(out, runs...)
	if err != nil {
		return err
	}
	w := c.App.Writer
	if format == "json" {
		return printJSON(w, reportResult{Runs: dirs, HTML: files.HTML, Charts: files.Charts})
	}
	for _, p := range append([]string{files.HTML}, files.Charts...) {
		fmt.Fprintln(w, p)
	}
	return nil
}

// writeReport draws the run logged so far into its directory, as
// lenetkit report would. A failure is only a warning on warn: the run, and
// the model it trains, matter more than its pictures.
func (l *runLog) writeReport(warn io.Writer) (report.Files, bool) {
	if l == nil {
		return report.Files{}, false
	}
	// report.Read reads the file: what the buffer holds goes there first.
	if l.err == nil {
		l.err = l.w.Flush()
	}
	dir := filepath.Dir(l.f.Name())
	r, err := report.Read(dir)
	var files report.Files
	if err == nil {
		files, err = report.Write(dir, r)
	}
	if err != nil {
		fmt.Fprintf(warn, "lenetkit: warning: the run's report was not written: %v\n", err)
		return report.Files{}, false
	}
	return files, true
}

// finalReport is writeReport once the run has ended, however it ended,
// saying where the page is.
func (l *runLog) finalReport(status, warn io.Writer) {
	if files, ok := l.writeReport(warn); ok {
		fmt.Fprintf(status, "Report: %s\n", files.HTML)
	}
}
