// Package report turns what lenetkit train --log-dir keeps of a run
// (config.json and metrics.jsonl) into something to look at: one
// self-contained HTML page with the run's charts, its test figures beside
// the seed's published 99.16 % / 0.0253 and its configuration, and the same
// charts as PNG files. Several runs (seeds, recipes) can share one page,
// overlaid on the same axes. It also draws the pictures of an evaluation: a
// confusion matrix and the misclassified digits.
//
// The page needs no network: charts are inline PNG data, and there are no
// scripts, fonts or style sheets to fetch. Charts are drawn with
// gonum.org/v1/plot.
package report

// The seed's published test figures, the reference every page shows.
const (
	seedAccuracy = 99.16  // percent
	seedLoss     = 0.0253 // mean cross-entropy
)
