package testtool

import (
	"os/exec"
	"runtime/metrics"
	"testing"
	"time"
)

// What reading one hostile file may cost: issue 12 allows 2 s and 256 MB.
// The tests of whole files allow more time, for a loaded machine; the
// fuzz targets hold inputs to the 2 s.
const (
	HostileSeconds = 5
	FuzzSeconds    = 2
	HostileAlloc   = 256 << 20
)

// allocated is how many bytes the process has allocated so far, freed or not.
func allocated() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// Cost runs f and returns how long it took and how many bytes it
// allocated, all allocations counted.
func Cost(f func()) (time.Duration, uint64) {
	a, start := allocated(), time.Now()
	f()
	return time.Since(start), allocated() - a
}

// Bounded runs f and fails t (going on) when it takes more than seconds
// or allocates more than HostileAlloc bytes; what names f in the error.
func Bounded(t testing.TB, what string, seconds int, f func()) {
	t.Helper()
	d, n := Cost(f)
	if d > time.Duration(seconds)*time.Second {
		t.Errorf("%s took %v, more than %d s", what, d.Round(time.Millisecond), seconds)
	}
	if n > HostileAlloc {
		t.Errorf("%s allocated %d MB, more than %d MB", what, n>>20, HostileAlloc>>20)
	}
}

// HostileFiles writes the named files of reference/hostile.py into a
// temporary directory and returns it. The script needs only Python's
// standard library.
func HostileFiles(t testing.TB, names ...string) string {
	t.Helper()
	py := RequirePython(t)
	dir := t.TempDir()
	out, err := exec.Command(py, append([]string{Reference("hostile.py"), dir, "--only"}, names...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("hostile.py: %v\n%s", err, out)
	}
	return dir
}
