package qgemm_test

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/lenetkit/lenetkit/internal/qgemm"
	"github.com/lenetkit/lenetkit/internal/testtool"
)

// TestMatchesONNXRuntime runs MatMulInteger and QLinearMatMul in ONNX
// Runtime (onnxruntime-node, CPU) and checks that Gemm, and Gemm then
// Requantize, give its outputs bit for bit: for each signedness of A and B
// it supports, per-tensor and per-column zero points and scales, scales
// that are powers of 2 (so that many products are ties, which must round
// half to even) and scales that are not. Where the CPU has no VNNI
// (testtool.ORTExactU8S8), ONNX Runtime's uint8 x int8 products saturate,
// and it must give the saturated result instead (saturatedU8S8).
func TestMatchesONNXRuntime(t *testing.T) {
	node := testtool.RequireORT(t)
	rng := rand.New(rand.NewPCG(31, 32))
	dir := t.TempDir()
	const m, k, n = 37, 301, 19
	type job struct {
		Model string `json:"model"`
		A     string `json:"a"`
		AType string `json:"aType"`
		M     int    `json:"m"`
		K     int    `json:"k"`
		Out   string `json:"out"`
	}
	type check struct {
		name  string
		job   job
		c     []int32              // our product
		sat   []int32              // MLAS's without VNNI, for uint8 A and int8 B (see saturatedU8S8)
		want  func([]int32) []byte // the output from a product, as ONNX Runtime writes it
		bytes int                  // output element size
	}
	var checks []check
	for _, signedA := range []bool{false, true} {
		for _, signedB := range []bool{true, false} {
			for _, perColumn := range []bool{false, true} {
				a := randomBytes(rng, m*k)
				b := randomBytes(rng, k*n)
				za := randomBytes(rng, 1)[0]
				zb := randomBytes(rng, n)
				if !perColumn {
					zb = zb[:1]
				}
				name := fmt.Sprintf("A %s, B %s, per-column %v", typeName(signedA), typeName(signedB), perColumn)
				aPath := filepath.Join(dir, fmt.Sprintf("a%d.bin", len(checks)))
				if err := os.WriteFile(aPath, a, 0o644); err != nil {
					t.Fatal(err)
				}
				product := func(a, b []byte) []int32 {
					c := make([]int32, m*n)
					var err error
					switch {
					case signedA && signedB:
						err = gemm(asInt8(a), int8(za), asInt8(b), asInt8(zb), m, n, k, c)
					case signedA:
						err = gemm(asInt8(a), int8(za), b, zb, m, n, k, c)
					case signedB:
						err = gemm(a, za, asInt8(b), asInt8(zb), m, n, k, c)
					default:
						err = gemm(a, za, b, zb, m, n, k, c)
					}
					if err != nil {
						t.Fatal(err)
					}
					return c
				}
				// MatMulInteger: the int32 product.
				model := filepath.Join(dir, fmt.Sprintf("mmi%d.onnx", len(checks)))
				writeModel(t, model, "MatMulInteger", 10, signedA, signedB, m, k, n, b, za, zb, nil)
				saturated := func(a, b []byte) []int32 {
					if signedA || !signedB {
						return nil
					}
					return saturatedU8S8(a, za, b, zb, m, n, k)
				}
				checks = append(checks, check{name: "MatMulInteger: " + name, bytes: 4,
					job: job{model, aPath, typeName(signedA), m, k, model + ".out"},
					c:   product(a, b), sat: saturated(a, b),
					want: func(c []int32) []byte {
						out := make([]byte, 4*len(c))
						for i, v := range c {
							binary.LittleEndian.PutUint32(out[4*i:], uint32(v))
						}
						return out
					}})
				// QLinearMatMul: ONNX Runtime has it for uint8 A with either B,
				// and for int8 A, B and Y. With scales that are powers of 2,
				// A and B are drawn within 3 of their zero points, so that
				// products are small and many land on ties.
				if signedA && !signedB {
					continue
				}
				for _, pow2 := range []bool{true, false} {
					a, b := a, b
					if pow2 {
						a, b = nearZero(rng, m*k, za, signedA), make([]byte, k*n)
						for j := range n {
							z := zb[0]
							if perColumn {
								z = zb[j]
							}
							col := nearZero(rng, k, z, signedB)
							for p := range k {
								b[p*n+j] = col[p]
							}
						}
					}
					aPath := filepath.Join(dir, fmt.Sprintf("a%d.bin", len(checks)))
					if err := os.WriteFile(aPath, a, 0o644); err != nil {
						t.Fatal(err)
					}
					c := product(a, b)
					q := &qparams{aScale: scale(rng, pow2, 0), yZero: randomBytes(rng, 1)[0]}
					q.bScale = []float32{scale(rng, pow2, 0)}
					for range zb[1:] {
						// Within a fifth of the first, or a power of 2 from half
						// to twice it.
						q.bScale = append(q.bScale, scale(rng, pow2, float64(q.bScale[0])*(0.6+0.8*rng.Float64())))
					}
					// y's scale spreads the outputs over about 80 steps.
					var sq float64
					for _, v := range c {
						sq += float64(v) * float64(v)
					}
					q.yScale = scale(rng, pow2, float64(q.aScale*q.bScale[0])*math.Sqrt(sq/float64(len(c)))/40)
					mult := make([]float32, len(q.bScale))
					for j, s := range q.bScale {
						mult[j] = q.aScale * s / q.yScale // as ONNX Runtime computes it
					}
					ties, inside := 0, 0
					for i, v := range c {
						f := float64(float32(v) * mult[(i%n)%len(mult)])
						if f-math.Floor(f) == 0.5 {
							ties++
						}
						if math.Abs(f) < 100 {
							inside++
						}
					}
					if (pow2 && ties < 20) || inside < len(c)/2 {
						t.Fatalf("%s, power-of-2 scales %v: %d ties, %d of %d not saturated: not a test of the rounding", name, pow2, ties, inside, len(c))
					}
					model := filepath.Join(dir, fmt.Sprintf("qlmm%d.onnx", len(checks)))
					writeModel(t, model, "QLinearMatMul", 10, signedA, signedB, m, k, n, b, za, zb, q)
					checks = append(checks, check{name: fmt.Sprintf("QLinearMatMul: %s, power-of-2 scales %v (%d ties)", name, pow2, ties), bytes: 1,
						job: job{model, aPath, typeName(signedA), m, k, model + ".out"},
						c:   c, sat: saturated(a, b),
						want: func(c []int32) []byte {
							out := make([]byte, m*n)
							var err error
							if signedA {
								y := make([]int8, m*n)
								err = qgemm.Requantize(m, n, y, n, c, n, nil, mult, int8(q.yZero))
								for i, v := range y {
									out[i] = byte(v)
								}
							} else {
								err = qgemm.Requantize(m, n, out, n, c, n, nil, mult, q.yZero)
							}
							if err != nil {
								t.Fatal(err)
							}
							return out
						}})
				}
			}
		}
	}
	var jobs []job
	for _, c := range checks {
		jobs = append(jobs, c.job)
	}
	manifest, _ := json.Marshal(jobs)
	mpath := filepath.Join(dir, "jobs.json")
	if err := os.WriteFile(mpath, manifest, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(node, "-e", ortScript, mpath)
	cmd.Dir = testtool.Reference("")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ONNX Runtime: %v\n%s", err, out)
	}
	for _, c := range checks {
		got, err := os.ReadFile(c.job.Out)
		if err != nil {
			t.Fatal(err)
		}
		want := c.want(c.c)
		if c.sat != nil && string(got) != string(want) && !testtool.ORTExactU8S8() {
			// ONNX Runtime's MLAS multiplies uint8 by int8 with
			// VPMADDUBSW where the CPU has no VNNI, which saturates each
			// sum of two products in int16: its result then depends on
			// the CPU. lenetkit's is the exact one (qgemm_test.go); here
			// ONNX Runtime's must be the saturated one, and differ.
			sat := c.want(c.sat)
			if string(sat) == string(want) {
				t.Errorf("%s: no sum saturates, so ONNX Runtime's product should be exact", c.name)
			} else if string(got) == string(sat) {
				t.Logf("%s: ONNX Runtime's sums saturate in int16 on this CPU (no VNNI); all %d elements equal the saturated product", c.name, len(got)/c.bytes)
				continue
			}
		}
		if len(got) != len(want) {
			t.Fatalf("%s: ONNX Runtime wrote %d bytes, want %d", c.name, len(got), len(want))
		}
		bad := 0
		for i := 0; i < len(got); i += c.bytes {
			if string(got[i:i+c.bytes]) != string(want[i:i+c.bytes]) {
				if bad++; bad <= 3 {
					t.Errorf("%s: element %d is % x in ONNX Runtime, % x here", c.name, i/c.bytes, got[i:i+c.bytes], want[i:i+c.bytes])
				}
			}
		}
		if bad == 0 {
			t.Logf("%s: %d elements equal", c.name, len(got)/c.bytes)
		}
	}
}

// ortScript runs each job of the manifest (its first argument): the model
// on A, its one input, writing the first output's bytes.
const ortScript = `
const fs = require('fs');
const ort = require('onnxruntime-node');
(async () => {
  const jobs = JSON.parse(fs.readFileSync(process.argv[1], 'utf8'));
  for (const j of jobs) {
    const s = await ort.InferenceSession.create(j.model, {intraOpNumThreads: 1});
    const raw = fs.readFileSync(j.a);
    const data = j.aType === 'int8' ? new Int8Array(raw.buffer, raw.byteOffset, raw.length)
                                    : new Uint8Array(raw.buffer, raw.byteOffset, raw.length);
    const out = await s.run({a: new ort.Tensor(j.aType, data, [j.m, j.k])});
    const y = out[s.outputNames[0]].data;
    fs.writeFileSync(j.out, Buffer.from(y.buffer, y.byteOffset, y.byteLength));
  }
})().catch((e) => { console.error(e); process.exit(1); });
`

// saturatedU8S8 is MLAS's uint8 x int8 product on CPUs without VNNI: each
// sum of two products along k (VPMADDUBSW) is clamped to int16, then the zero
// points are taken off the raw sums.
func saturatedU8S8(a []byte, za byte, b, zb []byte, m, n, k int) []int32 {
	c := make([]int32, m*n)
	for i := range m {
		row := a[i*k : (i+1)*k]
		var rowSum int32
		for _, v := range row {
			rowSum += int32(v)
		}
		for j := range n {
			var sum, colSum int32
			for p := 0; p < k; p += 2 {
				pair := int32(row[p]) * int32(int8(b[p*n+j]))
				colSum += int32(int8(b[p*n+j]))
				if p+1 < k {
					pair += int32(row[p+1]) * int32(int8(b[(p+1)*n+j]))
					colSum += int32(int8(b[(p+1)*n+j]))
				}
				sum += min(max(pair, math.MinInt16), math.MaxInt16)
			}
			z := int32(int8(zb[j%len(zb)]))
			c[i*n+j] = sum - int32(za)*colSum - z*rowSum + int32(k)*int32(za)*z
		}
	}
	return c
}

func gemm[TA, TB qgemm.Int8](a []TA, za TA, b, zb []TB, m, n, k int, c []int32) error {
	p, err := qgemm.PackB(false, k, n, b, n, zb)
	if err != nil {
		return err
	}
	return qgemm.Gemm(p, false, m, a, k, za, c, n, nil)
}

type qparams struct {
	aScale, yScale float32
	bScale         []float32
	yZero          byte
}

// scale returns a scale between 2^-9 and 2^-4, or about near when it is
// not 0: a power of 2 when pow2.
func scale(rng *rand.Rand, pow2 bool, near float64) float32 {
	if near != 0 {
		if pow2 {
			return float32(math.Exp2(math.Round(math.Log2(near))))
		}
		return float32(near * (0.8 + 0.4*rng.Float64()))
	}
	e := -4 - rng.IntN(6)
	if pow2 {
		return float32(math.Ldexp(1, e))
	}
	return float32(math.Ldexp(1+rng.Float64(), e))
}

// nearZero returns n values within 3 of the zero point z, in its type's range.
func nearZero(rng *rand.Rand, n int, z byte, signed bool) []byte {
	s := make([]byte, n)
	for i := range s {
		v := int(z) + rng.IntN(7) - 3
		if signed {
			v = int(int8(z)) + rng.IntN(7) - 3
			v = min(max(v, -128), 127)
		} else {
			v = min(max(v, 0), 255)
		}
		s[i] = byte(v)
	}
	return s
}

func randomBytes(rng *rand.Rand, n int) []byte {
	extremes := []byte{0, 1, 0x7f, 0x80, 0xff}
	s := make([]byte, n)
	for i := range s {
		if rng.IntN(8) == 0 {
			s[i] = extremes[rng.IntN(len(extremes))]
		} else {
			s[i] = byte(rng.Uint32())
		}
	}
	return s
}

func asInt8(s []byte) []int8 {
	out := make([]int8, len(s))
	for i, v := range s {
		out[i] = int8(v)
	}
	return out
}

func typeName(signed bool) string {
	if signed {
		return "int8"
	}
	return "uint8"
}

// writeModel writes a one-node ONNX model: op (MatMulInteger, or
// QLinearMatMul when q is not nil) of the graph input a [m, k] by the
// initializer b [k, n], with the zero points (and scales) as initializers.
// The protobuf is written by hand, field by field of onnx.proto.
func writeModel(t *testing.T, path, op string, opset int, signedA, signedB bool, m, k, n int, b []byte, za byte, zb []byte, q *qparams) {
	t.Helper()
	const (
		float32Type = 1
		uint8Type   = 2
		int8Type    = 3
		int32Type   = 6
	)
	elem := func(signed bool) int {
		if signed {
			return int8Type
		}
		return uint8Type
	}
	zbDims := []int{}
	if len(zb) > 1 {
		zbDims = []int{n}
	}
	var inits [][]byte
	f32 := func(vs ...float32) []byte {
		out := make([]byte, 4*len(vs))
		for i, v := range vs {
			binary.LittleEndian.PutUint32(out[4*i:], math.Float32bits(v))
		}
		return out
	}
	var inputs []string
	switch op {
	case "MatMulInteger":
		inputs = []string{"a", "b", "a_zero_point", "b_zero_point"}
		inits = append(inits,
			tensorProto("b", elem(signedB), []int{k, n}, b),
			tensorProto("a_zero_point", elem(signedA), nil, []byte{za}),
			tensorProto("b_zero_point", elem(signedB), zbDims, zb))
	case "QLinearMatMul":
		inputs = []string{"a", "a_scale", "a_zero_point", "b", "b_scale", "b_zero_point", "y_scale", "y_zero_point"}
		inits = append(inits,
			tensorProto("a_scale", float32Type, nil, f32(q.aScale)),
			tensorProto("a_zero_point", elem(signedA), nil, []byte{za}),
			tensorProto("b", elem(signedB), []int{k, n}, b),
			tensorProto("b_scale", float32Type, zbDims, f32(q.bScale...)),
			tensorProto("b_zero_point", elem(signedB), zbDims, zb),
			tensorProto("y_scale", float32Type, nil, f32(q.yScale)),
			tensorProto("y_zero_point", elem(signedA), nil, []byte{q.yZero}))
	}
	outType := int32Type
	if q != nil {
		outType = elem(signedA)
	}
	var node []byte
	for _, in := range inputs {
		node = pbBytes(node, 1, []byte(in))
	}
	node = pbBytes(node, 2, []byte("y"))
	node = pbBytes(node, 4, []byte(op))
	var graph []byte
	graph = pbBytes(graph, 1, node)
	graph = pbBytes(graph, 2, []byte("g"))
	for _, init := range inits {
		graph = pbBytes(graph, 5, init)
	}
	graph = pbBytes(graph, 11, valueInfo("a", elem(signedA), []int{m, k}))
	graph = pbBytes(graph, 12, valueInfo("y", outType, []int{m, n}))
	var opsetID []byte
	opsetID = pbBytes(opsetID, 1, nil)
	opsetID = pbVarint(opsetID, 2, uint64(opset))
	var model []byte
	model = pbVarint(model, 1, 7) // ir_version
	model = pbBytes(model, 8, opsetID)
	model = pbBytes(model, 7, graph)
	if err := os.WriteFile(path, model, 0o644); err != nil {
		t.Fatal(err)
	}
}

func tensorProto(name string, typ int, dims []int, raw []byte) []byte {
	var out []byte
	for _, d := range dims {
		out = pbVarint(out, 1, uint64(d))
	}
	out = pbVarint(out, 2, uint64(typ))
	out = pbBytes(out, 8, []byte(name))
	return pbBytes(out, 9, raw)
}

func valueInfo(name string, typ int, dims []int) []byte {
	var shape []byte
	for _, d := range dims {
		shape = pbBytes(shape, 1, pbVarint(nil, 1, uint64(d)))
	}
	var tensor []byte
	tensor = pbVarint(tensor, 1, uint64(typ))
	tensor = pbBytes(tensor, 2, shape)
	var out []byte
	out = pbBytes(out, 1, []byte(name))
	return pbBytes(out, 2, pbBytes(nil, 1, tensor))
}

func pbVarint(b []byte, field int, v uint64) []byte {
	b = binary.AppendUvarint(b, uint64(field)<<3)
	return binary.AppendUvarint(b, v)
}

func pbBytes(b []byte, field int, v []byte) []byte {
	b = binary.AppendUvarint(b, uint64(field)<<3|2)
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}
