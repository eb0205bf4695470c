package train

import (
	"testing"

	"github.com/lenetkit/lenetkit/internal/fixture"
	"github.com/lenetkit/lenetkit/lenet"
)

type fixtureT struct{ fixture.Tensors }

func readFixture(t *testing.T, name string) fixtureT {
	t.Helper()
	fx, err := fixture.Read(name)
	if err != nil {
		t.Fatal(err)
	}
	return fixtureT{fx}
}

func (f fixtureT) get(t *testing.T, name string) *lenet.Tensor {
	t.Helper()
	tn, ok := f.Tensors[name]
	if !ok {
		t.Fatalf("fixture has no %s", name)
	}
	return tn
}
