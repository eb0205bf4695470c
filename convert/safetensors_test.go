package convert

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lenetkit/lenetkit/internal/testtool"
	"github.com/lenetkit/lenetkit/lenet"
)

func TestSafetensorsRoundTrip(t *testing.T) {
	sd := randomLeNet(7)
	sd[0].F32[0] = float32(math.NaN())
	sd[0].F32[1] = float32(math.Inf(-1))
	sd.Lookup("conv_layers.2.num_batches_tracked").I64[0] = 1<<40 + 3
	path := filepath.Join(t.TempDir(), "m.safetensors")
	meta := map[string]string{"format": "pt", "source": "test"}
	if err := SaveSafetensors(path, sd, meta); err != nil {
		t.Fatal(err)
	}
	got, gotMeta, err := ReadSafetensors(path)
	if err != nil {
		t.Fatal(err)
	}
	if !equalInfos(describe(got), describe(sd)) {
		t.Errorf("round trip changed the tensors or their order:\n got %v\nwant %v", describe(got), describe(sd))
	}
	if gotMeta["format"] != "pt" || gotMeta["source"] != "test" || len(gotMeta) != 2 {
		t.Errorf("metadata %v, want %v", gotMeta, meta)
	}
	b, _ := os.ReadFile(path)
	if hlen := binary.LittleEndian.Uint64(b); (8+hlen)%8 != 0 {
		t.Errorf("data starts at %d, not 8-byte aligned", 8+hlen)
	}
}

// TestPTHSafetensorsPTHBitExact: a PyTorch-made state dict survives
// pth -> safetensors -> pth, and real PyTorch finds every tensor equal.
func TestPTHSafetensorsPTHBitExact(t *testing.T) {
	orig := testtool.Testdata("lenet_trained.pth")
	sd, err := ReadPTHStateDict(orig)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	st, back := filepath.Join(dir, "m.safetensors"), filepath.Join(dir, "back.pth")
	if err := SaveSafetensors(st, sd, nil); err != nil {
		t.Fatal(err)
	}
	sd2, _, err := ReadSafetensors(st)
	if err != nil {
		t.Fatal(err)
	}
	if err := SavePTH(back, sd2); err != nil {
		t.Fatal(err)
	}
	var cmp struct {
		Equal bool     `json:"equal"`
		Diffs []string `json:"diffs"`
	}
	decodeJSON(t, runPython(t, "pth_check.py", back, "--compare", orig), &cmp)
	if !cmp.Equal {
		t.Errorf("PyTorch finds differences after pth -> safetensors -> pth: %v", cmp.Diffs)
	}
	var desc struct {
		Strict bool `json:"lenet_strict"`
	}
	decodeJSON(t, runPython(t, "pth_check.py", back, "--lenet"), &desc)
	if !desc.Strict {
		t.Error("LeNet().load_state_dict(strict=True) refused the result")
	}
}

// safetensorsFile assembles a file from a header and data, as another
// writer would.
func safetensorsFile(header string, data []byte) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, uint64(len(header)))
	b.WriteString(header)
	b.Write(data)
	return b.Bytes()
}

func TestSafetensorsOtherDTypes(t *testing.T) {
	le := binary.LittleEndian
	var data []byte
	data = le.AppendUint16(data, 0x3c00)                // F16 1.0
	data = le.AppendUint16(data, 0xc000)                // F16 -2.0
	data = le.AppendUint16(data, 0x3fc0)                // BF16 1.5
	data = le.AppendUint64(data, math.Float64bits(0.1)) // F64
	data = le.AppendUint32(data, uint32(0xffffffff))    // I32 -1
	header := `{"b":{"dtype":"BF16","shape":[1],"data_offsets":[4,6]},"a":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},` +
		`"c":{"dtype":"F64","shape":[],"data_offsets":[6,14]},"d":{"dtype":"I32","shape":[1,1],"data_offsets":[14,18]}}`
	path := filepath.Join(t.TempDir(), "x.safetensors")
	os.WriteFile(path, safetensorsFile(header, data), 0o644)
	sd, _, err := ReadSafetensors(path)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tn := range sd {
		names = append(names, tn.Name)
	}
	if strings.Join(names, ",") != "a,b,c,d" {
		t.Errorf("order %v, want file order a,b,c,d", names)
	}
	if sd[0].F32[0] != 1 || sd[0].F32[1] != -2 || sd[1].F32[0] != 1.5 || sd[2].F32[0] != float32(0.1) || sd[3].I64[0] != -1 {
		t.Errorf("values %v %v %v %v", sd[0].F32, sd[1].F32, sd[2].F32, sd[3].I64)
	}
	if sd[2].DType != lenet.Float32 || sd[3].DType != lenet.Int64 || len(sd[2].Shape) != 0 {
		t.Errorf("dtypes/shapes: %v %v %v", sd[2].DType, sd[3].DType, sd[2].Shape)
	}
}

func TestSafetensorsBadInput(t *testing.T) {
	good := safetensorsFile(`{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, make([]byte, 8))
	cases := []struct {
		name, want string
		file       []byte
	}{
		{"empty", "too short", nil},
		{"huge header length", "header length", append([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0}, '{', '}')},
		{"not json", "not a JSON object", safetensorsFile("hello   ", nil)},
		{"truncated data", "outside the 4 data bytes", good[:len(good)-4]},
		{"size mismatch", "needs 12 bytes", safetensorsFile(`{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}`, make([]byte, 8))},
		{"unknown dtype", "not supported", safetensorsFile(`{"w":{"dtype":"C64","shape":[1],"data_offsets":[0,8]}}`, make([]byte, 8))},
		{"negative shape", "out of range", safetensorsFile(`{"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,8]}}`, make([]byte, 8))},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "bad.safetensors")
			os.WriteFile(path, c.file, 0o644)
			_, _, err := ReadSafetensors(path)
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			if !strings.Contains(msg, path) || !strings.Contains(msg, c.want) || strings.Contains(msg, "\n") {
				t.Errorf("error %q: want one line naming the file and %q", msg, c.want)
			}
		})
	}
}
