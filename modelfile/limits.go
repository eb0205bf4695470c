package modelfile

// Limits on what reading a model file may cost, for every reader in
// lenetkit: convert's .pth (pickle and zip) and .safetensors, onnx's .onnx
// and onnx/backend's graphs. They are checked before anything is allocated
// in proportion to what a file declares, so that a file of a few KB cannot
// make lenetkit use gigabytes of memory or minutes of CPU: a hostile or
// broken file ends in a one-line error naming it. Each limit is far above
// what a real state dict or image classifier needs (docs/hostile.md lists
// the files they were measured against).
//
// # PyTorch .pth: the zip archive
//
// torch.save stores its records uncompressed, so what a record inflates to
// is at most the archive's size. A compressed record may inflate further,
// but all of the records read together (data.pkl and every storage) may
// inflate to at most MaxInflateRatio times the archive's size plus
// InflateSlack. Every storage must hold exactly the bytes the pickle
// declares for it (element count times element size); reading stops one
// byte past that.
//
// # PyTorch .pth: the pickle
//
// Before gopickle sees a pickle, its opcodes are scanned without running
// any (a pickletools-style pre-pass). The pickle is refused when it has
// more than MaxPickleOps opcodes, more than MaxPickleBytes bytes, more
// values on the unpickler's stack (MARKs included) than MaxPickleStack,
// MARKs nested deeper than MaxPickleMarks, or more memo stores (MEMOIZE,
// PUT, BINPUT, LONG_BINPUT) than MaxPickleMemo or than half its opcodes,
// which no pickler writes (it memoizes each object once, after the opcodes
// that make it). An integer must fit in 64 bits: LONG1 and LONG4 of more
// than MaxPickleIntBytes bytes and decimal INT or LONG lines of more than
// MaxPickleIntText characters are refused (the legacy format's magic
// number, an 80-bit integer, is the one exception). Strings must lie
// inside the pickle, so the bytes the pickle decodes to are bounded by its
// own size, and so by the file's.
//
// Walking the decoded object, containers may nest MaxContainerNesting deep
// and MaxObjectVisits objects are visited at most; a tensor's name, its
// path of dict keys and indices, is at most MaxTensorName bytes; and views
// of shared storages may together copy at most 4 times the elements the
// file stores.
//
// # safetensors
//
// The JSON header is at most MaxSafetensorsHeader bytes, as in the
// reference implementation, and inside the file. Tensors' data must be
// contiguous from offset 0, without gaps or overlaps, and end exactly at
// the end of the file; no name may appear twice.
//
// # ONNX
//
// Before the protobuf decoder runs, the raw wire format is walked along the
// only path on which ONNX messages nest (GraphProto, NodeProto,
// AttributeProto's g and graphs, GraphProto): subgraphs deeper than
// MaxGraphNesting are refused, so the decoder's recursion is bounded, and
// all graphs together may hold at most MaxGraphNodes nodes. A graph of the
// seed's LeNet, which the .onnx importer and the gorgonia backend read,
// may hold at most MaxSeedGraphNodes nodes: the network has 15 operators
// and exporters add a few around them.
//
// # Weights
//
// NaN and infinite weights are refused by default, naming the tensor;
// ReadOptions.AllowNonFinite (lenetkit's --allow-nonfinite) accepts them.
const (
	// MaxInflateRatio and InflateSlack bound what a .pth archive's records
	// may inflate to: MaxInflateRatio * archive size + InflateSlack bytes.
	MaxInflateRatio = 16
	InflateSlack    = 4 << 20

	MaxPickleBytes    = 16 << 20
	MaxPickleOps      = 1 << 19
	MaxPickleStack    = 1 << 17
	MaxPickleMarks    = 256
	MaxPickleMemo     = 1 << 18
	MaxPickleIntBytes = 8
	MaxPickleIntText  = 24

	MaxContainerNesting = 64
	MaxObjectVisits     = 1 << 20
	MaxTensorName       = 4096

	MaxSafetensorsHeader = 100 << 20

	MaxGraphNesting   = 8
	MaxGraphNodes     = 4096
	MaxSeedGraphNodes = 256
)

// MaxInflated is how many bytes the records of a .pth archive of size
// bytes may inflate to, all together.
func MaxInflated(size int64) int64 {
	return MaxInflateRatio*max(size, 0) + InflateSlack
}
