package convert

import (
	"archive/zip"
	"bytes"
	"encoding/hex"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lenetkit/lenetkit/internal/testtool"
	"github.com/lenetkit/lenetkit/lenet"
)

// TestWritePTHLoadsInTorch: real PyTorch loads what SavePTH writes, with and
// without weights_only, strictly into the reference LeNet, bit for bit.
func TestWritePTHLoadsInTorch(t *testing.T) {
	sd := randomLeNet(1)
	path := filepath.Join(t.TempDir(), "model.pth")
	if err := SavePTH(path, sd); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Tensors     []tensorInfo `json:"tensors"`
		WeightsOnly bool         `json:"weights_only"`
		LeNetStrict bool         `json:"lenet_strict"`
	}
	decodeJSON(t, runPython(t, "pth_check.py", path, "--lenet"), &got)
	if !got.WeightsOnly {
		t.Error("torch.load(weights_only=True) gave other tensors than torch.load")
	}
	if !got.LeNetStrict {
		t.Error("LeNet().load_state_dict(strict=True) did not reproduce the file's tensors")
	}
	if want := describe(sd); !equalInfos(got.Tensors, want) {
		t.Errorf("torch reads\n%v\nwant\n%v", got.Tensors, want)
	}
}

// oddStateDict exercises the pickle's less travelled paths: more than 1000
// entries (SETITEMS batches), memo indices past 255, dimensions past 65535,
// empty and zero-sized tensors, non-ASCII names, int64 extremes.
func oddStateDict() lenet.StateDict {
	sd := lenet.StateDict{
		{Name: "wide", Shape: []int{1, 70000}, DType: lenet.Float32, F32: make([]float32, 70000)},
		{Name: "empty", Shape: []int{0}, DType: lenet.Float32, F32: []float32{}},
		{Name: "zero_rows", Shape: []int{2, 0, 3}, DType: lenet.Float32, F32: []float32{}},
		{Name: "scalar", Shape: []int{}, DType: lenet.Float32, F32: []float32{float32(math.Inf(-1))}},
		{Name: "extremes", Shape: []int{4}, DType: lenet.Int64, I64: []int64{math.MinInt64, math.MaxInt64, -1, 0}},
		{Name: "gewicht.größe", Shape: []int{2, 1, 1, 1, 2}, DType: lenet.Float32, F32: []float32{1, -2, 3, -4}},
	}
	for i := range sd[0].F32 {
		sd[0].F32[i] = float32(i) / 7
	}
	for i := range 1100 {
		sd = append(sd, &lenet.Tensor{Name: fmt.Sprintf("many.%d", i), Shape: []int{1}, DType: lenet.Int64, I64: []int64{int64(i) - 550}})
	}
	return sd
}

func TestWritePTHOddTensorsLoadInTorch(t *testing.T) {
	sd := oddStateDict()
	path := filepath.Join(t.TempDir(), "odd.pth")
	if err := SavePTH(path, sd); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Tensors     []tensorInfo `json:"tensors"`
		WeightsOnly bool         `json:"weights_only"`
	}
	decodeJSON(t, runPython(t, "pth_check.py", path), &got)
	if !got.WeightsOnly {
		t.Error("torch.load(weights_only=True) gave other tensors than torch.load")
	}
	if want := describe(sd); !equalInfos(got.Tensors, want) {
		t.Errorf("torch reads other tensors than written (%d vs %d)", len(got.Tensors), len(want))
	}
}

// TestWritePTHMatchesTorchSave: for the same tensors, the archive is byte for
// byte what this machine's torch.save writes. Torch 1.x writes no byteorder
// record, so the comparison leaves it out when torch does; a torch that adds
// records of its own (2.x's .data/serialization_id) gets a record-by-record
// comparison instead.
func TestWritePTHMatchesTorchSave(t *testing.T) {
	for name, sd := range map[string]lenet.StateDict{"lenet": randomLeNet(2), "odd": oddStateDict()} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			in := filepath.Join(dir, "in.pth")
			if err := SavePTH(in, sd); err != nil {
				t.Fatal(err)
			}
			resaved := filepath.Join(dir, "resaved.pth")
			runPython(t, "pth_check.py", in, "--resave", resaved)
			want, err := os.ReadFile(resaved)
			if err != nil {
				t.Fatal(err)
			}
			torchRecords := zipRecords(t, want)
			_, byteorder := torchRecords["resaved/byteorder"]
			var got bytes.Buffer
			if err := writePTH(&got, sd, "resaved", byteorder); err != nil {
				t.Fatal(err)
			}
			ours := zipRecords(t, got.Bytes())
			if len(ours) != len(torchRecords) {
				t.Logf("torch writes %d records, this package %d: comparing records, not bytes", len(torchRecords), len(ours))
				for name, data := range ours {
					if theirs, ok := torchRecords[name]; !ok || !bytes.Equal(data, theirs) {
						t.Errorf("record %s differs from torch's", name)
					}
				}
				return
			}
			if !bytes.Equal(got.Bytes(), want) {
				i := 0
				for i < min(got.Len(), len(want)) && got.Bytes()[i] == want[i] {
					i++
				}
				t.Fatalf("bytes differ from torch.save's at offset %d of %d/%d:\n go   %s\n torch %s",
					i, got.Len(), len(want), hexAround(got.Bytes(), i), hexAround(want, i))
			}
		})
	}
}

// zipRecords reads every record of an archive by name.
func zipRecords(t *testing.T, b []byte) map[string][]byte {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string][]byte)
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
		out[f.Name] = data
	}
	return out
}

func hexAround(b []byte, i int) string {
	return hex.EncodeToString(b[max(i-8, 0):min(i+24, len(b))])
}

// TestWritePTHLayout checks the archive's structure with Go's own zip reader:
// records, their order, storage method and 64-byte data alignment.
func TestWritePTHLayout(t *testing.T) {
	sd := randomLeNet(3)[:12]
	var buf bytes.Buffer
	if err := WritePTH(&buf, sd, "my model"); err != nil {
		t.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"data.pkl", "byteorder", "data/0", "data/1", "data/10", "data/11", "data/2", "data/3",
		"data/4", "data/5", "data/6", "data/7", "data/8", "data/9", "version"}
	if len(zr.File) != len(want) {
		t.Fatalf("%d records, want %d", len(zr.File), len(want))
	}
	for i, f := range zr.File {
		if f.Name != "my model/"+want[i] {
			t.Errorf("record %d is %s, want my model/%s", i, f.Name, want[i])
		}
		if f.Method != zip.Store {
			t.Errorf("%s: method %d, want stored", f.Name, f.Method)
		}
		off, err := f.DataOffset()
		if err != nil {
			t.Fatal(err)
		}
		if off%64 != 0 {
			t.Errorf("%s: data at offset %d, not 64-byte aligned", f.Name, off)
		}
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(rc) // also checks the CRC
		if err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
		switch {
		case want[i] == "version" && string(data) != "3\n":
			t.Errorf("version holds %q", data)
		case want[i] == "byteorder" && string(data) != "little":
			t.Errorf("byteorder holds %q", data)
		case strings.HasPrefix(want[i], "data/"):
			var k int
			fmt.Sscan(strings.TrimPrefix(want[i], "data/"), &k)
			if got, want := string(data), string(tensorBytes(sd[k])); got != want {
				t.Errorf("%s does not hold %s's bytes", f.Name, sd[k].Name)
			}
		}
	}
}

func TestWritePTHRejects(t *testing.T) {
	good := func() *lenet.Tensor {
		return &lenet.Tensor{Name: "w", Shape: []int{2}, DType: lenet.Float32, F32: []float32{1, 2}}
	}
	tests := []struct {
		name    string
		sd      lenet.StateDict
		archive string
		want    string
	}{
		{"duplicate", lenet.StateDict{good(), good()}, "", "appears twice"},
		{"too few elements", lenet.StateDict{{Name: "w", Shape: []int{3}, DType: lenet.Float32, F32: []float32{1}}}, "", "needs 3 elements, has 1"},
		{"int data for float", lenet.StateDict{{Name: "w", Shape: []int{1}, DType: lenet.Float32, I64: []int64{1}}}, "", "needs 1 elements, has 0"},
		{"negative dim", lenet.StateDict{{Name: "w", Shape: []int{-1}, DType: lenet.Float32}}, "", "shape [-1]"},
		{"unknown dtype", lenet.StateDict{{Name: "w", Shape: []int{}, DType: lenet.DType(7)}}, "", "unknown dtype"},
		{"nil tensor", lenet.StateDict{nil}, "", "is nil"},
		{"bad utf-8", lenet.StateDict{{Name: "w\xff", Shape: []int{}, DType: lenet.Float32, F32: []float32{0}}}, "", "not UTF-8"},
		{"slash in archive", lenet.StateDict{good()}, "a/b", "not a plain folder name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			err := WritePTH(&buf, tc.sd, tc.archive)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "convert: ") {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
			if buf.Len() != 0 {
				t.Errorf("wrote %d bytes before failing", buf.Len())
			}
		})
	}
}

// TestSavePTH: the archive folder follows the file name as torch's does, the
// file appears only complete, and a failed save leaves nothing behind.
func TestSavePTH(t *testing.T) {
	dir := t.TempDir()
	sd := randomLeNet(4)
	for file, folder := range map[string]string{"net.pth": "net", "run.v2.pt": "run.v2", "weights": "weights", ".pth": "archive"} {
		path := filepath.Join(dir, file)
		if err := SavePTH(path, sd); err != nil {
			t.Fatal(err)
		}
		zr, err := zip.OpenReader(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := zr.File[0].Name; got != folder+"/data.pkl" {
			t.Errorf("%s: first record %s, want %s/data.pkl", file, got, folder)
		}
		zr.Close()
		info, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode().Perm()&0o044 == 0 {
			t.Errorf("%s: mode %v, others cannot read it", file, info.Mode())
		}
	}

	// Overwriting with a bad state dict fails and keeps the old file intact.
	path := filepath.Join(dir, "net.pth")
	before, _ := os.ReadFile(path)
	bad := lenet.StateDict{{Name: "w", Shape: []int{2}, DType: lenet.Float32}}
	err := SavePTH(path, bad)
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("error %v, want one naming %s", err, path)
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Error("failed save changed the existing file")
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}
	if err := SavePTH(filepath.Join(dir, "missing", "x.pth"), sd); err == nil {
		t.Error("saving into a missing directory succeeded")
	}
}

// TestPickleInts compares the int encoding with CPython's pickle protocol 2.
func TestPickleInts(t *testing.T) {
	vals := []int64{0, 1, 255, 256, 65535, 65536, -1, -128, -129, 1<<31 - 1, 1 << 31, -1 << 31, -1<<31 - 1,
		1<<63 - 1, -1 << 63, 1 << 40, -(1 << 40), 0x7f << 32, 0x80 << 32, -0x80 << 32, -0x81 << 32}
	var src strings.Builder
	src.WriteString("import pickle\nfor v in [")
	for _, v := range vals {
		fmt.Fprintf(&src, "%d,", v)
	}
	src.WriteString("]:\n    print(pickle.dumps(v, 2).hex())\n")
	script := filepath.Join(t.TempDir(), "ints.py")
	if err := os.WriteFile(script, []byte(src.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	lines := strings.Fields(string(runPythonFile(t, script)))
	if len(lines) != len(vals) {
		t.Fatalf("python printed %d lines for %d values", len(lines), len(vals))
	}
	for i, v := range vals {
		p := newPickler()
		p.int(v)
		if got := hex.EncodeToString(p.stop()); got != lines[i] {
			t.Errorf("%d pickles as %s, CPython %s", v, got, lines[i])
		}
	}
}

// TestPTHRewriteMatchesTorch: a file torch wrote, read and written again by
// this package, holds what torch's own file holds (torch.equal, dtype,
// shape); and the check notices a single changed value.
func TestPTHRewriteMatchesTorch(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"lenet_zip.pth", "lenet_legacy.pth"} {
		orig := testtool.Testdata("pth/" + name)
		sd, err := ReadPTH(orig)
		if err != nil {
			t.Fatal(err)
		}
		again := filepath.Join(dir, name)
		if err := SavePTH(again, sd); err != nil {
			t.Fatal(err)
		}
		var cmp struct {
			Equal bool     `json:"equal"`
			Diffs []string `json:"diffs"`
		}
		decodeJSON(t, runPython(t, "pth_check.py", again, "--compare", orig), &cmp)
		if !cmp.Equal {
			t.Errorf("%s rewritten differs from torch's: %v", name, cmp.Diffs)
		}

		sd[3].F32[5] = math.Nextafter32(sd[3].F32[5], 1)
		if err := SavePTH(again, sd); err != nil {
			t.Fatal(err)
		}
		decodeJSON(t, runPython(t, "pth_check.py", again, "--compare", orig), &cmp)
		if cmp.Equal || len(cmp.Diffs) != 1 || !strings.HasPrefix(cmp.Diffs[0], sd[3].Name+":") {
			t.Errorf("one changed value in %s gives equal=%v, diffs %v", sd[3].Name, cmp.Equal, cmp.Diffs)
		}
	}
}
