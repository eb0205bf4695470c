package backend_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/owulveryck/onnx-go/backend/testbackend"
	_ "github.com/owulveryck/onnx-go/backend/testbackend/onnx" // registers the tests
	"gorgonia.org/tensor"

	"github.com/lenetkit/lenetkit/internal/testtool"
	"github.com/lenetkit/lenetkit/onnx"
	"github.com/lenetkit/lenetkit/onnx/tensorfile"
)

var onnxGoSuite = suite{
	title:   "onnx-go's node tests",
	source:  "The older ONNX node tests onnx-go v0.5.0 vendors as Go (`backend/testbackend/onnx`, from ONNX 1.5)",
	command: "LENETKIT_WRITE_NODE_TABLE=1 go test ./onnx/backend -run TestOnnxGoNodeTests",
}

// TestOnnxGoNodeTests runs the node tests onnx-go's module carries as Go
// through the same harness as ONNX's own: each is written out as ONNX
// lays its tests out (model.onnx, test_data_set_0/input_N.pb and
// output_N.pb), then run through lenetkit's plan and gorgonnx.
func TestOnnxGoNodeTests(t *testing.T) {
	root := filepath.Join(t.TempDir(), "node")
	written := 0
	for _, ctor := range testbackend.GetAllRegisteredTests() {
		tc := ctor()
		dir := filepath.Join(root, "test_"+strings.TrimPrefix(tc.Title, "Test"))
		if err := writeOnnxGoTest(dir, tc); err != nil {
			t.Logf("%s: not written: %v", tc.Title, err)
			continue
		}
		written++
	}
	results := runSuite(t, root, 300)
	if os.Getenv("LENETKIT_WRITE_NODE_TABLE") == "1" {
		path := filepath.Join(testtool.RepoRoot(), "docs", "onnx-go-node-tests.md")
		if err := os.WriteFile(path, []byte(nodeTable(results, onnxGoSuite)), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", path)
	}
}

// writeOnnxGoTest writes one of onnx-go's test cases in ONNX's layout.
func writeOnnxGoTest(dir string, tc *testbackend.TestCase) error {
	data := filepath.Join(dir, "test_data_set_0")
	if err := os.MkdirAll(data, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "model.onnx"), tc.ModelB, 0o644); err != nil {
		return err
	}
	declared := map[string][]*onnx.Value{}
	if pm, err := onnx.Unmarshal(tc.ModelB, tc.Title); err == nil {
		if m, err := onnx.Decode(pm); err == nil {
			declared["input"], declared["output"] = m.Graph.Inputs, m.Graph.Outputs
		}
	}
	for prefix, ts := range map[string][]tensor.Tensor{"input": tc.Input, "output": tc.ExpectedOutput} {
		for i, x := range ts {
			v, err := fromGorgonia(x)
			if err != nil {
				return fmt.Errorf("%s %d: %w", prefix, i, err)
			}
			// onnx-go's generator wrote the int64 tensors of some tests
			// (Slice's starts and ends) as float32: they go back to the
			// type the graph declares.
			if vs := declared[prefix]; i < len(vs) && (vs[i].DType == onnx.Int64 || vs[i].DType == onnx.Int32) && v.DType == onnx.Float {
				v = &onnx.Tensor{DType: vs[i].DType, Shape: v.Shape, Int: v.Ints()}
			}
			if err := tensorfile.Write(filepath.Join(data, fmt.Sprintf("%s_%d.pb", prefix, i)), v); err != nil {
				return err
			}
		}
	}
	return nil
}

// fromGorgonia converts a test's tensor of the types its tests use.
func fromGorgonia(x tensor.Tensor) (*onnx.Tensor, error) {
	t := &onnx.Tensor{Shape: append([]int(nil), x.Shape()...)}
	if x.Shape().IsScalar() {
		t.Shape = nil
	}
	switch d := x.Data().(type) {
	case []float32:
		t.DType, t.Float = onnx.Float, d
	case float32:
		t.DType, t.Float = onnx.Float, []float32{d}
	case []int64:
		t.DType, t.Int = onnx.Int64, d
	case int64:
		t.DType, t.Int = onnx.Int64, []int64{d}
	case []int32:
		t.DType = onnx.Int32
		for _, v := range d {
			t.Int = append(t.Int, int64(v))
		}
	case []bool:
		t.DType = onnx.Bool
		for _, v := range d {
			b := int64(0)
			if v {
				b = 1
			}
			t.Int = append(t.Int, b)
		}
	default:
		return nil, fmt.Errorf("tensor of %v", x.Dtype())
	}
	return t, nil
}
