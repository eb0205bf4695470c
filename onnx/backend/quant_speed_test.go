package backend

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	_ "github.com/lenetkit/lenetkit/convert"
	"github.com/lenetkit/lenetkit/internal/testtool"
	"github.com/lenetkit/lenetkit/modelfile"
)

// BenchmarkSeedInt8VsFloat classifies batches of 1 and 128 images with the
// seed's per-channel QDQ LeNet, fused into int8 kernels, and with its
// float original (testdata/lenet_trained.pth written as ONNX).
func BenchmarkSeedInt8VsFloat(b *testing.B) {
	q := testtool.Testdata(filepath.Join("quant", "seed_qdq_channel.onnx"))
	if _, err := os.Stat(q); err != nil {
		b.Skip("no testdata/quant/seed_qdq_channel.onnx")
	}
	sd, err := modelfile.Read(testtool.Testdata("lenet_trained.pth"))
	if err != nil {
		b.Fatal(err)
	}
	f := filepath.Join(b.TempDir(), "seed_float.onnx")
	if err := modelfile.Write(f, sd, modelfile.WriteOptions{}); err != nil {
		b.Fatal(err)
	}
	for _, m := range []struct{ name, path string }{{"int8", q}, {"float", f}} {
		p, err := Open(m.path)
		if err != nil {
			b.Fatal(err)
		}
		for _, batch := range []int{1, 128} {
			b.Run(m.name+"/batch"+strconv.Itoa(batch), func(b *testing.B) {
				x, y := make([]float32, batch*32*32), make([]float32, batch*10)
				for i := range x {
					x[i] = float32(i%7) / 7
				}
				b.ResetTimer()
				for range b.N {
					if err := p.Logits(y, x, batch); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "images/s")
			})
		}
	}
}

// TestQuantSeedPlan: the seed's QDQ LeNet compiles to its lean int8 plan,
// channels-last from the input to the logits: the input quantized, three
// convolutions each with its BatchNorm table and pooling, the Flatten's
// table, two dense layers (the table and the layers batched over a
// worker's images, and the third convolution with them where Winograd's
// products run), the logits dequantized; no layout step, no float step
// between.
func TestQuantSeedPlan(t *testing.T) {
	for _, name := range []string{"seed_qdq_tensor", "seed_qdq_channel"} {
		p, err := Open(quantFixture(t, name))
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, s := range p.steps {
			got = append(got, fmt.Sprintf("%T", s))
		}
		want := []string{"backend.quantizeStep", "*backend.qnhwcStep", "*backend.qnhwcStep", "*backend.qnhwcStep", "*backend.lutStep",
			"backend.qmatmulStep", "backend.qmatmulStep", "backend.dequantizeStep"}
		if !slices.Equal(got, want) {
			t.Errorf("%s: steps %v, want %v", name, got, want)
		}
		batched := 3 // the table and the dense layers
		if strings.Contains(p.Int8Kernel, "winograd") {
			batched = 4
		}
		if p.rows == nil || len(p.rows.q) != batched || p.rows.at != len(want)-1-batched {
			t.Errorf("%s (%s): not the last %d steps before the logits batched: %+v", name, p.Int8Kernel, batched, p.rows)
		}
	}
}
