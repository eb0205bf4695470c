package bench

import (
	"strings"
	"testing"
	"time"

	"github.com/lenetkit/lenetkit/mnist"
)

// countingClassifier counts the images it classifies.
type countingClassifier struct{ images int }

func (c *countingClassifier) Logits(logits, x []float32, n int) error {
	c.images += n
	return nil
}

// TestInterleaved: every classifier takes every round, and its best
// figure is positive.
func TestInterleaved(t *testing.T) {
	a, b := &countingClassifier{}, &countingClassifier{}
	got, err := Interleaved([]mnist.Classifier{a, b}, 4, 5*time.Millisecond, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0] <= 0 || got[1] <= 0 || a.images == 0 || b.images == 0 {
		t.Errorf("figures %v, images %d and %d", got, a.images, b.images)
	}
	if _, err := Interleaved([]mnist.Classifier{a}, 1, time.Millisecond, 0); err == nil {
		t.Error("0 rounds accepted")
	}
}

// TestMachine: the CPU has a name and the load average reads as uptime's.
func TestMachine(t *testing.T) {
	if CPUModel() == "" {
		t.Error("no CPU model")
	}
	if avg, ok := LoadAverage(); ok && (avg[0] < 0 || !strings.Contains(FormatLoad(avg), ", ")) {
		t.Errorf("load average %v, %q", avg, FormatLoad(avg))
	}
}
