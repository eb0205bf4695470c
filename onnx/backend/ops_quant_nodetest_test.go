package backend_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lenetkit/lenetkit/internal/testtool"
)

// quantNodeOps are the quantized operators whose ONNX node tests
// TestQuantizedNodeTests runs.
var quantNodeOps = []string{"QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear",
	"QLinearConv", "QLinearMatMul", "MatMulInteger", "ConvInteger"}

// TestQuantizedNodeTests runs ONNX's node tests of the quantized
// operators alone, as TestONNXNodeTests runs every one: uint8 and int8
// inputs fed as numbers, scales, zero points and weights as constants,
// integer outputs compared exactly. Every test whose operators the
// backend claims must pass: all of them but the _expanded forms of
// DynamicQuantizeLinear, whose bodies use ReduceMin and Round.
func TestQuantizedNodeTests(t *testing.T) {
	testtool.SkipShort(t)
	root := filepath.Join(nodeTests(t), "node")
	ents, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	passed := 0
	for _, e := range ents {
		r := runNodeTest(filepath.Join(root, e.Name()))
		if !strings.HasPrefix(e.Name(), "test_") || !isQuantOp(r.op) {
			continue
		}
		switch {
		case r.lk == pass:
			passed++
		case r.claimed:
			t.Errorf("%s (%s): %s", r.test, r.op, r.lkWhy)
		case !strings.HasSuffix(r.test, "_expanded"):
			t.Errorf("%s (%s) not applicable: %s", r.test, r.op, r.lkWhy)
		}
	}
	if passed < 13 {
		t.Errorf("%d quantized node tests pass, want at least 13", passed)
	}
	t.Logf("%d quantized node tests pass", passed)
}

func isQuantOp(op string) bool {
	for _, q := range quantNodeOps {
		if op == q || strings.HasPrefix(op, q+"+") {
			return true
		}
	}
	return false
}
