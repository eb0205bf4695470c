package convert

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/lenetkit/lenetkit/internal/testtool"
	"github.com/lenetkit/lenetkit/lenet"
)

// randomLeNet is a LeNet state dict with PyTorch's names and shapes and
// arbitrary values, a few of them the awkward ones (-0, subnormal, huge).
func randomLeNet(seed uint64) lenet.StateDict {
	r := rand.New(rand.NewPCG(seed, 1))
	var sd lenet.StateDict
	for _, p := range lenet.Params() {
		t := &lenet.Tensor{Name: p.Name, Shape: append([]int(nil), p.Shape...), DType: p.DType}
		n := t.NumElements()
		if p.DType == lenet.Int64 {
			t.I64 = make([]int64, n)
			for i := range t.I64 {
				t.I64[i] = r.Int64N(1 << 40)
			}
		} else {
			t.F32 = make([]float32, n)
			for i := range t.F32 {
				t.F32[i] = float32(r.NormFloat64())
			}
			special := []float32{float32(math.Copysign(0, -1)), math.SmallestNonzeroFloat32, math.MaxFloat32, -1e-30}
			for i := 0; i < len(special) && i < n; i++ {
				t.F32[r.IntN(n)] = special[i]
			}
		}
		sd = append(sd, t)
	}
	return sd
}

// tensorSHA is the sha256 of the tensor's little-endian bytes, what
// pth_check.py reports for the same tensor.
func tensorSHA(t *lenet.Tensor) string {
	h := sha256.New()
	var b [8]byte
	if t.DType == lenet.Int64 {
		for _, v := range t.I64 {
			binary.LittleEndian.PutUint64(b[:], uint64(v))
			h.Write(b[:])
		}
	} else {
		for _, v := range t.F32 {
			binary.LittleEndian.PutUint32(b[:4], math.Float32bits(v))
			h.Write(b[:4])
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// tensorInfo is one tensor as pth_check.py and pth_variants.py describe it.
type tensorInfo struct {
	Name   string `json:"name"`
	DType  string `json:"dtype"`
	Shape  []int  `json:"shape"`
	SHA256 string `json:"sha256"`
}

func describe(sd lenet.StateDict) []tensorInfo {
	out := make([]tensorInfo, len(sd))
	for i, t := range sd {
		out[i] = tensorInfo{Name: t.Name, DType: t.DType.String(), Shape: t.Shape, SHA256: tensorSHA(t)}
		if out[i].Shape == nil {
			out[i].Shape = []int{}
		}
	}
	return out
}

// runPython runs a reference script with real PyTorch and returns its stdout.
func runPython(t *testing.T, script string, args ...string) []byte {
	t.Helper()
	return runPythonFile(t, testtool.Reference(script), args...)
}

// runPythonFile runs any script with the interpreter that has PyTorch.
func runPythonFile(t *testing.T, script string, args ...string) []byte {
	t.Helper()
	return testtool.MustRunScript(t, script, args...)
}

func decodeJSON(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("decode %q: %v", b, err)
	}
}

func equalInfos(a, b []tensorInfo) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Name != b[i].Name || a[i].DType != b[i].DType || a[i].SHA256 != b[i].SHA256 || !equalInts(a[i].Shape, b[i].Shape) {
			return false
		}
	}
	return true
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
