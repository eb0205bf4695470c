// Package mnisttest gives tests the real MNIST, as lenetkit finds it
// (mnist.Locate: $LENETKIT_DATA, else the GoMNIST module's copy), read
// once per part and test binary.
package mnisttest

import (
	"sync"
	"testing"

	"github.com/lenetkit/lenetkit/internal/testtool"
	"github.com/lenetkit/lenetkit/mnist"
)

var parts struct {
	sync.Mutex
	sets map[string]*mnist.Set
}

// Set returns part ("train" or "test") of the real MNIST. When the data
// cannot be found or fetched the test is skipped, or fails under CI=true
// (testtool.Missing); data found but unreadable fails it.
func Set(t testing.TB, part string) *mnist.Set {
	t.Helper()
	parts.Lock()
	defer parts.Unlock()
	if s := parts.sets[part]; s != nil {
		return s
	}
	src, err := mnist.Locate(t.Context(), "")
	if err != nil {
		testtool.Missing(t, "the real MNIST is unavailable: "+err.Error())
	}
	s, err := mnist.Load(src.Dir, part, mnist.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if parts.sets == nil {
		parts.sets = map[string]*mnist.Set{}
	}
	parts.sets[part] = s
	return s
}
