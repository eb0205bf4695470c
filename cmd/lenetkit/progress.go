package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/lenetkit/lenetkit/mnist"
	"github.com/lenetkit/lenetkit/train"
)

// progress shows training as it goes: a bar per epoch on a terminal, a
// plain line every plainEvery steps otherwise (logs, CI, pipes).
type progress struct {
	w        io.Writer
	tty      bool
	bar      *progressbar.ProgressBar
	images   int
	busy     time.Duration
	lastLine time.Time
}

const plainEvery = 50

func newProgress(w *os.File) *progress {
	return &progress{w: w, tty: term.IsTerminal(int(w.Fd()))}
}

func (p *progress) step(e train.StepEvent, batch int) {
	p.images += batch
	p.busy += e.Duration
	rate := float64(p.images) / p.busy.Seconds()
	if p.tty {
		if p.bar == nil {
			p.bar = progressbar.NewOptions(e.StepsPerEpoch,
				progressbar.OptionSetWriter(p.w),
				progressbar.OptionSetWidth(24),
				progressbar.OptionShowCount(),
				progressbar.OptionSetPredictTime(true),
				progressbar.OptionSetElapsedTime(true),
				progressbar.OptionThrottle(100*time.Millisecond),
				progressbar.OptionClearOnFinish(),
			)
		}
		p.bar.Describe(fmt.Sprintf("epoch %d  loss %.4f  lr %.2e  %5.0f img/s", e.Epoch, e.Loss, e.LR, rate))
		p.bar.Add(1)
		return
	}
	if e.Step%plainEvery == 0 || e.Step == e.StepsPerEpoch {
		left := time.Duration(float64(e.TotalSteps-e.GlobalStep) * float64(p.busy) / float64(p.images/batch))
		fmt.Fprintf(p.w, "epoch %d step %d/%d  loss %.4f  lr %.3e  beta1 %.4f  %.0f img/s  ETA %s\n",
			e.Epoch, e.Step, e.StepsPerEpoch, e.Loss, e.LR, e.Beta1, rate, left.Round(time.Second))
	}
}

func (p *progress) epoch(e train.EpochEvent) {
	p.finish()
	fmt.Fprintf(p.w, "epoch %d  train loss %.4f  val acc %.2f%%  val loss %.4f  %.1fs  %.0f img/s\n",
		e.Epoch, e.TrainLoss, e.Val.Accuracy, e.Val.Loss, e.Duration.Seconds(), float64(e.Images)/e.Duration.Seconds())
	p.images, p.busy = 0, 0
}

func (p *progress) finish() {
	if p.bar != nil {
		p.bar.Finish()
		p.bar = nil
	}
}

// countProgress shows how many images eval or infer has classified, with
// images/s and the time left, on a terminal only: piped or logged output
// stays the result alone.
type countProgress struct {
	bar *progressbar.ProgressBar
}

// newCountProgress makes one for total images; -1 when the total is not
// known in advance (directories walked as they are read).
func newCountProgress(w *os.File, total int, what string) *countProgress {
	if !term.IsTerminal(int(w.Fd())) {
		return &countProgress{}
	}
	return &countProgress{bar: progressbar.NewOptions(total,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(what),
		progressbar.OptionSetWidth(24),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("img"),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
	)}
}

func (p *countProgress) add(n int) {
	if p.bar != nil {
		p.bar.Add(n)
	}
}

func (p *countProgress) finish() {
	if p.bar != nil {
		p.bar.Finish()
	}
}

// counted is a classifier that reports each batch it classified.
type counted struct {
	mnist.Classifier
	p *countProgress
}

func (c counted) Logits(logits, x []float32, n int) error {
	err := c.Classifier.Logits(logits, x, n)
	c.p.add(n)
	return err
}
