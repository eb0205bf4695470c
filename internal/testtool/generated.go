package testtool

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// CheckGenerated runs the generator gen (a go:build ignore program in the
// test's package directory) with `go run gen DIR`, writing into a
// temporary directory, and fails unless each of files equals the committed
// one: a generator and its output must not drift apart.
func CheckGenerated(t *testing.T, gen string, files ...string) {
	t.Helper()
	if testing.Short() {
		t.Skip("compiles and runs the generator")
	}
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the go command is not on PATH")
	}
	dir := t.TempDir()
	if out, err := exec.Command(goCmd, "run", gen, dir).CombinedOutput(); err != nil {
		t.Fatalf("go run %s: %v\n%s", gen, err, out)
	}
	for _, f := range files {
		got, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		want, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from what %s writes; run go generate in this package", f, gen)
		}
	}
}

// NarrowerKernels runs all again on the kernels the best ones hide on
// this CPU: with AVX-512 off, on AVX2 (where both were on), then with
// both off, on Go. avx512 and avx2 are the package's switches; they are
// as they were when it returns.
func NarrowerKernels(t *testing.T, avx512, avx2 *bool, all func(*testing.T)) {
	a512, a2 := *avx512, *avx2
	defer func() { *avx512, *avx2 = a512, a2 }()
	if a512 && a2 {
		*avx512 = false
		t.Run("avx2", all)
	}
	*avx512, *avx2 = false, false
	t.Run("go", all)
}
