package asmgen

import (
	"bytes"
	"fmt"
	"go/format"
)

// WriteKernels writes a generator's two files to OutDir: base.s, the
// assembly, and base.go, its Go declarations, formatted as gofmt would.
func WriteKernels(base string, asm, decl []byte) error {
	src, err := format.Source(decl)
	if err != nil {
		return fmt.Errorf("%s.go: %w", base, err)
	}
	for name, data := range map[string][]byte{base + ".s": asm, base + ".go": src} {
		if err := Write(OutDir(), name, data); err != nil {
			return err
		}
	}
	return nil
}

// Printer returns the function that writes one tab-indented instruction
// to w, the form Enter and Leave take.
func Printer(w *bytes.Buffer) func(format string, args ...any) {
	return func(format string, args ...any) { fmt.Fprintf(w, "\t"+format+"\n", args...) }
}
