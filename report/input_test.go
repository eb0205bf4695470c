package report

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"gonum.org/v1/plot/plotter"

	"github.com/lenetkit/lenetkit/internal/safeio"
)

// TestReadRefusesWhatIsNotALog: a run directory is input like a model
// file. A metrics.jsonl that is a named pipe (which would block forever),
// a link to a device (endless), or records no run writes end in an error
// naming the file, at once.
func TestReadRefusesWhatIsNotALog(t *testing.T) {
	cases := []struct {
		name  string
		make  func(t *testing.T, metrics string)
		want  string
		isErr error
	}{
		{"named pipe", func(t *testing.T, m string) {
			if err := syscall.Mkfifo(m, 0o644); err != nil {
				t.Skip("no named pipes here:", err)
			}
		}, "a named pipe", safeio.ErrNotRegular},
		{"link to /dev/zero", func(t *testing.T, m string) {
			if err := os.Symlink("/dev/zero", m); err != nil {
				t.Skip(err)
			}
		}, "a device", safeio.ErrNotRegular},
		{"a directory", func(t *testing.T, m string) {
			if err := os.Mkdir(m, 0o755); err != nil {
				t.Fatal(err)
			}
		}, "a directory", safeio.ErrNotRegular},
		{"accuracy 500 %", func(t *testing.T, m string) {
			write(t, m, `{"epoch":1,"train_loss":0.1,"val_loss":0.03,"val_acc":500}`+"\n")
		}, "accuracy 500", nil},
		{"negative loss", func(t *testing.T, m string) {
			write(t, m, `{"test_acc":99,"test_loss":-3}`+"\n")
		}, "loss -3", nil},
		{"step 0", func(t *testing.T, m string) {
			write(t, m, `{"step":0,"epoch":1,"train_loss":0.1,"learning_rate":0.001}`+"\n")
		}, "step 0", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			metrics := filepath.Join(dir, "metrics.jsonl")
			c.make(t, metrics)
			done := make(chan error, 1)
			go func() {
				_, err := Read(dir)
				done <- err
			}()
			select {
			case err := <-done:
				if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "metrics.jsonl") {
					t.Fatalf("Read: %v; want an error naming metrics.jsonl and %q", err, c.want)
				}
				if c.isErr != nil && !errors.Is(err, c.isErr) {
					t.Errorf("Read: %v is not %v", err, c.isErr)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Read still blocked after 10 s")
			}
		})
	}
}

func write(t *testing.T, name, s string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestDecimateKeepsExtremes: thinning a long line for drawing keeps its
// ends in range, its order, and every bucket's highest and lowest point.
func TestDecimateKeepsExtremes(t *testing.T) {
	for _, n := range []int{10, maxLinePoints, maxLinePoints + 1, 1_000_003} {
		pts := make(plotter.XYs, n)
		for i := range pts {
			pts[i] = plotter.XY{X: float64(i + 1), Y: math.Sin(float64(i) / 7)}
		}
		spike := n / 3
		pts[spike].Y = 50
		out := decimate(pts)
		if n <= maxLinePoints && len(out) != n {
			t.Fatalf("%d points thinned to %d: a short line is drawn whole", n, len(out))
		}
		if len(out) > maxLinePoints {
			t.Fatalf("%d points thinned to %d, over %d", n, len(out), maxLinePoints)
		}
		sawSpike := false
		for i, p := range out {
			if i > 0 && p.X <= out[i-1].X {
				t.Fatalf("%d points: out of order at %d", n, i)
			}
			sawSpike = sawSpike || p.Y == 50
		}
		if !sawSpike {
			t.Errorf("%d points: the spike at %d was thinned away", n, spike)
		}
	}
}

// BenchmarkWriteLongRun draws a run of a million steps, the data a
// person waits for when reporting a long run (about 10^6 lines of
// metrics.jsonl, whose JSON decoding takes longer than the drawing).
func BenchmarkWriteLongRun(b *testing.B) {
	r := &Run{Dir: "long"}
	for s := 1; s <= 1_000_000; s++ {
		r.Steps = append(r.Steps, Step{Step: s, Epoch: (s-1)/1000 + 1, TrainLoss: 2.3*math.Exp(-float64(s)/1e5) + 0.01*math.Abs(math.Sin(float64(s))),
			LearningRate: 1e-3, Beta1: 0.9, EvalMode: s > 79})
	}
	for e := 1; e <= 1000; e++ {
		r.Epochs = append(r.Epochs, Epoch{Epoch: e, TrainLoss: 0.1, ValLoss: 0.03, ValAcc: 99, Seconds: 9})
	}
	dir := b.TempDir()
	for b.Loop() {
		if _, err := Write(dir, r); err != nil {
			b.Fatal(err)
		}
	}
}
