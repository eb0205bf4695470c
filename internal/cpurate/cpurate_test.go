package cpurate

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

// TestLoopsCompute: every loop the CPU runs computes its instruction's
// result, over 0, 1 and 5 iterations (the adds accumulate, the others
// keep the last).
func TestLoopsCompute(t *testing.T) {
	ls := loops()
	if len(ls) == 0 {
		t.Skip("no loops on this architecture or build")
	}
	ran := 0
	for _, l := range ls {
		if !l.has {
			t.Logf("%s: not on this CPU", l.name)
			continue
		}
		for _, n := range []int{1, 5} {
			if !l.run(n) {
				t.Errorf("%s over %d iterations: wrong result", l.name, n)
			}
		}
		ran++
	}
	if got := addChain(7); got != 56 {
		t.Errorf("addChain(7) = %d, want 56", got)
	}
	if ran == 0 {
		t.Error("no loop ran: amd64 without AVX2?")
	}
}

// TestReferenceSums: the Go sums the loops are checked against, on
// values worked by hand.
func TestReferenceSums(t *testing.T) {
	for _, c := range []struct {
		name      string
		got, want int32
	}{
		{"pairSum", pairSum(0x0003_8000, 0x7ffb_8000), 1<<30 + 3*32763},
		{"quadSum", quadSum(-0xfe01, -0x7f7f_fefe), 255*2 + 1 - 2*255*128},
		{"saturatedQuad", saturatedQuad(-0xfe01, -0x7f7f_fefe), 511 | -32768<<16},
	} {
		if c.got != c.want {
			t.Errorf("%s = %d, want %d", c.name, c.got, c.want)
		}
	}
}

func TestMeasure(t *testing.T) {
	rs, err := Measure(200*time.Millisecond, 2)
	if errors.Is(err, ErrUnsupported) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		if !(r.PerCycle > 0) || r.MACsPerCycle() != r.PerCycle*float64(r.MACs) {
			t.Errorf("%+v: a rate of nothing", r)
		}
	}
}

// BenchmarkRates prints each instruction's best rate a cycle and its
// multiply-adds a cycle: go test ./internal/cpurate -bench Rates.
func BenchmarkRates(b *testing.B) {
	for range b.N {
		rs, err := Measure(3*time.Second, 10)
		if err != nil {
			b.Skip(err)
		}
		if b.N == 1 {
			for _, r := range rs {
				fmt.Printf("%-22s %.2f a cycle, %5.1f multiply-adds a cycle\n", r.Name, r.PerCycle, r.MACsPerCycle())
			}
		}
	}
}
