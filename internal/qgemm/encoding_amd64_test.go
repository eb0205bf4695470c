//go:build amd64 && !purego

package qgemm

import (
	"bytes"
	"debug/elf"
	"debug/gosym"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/lenetkit/lenetkit/internal/testtool"
)

// The AVX-VNNI kernels write VPDPBUSD's VEX encoding as bytes, since Go's
// assembler has only its EVEX encoding. A CPU without AVX-VNNI cannot run
// them, so these tests check the bytes instead: against what GNU as
// encodes, in the source and in the linked binary, and (where GNU objdump
// is installed) by disassembling the kernels beside their EVEX twins,
// which this machine runs and the product tests check.

// gnuVEX is how GNU as 2.40 encodes `{vex} vpdpbusd %ymmB, %ymmA, %ymmC`
// (the operands in Go's order: VPDPBUSD YB, YA, YC) for the register
// triples the kernels use.
var gnuVEX = map[[3]int][]byte{
	{12, 13, 0}:  {0xc4, 0xc2, 0x15, 0x50, 0xc4},
	{12, 13, 2}:  {0xc4, 0xc2, 0x15, 0x50, 0xd4},
	{12, 13, 4}:  {0xc4, 0xc2, 0x15, 0x50, 0xe4},
	{12, 13, 6}:  {0xc4, 0xc2, 0x15, 0x50, 0xf4},
	{12, 13, 8}:  {0xc4, 0x42, 0x15, 0x50, 0xc4},
	{12, 13, 10}: {0xc4, 0x42, 0x15, 0x50, 0xd4},
	{12, 14, 0}:  {0xc4, 0xc2, 0x0d, 0x50, 0xc4},
	{12, 14, 1}:  {0xc4, 0xc2, 0x0d, 0x50, 0xcc},
	{12, 14, 3}:  {0xc4, 0xc2, 0x0d, 0x50, 0xdc},
	{12, 14, 4}:  {0xc4, 0xc2, 0x0d, 0x50, 0xe4},
	{12, 14, 5}:  {0xc4, 0xc2, 0x0d, 0x50, 0xec},
	{12, 14, 7}:  {0xc4, 0xc2, 0x0d, 0x50, 0xfc},
	{12, 14, 8}:  {0xc4, 0x42, 0x0d, 0x50, 0xc4},
	{12, 14, 9}:  {0xc4, 0x42, 0x0d, 0x50, 0xcc},
	{12, 14, 11}: {0xc4, 0x42, 0x0d, 0x50, 0xdc},
	{12, 15, 2}:  {0xc4, 0xc2, 0x05, 0x50, 0xd4},
	{12, 15, 6}:  {0xc4, 0xc2, 0x05, 0x50, 0xf4},
	{12, 15, 10}: {0xc4, 0x42, 0x05, 0x50, 0xd4},
	{13, 14, 1}:  {0xc4, 0xc2, 0x0d, 0x50, 0xcd},
	{13, 14, 5}:  {0xc4, 0xc2, 0x0d, 0x50, 0xed},
	{13, 14, 9}:  {0xc4, 0x42, 0x0d, 0x50, 0xcd},
	{13, 15, 3}:  {0xc4, 0xc2, 0x05, 0x50, 0xdd},
	{13, 15, 7}:  {0xc4, 0xc2, 0x05, 0x50, 0xfd},
	{13, 15, 11}: {0xc4, 0x42, 0x05, 0x50, 0xdd},
}

var vexLine = regexp.MustCompile(`^\t((?:BYTE \$0x[0-9a-f]{2}(?:; )?)+) // VPDPBUSD Y(\d+), Y(\d+), Y(\d+) \(VEX\)$`)

// vexInstr is one VPDPBUSD written as bytes: its line in kernels_amd64.s,
// the bytes, and its registers in Go's order.
type vexInstr struct {
	line  int
	bytes []byte
	regs  [3]int
}

// sourceFunctions returns kernels_amd64.s's functions' lines by name
// (comments and blank lines left out), and
// its VEX instructions by function.
func sourceFunctions(t *testing.T) (map[string][]string, map[string][]vexInstr) {
	t.Helper()
	src, err := os.ReadFile("kernels_amd64.s")
	if err != nil {
		t.Fatal(err)
	}
	funcs := map[string][]string{}
	vex := map[string][]vexInstr{}
	fn := ""
	for i, l := range strings.Split(string(src), "\n") {
		if name, ok := strings.CutPrefix(l, "TEXT ·"); ok {
			fn = name[:strings.Index(name, "(")]
		}
		if fn == "" || l == "" || strings.HasPrefix(l, "//") {
			continue
		}
		funcs[fn] = append(funcs[fn], l)
		m := vexLine.FindStringSubmatch(l)
		if m == nil {
			if strings.Contains(l, "BYTE") {
				t.Fatalf("kernels_amd64.s:%d: BYTE line not a VPDPBUSD: %q", i+1, l)
			}
			continue
		}
		in := vexInstr{line: i + 1}
		for _, b := range strings.Split(m[1], "; ") {
			v, err := strconv.ParseUint(strings.TrimPrefix(b, "BYTE $0x"), 16, 8)
			if err != nil {
				t.Fatal(err)
			}
			in.bytes = append(in.bytes, byte(v))
		}
		for r := range 3 {
			in.regs[r], _ = strconv.Atoi(m[2+r])
		}
		vex[fn] = append(vex[fn], in)
	}
	return funcs, vex
}

// vexPairs are the AVX-VNNI kernels and their EVEX twins.
var vexPairs = [][2]string{
	{"kernelAVXVNNI_6x16", "kernelVNNIVL_6x16"},
	{"kernelAVXVNNI_12x8", "kernelVNNIVL_12x8"},
	{"directAVXVNNI_6x16", "directVNNIVL_6x16"},
	{"directAVXVNNI_12x8", "directVNNIVL_12x8"},
}

// TestVEXEncodingSource: every VEX VPDPBUSD in kernels_amd64.s is GNU as's
// encoding of the instruction its comment names, and each AVX-VNNI kernel
// is its EVEX twin line for line but for that encoding, so the product
// tests that run the twin test the AVX-VNNI kernel's code.
func TestVEXEncodingSource(t *testing.T) {
	funcs, vex := sourceFunctions(t)
	for _, pair := range vexPairs {
		vx, ev := pair[0], pair[1]
		if len(vex[vx]) == 0 {
			t.Fatalf("%s has no VEX VPDPBUSD", vx)
		}
		for _, in := range vex[vx] {
			want, ok := gnuVEX[in.regs]
			if !ok {
				t.Errorf("kernels_amd64.s:%d: no GNU as encoding recorded for VPDPBUSD Y%d, Y%d, Y%d", in.line, in.regs[0], in.regs[1], in.regs[2])
				continue
			}
			if !bytes.Equal(in.bytes, want) {
				t.Errorf("kernels_amd64.s:%d: VPDPBUSD Y%d, Y%d, Y%d is % x, GNU as writes % x", in.line, in.regs[0], in.regs[1], in.regs[2], in.bytes, want)
			}
		}
		a, b := funcs[vx], funcs[ev]
		if len(a) != len(b) {
			t.Fatalf("%s has %d lines, %s %d", vx, len(a), ev, len(b))
		}
		for i := range a {
			la := strings.ReplaceAll(a[i], vx, ev)
			if m := vexLine.FindStringSubmatch(la); m != nil {
				la = fmt.Sprintf("\tVPDPBUSD Y%s, Y%s, Y%s", m[2], m[3], m[4])
			}
			if la != b[i] {
				t.Errorf("%s and %s differ: %q, %q", vx, ev, a[i], b[i])
			}
		}
	}
}

// testBinary is this test binary's text and line table, from which the
// kernels' bytes and source lines are read: Go's disassembler does not
// decode VEX VPDPBUSD, and go test strips the symbol table (not the line
// table, which the runtime needs).
type testBinary struct {
	text  []byte
	addr  uint64
	table *gosym.Table
}

func openTestBinary(t *testing.T) *testBinary {
	t.Helper()
	f, err := elf.Open(os.Args[0])
	if err != nil {
		t.Skipf("test binary not ELF: %v", err)
	}
	defer f.Close()
	text, pcln := f.Section(".text"), f.Section(".gopclntab")
	if text == nil || pcln == nil {
		t.Skip("test binary without .text or .gopclntab")
	}
	code, err := text.Data()
	if err != nil {
		t.Fatal(err)
	}
	lines, err := pcln.Data()
	if err != nil {
		t.Fatal(err)
	}
	table, err := gosym.NewTable(nil, gosym.NewLineTable(lines, text.Addr))
	if err != nil {
		t.Fatal(err)
	}
	return &testBinary{text: code, addr: text.Addr, table: table}
}

// function returns the assembly function name's address range.
func (b *testBinary) function(t *testing.T, name string) (start, end uint64) {
	t.Helper()
	for _, fn := range b.table.Funcs {
		if strings.HasSuffix(fn.Name, "/qgemm."+name) || strings.HasSuffix(fn.Name, "/qgemm."+name+".abi0") {
			return fn.Entry, fn.End
		}
	}
	t.Fatalf("%s not in the test binary", name)
	return 0, 0
}

// TestVEXEncodingBinary: the linked kernels hold, at each VEX line's
// addresses, that line's bytes.
func TestVEXEncodingBinary(t *testing.T) {
	bin := openTestBinary(t)
	_, vex := sourceFunctions(t)
	for _, pair := range vexPairs {
		name := pair[0]
		start, end := bin.function(t, name)
		byLine := map[int][]byte{}
		for pc := start; pc < end; pc++ {
			file, line, _ := bin.table.PCToLine(pc)
			if filepath.Base(file) == "kernels_amd64.s" {
				byLine[line] = append(byLine[line], bin.text[pc-bin.addr])
			}
		}
		for _, in := range vex[name] {
			if got := byLine[in.line]; !bytes.Equal(got, in.bytes) {
				t.Errorf("%s: kernels_amd64.s:%d links as % x, want % x", name, in.line, got, in.bytes)
			}
		}
	}
}

// TestVEXDisassembly disassembles each AVX-VNNI kernel and its EVEX twin
// with GNU objdump, which decodes both forms: the listings must be the same
// instructions on the same registers, the VPDPBUSDs marked {vex} in one.
func TestVEXDisassembly(t *testing.T) {
	if testing.Short() {
		t.Skip("runs objdump")
	}
	objdump, err := exec.LookPath("objdump")
	if err != nil {
		t.Skip("GNU objdump not installed")
	}
	bin := openTestBinary(t)
	target := regexp.MustCompile(`[0-9a-f]+ <[^>]*>|0x[0-9a-f]{5,}`)
	disasm := func(name string) []string {
		start, end := bin.function(t, name)
		out, err := exec.Command(objdump, "-d", "--no-show-raw-insn", "--no-addresses",
			fmt.Sprintf("--start-address=%#x", start), fmt.Sprintf("--stop-address=%#x", end), os.Args[0]).Output()
		if err != nil {
			t.Skipf("objdump: %v", err)
		}
		var ins []string
		for _, l := range strings.Split(string(out), "\n") {
			l = strings.TrimSpace(l)
			// Jump targets are addresses, which differ, and the padding
			// after a function depends on its length.
			if l != "" && l != "int3" && !strings.HasPrefix(l, "nop") && !strings.HasSuffix(l, ":") && !strings.Contains(l, "file format") {
				ins = append(ins, target.ReplaceAllString(l, "<target>"))
			}
		}
		return ins
	}
	for _, pair := range vexPairs {
		vx, ev := disasm(pair[0]), disasm(pair[1])
		nvex := 0
		for i := range vx {
			if strings.HasPrefix(vx[i], "{vex} vpdpbusd") {
				nvex++
				vx[i] = strings.TrimPrefix(vx[i], "{vex} ")
			}
		}
		if nvex == 0 || len(vx) == 0 {
			t.Errorf("%s: objdump shows no {vex} vpdpbusd in %d instructions", pair[0], len(vx))
		}
		if strings.Join(vx, "\n") != strings.Join(ev, "\n") {
			t.Errorf("%s and %s disassemble differently:\n%s\n---\n%s", pair[0], pair[1], strings.Join(vx, "\n"), strings.Join(ev, "\n"))
		} else {
			t.Logf("%s: %d instructions, %d of them {vex} vpdpbusd, otherwise %s's", pair[0], len(vx), nvex, pair[1])
		}
	}
}

// TestGeneratedAssembly: the committed kernels are what gen_amd64.go writes.
func TestGeneratedAssembly(t *testing.T) {
	testtool.CheckGenerated(t, "gen_amd64.go", "kernels_amd64.s", "kernels_amd64.go")
}
