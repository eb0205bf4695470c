//go:build ignore

// gen_amd64 writes the assembly kernels, vmath_amd64.s, and their Go
// declarations and kernel sets, vmath_amd64.go. Run it with go generate.
// Each kernel is written twice from one description: for AVX-512 (16
// lanes, the tail under a mask register) and for AVX2+FMA (8 lanes, the
// tail under VMASKMOVPS). They compute what the Go kernels in kernels_go.go
// do, but with fused multiply-adds and subnormals flushed to zero (asmgen's
// prologue), so tanh's results may differ from Go's by an ulp or two and
// Relu's for a positive subnormal.
package main

import (
	"bytes"
	"fmt"
	"log"
	"math"
	"strings"

	"github.com/lenetkit/lenetkit/internal/asmgen"
)

// isa is a vector instruction set the kernels are written for.
type isa struct {
	name   string // in symbol names
	reg    string // vector register prefix
	lanes  int    // float32s per register
	avx512 bool
}

var (
	avx2   = isa{name: "AVX2", reg: "Y", lanes: 8}
	avx512 = isa{name: "AVX512", reg: "Z", lanes: 16, avx512: true}
)

func (x isa) v(i int) string { return fmt.Sprintf("%s%d", x.reg, i) }

// constTable is the read-only table of the kernels' constants: each one
// repeated over 32 bytes, so that AVX2 can take it as a memory operand and
// AVX-512 can broadcast its first lane.
type constTable struct {
	sym    string
	values []uint32
}

// add appends a kernel's constants and returns the index of the first.
func (c *constTable) add(bits []uint32) int {
	c.values = append(c.values, bits...)
	return len(c.values) - len(bits)
}

func (c *constTable) mem(i int) string { return fmt.Sprintf("·%s+%d(SB)", c.sym, 32*i) }

func (c *constTable) write(w *bytes.Buffer) {
	fmt.Fprintln(w)
	for i, v := range c.values {
		for l := range 8 {
			fmt.Fprintf(w, "DATA ·%s+%d(SB)/4, $0x%08x\n", c.sym, 32*i+4*l, v)
		}
	}
	fmt.Fprintf(w, "GLOBL ·%s(SB), RODATA|NOPTR, $%d\n", c.sym, 32*len(c.values))
}

// tailMask is 8 int32 lanes of all ones then 8 of zero: the 8 lanes from
// byte 32-4r have the first r lanes set, AVX2's mask for a tail of r.
const tailMask = "tailMask"

func writeTailMask(w *bytes.Buffer) {
	fmt.Fprintln(w)
	for l := range 16 {
		v := uint32(0)
		if l < 8 {
			v = 0xffffffff
		}
		fmt.Fprintf(w, "DATA ·%s+%d(SB)/4, $0x%08x\n", tailMask, 4*l, v)
	}
	fmt.Fprintf(w, "GLOBL ·%s(SB), RODATA|NOPTR, $64\n", tailMask)
}

// elementwise is a kernel of an output slice and one or two inputs as
// long: y[i] = f(x[i]) or y[i] = f(a[i], b[i]). The loop loads input j's
// vector into register j; body leaves the result in register 0, using
// registers up to 4 as scratch and mask registers K2 and K3 on AVX-512
// (AVX2 keeps the tail's mask in register 5). Its constants sit in
// registers from 8 on AVX-512 (room for 24), from 6 on AVX2 (room for
// ten), the rest of AVX2's in memory; body reads constant i at e.k(i).
type elementwise struct {
	name   string   // the kernelSet field; assembly functions add the ISA
	params []string // the output, then the inputs
	// scalars are float32 arguments after n, broadcast into the
	// registers after the constants' (body reads scalar i at e.s(i)).
	scalars []string
	consts  []uint32
	body    func(e *emitter)
}

// emitter writes one function's instructions.
type emitter struct {
	w         *bytes.Buffer
	sym       string
	isa       isa
	table     *constTable
	base, num int // the kernel's constants in the table
}

func (e *emitter) p(format string, args ...any) { fmt.Fprintf(e.w, "\t"+format+"\n", args...) }
func (e *emitter) label(l string)               { fmt.Fprintf(e.w, "%s_%s:\n", e.sym, l) }
func (e *emitter) jmp(op, l string)             { e.p("%s %s_%s", op, e.sym, l) }

// s is the register holding the kernel's scalar i.
func (e *emitter) s(i int) string {
	if e.isa.avx512 {
		return e.isa.v(8 + e.num + i)
	}
	return e.isa.v(6 + e.num + i)
}

// k is the operand holding the kernel's constant i.
func (e *emitter) k(i int) string {
	if e.isa.avx512 {
		return e.isa.v(8 + i)
	}
	if i < 10 {
		return e.isa.v(6 + i)
	}
	return e.table.mem(e.base + i)
}

// loop writes the whole function body over n elements: whole vectors,
// then the tail of fewer than a vector's lanes under a mask.
//
// Registers: DI the output; SI, BX the inputs; CX whole vectors left; DX
// the tail's length.
func loop(e *emitter, k elementwise) {
	x := e.isa
	ptrs := []string{"DI", "SI", "BX"}
	for i, name := range k.params {
		e.p("MOVQ %s+%d(FP), %s", name, 8*i, ptrs[i])
	}
	e.p("MOVQ n+%d(FP), CX", 8*len(k.params))
	e.p("MOVQ CX, DX")
	e.p("ANDQ $%d, DX", x.lanes-1)
	e.p("SHRQ $%d, CX", log2(x.lanes))
	for i := range k.consts {
		if r := e.k(i); r != e.table.mem(e.base+i) {
			e.p("VBROADCASTSS %s, %s", e.table.mem(e.base+i), r)
		}
	}
	for i, name := range k.scalars {
		e.p("VBROADCASTSS %s+%d(FP), %s", name, 8*(len(k.params)+1)+4*i, e.s(i))
	}
	ins := ptrs[1:len(k.params)]
	e.p("TESTQ CX, CX")
	e.jmp("JZ", "tail")
	e.label("vec")
	for j, ptr := range ins {
		e.p("VMOVUPS (%s), %s", ptr, x.v(j))
	}
	k.body(e)
	e.p("VMOVUPS %s, (DI)", x.v(0))
	for _, ptr := range ptrs[:len(k.params)] {
		e.p("ADDQ $%d, %s", 4*x.lanes, ptr)
	}
	e.p("DECQ CX")
	e.jmp("JNZ", "vec")
	e.label("tail")
	e.p("TESTQ DX, DX")
	e.jmp("JZ", "done")
	if x.avx512 {
		e.p("MOVL $1, AX")
		e.p("MOVQ DX, CX")
		e.p("SHLL CX, AX")
		e.p("DECL AX")
		e.p("KMOVW AX, K1")
		for j, ptr := range ins {
			e.p("VMOVUPS.Z (%s), K1, %s", ptr, x.v(j))
		}
		k.body(e)
		e.p("VMOVUPS %s, K1, (DI)", x.v(0))
	} else {
		mask := x.v(5)
		e.p("LEAQ ·%s+32(SB), AX", tailMask)
		e.p("SHLQ $2, DX")
		e.p("SUBQ DX, AX")
		e.p("VMOVUPS (AX), %s", mask)
		for j, ptr := range ins {
			e.p("VMASKMOVPS (%s), %s, %s", ptr, mask, x.v(j))
		}
		k.body(e)
		e.p("VMASKMOVPS %s, %s, (DI)", x.v(0), mask)
	}
	e.label("done")
}

func log2(n int) int {
	l := 0
	for ; n > 1; n >>= 1 {
		l++
	}
	return l
}

func main() {
	var asm, decl bytes.Buffer
	fmt.Fprintf(&asm, "// Code generated by gen_amd64.go; DO NOT EDIT.\n\n//go:build amd64 && !purego\n\n#include \"textflag.h\"\n")
	fmt.Fprintf(&decl, "// Code generated by gen_amd64.go; DO NOT EDIT.\n\n//go:build amd64 && !purego\n\npackage vmath\n")
	table := &constTable{sym: "consts"}
	kernels := []elementwise{tanhKernel(), tanhGradKernel(), reluKernel(), reluGradKernel(), clipKernel()}
	bases := make([]int, len(kernels))
	for i, k := range kernels {
		bases[i] = table.add(k.consts)
	}
	for _, x := range []isa{avx512, avx2} {
		for i, k := range kernels {
			sym := k.name + x.name
			args := strings.Join(k.params, ", ") + " *float32, n int"
			if k.scalars != nil {
				args += ", " + strings.Join(k.scalars, ", ") + " float32"
			}
			size := 8*(len(k.params)+1) + (4*len(k.scalars)+7)/8*8
			fmt.Fprintf(&asm, "\n// func %s(%s)\nTEXT ·%s(SB), NOSPLIT, $%d-%d\n", sym, args, sym, asmgen.Frame, size)
			e := &emitter{w: &asm, sym: sym, isa: x, table: table, base: bases[i], num: len(k.consts)}
			asmgen.Enter(e.p)
			loop(e, k)
			asmgen.Leave(e.p)
			fmt.Fprintf(&asm, "\tVZEROUPPER\n\tRET\n")
			fmt.Fprintf(&decl, "\n//go:noescape\nfunc %s(%s)\n", sym, args)
		}
		// The kernel set, its wrappers checking that every slice holds as
		// many elements as the last input.
		fmt.Fprintf(&decl, "\nvar kernels%s = &kernelSet{name: %q,\n", x.name, strings.ToLower(x.name))
		for _, k := range kernels {
			n := k.params[len(k.params)-1]
			sig, scalars := strings.Join(k.params, ", ")+" []float32", ""
			if k.scalars != nil {
				scalars = ", " + strings.Join(k.scalars, ", ")
				sig += scalars + " float32"
			}
			fmt.Fprintf(&decl, "\t%s: func(%s) {\nif len(%s) == 0 {\nreturn\n}\n", k.name, sig, n)
			var addrs []string
			for _, p := range k.params {
				if p != n {
					fmt.Fprintf(&decl, "_ = %s[len(%s)-1]\n", p, n)
				}
				addrs = append(addrs, "&"+p+"[0]")
			}
			fmt.Fprintf(&decl, "%s%s(%s, len(%s)%s)\n},\n", k.name, x.name, strings.Join(addrs, ", "), n, scalars)
		}
		fmt.Fprintf(&decl, "}\n")
	}
	table.write(&asm)
	writeTailMask(&asm)
	if err := asmgen.WriteKernels("vmath_amd64", asm.Bytes(), decl.Bytes()); err != nil {
		log.Fatal(err)
	}
}

func f32(v float64) uint32 { return math.Float32bits(float32(v)) }

// tanhKernel is tanh as tanh32 in kernels_go.go computes it: clamp to
// +-7.905, the rational function p(x)/q(x), and x itself where x*x is
// under 0.0004^2 (which also catches the subnormals, flushed to zero, and
// keeps -0). A NaN survives the clamp (VMAXPS returns its second source,
// x, when either is NaN) and the arithmetic.
func tanhKernel() elementwise {
	const clamp = float32(7.90531110763549805)
	// The clamp's bounds come first, in registers on AVX2 too: VMAXPS
	// and VMINPS take them as their first source, which cannot be
	// memory; then the polynomials', each used once per vector.
	const (
		lo, hi, p0, q0                = 0, 1, 2, 9
		tiny2, sat, sign, one, nconst = 13, 14, 15, 16, 17
	)
	consts := []uint32{
		math.Float32bits(-clamp), math.Float32bits(clamp),
		f32(-2.76076847742355e-16), f32(2.00018790482477e-13), f32(-8.60467152213735e-11),
		f32(5.12229709037114e-08), f32(1.48572235717979e-05), f32(6.37261928875436e-04),
		f32(4.89352455891786e-03),
		f32(1.19825839466702e-06), f32(1.18534705686654e-04), f32(2.26843463243900e-03),
		f32(4.89352518554385e-03),
		f32(0.0004 * 0.0004), math.Float32bits(clamp * clamp), 0x80000000, math.Float32bits(1),
	}
	if len(consts) != nconst {
		log.Fatalf("tanh has %d constants, want %d", len(consts), nconst)
	}
	body := func(e *emitter) {
		x := e.isa
		v, cl, x2, p, q := x.v(0), x.v(1), x.v(2), x.v(3), x.v(4)
		e.p("VMAXPS %s, %s, %s", v, e.k(lo), cl)
		e.p("VMINPS %s, %s, %s", cl, e.k(hi), cl)
		e.p("VMULPS %s, %s, %s", cl, cl, x2)
		e.p("VMOVUPS %s, %s", e.k(p0), p)
		for i := p0 + 1; i < q0; i++ {
			e.p("VFMADD213PS %s, %s, %s", e.k(i), x2, p)
		}
		e.p("VMULPS %s, %s, %s", cl, p, p)
		e.p("VMOVUPS %s, %s", e.k(q0), q)
		for i := q0 + 1; i < tiny2; i++ {
			e.p("VFMADD213PS %s, %s, %s", e.k(i), x2, q)
		}
		e.p("VDIVPS %s, %s, %s", q, p, p)
		// Where x was clamped the rational function, its FMAs rounding
		// otherwise than tanh32's mul-adds, falls 4 ulp short of +-1:
		// saturate there, p = x*x >= clamp^2 ? copysign(1, x) : p.
		// Then v = p where x*x is not under tiny2 (or is NaN), else v
		// stays x.
		if x.avx512 {
			e.p("VPANDD %s, %s, %s", e.k(sign), v, q)
			e.p("VPORD %s, %s, %s", e.k(one), q, q)
			e.p("VCMPPS $0x1d, %s, %s, K3", e.k(sat), x2)
			e.p("VMOVAPS %s, K3, %s", q, p)
			e.p("VCMPPS $0x15, %s, %s, K2", e.k(tiny2), x2)
			e.p("VMOVAPS %s, K2, %s", p, v)
		} else {
			m := cl // free now; register 5 holds the tail's mask
			e.p("VANDPS %s, %s, %s", e.k(sign), v, q)
			e.p("VORPS %s, %s, %s", e.k(one), q, q)
			e.p("VCMPPS $0x1d, %s, %s, %s", e.k(sat), x2, m)
			e.p("VBLENDVPS %s, %s, %s, %s", m, q, p, p)
			e.p("VCMPPS $0x15, %s, %s, %s", e.k(tiny2), x2, m)
			e.p("VBLENDVPS %s, %s, %s, %s", m, p, v, v)
		}
	}
	return elementwise{name: "tanh", params: []string{"y", "x"}, consts: consts, body: body}
}

// tanhGradKernel is tanh's derivative from its output: dx = dy*(1-y*y),
// 1-y*y as one fused negated multiply-add.
func tanhGradKernel() elementwise {
	body := func(e *emitter) {
		x := e.isa
		dy, y, t := x.v(0), x.v(1), x.v(2)
		e.p("VMOVUPS %s, %s", e.k(0), t)
		e.p("VFNMADD231PS %s, %s, %s", y, y, t)
		e.p("VMULPS %s, %s, %s", t, dy, dy)
	}
	return elementwise{name: "tanhGrad", params: []string{"dx", "dy", "y"},
		consts: []uint32{math.Float32bits(1)}, body: body}
}

// reluKernel is max(x, 0) as Go's max computes it: x where x > 0 or x
// is NaN (the compare not-less-or-equal, unordered, is true for NaN), +0
// elsewhere, -0 included.
func reluKernel() elementwise {
	body := func(e *emitter) {
		x := e.isa
		if x.avx512 {
			e.p("VCMPPS $0x16, %s, %s, K2", e.k(0), x.v(0))
			e.p("VMOVAPS.Z %s, K2, %s", x.v(0), x.v(0))
		} else {
			e.p("VCMPPS $0x16, %s, %s, %s", e.k(0), x.v(0), x.v(1))
			e.p("VANDPS %s, %s, %s", x.v(1), x.v(0), x.v(0))
		}
	}
	return elementwise{name: "relu", params: []string{"y", "x"}, consts: []uint32{0}, body: body}
}

// reluGradKernel passes dy where x, read as an int32, is positive: x > 0
// or a NaN without its sign bit, not -0 (the Go loop's test).
func reluGradKernel() elementwise {
	body := func(e *emitter) {
		x := e.isa
		dy, in := x.v(0), x.v(1)
		if x.avx512 {
			e.p("VPCMPGTD %s, %s, K2", e.k(0), in)
			e.p("VMOVAPS.Z %s, K2, %s", dy, dy)
		} else {
			e.p("VPCMPGTD %s, %s, %s", e.k(0), in, in)
			e.p("VANDPS %s, %s, %s", in, dy, dy)
		}
	}
	return elementwise{name: "reluGrad", params: []string{"dx", "dy", "x"}, consts: []uint32{0}, body: body}
}

// clipKernel is min(max(x, lo), hi) as clipGo computes it: x itself where
// it is NaN or equal to a bound (a -0 at lo = 0 stays -0), lo below lo, hi
// above hi, and hi everywhere when lo > hi. VMAXPS and VMINPS return their
// second source, in Go's order the first operand, x's register, when
// either is NaN or the two are equal.
func clipKernel() elementwise {
	body := func(e *emitter) {
		x := e.isa.v(0)
		e.p("VMAXPS %s, %s, %s", x, e.s(0), x)
		e.p("VMINPS %s, %s, %s", x, e.s(1), x)
	}
	return elementwise{name: "clip", params: []string{"y", "x"}, scalars: []string{"lo", "hi"}, body: body}
}
