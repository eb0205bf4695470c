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
