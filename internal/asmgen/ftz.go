// Package asmgen holds what the assembly generators of the internal
// packages share: the prologue and epilogue that run every kernel with
// subnormal floats flushed to zero, the printer of instructions, and how a
// generator writes its files (where tests can regenerate them and
// compare).
//
// Intel cores take a microcode assist, about a hundred cycles, on every
// instruction that reads or writes a subnormal float32 unless MXCSR's
// flush-to-zero (FTZ) and denormals-are-zero (DAZ) bits are set; a trained
// network holds a few hundred such weights (dead filters decaying towards
// zero under weight decay), and they made a run's last epochs four times
// slower than its first. AMD cores pay little for them. Go leaves MXCSR at
// its default and does not save it across goroutine switches, so each
// kernel sets the bits on entry and restores the caller's MXCSR on exit:
// the flush never leaks into other code running on the thread.
//
// Generated functions that use these need an 8-byte frame ($8-N).
package asmgen

import (
	"os"
	"path/filepath"
)

// ftzDAZ are MXCSR's flush-to-zero (bit 15) and denormals-are-zero (bit 6).
const ftzDAZ = 0x8040

// Frame is the local frame size, in bytes, that Enter needs.
const Frame = 8

// Enter writes, through p (which writes one tab-indented instruction), the
// instructions that save MXCSR and set FTZ and DAZ. It clobbers AX, so it
// must come before the function reads its arguments.
func Enter(p func(format string, args ...any)) {
	p("STMXCSR mxcsr-8(SP)")
	p("MOVL mxcsr-8(SP), AX")
	p("ORL $0x%x, AX", ftzDAZ)
	p("MOVL AX, ftz-4(SP)")
	p("LDMXCSR ftz-4(SP)")
}

// Leave writes the instructions that restore the MXCSR Enter saved; every
// return path must run them.
func Leave(p func(format string, args ...any)) {
	p("LDMXCSR mxcsr-8(SP)")
}

// Write replaces dir/name with data through a temporary file, so that a
// failed run leaves the old file whole.
func Write(dir, name string, data []byte) error {
	f, err := os.CreateTemp(dir, name+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // after the rename, a no-op
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), filepath.Join(dir, name))
}

// OutDir is where a generator writes: its first argument, else the
// current directory (go generate's package directory). Tests regenerate
// into a temporary directory and compare.
func OutDir() string {
	if len(os.Args) > 1 {
		return os.Args[1]
	}
	return "."
}
