package convert

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lenetkit/lenetkit/internal/testtool"
	"github.com/lenetkit/lenetkit/lenet"
)

// variant is one entry of testdata/pth/expected.json, which
// reference/pth_variants.py wrote from what real PyTorch loads.
type variant struct {
	File          string       `json:"file"`
	What          string       `json:"what"`
	Tensors       []tensorInfo `json:"tensors"`
	StateDict     []tensorInfo `json:"state_dict"`
	LeNet         bool         `json:"lenet"`
	ErrorContains []string     `json:"error_contains"`
}

func loadVariants(t testing.TB) []variant {
	t.Helper()
	b, err := os.ReadFile(testtool.Testdata("pth/expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Files []variant `json:"files"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Files) == 0 {
		t.Fatal("expected.json lists no files")
	}
	return doc.Files
}

// TestReadPTHVariants reads every fixture and compares tensor by tensor
// (name, converted dtype, shape, sha256 of the bytes) with what PyTorch read.
func TestReadPTHVariants(t *testing.T) {
	for _, v := range loadVariants(t) {
		t.Run(strings.TrimSuffix(v.File, ".pth"), func(t *testing.T) {
			path := testtool.Testdata("pth/" + v.File)
			sd, err := ReadPTH(path)
			model, modelErr := ReadPTHStateDict(path)
			if v.ErrorContains != nil {
				for _, err := range []error{err, modelErr} {
					checkError(t, err, append([]string{"convert: " + path + ": "}, v.ErrorContains...))
				}
				return
			}
			if err != nil {
				t.Fatalf("%s: %v", v.What, err)
			}
			if got := describe(sd); !equalInfos(got, v.Tensors) {
				t.Errorf("%s: ReadPTH gives\n%s\nwant\n%s", v.What, infoLines(got), infoLines(v.Tensors))
			}
			if modelErr != nil {
				t.Fatalf("ReadPTHStateDict: %v", modelErr)
			}
			if got := describe(model); !equalInfos(got, v.StateDict) {
				t.Errorf("%s: ReadPTHStateDict gives\n%s\nwant\n%s", v.What, infoLines(got), infoLines(v.StateDict))
			}
			if err := lenet.Check(model); (err == nil) != v.LeNet {
				t.Errorf("lenet.Check: %v, want a LeNet state dict: %v", err, v.LeNet)
			}

			// The io.ReaderAt form reads the same.
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			again, err := DecodePTH(bytes.NewReader(b), int64(len(b)), v.File)
			if err != nil {
				t.Fatal(err)
			}
			if !equalInfos(describe(again), describe(sd)) {
				t.Error("DecodePTH and ReadPTH differ")
			}
		})
	}
}

func infoLines(ts []tensorInfo) string {
	var b strings.Builder
	for _, t := range ts {
		fmt.Fprintf(&b, "  %s %s %v %.12s\n", t.Name, t.DType, t.Shape, t.SHA256)
	}
	return b.String()
}

// checkError wants a one-line error holding every substring.
func checkError(t *testing.T, err error, want []string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one containing %q", want)
	}
	msg := err.Error()
	if strings.Contains(msg, "\n") {
		t.Errorf("error spans lines: %q", msg)
	}
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("error %q does not contain %q", msg, w)
		}
	}
}

// TestReadPTHRoundTrip: what WritePTH writes, ReadPTH reads back bit for bit.
func TestReadPTHRoundTrip(t *testing.T) {
	odd := oddStateDict()
	odd = append(odd, &lenet.Tensor{Name: "nan", Shape: []int{3}, DType: lenet.Float32,
		F32: []float32{float32(math.NaN()), math.Float32frombits(0x7fa00001), math.Float32frombits(0xffc00000)}})
	for name, sd := range map[string]lenet.StateDict{"lenet": randomLeNet(5), "odd": odd, "empty": {}} {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := WritePTH(&buf, sd, ""); err != nil {
				t.Fatal(err)
			}
			got, err := DecodePTH(bytes.NewReader(buf.Bytes()), int64(buf.Len()), name)
			if err != nil {
				t.Fatal(err)
			}
			if !equalInfos(describe(got), describe(sd)) {
				t.Errorf("read back\n%s\nwrote\n%s", infoLines(describe(got)), infoLines(describe(sd)))
			}
		})
	}
}

// Pickle fragments for hand-made files.
var (
	evilSystem = "\x80\x02cos\nsystem\nX\x04\x00\x00\x00true\x85R."
	zero       = "\x80\x02}."
)

// testTensor is a _rebuild_tensor_v2 call with every field under the test's control.
type testTensor struct {
	name, class, key string
	numel, offset    int
	shape, stride    []int
}

// tensorPickle pickles an OrderedDict of tensors the way torch does, but
// with whatever storage, offset and strides the test wants.
func tensorPickle(ts ...testTensor) string {
	p := newPickler()
	p.emptyOrderedDict()
	for _, t := range ts {
		p.str(t.name)
		p.global("torch._utils", "_rebuild_tensor_v2")
		p.op(opMark)
		p.op(opMark)
		p.sharedStr("storage")
		p.global("torch", t.class)
		p.str(t.key)
		p.sharedStr("cpu")
		p.int(int64(t.numel))
		p.endTuple(5)
		p.op(opBinPersID)
		p.int(int64(t.offset))
		p.intTuple(t.shape)
		p.intTuple(t.stride)
		p.bool(false)
		p.emptyOrderedDict()
		p.endTuple(6)
		p.op(opReduce)
		p.put()
		p.op(opSetItem)
	}
	return string(p.stop())
}

// zipFile builds a torch-style archive from (name, data) pairs.
func zipFile(records ...string) []byte {
	var buf bytes.Buffer
	z := &torchZip{w: &buf}
	for i := 0; i+1 < len(records); i += 2 {
		z.record(records[i], []byte(records[i+1]))
	}
	z.close()
	return buf.Bytes()
}

func pthWith(pkl string, storages ...string) []byte {
	recs := []string{"a/data.pkl", pkl}
	for i := 0; i+1 < len(storages); i += 2 {
		recs = append(recs, "a/data/"+storages[i], storages[i+1])
	}
	return zipFile(append(recs, "a/version", "3\n")...)
}

// legacyFile builds the legacy format: magic, protocol, sys info, the
// object pickle, the storage keys, then the storages.
func legacyFile(obj string, keys string, storages ...[]byte) []byte {
	magic := "\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19."
	version := "\x80\x02M\xe9\x03."
	sysInfo := "\x80\x02}X\x0d\x00\x00\x00little_endian\x88s."
	b := []byte(magic + version + sysInfo + obj + keys)
	for _, s := range storages {
		b = append(b, s...)
	}
	return b
}

func legacyStorage(count int, data []byte) []byte {
	return append(binary.LittleEndian.AppendUint64(nil, uint64(count)), data...)
}

func floats(vs ...float32) string {
	var b []byte
	for _, v := range vs {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
	}
	return string(b)
}

// TestReadPTHRefuses: hostile and broken files each give a one-line error
// naming the file, and nothing else happens.
func TestReadPTHRefuses(t *testing.T) {
	w := func(shape, stride []int, offset, numel int) string {
		return tensorPickle(testTensor{"w", "FloatStorage", "0", numel, offset, shape, stride})
	}
	// A list nested in itself 30 times over through the memo: 2^30 paths.
	var dag strings.Builder
	dag.WriteString("\x80\x02]q\x00")
	for i := 1; i <= 30; i++ {
		fmt.Fprintf(&dag, "](h%ch%ce", byte(i-1), byte(i-1))
		fmt.Fprintf(&dag, "q%c", byte(i))
	}
	dag.WriteString(".")
	lenetBytes := func() []byte {
		var buf bytes.Buffer
		if err := WritePTH(&buf, randomLeNet(6), "x"); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}()
	// Eleven full views of one storage: copies of 5.5 times what is stored.
	var shared []testTensor
	for i := range 11 {
		shared = append(shared, testTensor{fmt.Sprint("v", i), "FloatStorage", "0", 1 << 19, 0, []int{1 << 19}, []int{1}})
	}
	tarHeader := make([]byte, 1024)
	copy(tarHeader[257:], "ustar")

	tests := []struct {
		name string
		file []byte
		want string
	}{
		{"os.system", pthWith(evilSystem), "pickle asks for global os.system, refused"},
		{"posix.system", pthWith("\x80\x02cposix\nsystem\nX\x04\x00\x00\x00true\x85R."), "global posix.system, refused"},
		{"builtins.eval by STACK_GLOBAL", pthWith("\x80\x04\x8c\x08builtins\x8c\x04eval\x93\x8c\x011\x85R."), "global builtins.eval, refused"},
		{"os.system by INST", pthWith("\x80\x02(X\x04\x00\x00\x00trueios\nsystem\n."), "global os.system, refused"},
		{"__builtin__.object", pthWith("\x80\x02c__builtin__\nobject\n."), "global __builtin__.object, refused"},
		{"copy_reg._reconstructor", pthWith("\x80\x02ccopy_reg\n_reconstructor\n."), "global copy_reg._reconstructor, refused"},
		{"torch.load", pthWith("\x80\x02ctorch\nload\n."), "global torch.load, refused"},
		{"whole model class", pthWith("\x80\x02c__main__\nLeNet\n)\x81."), "global __main__.LeNet, refused"},
		{"SETITEM on a list", pthWith("\x80\x02]X\x01\x00\x00\x00aK\x01s."), "SETITEM to something that is not a dict, refused"},
		{"SETITEMS on a tuple", pthWith("\x80\x02)(X\x01\x00\x00\x00aK\x01u."), "SETITEMS to something that is not a dict, refused"},
		{"truncated pickle", pthWith("\x80\x02}q\x00(X\x01\x00"), "pickle truncated"},
		{"huge string length", pthWith("\x80\x04\x8d\xff\xff\xff\xff\xff\xff\xff\x7f."), "pickle truncated"},
		{"huge frame", pthWith("\x80\x04\x95\x00\x00\x00\x00\x00\x00\x00\x01}."), "pickle truncated"},
		{"unknown opcode", pthWith("\x80\x02\xff."), "opcode 0xff"},
		{"no STOP", pthWith("\x80\x02}"), "no STOP"},
		{"odd SETITEMS", pthWith("\x80\x02}(X\x01\x00\x00\x00au."), "malformed pickle"},
		{"empty LONG1", pthWith("\x80\x02\x8a\x00."), "malformed pickle"},
		{"unhashable key", pthWith("\x80\x02ccollections\nOrderedDict\n)RC\x01aK\x01s."), "malformed pickle"},
		{"MARKs nested 300 deep", pthWith("\x80\x02" + strings.Repeat("(", 300) + "."), "nests deeper than"},
		{"pop of a missing MARK", pthWith("\x80\x02t."), "pops a MARK never pushed"},
		{"persistent id not a storage", pthWith("\x80\x02X\x03\x00\x00\x00abcQ."), "persistent id"},
		{"persistent module", pthWith("\x80\x02(X\x06\x00\x00\x00moduleK\x01K\x02K\x03K\x04tQ."), `persistent id "module"`},
		{"storage record missing", pthWith(w([]int{2}, []int{1}, 0, 2)), "storage 0 has no record a/data/0"},
		{"storage too short", pthWith(w([]int{2}, []int{1}, 0, 2), "0", floats(1)), "storage 0 declares 2 FloatStorage elements (8 bytes) but a/data/0 holds 4 bytes"},
		{"storage too long", pthWith(w([]int{2}, []int{1}, 0, 2), "0", floats(1, 2, 3)), "holds 12 bytes"},
		{"storage two types", pthWith(tensorPickle(
			testTensor{"a", "FloatStorage", "0", 2, 0, []int{2}, []int{1}},
			testTensor{"b", "LongStorage", "0", 1, 0, []int{1}, []int{1}}), "0", floats(1, 2)),
			"storage 0 declared as 2 FloatStorage and as 1 LongStorage"},
		{"view past storage", pthWith(w([]int{3}, []int{1}, 0, 2), "0", floats(1, 2)), "reach past storage 0"},
		{"offset past storage", pthWith(w([]int{1}, []int{1}, 2, 2), "0", floats(1, 2)), "reach past storage"},
		{"stride past storage", pthWith(w([]int{2, 2}, []int{1 << 40, 1}, 0, 2), "0", floats(1, 2)), "reach past storage"},
		{"negative stride", pthWith(strings.Replace(w([]int{2}, []int{1}, 0, 2), "K\x01\x85", "J\xff\xff\xff\xff\x85", 1), "0", floats(1, 2)), "not a non-negative int"},
		{"broadcast bomb", pthWith(w([]int{1 << 20, 1 << 10}, []int{0, 0}, 0, 1), "0", floats(1)), "view of 1073741824 elements over a storage of 1, refused"},
		{"complex storage", pthWith("\x80\x02ctorch\nComplexFloatStorage\n."), "storage type torch.ComplexFloatStorage not supported"},
		{"views multiply a storage", pthWith(tensorPickle(shared...), "0", string(make([]byte, 4<<19))), "tensor v6: views of shared storages add up to more than 4 times"},
		{"container cycle", pthWith("\x80\x02]q\x00h\x00a."), "nested deeper than 64"},
		{"exponential sharing", pthWith(dag.String()), "more than 1048576 objects"},
		{"zip without data.pkl", zipFile("a/version", "3\n", "a/data/0", "xxxx"), "zip archive has no a/data.pkl"},
		{"TorchScript archive", zipFile("m/constants.pkl", zero, "m/code/x.py", ""), "TorchScript"},
		{"empty zip", zipFile(), "zip archive is empty"},
		{"truncated zip", lenetBytes[:len(lenetBytes)/2], "truncated or corrupt zip archive"},
		{"zip missing its end", lenetBytes[:len(lenetBytes)-10], "truncated or corrupt zip archive"},
		{"empty file", nil, "empty file"},
		{"not torch", []byte("hello, world\n"), "not a PyTorch file"},
		{"tar format", tarHeader, "tar format is not supported"},
		{"legacy os.system", legacyFile(evilSystem, "\x80\x02]."), "pickle asks for global os.system, refused"},
		{"legacy os.system as magic", []byte(evilSystem), "pickle asks for global os.system, refused"},
		{"legacy bad version", []byte(strings.Replace(string(legacyFile(zero, zero)), "M\xe9\x03", "M\xea\x03", 1)), "protocol version 1002, want 1001"},
		{"legacy storage count", legacyFile(legacyPickle(2), "\x80\x02]X\x01\x00\x00\x00kq\x00a.", legacyStorage(3, []byte(floats(1, 2, 3)))),
			"storage k declares 2 FloatStorage elements but the file holds 3"},
		{"legacy truncated storage", legacyFile(legacyPickle(2), "\x80\x02]X\x01\x00\x00\x00kq\x00a.", legacyStorage(2, []byte(floats(1)))),
			"file truncated in storage k"},
		{"legacy storage never stored", legacyFile(legacyPickle(2), "\x80\x02]."), "storage k is missing from the file"},
		{"legacy unknown storage key", legacyFile(legacyPickle(2), "\x80\x02]X\x01\x00\x00\x00zq\x00a."), "storage z in the file is not one the pickle names"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodePTH(bytes.NewReader(tc.file), int64(len(tc.file)), "bad.pth")
			checkError(t, err, []string{"convert: bad.pth: ", tc.want})
		})
	}
}

// legacyPickle is the object pickle of a legacy file: {"w": tensor of n
// floats in storage "k"}, with the legacy persistent id's sixth element.
func legacyPickle(n int) string {
	p := newPickler()
	p.op('}')
	p.str("w")
	p.global("torch._utils", "_rebuild_tensor_v2")
	p.op(opMark)
	p.op(opMark)
	p.sharedStr("storage")
	p.global("torch", "FloatStorage")
	p.str("k")
	p.sharedStr("cpu")
	p.int(int64(n))
	p.op('N') // no view
	p.endTuple(6)
	p.op(opBinPersID)
	p.int(0)
	p.intTuple([]int{n})
	p.intTuple([]int{1})
	p.bool(false)
	p.emptyOrderedDict()
	p.endTuple(6)
	p.op(opReduce)
	p.op(opSetItem)
	return string(p.stop())
}

// TestReadPTHLegacyViews: the legacy format's storage views (pre-1.0
// torch wrote them) address their root storage from an offset.
func TestReadPTHLegacyViews(t *testing.T) {
	p := newPickler()
	p.op('}')
	p.str("v")
	p.global("torch._utils", "_rebuild_tensor_v2")
	p.op(opMark)
	p.op(opMark)
	p.sharedStr("storage")
	p.global("torch", "FloatStorage")
	p.str("root")
	p.sharedStr("cpu")
	p.int(5)
	p.str("view")
	p.int(2)
	p.int(3)
	p.endTuple(3)
	p.endTuple(6)
	p.op(opBinPersID)
	p.int(1)
	p.intTuple([]int{2})
	p.intTuple([]int{1})
	p.bool(false)
	p.emptyOrderedDict()
	p.endTuple(6)
	p.op(opReduce)
	p.op(opSetItem)
	file := legacyFile(string(p.stop()), "\x80\x02]X\x04\x00\x00\x00rootq\x00a.", legacyStorage(5, []byte(floats(10, 11, 12, 13, 14))))
	sd, err := DecodePTH(bytes.NewReader(file), int64(len(file)), "views.pth")
	if err != nil {
		t.Fatal(err)
	}
	// Storage elements 10..14; the view starts at 2 (12), the tensor at 1 within it.
	if len(sd) != 1 || sd[0].Name != "v" || fmt.Sprint(sd[0].F32) != "[13 14]" {
		t.Errorf("read %v, want v = [13 14]", sd)
	}
}

// TestReadPTHStateDictNames: the module. prefix goes only when every key
// has it, and an unknown wrapper is flattened rather than guessed at.
func TestReadPTHStateDictNames(t *testing.T) {
	tensor := func(name string) *lenet.Tensor {
		return &lenet.Tensor{Name: name, Shape: []int{}, DType: lenet.Float32, F32: []float32{1}}
	}
	tests := []struct {
		names []string
		want  []string
	}{
		{[]string{"module.a", "module.b"}, []string{"a", "b"}},
		{[]string{"module.a", "b"}, []string{"module.a", "b"}},
		{[]string{"module.module.a"}, []string{"module.a"}},
		{[]string{"model.a", "model.b"}, []string{"model.a", "model.b"}},
	}
	for _, tc := range tests {
		var sd lenet.StateDict
		for _, n := range tc.names {
			sd = append(sd, tensor(n))
		}
		path := filepath.Join(t.TempDir(), "m.pth")
		if err := SavePTH(path, sd); err != nil {
			t.Fatal(err)
		}
		got, err := ReadPTHStateDict(path)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, g := range got {
			names = append(names, g.Name)
		}
		if fmt.Sprint(names) != fmt.Sprint(tc.want) {
			t.Errorf("%v read as %v, want %v", tc.names, names, tc.want)
		}
	}

	path := filepath.Join(t.TempDir(), "none.pth")
	if err := SavePTH(path, lenet.StateDict{}); err != nil {
		t.Fatal(err)
	}
	_, err := ReadPTHStateDict(path)
	checkError(t, err, []string{"convert: " + path + ": ", "no tensors"})
	if _, err := ReadPTH(filepath.Join(t.TempDir(), "missing.pth")); err == nil || !strings.Contains(err.Error(), "missing.pth") {
		t.Errorf("missing file: %v", err)
	}
}

// FuzzDecodePTH: no input makes the reader panic, take more than 2 s or
// allocate more than 256 MB, and whatever it accepts is a well-formed
// state dict.
func FuzzDecodePTH(f *testing.F) {
	for _, v := range loadVariants(f) {
		if b, err := os.ReadFile(testtool.Testdata("pth/" + v.File)); err == nil && len(b) < 20000 {
			f.Add(b)
		}
	}
	f.Add(pthWith(tensorPickle(testTensor{"w", "FloatStorage", "0", 4, 1, []int{3}, []int{1}}), "0", floats(1, 2, 3, 4)))
	f.Add(legacyFile(legacyPickle(2), "\x80\x02]X\x01\x00\x00\x00kq\x00a.", legacyStorage(2, []byte(floats(1, 2)))))
	for _, p := range hostilePickles() {
		f.Add(pthWith(p))
		f.Add(deflatedPTH(f, p))
	}
	f.Add(deflatedPTH(f, tensorPickle(testTensor{"w", "FloatStorage", "0", 1 << 16, 0, []int{1 << 16}, []int{1}}), "0", string(make([]byte, 4<<16))))
	f.Fuzz(func(t *testing.T, b []byte) {
		var (
			sd  lenet.StateDict
			err error
		)
		fuzzBounded(t, func() { sd, err = DecodePTH(bytes.NewReader(b), int64(len(b)), "fuzz.pth") })
		if err != nil {
			if !strings.HasPrefix(err.Error(), "convert: fuzz.pth: ") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		for _, tn := range sd {
			n := tn.NumElements()
			if (tn.DType == lenet.Float32 && len(tn.F32) != n) || (tn.DType == lenet.Int64 && len(tn.I64) != n) {
				t.Fatalf("%s: shape %v with %d+%d elements", tn.Name, tn.Shape, len(tn.F32), len(tn.I64))
			}
		}
	})
}
