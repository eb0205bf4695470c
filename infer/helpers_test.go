package infer

import (
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/lenetkit/lenetkit/internal/testtool"
	"github.com/lenetkit/lenetkit/mnist"
)

// realTest returns the real MNIST test set, or skips (fails under CI=true)
// when it cannot be found or fetched.
func realTest(t testing.TB) *mnist.Set {
	t.Helper()
	testSet.once.Do(func() {
		src, err := mnist.Locate(t.Context(), "")
		if err != nil {
			testSet.err = err
			return
		}
		testSet.set, testSet.err = mnist.Load(src.Dir, "test", mnist.Options{})
	})
	if testSet.err != nil {
		testtool.Missing(t, "the real MNIST is unavailable: "+testSet.err.Error())
	}
	return testSet.set
}

var testSet struct {
	once sync.Once
	set  *mnist.Set
	err  error
}

func writeFile(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}
