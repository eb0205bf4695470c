package convert

import (
	"archive/zip"
	"bytes"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/lenetkit/lenetkit/internal/testtool"
	"github.com/lenetkit/lenetkit/modelfile"
)

// TestHostileFiles: every hostile .pth and .safetensors file of
// reference/hostile.py is refused with a one-line error naming the file
// and what is wrong, quickly and in little memory; the files with NaN or
// infinite weights are read when that is allowed.
func TestHostileFiles(t *testing.T) {
	cases := []struct{ file, want string }{
		{"long4_1m.pth", "archive/data.pkl: pickle integer of 1048576 bytes at byte 7, more than 64 bits, refused"},
		{"long4_4m.pth", "pickle integer of 4194304 bytes at byte 7, more than 64 bits, refused"},
		{"memo_string_1m.pth", "a tensor's name (its path of 64 keys) is longer than 4096 bytes, refused"},
		{"memo_string_8m.pth", "archive/data.pkl is 8388974 bytes, more than a 8732-byte archive may inflate to (16 times its size + 4 MiB), refused"},
		{"memoize_flood.pth", "archive/data.pkl is 16777204 bytes, more than a 16672-byte archive may inflate to"},
		{"dup_flood.pth", "archive/data.pkl is 16777204 bytes, more than a 16672-byte archive may inflate to"},
		{"memoize_flood_stored.pth", "archive/data.pkl: pickle stores more than 262144 memo entries, refused"},
		{"dup_flood_stored.pth", "archive/data.pkl: pickle stacks more than 131072 values (opcode at byte 131074), refused"},
		{"storage_bomb.pth", "storage 0 declares 268435456 FloatStorage elements (1073741824 bytes), more than a 1062544-byte archive may inflate to"},
		{"nan.pth", `tensor "conv_layers.0.weight" holds 1 non-finite value(s) of 288, the first NaN at element 0; refused`},
		{"overlap.safetensors", "tensor b: data offsets [4, 12) overlap the previous tensor's, which end at 8"},
		{"trailing.safetensors", "the tensors' data ends at byte 8 of 24: 16 trailing bytes that no tensor owns"},
		{"gap.safetensors", "tensor b: data offsets [12, 20) leave bytes 8 to 12 that no tensor owns"},
		{"duplicate_key.safetensors", `header names "a" twice`},
		{"nan.safetensors", `tensor "conv_layers.0.weight" holds 1 non-finite value(s) of 288, the first NaN at element 0`},
		{"inf.safetensors", `tensor "fc_layer.1.weight" holds 1 non-finite value(s) of 32768, the first -Inf at element 3`},
	}
	var names []string
	for _, c := range cases {
		names = append(names, c.file)
	}
	dir := testtool.HostileFiles(t, names...)
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			path := filepath.Join(dir, c.file)
			var err error
			testtool.Bounded(t, c.file, testtool.HostileSeconds, func() { _, err = modelfile.ReadWith(path, modelfile.ReadOptions{}) })
			checkError(t, err, []string{path + ": ", c.want})
			if strings.HasPrefix(c.file, "nan.") || strings.HasPrefix(c.file, "inf.") {
				sd, err := modelfile.ReadWith(path, modelfile.ReadOptions{AllowNonFinite: true})
				if err != nil || len(sd) != 25 {
					t.Errorf("with AllowNonFinite: %d tensors, %v", len(sd), err)
				}
			}
		})
	}
}

// deflatedPTH is pthWith with data.pkl and the storages deflated, as no
// torch.save writes them but a zip tool may.
func deflatedPTH(t testing.TB, pkl string, storages ...string) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	recs := []string{"a/data.pkl", pkl}
	for i := 0; i+1 < len(storages); i += 2 {
		recs = append(recs, "a/data/"+storages[i], storages[i+1])
	}
	for i := 0; i+1 < len(recs); i += 2 {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: recs[i], Method: zip.Deflate})
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(recs[i+1]))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestReadPTHLimits: each of the pickle's and the archive's limits
// (modelfile's limits.go) refuses a file that exceeds it alone.
func TestReadPTHLimits(t *testing.T) {
	tensorOf := func(numel int) string {
		return tensorPickle(testTensor{"w", "FloatStorage", "0", numel, 0, []int{numel}, []int{1}})
	}
	tests := []struct {
		name string
		file []byte
		want string
	}{
		{"LONG1 of 9 bytes", pthWith("\x80\x02\x8a\x09" + strings.Repeat("\x01", 9) + "."), "pickle integer of 9 bytes at byte 4, more than 64 bits, refused"},
		{"LONG4 of 9 bytes", pthWith("\x80\x02\x8b\x09\x00\x00\x00" + strings.Repeat("\x01", 9) + "."), "pickle integer of 9 bytes"},
		{"decimal LONG", pthWith("\x80\x02L" + strings.Repeat("9", 40) + "L\n."), "pickle integer of 41 digits"},
		{"decimal INT", pthWith("\x80\x02I" + strings.Repeat("9", 30) + "\n."), "pickle integer of 30 digits"},
		{"MEMOIZE flood", pthWith("\x80\x04}" + strings.Repeat("\x94", 300000) + "."), "pickle stores more than 262144 memo entries, refused"},
		{"memo stores without objects", pthWith("\x80\x04}" + strings.Repeat("\x94", 10) + "."), "pickle stores 10 memo entries in 13 opcodes, more than one per object made, refused"},
		{"BINPUT flood", pthWith("\x80\x02}" + strings.Repeat("q\x00", 300000) + "."), "more than 262144 memo entries"},
		{"DUP flood", pthWith("\x80\x02}" + strings.Repeat("2", 140000) + "."), "pickle stacks more than 131072 values (opcode at byte 131074), refused"},
		{"EMPTY_DICT flood", pthWith("\x80\x02" + strings.Repeat("}", 140000) + "."), "pickle stacks more than 131072 values"},
		{"MARK flood", pthWith("\x80\x02" + strings.Repeat("(N", 300) + "."), "pickle nests deeper than 256"},
		{"opcode flood", pthWith("\x80\x02]" + strings.Repeat("Na", 300000) + "."), "pickle has more than 524288 opcodes, refused"},
		{"pickle inflating past the archive", deflatedPTH(t, "\x80\x02}"+strings.Repeat("N0", 3<<20)+"."), "a/data.pkl is 6291460 bytes, more than a"},
		{"storage inflating past the archive", deflatedPTH(t, tensorOf(2<<20), "0", string(make([]byte, 8<<20))),
			"storage 0 declares 2097152 FloatStorage elements (8388608 bytes), more than a"},
		{"long key", pthWith(tensorPickle(testTensor{strings.Repeat("k", 5000), "FloatStorage", "0", 1, 0, []int{1}, []int{1}}), "0", floats(1)),
			"a tensor's name (its path of 1 keys) is longer than 4096 bytes, refused"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			testtool.Bounded(t, tc.name, testtool.HostileSeconds, func() { _, err = DecodePTH(bytes.NewReader(tc.file), int64(len(tc.file)), "bad.pth") })
			checkError(t, err, []string{"convert: bad.pth: ", tc.want})
		})
	}

	// Within the limits, the same kinds of file are read: an integer of 64
	// bits, a compressed archive, a storage compressed well.
	ok := map[string][]byte{
		"LONG1 of 8 bytes":      pthWith("\x80\x02}X\x01\x00\x00\x00a\x8a\x08" + strings.Repeat("\x01", 7) + "\x7fs."),
		"deflated archive":      deflatedPTH(t, tensorOf(4), "0", floats(1, 2, 3, 4)),
		"deflated zero storage": deflatedPTH(t, tensorOf(1<<20), "0", string(make([]byte, 4<<20))),
	}
	for name, file := range ok {
		if _, err := DecodePTH(bytes.NewReader(file), int64(len(file)), "ok.pth"); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestSafetensorsStrict: what the reference implementation refuses is
// refused, what it accepts is read.
func TestSafetensorsStrict(t *testing.T) {
	f32 := func(name string, n, begin int) string {
		return `"` + name + `":{"dtype":"F32","shape":[` + strconv.Itoa(n) + `],"data_offsets":[` + strconv.Itoa(begin) + `,` + strconv.Itoa(begin+4*n) + `]}`
	}
	bad := []struct {
		name, want string
		file       []byte
	}{
		{"overlap", "tensor b: data offsets [4, 12) overlap the previous tensor's, which end at 8", safetensorsFile("{"+f32("a", 2, 0)+","+f32("b", 2, 4)+"}", make([]byte, 12))},
		{"same offsets", "overlap", safetensorsFile("{"+f32("a", 2, 0)+","+f32("b", 2, 0)+"}", make([]byte, 8))},
		{"gap", "tensor b: data offsets [12, 20) leave bytes 8 to 12 that no tensor owns", safetensorsFile("{"+f32("a", 2, 0)+","+f32("b", 2, 12)+"}", make([]byte, 20))},
		{"not from 0", "leave bytes 0 to 4", safetensorsFile("{"+f32("a", 1, 4)+"}", make([]byte, 8))},
		{"trailing bytes", "the tensors' data ends at byte 8 of 9: 1 trailing bytes that no tensor owns", safetensorsFile("{"+f32("a", 2, 0)+"}", make([]byte, 9))},
		{"data but no tensors", "ends at byte 0 of 8", safetensorsFile(`{"__metadata__":{"a":"b"}}`, make([]byte, 8))},
		{"name twice", `header names "a" twice`, safetensorsFile("{"+f32("a", 2, 0)+","+f32("a", 2, 0)+"}", make([]byte, 8))},
		{"metadata twice", `header names "__metadata__" twice`, safetensorsFile(`{"__metadata__":{},"__metadata__":{}}`, nil)},
		{"space before the object", "does not start with {", safetensorsFile(" {}     ", nil)},
		{"two objects", "data after the object", safetensorsFile("{}{}    ", nil)},
		{"not UTF-8", "header is not UTF-8", safetensorsFile("{\"\xff\":1}", nil)},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := decodeSafetensors(bytes.NewReader(c.file), int64(len(c.file)))
			checkError(t, err, []string{c.want})
		})
	}
	good := map[string][]byte{
		"empty":          safetensorsFile("{}", nil),
		"metadata only":  safetensorsFile(`{"__metadata__":{"format":"pt"}}`, nil),
		"empty tensors":  safetensorsFile("{"+f32("e", 0, 0)+","+f32("a", 2, 0)+","+f32("z", 0, 8)+"}", make([]byte, 8)),
		"padded header":  safetensorsFile("{"+f32("a", 1, 0)+"}   \n", make([]byte, 4)),
		"any key order":  safetensorsFile("{"+f32("b", 1, 4)+","+f32("a", 1, 0)+"}", make([]byte, 8)),
		"scalar and int": safetensorsFile(`{"s":{"dtype":"I64","shape":[],"data_offsets":[0,8]}}`, make([]byte, 8)),
	}
	for name, file := range good {
		if _, _, err := decodeSafetensors(bytes.NewReader(file), int64(len(file))); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}
