package serve

import (
	"encoding/json"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
)

// BenchmarkTensorData parses one image's FP32 data as a client's JSON
// writes it: what the v2 route spends on each request before the model.
func BenchmarkTensorData(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	var sb strings.Builder
	sb.WriteByte('[')
	for i := range 1024 {
		if i > 0 {
			sb.WriteByte(',')
		}
		v := float32(0)
		if r.IntN(5) == 0 { // MNIST is mostly background
			v = r.Float32()
		}
		sb.WriteString(strconv.FormatFloat(float64(v), 'g', -1, 32))
	}
	sb.WriteByte(']')
	raw := json.RawMessage(sb.String())
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tensorData("FP32", raw, 1024); err != nil {
			b.Fatal(err)
		}
	}
}
