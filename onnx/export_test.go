package onnx

import (
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/lenetkit/lenetkit/internal/testtool"
	"github.com/lenetkit/lenetkit/lenet"
)

// irVersions is the IR version each opset was released with, from ONNX's
// docs/Versioning.md.
var irVersions = map[int]int64{9: 4, 10: 5, 11: 6, 12: 7, 13: 7, 14: 7, 15: 8, 16: 8, 17: 8}

func TestExportOptions(t *testing.T) {
	sd := lenet.Init(1)
	m, err := FromStateDict(sd, ExportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := m.OpsetImport; len(got) != 1 || got[0].Domain != "" || got[0].Version != 13 {
		t.Errorf("default opset_import = %v, want the default domain at 13", got)
	}
	if m.ProducerName != "lenetkit" {
		t.Errorf("producer_name = %q", m.ProducerName)
	}
	for _, p := range m.MetadataProps {
		if p.Key == MetaSourceSHA256 {
			t.Errorf("source_sha256 written without SourceSHA256: %q", p.Value)
		}
	}

	bad := sd.Clone()
	bad[0].Shape = []int{32, 1, 5, 5}
	for _, tc := range []struct {
		name string
		sd   lenet.StateDict
		opt  ExportOptions
		want string
	}{
		{"opset 8", sd, ExportOptions{Opset: 8}, "opset 8 not supported, want 9 to 17"},
		{"opset 18", sd, ExportOptions{Opset: 18}, "opset 18 not supported"},
		{"wrong shape", bad, ExportOptions{}, "conv_layers.0.weight: expected float32 [32, 1, 3, 3], found float32 [32, 1, 5, 5]"},
		{"missing key", sd[1:], ExportOptions{}, "missing keys: conv_layers.0.weight"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := FromStateDict(tc.sd, tc.opt)
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("err = %v, want one line containing %q", err, tc.want)
			}
		})
	}
}

// TestExportChecker runs ONNX's own checker, with full_check (strict shape
// inference), on the export at every supported opset, and checks what the
// checker's Python side reads back.
func TestExportChecker(t *testing.T) {
	sd := trainedStateDict(t)
	const digest = "5a1f0c2bd3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0"
	dir := t.TempDir()
	for opset := MinOpset; opset <= MaxOpset; opset++ {
		t.Run(fmt.Sprint("opset ", opset), func(t *testing.T) {
			m, err := FromStateDict(sd, ExportOptions{Opset: opset, ProducerVersion: "1.2.3", SourceSHA256: digest})
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, fmt.Sprintf("lenet-%d.onnx", opset))
			if err := Write(path, m); err != nil {
				t.Fatal(err)
			}
			r := onnxCheck(t, path)
			if !r.OK {
				t.Fatalf("checker: %s", r.Error)
			}
			if r.IRVersion != irVersions[opset] || r.Opsets[""] != int64(opset) || len(r.Opsets) != 1 {
				t.Errorf("ir_version %d, opsets %v; want IR %d, {\"\": %d}", r.IRVersion, r.Opsets, irVersions[opset], opset)
			}
			if r.Producer != "lenetkit" || r.ProducerVersion != "1.2.3" {
				t.Errorf("producer %q %q", r.Producer, r.ProducerVersion)
			}
			if got := fmt.Sprint(r.Inputs); got != "map[input:[batch 1 32 32]]" {
				t.Errorf("inputs %s, want input [batch 1 32 32]", got)
			}
			if got := fmt.Sprint(r.Outputs); got != "map[logits:[batch 10]]" {
				t.Errorf("outputs %s, want logits [batch 10]", got)
			}
			wantOps := strings.Repeat("Conv Relu BatchNormalization MaxPool ", 3) + "Flatten Gemm Gemm"
			if got := strings.Join(r.Ops, " "); got != wantOps {
				t.Errorf("ops %s\nwant %s", got, wantOps)
			}
			// Every float entry of the state dict is an initializer of its
			// name and shape; every int64 one is metadata.
			wantMeta := map[string]string{MetaSourceSHA256: digest, MetaPreprocess: SeedPreprocess}
			nInit := 0
			for _, p := range lenet.Params() {
				if p.DType == lenet.Int64 {
					wantMeta[p.Name] = strconv.FormatInt(sd.Lookup(p.Name).I64[0], 10)
					continue
				}
				nInit++
				if got, ok := r.Initializers[p.Name]; !ok || !slices.Equal(got, dims64(p.Shape)) {
					t.Errorf("initializer %s: %v, want %v", p.Name, got, p.Shape)
				}
			}
			if len(r.Initializers) != nInit {
				t.Errorf("%d initializers, want %d", len(r.Initializers), nInit)
			}
			if fmt.Sprint(r.Metadata) != fmt.Sprint(wantMeta) {
				t.Errorf("metadata %v\nwant %v", r.Metadata, wantMeta)
			}
		})
	}
}

// TestExportRuntime runs lenetkit's export of a PyTorch-trained state dict in
// ONNX Runtime on 1,000 MNIST test images, at every opset, and compares the
// logits with PyTorch's for the same weights and images.
func TestExportRuntime(t *testing.T) {
	const n = 1000
	sd := trainedStateDict(t)
	testtool.RequireORT(t) // before PyTorch's work, not after it
	x := testImages(t, n)
	want := torchLogits(t, trainedPTH, x, n)
	dir := t.TempDir()
	in := writeFloats(t, dir, "x.f32", x)
	// One batch of all images, and batches of 128 with a partial last one,
	// both through the symbolic batch dimension; every opset's runs go to
	// one Node.js process.
	var jobs []testtool.ORTJob
	var opsets []int
	for opset := MinOpset; opset <= MaxOpset; opset++ {
		m, err := FromStateDict(sd, ExportOptions{Opset: opset})
		if err != nil {
			t.Fatalf("opset %d: %v", opset, err)
		}
		path := filepath.Join(dir, fmt.Sprintf("lenet-%d.onnx", opset))
		if err := Write(path, m); err != nil {
			t.Fatal(err)
		}
		for _, batch := range []int{n, 128} {
			jobs = append(jobs, testtool.ORTJob{Model: path, Input: in, N: n, C: 1, H: 32, W: 32,
				Out: filepath.Join(dir, fmt.Sprintf("logits-%d-%d.f32", opset, batch)), Batch: batch})
			opsets = append(opsets, opset)
		}
	}
	testtool.RunORT(t, jobs)
	for i, j := range jobs {
		got := readFloats(t, j.Out, n*lenet.Classes)
		d := maxDiff(t, got, want)
		t.Logf("opset %d, batch %d: max |ORT - PyTorch| = %.3g over %d logits", opsets[i], j.Batch, d, len(got))
		if d > 1e-4 {
			t.Errorf("opset %d, batch %d: ONNX Runtime's logits differ from PyTorch's by %g, want <= 1e-4", opsets[i], j.Batch, d)
		}
	}
}

// floatValue describes a float32 tensor whose first dimension is the
// symbolic batch, the rest fixed.
func floatValue(name, batch string, dims ...int) *ValueInfoProto {
	shape := &TensorShapeProto{Dim: []*TensorShapeProto_Dimension{
		{Value: &TensorShapeProto_Dimension_DimParam{DimParam: batch}},
	}}
	for _, d := range dims {
		shape.Dim = append(shape.Dim, &TensorShapeProto_Dimension{Value: &TensorShapeProto_Dimension_DimValue{DimValue: int64(d)}})
	}
	return &ValueInfoProto{Name: name, Type: &TypeProto{Value: &TypeProto_TensorType{TensorType: &TypeProto_Tensor{
		ElemType: int32(TensorProto_FLOAT),
		Shape:    shape,
	}}}}
}
