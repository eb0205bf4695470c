package modelfile

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/lenetkit/lenetkit/internal/safeio"
)

// SniffLen is how many of a file's first bytes Sniff needs.
const SniffLen = 16

// Sniff names the format a model file's first bytes show (PTH, Safetensors
// or ONNX), or returns "" when they show none of them. head is the file's
// first SniffLen bytes, or all of a shorter file.
//
// Each format is told by what its writers put first: a zip archive's local
// header ("PK") or a pickle's PROTO opcode for torch.save's two layouts;
// for safetensors a little-endian header length then the header's "{";
// for ONNX the protobuf tag of ir_version (field 1, a varint), which every
// writer serialises first, followed by the tag of another ModelProto
// field. Safetensors is tried first because its length's low byte may be
// anything, 0x08 and 0x80 included.
func Sniff(head []byte) string {
	switch {
	case isSafetensors(head):
		return Safetensors
	case bytes.HasPrefix(head, []byte("PK\x03\x04")), bytes.HasPrefix(head, []byte("PK\x05\x06")):
		return PTH
	case len(head) >= 2 && head[0] == 0x80 && head[1] >= 2 && head[1] <= 5:
		return PTH
	case isONNX(head):
		return ONNX
	}
	return ""
}

func isSafetensors(head []byte) bool {
	if len(head) < 9 {
		return false
	}
	n := binary.LittleEndian.Uint64(head)
	return n >= 2 && n <= MaxSafetensorsHeader && head[8] == '{'
}

// onnxNextTags are the first bytes of the tags of ModelProto's fields
// after ir_version: producer_name (2), producer_version (3), domain (4),
// model_version (5), doc_string (6), graph (7), opset_import (8),
// metadata_props (14), and the two-byte tags of training_info (20) and
// functions (25), 0xa2 and 0xca.
var onnxNextTags = []byte{0x12, 0x1a, 0x22, 0x28, 0x32, 0x3a, 0x42, 0x72, 0xa2, 0xca}

func isONNX(head []byte) bool {
	if len(head) < 3 || head[0] != 0x08 {
		return false
	}
	// ir_version is a small number: one varint byte, 1 to 127.
	v := head[1]
	return v >= 1 && v < 0x80 && bytes.IndexByte(onnxNextTags, head[2]) >= 0
}

// SniffFile is Sniff on the first bytes of the file at path. Anything but
// a regular file shows no format: opening a named pipe or a device to
// read it could block for ever.
func SniffFile(path string) (string, error) {
	f, err := safeio.Open(path)
	if errors.Is(err, safeio.ErrNotRegular) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	defer f.Close()
	head := make([]byte, SniffLen)
	n, err := io.ReadFull(f, head)
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return "", err
	}
	return Sniff(head[:n]), nil
}

// A MismatchError is a file whose contents are of another format than its
// extension names: an .onnx file renamed to .pth, say. Callers can tell it
// from a damaged file with errors.As.
type MismatchError struct {
	Path    string
	Named   string // the format the extension names
	Content string // the format the contents show
}

func (e *MismatchError) Error() string {
	return fmt.Sprintf("%s looks like %s file, not %s one: rename it to %s",
		e.Path, formatTitle(e.Content), formatTitle(e.Named), e.Rename())
}

// Rename is Path with the extension of the format its contents show.
func (e *MismatchError) Rename() string {
	return strings.TrimSuffix(e.Path, filepath.Ext(e.Path)) + canonicalExt[e.Content]
}

var canonicalExt = map[string]string{PTH: ".pth", Safetensors: ".safetensors", ONNX: ".onnx"}

// formatTitle is the name people call a format by, with its article.
func formatTitle(name string) string {
	switch name {
	case PTH:
		return "a PyTorch"
	case ONNX:
		return "an ONNX"
	}
	return "a " + name
}

// CheckContent returns a *MismatchError when the first bytes of the file at
// path show a known format other than want. It returns nil when they show
// want, or nothing it knows, or when the file cannot be read: the format's
// reader then says what is wrong, in its own terms.
func CheckContent(path, want string) error {
	got, err := SniffFile(path)
	if err != nil || got == "" || got == want {
		return nil
	}
	return &MismatchError{Path: path, Named: want, Content: got}
}
