package onnx

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/lenetkit/lenetkit/lenet"
)

// exportCases are the option sets whose export TestExportBytes pins.
func exportCases() []ExportOptions {
	cs := []ExportOptions{{}}
	for opset := MinOpset; opset <= MaxOpset; opset++ {
		cs = append(cs, ExportOptions{Opset: opset},
			ExportOptions{Opset: opset, ProducerVersion: "1.2.3 (devel)", SourceSHA256: strings.Repeat("ab", 32)})
	}
	return cs
}

// fixedStateDict is a state dict whose values are integer formulas, the
// same bits on every platform, counters included.
func fixedStateDict() lenet.StateDict {
	sd := lenet.Init(1)
	k := uint32(0)
	for _, t := range sd {
		for i := range t.F32 {
			k++
			// Finite values of every exponent range, from the bits of k.
			t.F32[i] = math.Float32frombits((k*2654435761)&0x807fffff | (k%200+20)<<23)
		}
		for i := range t.I64 {
			k++
			t.I64[i] = int64(k) << 33
		}
	}
	return sd
}

// TestExportBytes pins the bytes FromStateDict writes, SHA-256 by option
// set. When FromStateDict came to build a Model and Encode it, these were
// checked against the earlier protobuf-building export: the bytes are
// its bytes with each node's attributes and the metadata in the order of
// their names (a Model keeps both in maps), and the same otherwise.
func TestExportBytes(t *testing.T) {
	sd := fixedStateDict()
	want := exportDigests
	cases := exportCases()
	if len(want) != len(cases) {
		t.Fatalf("%d digests for %d cases", len(want), len(cases))
	}
	for i, opt := range cases {
		t.Run(fmt.Sprintf("%+v", opt), func(t *testing.T) {
			m, err := FromStateDict(sd, opt)
			if err != nil {
				t.Fatal(err)
			}
			b, err := Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(b)
			if got := hex.EncodeToString(sum[:]); got != want[i] {
				t.Errorf("SHA-256 %s, want %s", got, want[i])
			}
			// The Model FromStateDict encodes is what Decode reads back.
			sm, err := seedModel(sd, opt)
			if err != nil {
				t.Fatal(err)
			}
			d, err := Decode(m)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(d, sm) {
				t.Errorf("Decode(FromStateDict) differs from the Model encoded")
			}
		})
	}
}

// exportDigests are TestExportBytes's SHA-256 of each of exportCases.
var exportDigests = []string{
	"18bf27f7843b05ecbc3aadbb03eba47a5564922961c0be49f4faf67b1f761572", // {Opset:0 ProducerVersion: SourceSHA256:}
	"bfc749ecda53d209ce2f5a2b6f7bc024d8e2b50079bba1d5c692765e6888116c", // {Opset:9 ProducerVersion: SourceSHA256:}
	"f3ae1fb2adda2177e6ba44e5df9d15b2c0e4ae68beba6a9c0f7827b2f4ae6138", // {Opset:9 ProducerVersion:1.2.3 (devel) SourceSHA256:ab (32 times)}
	"979a5d080f8c1b7b6b83120d8f4bf0b9963e6b3e1321d80cd1b8531da02face5", // {Opset:10 ProducerVersion: SourceSHA256:}
	"31d841c786dfbd241120b8b3fde909784de81da7059846a833db2f320a93cb4f", // {Opset:10 ProducerVersion:1.2.3 (devel) SourceSHA256:ab (32 times)}
	"7605daf8068503d81013fd64ffaab3ccdc03bb2d82176653ef0d3d8c932e40c9", // {Opset:11 ProducerVersion: SourceSHA256:}
	"e5e667f40fbd29835fe92ecc20b9103679b3bf6423c84a9a170c13e121ff1524", // {Opset:11 ProducerVersion:1.2.3 (devel) SourceSHA256:ab (32 times)}
	"e6c57a63e789fe71918bfcc687aa8132e6619f23d85a7c1ca3402af45b22a973", // {Opset:12 ProducerVersion: SourceSHA256:}
	"7c45bc645719dd23b5a0d1c3d251da676c94f8958441241613d7c9cf3946401d", // {Opset:12 ProducerVersion:1.2.3 (devel) SourceSHA256:ab (32 times)}
	"18bf27f7843b05ecbc3aadbb03eba47a5564922961c0be49f4faf67b1f761572", // {Opset:13 ProducerVersion: SourceSHA256:}
	"3c60d75aeda135984aae41ff0f8cc8c94ea7ad75c4010e4d552624d8b5d0c449", // {Opset:13 ProducerVersion:1.2.3 (devel) SourceSHA256:ab (32 times)}
	"28b08c44ec30eb25e84ff04bfea514a702cc8466e302cab44342d6d943586fc8", // {Opset:14 ProducerVersion: SourceSHA256:}
	"1da9d10c1ef41c193660ed56fd573049cdc74628751f5f0eeaed3eaa59e91024", // {Opset:14 ProducerVersion:1.2.3 (devel) SourceSHA256:ab (32 times)}
	"4f3e12ccbbf6d589dd58385a0b5398dd993994386c3ffc0c360d068dcc772b71", // {Opset:15 ProducerVersion: SourceSHA256:}
	"773b499b30ba31280d2b2d2cd1f4b82cdf26ec34d5c830fc3633fd7f56e8d06d", // {Opset:15 ProducerVersion:1.2.3 (devel) SourceSHA256:ab (32 times)}
	"209a7d065c0d3b8ebd6f6dd17bef5b37889d9542c412de655c363a1d82ae763e", // {Opset:16 ProducerVersion: SourceSHA256:}
	"e1e7ab57d20744f5110485fca7c9d002d77e1e1491e2d431bd0a8339e25f0de5", // {Opset:16 ProducerVersion:1.2.3 (devel) SourceSHA256:ab (32 times)}
	"05220cbe5cfb5b453245b8dfd161ee4a8089ecde0afb41ab1f4a942457167ec8", // {Opset:17 ProducerVersion: SourceSHA256:}
	"38b3798e4e7480aad0c168bf1d03d68d00002d12c7a88e16453b6d3de358b10f", // {Opset:17 ProducerVersion:1.2.3 (devel) SourceSHA256:ab (32 times)}
}

// TestEncodeDecode writes a Model of every kind of attribute, tensor and
// value Encode writes, and reads it back: Decode gives the same Model.
func TestEncodeDecode(t *testing.T) {
	vec := func(name string, dt DType, f []float32, i []int64) *Tensor {
		n := max(len(f), len(i))
		return &Tensor{Name: name, DType: dt, Shape: []int{n}, Float: f, Int: i}
	}
	node := func(i int, op string, in []string, out string, a Attrs) *Node {
		return &Node{Name: out, OpType: op, Inputs: in, Outputs: []string{out}, Attrs: a, Index: i}
	}
	m := &Model{
		IRVersion: 8, Opset: 17, Opsets: map[string]int64{"": 17, "com.microsoft": 1, "ai.onnx.ml": 3},
		Producer: "maker 0.1 beta", Metadata: map[string]string{"b": "2", "a": "1"},
		Graph: &Graph{
			Name: "g",
			Nodes: []*Node{
				node(0, "Constant", nil, "train", Attrs{"value": {Type: AttributeProto_TENSOR,
					Tensor: &Tensor{Name: "t", DType: Bool, Shape: []int{}, Int: []int64{0}}}}),
				node(1, "Dropout", []string{"x", "", "train"}, "d", Attrs{"seed": {Type: AttributeProto_INT, Int: -3}}),
				node(2, "Conv", []string{"d", "w", "bias"}, "c", Attrs{
					"pads":     {Type: AttributeProto_INTS, Ints: []int64{1, 1, 1, 1}},
					"auto_pad": {Type: AttributeProto_STRING, String: "NOTSET"},
				}),
				node(3, "Custom", []string{"c", "idx"}, "y", Attrs{
					"alpha":  {Type: AttributeProto_FLOAT, Float: 0.25},
					"scales": {Type: AttributeProto_FLOATS, Floats: []float32{1, float32(math.Inf(-1))}},
					"names":  {Type: AttributeProto_STRINGS, Strings: []string{"p", "q"}},
				}),
			},
			Initializers: map[string]*Tensor{
				"w":      {Name: "w", DType: Float, Shape: []int{1, 1, 1, 2}, Float: []float32{-0.5, float32(math.NaN())}},
				"bias":   vec("bias", Double, []float32{3}, nil),
				"idx":    vec("idx", Int64, nil, []int64{math.MinInt64, math.MaxInt64}),
				"spare":  vec("spare", Int8, nil, []int64{-128, 127}),
				"other":  vec("other", Uint16, nil, []int64{65535}),
				"counts": vec("counts", Int32, nil, []int64{math.MinInt32}),
				"half":   vec("half", Float16, []float32{-1.5, 65504, 5.9604645e-08}, nil),
				"brain":  vec("brain", BFloat16, []float32{-1.5, 3.3895314e+38}, nil),
			},
			Inputs: []*Value{{Name: "x", DType: Float, Dims: []int64{-1, 1, 2, -1}, Params: []string{"n", "", "", ""}}},
			Outputs: []*Value{
				{Name: "y", DType: Float},
				{Name: "c"},
			},
			ValueInfo: map[string]*Value{"d": {Name: "d", DType: Float16, Dims: []int64{}, Params: []string{}}},
		},
	}
	m.Graph.Nodes[3].Domain = "com.microsoft"
	p, err := Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	if p.ProducerName != "maker" || p.ProducerVersion != "0.1 beta" {
		t.Errorf("producer %q %q, want maker, 0.1 beta", p.ProducerName, p.ProducerVersion)
	}
	var opsets, inits, attrs []string
	for _, o := range p.OpsetImport {
		opsets = append(opsets, fmt.Sprint(o.Domain, ":", o.Version))
	}
	for _, i := range p.Graph.Initializer {
		inits = append(inits, i.Name)
	}
	for _, a := range p.Graph.Node[3].Attribute {
		attrs = append(attrs, a.Name)
	}
	for _, c := range []struct{ got, want []string }{
		{opsets, []string{":17", "ai.onnx.ml:3", "com.microsoft:1"}},
		{inits, []string{"w", "bias", "idx", "brain", "counts", "half", "other", "spare"}},
		{attrs, []string{"alpha", "names", "scales"}},
	} {
		if fmt.Sprint(c.got) != fmt.Sprint(c.want) {
			t.Errorf("order %v, want %v", c.got, c.want)
		}
	}
	b, err := Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	back, err := Unmarshal(b, "encoded")
	if err != nil {
		t.Fatal(err)
	}
	d, err := Decode(back)
	if err != nil {
		t.Fatal(err)
	}
	// NaN is not equal to itself: compare its bits, then the rest.
	w := d.Graph.Initializers["w"]
	if len(w.Float) != 2 || math.Float32bits(w.Float[1]) != math.Float32bits(m.Graph.Initializers["w"].Float[1]) {
		t.Errorf("w = %v, NaN not kept bit for bit", w.Float)
	}
	w.Float[1], m.Graph.Initializers["w"].Float[1] = 0, 0
	if !reflect.DeepEqual(d, m) {
		t.Errorf("Decode(Encode(m)) differs from m:\n%s\nwant\n%s", describeModel(d), describeModel(m))
	}
}

// describeModel prints a Model's nodes, tensors and values for a failure.
func describeModel(m *Model) string {
	var b strings.Builder
	fmt.Fprintf(&b, "IR %d opset %d %v producer %q metadata %v\n", m.IRVersion, m.Opset, m.Opsets, m.Producer, m.Metadata)
	for _, n := range m.Graph.Nodes {
		fmt.Fprintf(&b, "%+v\n", *n)
	}
	for _, name := range slices.Sorted(maps.Keys(m.Graph.Initializers)) {
		fmt.Fprintf(&b, "%s: %+v\n", name, *m.Graph.Initializers[name])
	}
	for _, v := range append(slices.Clone(m.Graph.Inputs), m.Graph.Outputs...) {
		fmt.Fprintf(&b, "%+v\n", *v)
	}
	for _, name := range slices.Sorted(maps.Keys(m.Graph.ValueInfo)) {
		fmt.Fprintf(&b, "%s: %+v\n", name, *m.Graph.ValueInfo[name])
	}
	return b.String()
}

// TestEncodeErrors: what a Model can hold but Encode does not write is
// refused with an error, not a panic.
func TestEncodeErrors(t *testing.T) {
	model := func(a Attrs, init *Tensor) *Model {
		g := &Graph{Nodes: []*Node{{OpType: "Relu", Inputs: []string{"x"}, Outputs: []string{"y"}, Attrs: a}},
			Initializers: map[string]*Tensor{}}
		if init != nil {
			g.Initializers["t"] = init
		}
		return &Model{Graph: g}
	}
	for _, c := range []struct {
		name        string
		m           *Model
		want        string
		unsupported bool
	}{
		{"no graph", &Model{}, "the model has no graph", false},
		{"subgraph", model(Attrs{"body": {Type: AttributeProto_GRAPH, Graphs: 1}}, nil), "attribute body is GRAPH, which Encode does not write", true},
		{"undefined attribute", model(Attrs{"x": {}}, nil), "attribute x is UNDEFINED", true},
		{"tensor attribute without one", model(Attrs{"value": {Type: AttributeProto_TENSOR}}, nil), "attribute value is a TENSOR without one", false},
		{"string tensor", model(nil, &Tensor{DType: String, Shape: []int{}}), `initializer "t": tensor "t" is STRING, which Encode does not write`, true},
		{"short data", model(nil, &Tensor{DType: Float, Shape: []int{2, 3}, Float: []float32{1}}), `tensor "t" of shape [2, 3] holds 1 FLOAT values, expected 6`, false},
		{"data in the wrong field", model(nil, &Tensor{DType: Int64, Shape: []int{1}, Float: []float32{1}}), `holds 1 INT64 values, expected 1`, false},
		{"negative dimension", model(nil, &Tensor{DType: Float, Shape: []int{-1}}), "dimension -1", false},
		{"too large", model(nil, &Tensor{DType: Float, Shape: []int{1 << 20, 1 << 20}}), "more than", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Encode(c.m)
			if err == nil || !strings.HasPrefix(err.Error(), "onnx: encode: ") || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Encode: %v, want an error containing %q", err, c.want)
			}
			if errors.Is(err, ErrUnsupported) != c.unsupported {
				t.Errorf("errors.Is(err, ErrUnsupported) = %v, want %v", !c.unsupported, c.unsupported)
			}
		})
	}
}
