package backend

import (
	"testing"

	"github.com/lenetkit/lenetkit/internal/testtool"
	"github.com/lenetkit/lenetkit/lenet"
	"github.com/lenetkit/lenetkit/modelfile"
)

// TestSeedLogitsWhateverTheBatch: the plan OpenStateDict compiles for the
// seed's weights gives each image the same logits, bit for bit, whatever
// the batch it comes in (one image alone, split between the CPUs; a few;
// chunks of many, the first dense layer batched), so that train can
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
	testtool.SameLogitsWhateverTheBatch(t, p.Logits, lenet.InputSize*lenet.InputSize, lenet.Classes)
}
