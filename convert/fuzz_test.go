package convert

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lenetkit/lenetkit/internal/testtool"
	"github.com/lenetkit/lenetkit/lenet"
)

// fuzzBounded runs f and fails t when it takes more than 2 s or allocates
// more than 256 MB: what issue 12 allows a hostile file.
func fuzzBounded(t *testing.T, f func()) {
	t.Helper()
	d, n := testtool.Cost(f)
	if d > testtool.FuzzSeconds*time.Second {
		t.Fatalf("took %v", d)
	}
	if n > testtool.HostileAlloc {
		t.Fatalf("allocated %d MB", n>>20)
	}
}

// hostilePickles are small versions of the pickles of reference/hostile.py
// and TestReadPTHLimits, for the fuzzers' seeds.
func hostilePickles() []string {
	return []string{
		"\x80\x02\x8b\x00\x01\x00\x00" + strings.Repeat("\x01", 256) + ".",
		"\x80\x02\x8a\x09" + strings.Repeat("\x01", 9) + ".",
		"\x80\x02L" + strings.Repeat("9", 40) + "L\n.",
		"\x80\x04}" + strings.Repeat("\x94", 1000) + ".",
		"\x80\x02}" + strings.Repeat("2", 1000) + ".",
		"\x80\x02]" + strings.Repeat("Na", 1000) + ".",
		"\x80\x02X\x05\x00\x00\x00kkkkkq\x000" + strings.Repeat("}h\x00", 70) + "K\x01" + strings.Repeat("s", 70) + ".",
		"\x80\x02]q\x00h\x00a.",
		evilSystem,
	}
}

// fixturePickles are the data.pkl records of the .pth fixtures.
func fixturePickles(t testing.TB) [][]byte {
	var out [][]byte
	paths, _ := filepath.Glob(testtool.Testdata("pth/*.pth"))
	for _, p := range paths {
		zr, err := zip.OpenReader(p)
		if err != nil {
			continue
		}
		for _, f := range zr.File {
			if strings.HasSuffix(f.Name, "/data.pkl") && f.UncompressedSize64 < 64<<10 {
				if rc, err := f.Open(); err == nil {
					b, _ := io.ReadAll(rc)
					rc.Close()
					out = append(out, b)
				}
			}
		}
		zr.Close()
	}
	return out
}

// FuzzPickle: the pickle pre-scan and gopickle behind it never panic and
// stay within 2 s and 256 MB; flattening what they accept does too.
func FuzzPickle(f *testing.F) {
	for _, b := range fixturePickles(f) {
		f.Add(b)
	}
	for _, p := range hostilePickles() {
		f.Add([]byte(p))
	}
	f.Add([]byte(tensorPickle(testTensor{"w", "FloatStorage", "0", 4, 1, []int{3}, []int{1}})))
	f.Add([]byte(legacyPickle(2)))
	f.Fuzz(func(t *testing.T, b []byte) {
		fuzzBounded(t, func() {
			n, err := scanPickle(b, allowGlobal)
			if err != nil {
				if strings.Contains(err.Error(), "\n") {
					t.Fatalf("error of two lines: %q", err)
				}
				return
			}
			d := newDecoder(false)
			up := &unpickler{allow: allowGlobal, persistentLoad: d.persistentLoad}
			root, err := up.load(b[:n])
			if err != nil {
				return
			}
			for _, st := range d.order {
				if st.numel*st.typ.size > 1<<20 {
					return
				}
				st.data = make([]byte, st.numel*st.typ.size)
			}
			flatten(d.object(root), root)
		})
	})
}

// FuzzSafetensors: the safetensors reader never panics, stays within 2 s
// and 256 MB, and what it accepts covers the file's data exactly.
func FuzzSafetensors(f *testing.F) {
	var buf bytes.Buffer
	small := lenet.StateDict{
		{Name: "w", Shape: []int{2, 2}, DType: lenet.Float32, F32: []float32{1, -2, 3, -4}},
		{Name: "n", Shape: []int{}, DType: lenet.Int64, I64: []int64{7}},
		{Name: "e", Shape: []int{0}, DType: lenet.Float32, F32: []float32{}},
	}
	if err := WriteSafetensors(&buf, small, map[string]string{"format": "pt"}); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Add(safetensorsFile(`{"a":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},"b":{"dtype":"BF16","shape":[1],"data_offsets":[4,6]}}`, make([]byte, 6)))
	f.Add(safetensorsFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}`, make([]byte, 12)))
	f.Add(safetensorsFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, make([]byte, 8)))
	f.Add(safetensorsFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, make([]byte, 24)))
	f.Add(append([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0}, '{', '}'))
	f.Fuzz(func(t *testing.T, b []byte) {
		var (
			sd  lenet.StateDict
			err error
		)
		fuzzBounded(t, func() { sd, _, err = decodeSafetensors(bytes.NewReader(b), int64(len(b))) })
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error of two lines: %q", err)
			}
			return
		}
		data := int64(len(b)) - 8 - int64(binary.LittleEndian.Uint64(b))
		var sum int64
		for _, tn := range sd {
			n := tn.NumElements()
			if len(tn.F32)+len(tn.I64) != n {
				t.Fatalf("%s: shape %v with %d values", tn.Name, tn.Shape, len(tn.F32)+len(tn.I64))
			}
			sum += int64(n)
		}
		if data < sum {
			t.Fatalf("%d elements from %d bytes of data", sum, data)
		}
	})
}
