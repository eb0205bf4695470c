package backend

import (
	"math"
	"path/filepath"
	"testing"

	"github.com/lenetkit/lenetkit/internal/kernel"
	"github.com/lenetkit/lenetkit/internal/winograd"
)

// TestBlockHandOver: in cnn28 and the seed's graph, where each conv block
// after the first alone reads the pooled map of the one before, that one
// pools straight into its padded input (handOver), a block of the direct
// kernels into a block of direct or Winograd's kernels (where the tiles
// cover the map exactly: not cnn28's 14 wide); the logits are those of
// the plan with the hand-over undone, bit for bit, for one image at a
// time (each block's rows split between CPUs) and for a batch.
func TestBlockHandOver(t *testing.T) {
	wino := winograd.Conv{H: 14, W: 14, In: 16, Out: 32}.Kernel() != "go"
	for _, tc := range []struct {
		name  string
		hands int // blocks that hand over: all but the last
	}{{"cnn28.onnx", 1}, {"seed_view.onnx", 2}} {
		name := tc.name
		if wino {
			// cnn28's second block and the seed's second and third run
			// by Winograd's transforms; the seed's first hands over.
			tc.hands = map[string]int{"cnn28.onnx": 0, "seed_view.onnx": 1}[name]
		}
		t.Run(name, func(t *testing.T) {
			path := filepath.Join("..", "..", "testdata", "onnx", name)
			p, err := Open(path)
			if err != nil {
				t.Fatal(err)
			}
			plain, err := Open(path)
			if err != nil {
				t.Fatal(err)
			}
			blocks, hands, handed, widened := 0, 0, 0, 0
			for i, s := range plain.steps {
				switch b := s.(type) {
				case blockStep:
					blocks++
					if b.realW != 0 {
						widened++
					}
					if b.next > 0 {
						hands++
					}
					if b.handed {
						handed++
					}
					b.next, b.handed = 0, false
					plain.steps[i] = b
				case winogradStep:
					blocks++
					if b.handed {
						handed++
					}
					b.handed = false
					plain.steps[i] = b
				}
			}
			if blocks == 0 {
				// cnn28's blocks have no BatchNorm, and fuse only where
				// the kernels are vectorised.
				t.Skipf("no block is fused with the %s kernels: none hands over", kernel.KernelName())
			}
			if widened > 0 {
				// AVX2's kernels widen cnn28's 14-wide map, and a block on
				// a widened map neither hands over nor is handed to.
				t.Skipf("%d blocks run on widened maps with the %s kernels: none hands over", widened, kernel.KernelName())
			}
			if hands != tc.hands || handed != tc.hands {
				t.Fatalf("%d blocks hand over and %d are handed to, want %d each", hands, handed, tc.hands)
			}
			const n = 20
			px := p.Channels * p.Height * p.Width
			x := make([]float32, n*px)
			for i := range x {
				x[i] = float32(math.Sin(float64(i)*0.37)) * 2
			}
			for _, batch := range []int{1, n} {
				got, want := make([]float32, n*p.Outputs), make([]float32, n*p.Outputs)
				for i := 0; i < n; i += batch {
					if err := p.Logits(got[i*p.Outputs:], x[i*px:(i+batch)*px], batch); err != nil {
						t.Fatal(err)
					}
					if err := plain.Logits(want[i*p.Outputs:], x[i*px:(i+batch)*px], batch); err != nil {
						t.Fatal(err)
					}
				}
				for i := range got {
					if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
						t.Fatalf("batch %d: logit %d is %v handed over, %v not", batch, i, got[i], want[i])
					}
				}
			}
		})
	}
}
