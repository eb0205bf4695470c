package testtool

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
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
		if strings.HasSuffix(f, ".s") {
			for _, bad := range LegacySSE(want) {
				t.Errorf("%s: %s", f, bad)
			}
		}
	}
}

var (
	textLine  = regexp.MustCompile(`^TEXT\s+\S*?([A-Za-z0-9_]+)\(SB\)`)
	wideReg   = regexp.MustCompile(`\b[YZ]\d+\b`)
	narrowReg = regexp.MustCompile(`\bX\d+\b`)
)

// LegacySSE lists the instructions of Go assembly src that are SSE's
// legacy encoding (an X register, a mnemonic without AVX's V) in a
// function that also uses Y or Z registers. On Intel's Xeons each one,
// run while the upper halves are in use, costs a state transition: a
// 2x2 max pool with one such MOVQ a vector ran 9 times slower there than
// with VMOVQ, while AMD's cores took it at full speed.
func LegacySSE(src []byte) []string {
	var bad, legacy []string
	fn, wide := "", false
	flush := func() {
		if wide {
			for _, l := range legacy {
				bad = append(bad, fn+": "+l+" is legacy SSE among AVX instructions; use its VEX form")
			}
		}
		legacy, wide = legacy[:0], false
	}
	for _, line := range strings.Split(string(src), "\n") {
		if m := textLine.FindStringSubmatch(line); m != nil {
			flush()
			fn = m[1]
			continue
		}
		ins := strings.TrimSpace(line)
		if !strings.HasPrefix(line, "\t") || ins == "" || strings.HasPrefix(ins, "//") {
			continue
		}
		wide = wide || wideReg.MatchString(ins)
		if narrowReg.MatchString(ins) && ins[0] != 'V' && ins[0] != 'K' {
			legacy = append(legacy, ins)
		}
	}
	flush()
	return bad
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
