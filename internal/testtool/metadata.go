package testtool

import (
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
)

// WithMetadata copies the ONNX file src into a temporary directory with
// one more metadata_props entry, key = value, and returns the copy's path.
// The entry (ModelProto field 14, a StringStringEntryProto of key 1 and
// value 2) is appended to the file's bytes, which protobuf reads as one
// message: it needs no ONNX package, which this one cannot import.
func WithMetadata(t testing.TB, src, key, value string) string {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	var entry []byte
	entry = protowire.AppendTag(entry, 1, protowire.BytesType)
	entry = protowire.AppendString(entry, key)
	entry = protowire.AppendTag(entry, 2, protowire.BytesType)
	entry = protowire.AppendString(entry, value)
	b = protowire.AppendTag(b, 14, protowire.BytesType)
	b = protowire.AppendBytes(b, entry)
	out := filepath.Join(t.TempDir(), filepath.Base(src))
	if err := os.WriteFile(out, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}
