package backend

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/lenetkit/lenetkit/internal/testtool"
	"github.com/lenetkit/lenetkit/lenet"
	"github.com/lenetkit/lenetkit/modelfile"
)

// TestSeedLogitsWhateverTheBatch: the plan OpenStateDict compiles for the
// seed's weights gives each image the same logits, bit for bit, whatever
// the batch it comes in (one image alone, split between the CPUs; a few;
// chunks of many with the third convolution batched), so that train can
// score the test set once for both protocols and its figures are eval's
// at any batch.
func TestSeedLogitsWhateverTheBatch(t *testing.T) {
	sd, err := modelfile.Read(testtool.Testdata("lenet_trained.pth"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := OpenStateDict(sd, "lenet_trained.pth", Options{})
	if err != nil {
		t.Fatal(err)
	}
	const n, px = 300, lenet.InputSize * lenet.InputSize
	rng := rand.New(rand.NewPCG(1, 2))
	x := make([]float32, n*px)
	for i := range x {
		x[i] = rng.Float32()
	}
	logits := func(batch int) []float32 {
		out := make([]float32, n*lenet.Classes)
		for lo := 0; lo < n; lo += batch {
			hi := min(lo+batch, n)
			if err := p.Logits(out[lo*lenet.Classes:hi*lenet.Classes], x[lo*px:hi*px], hi-lo); err != nil {
				t.Fatal(err)
			}
		}
		return out
	}
	want := logits(n)
	for _, batch := range []int{1, 3, 7, 128} {
		if got := logits(batch); !slices.Equal(got, want) {
			t.Errorf("batch %d: the logits differ from those of one batch of %d", batch, n)
		}
	}
}
