package modelfile

import (
	"errors"
	"fmt"
)

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
// # ONNX graphs compiled by onnx/backend
//
// Every shape, element count, byte size, offset, pad and convolution or
// pooling size the backend derives from a file is computed with checked
// arithmetic: a sum or product that would leave the int64 range, a value
// of more than MaxElements elements or of more than MaxRank dimensions is
// refused, so that no size can wrap around and pass a check it should
// fail. Declared tensors must hold exactly the data their shape says.
//
// The costs of a compiled plan are bounded in proportion to the model's
// size, the .onnx file plus the external data it reads, with a floor for
// the small files that real networks never are: the plan's bytes (its
// constants and the buffers of one image) at most MaxPlanBytes(size),
// the constants folded at load, all of them together, at most
// MaxFoldedBytes(size), and one image's pass at most MaxPlanWork(size)
// operations (multiply-adds, or a pooling window's reads). A real
// network's buffers for one image are a few times its weights (the seed's
// LeNet's 2.3 times, ResNet-50's about 4 with no buffer reused and
// im2col's copies), its folded constants are shape arithmetic of a few
// integers, and its operations per image tens per byte of weights (LeNet
// 12; ResNet-50, VGG and MobileNet 20 to 40): the ratios below leave a
// wide margin. The floors let a small model run on large images and keep
// what a file of a few KB can cost within issue 12's 256 MB and 2 s: max
// pooling, the plainest loop, reads about 2^29 values a second on a
// loaded 2-core machine. A plan keeps a workspace per CPU only as far as
// its budget allows, so that the memory it takes does not grow with the
// machine's CPUs.
//
// External data is read only from regular files inside the model's
// folder, each region inside its file, exactly the tensor's bytes long,
// and no two regions overlapping: no byte is read twice, so a model reads
// at most the bytes of the files beside it.
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

	// MaxElements bounds every tensor and every size the backend derives,
	// in elements, as the .onnx importer bounds tensors: 2^31 - 1.
	// MaxRank bounds dimensions, as numpy long did.
	MaxElements = 1<<31 - 1
	MaxRank     = 32

	PlanBytesFloor   = 128 << 20
	PlanBytesRatio   = 64
	FoldedBytesFloor = 16 << 20
	FoldedBytesRatio = 4
	PlanWorkFloor    = 1 << 28
	PlanWorkRatio    = 256
)

// MaxPlanBytes is how many bytes a compiled ONNX plan may take, its
// constants and one image's buffers, for a model of size bytes (the .onnx
// file and its external data).
func MaxPlanBytes(size int64) int64 { return scaled(size, PlanBytesRatio, PlanBytesFloor) }

// MaxFoldedBytes is how many bytes of constants compiling a model of size
// bytes may fold at load, all together.
func MaxFoldedBytes(size int64) int64 { return scaled(size, FoldedBytesRatio, FoldedBytesFloor) }

// MaxPlanWork is how many operations (multiply-adds, pooling reads) one
// image's pass through a plan compiled from a model of size bytes may
// take.
func MaxPlanWork(size int64) int64 { return scaled(size, PlanWorkRatio, PlanWorkFloor) }

// scaled is max(floor, ratio*size), saturating rather than overflowing.
func scaled(size, ratio, floor int64) int64 {
	if size > (1<<62)/ratio {
		return 1 << 62
	}
	return max(floor, ratio*max(size, 0))
}

// ErrLimit is what errors.Is finds in an error refusing a file for what
// reading it would cost: one of the limits above. ErrFormat is what it
// finds in one refusing a file that breaks its format's rules (a shape
// that does not broadcast, data shorter than its shape, an attribute out
// of its range). Callers tell them apart from I/O errors and from
// features that are not supported, which carry neither.
var (
	ErrLimit  = errors.New("beyond lenetkit's limits on model files")
	ErrFormat = errors.New("malformed model file")
)

// LimitErrorf formats an error that is ErrLimit; its message is the
// formatted text alone.
func LimitErrorf(format string, a ...any) error {
	return &kindError{ErrLimit, fmt.Errorf(format, a...)}
}

// FormatErrorf formats an error that is ErrFormat; its message is the
// formatted text alone.
func FormatErrorf(format string, a ...any) error {
	return &kindError{ErrFormat, fmt.Errorf(format, a...)}
}

type kindError struct{ kind, err error }

func (e *kindError) Error() string   { return e.err.Error() }
func (e *kindError) Unwrap() []error { return []error{e.kind, e.err} }

// MaxInflated is how many bytes the records of a .pth archive of size
// bytes may inflate to, all together.
func MaxInflated(size int64) int64 {
	return MaxInflateRatio*max(size, 0) + InflateSlack
}

// # Run directories and training flags
//
// A run directory (train's --log-dir, a sweep's runs) is input when a run
// is resumed or a sweep collected: its files are read only when they are
// regular files, never through a symbolic link when written, and never
// past these sizes. A real checkpoint of the seed's LeNet is 1.5 MB (the
// model and Adam's two moments), config.json and result.json are under a
// KB, and metrics.jsonl is about 150 bytes a step.
//
// Training's sizes are bounded before anything is allocated or created:
// the batch at MaxBatchSize images (each costs about 0.35 MB of buffers),
// epochs at MaxEpochs and the whole schedule at MaxTotalSteps steps (weeks
// of training on a laptop's CPU, and a metrics.jsonl of a few GB), and a
// sweep's grid at MaxGridCells runs, checked before the grid is built.
//
// report holds every step of the runs it draws in memory, so it reads a
// metrics.jsonl of at most MaxDrawnMetricsBytes: about 4 million steps,
// 10,000 epochs of the seed's recipe.
const (
	MaxCheckpointBytes   = 64 << 20
	MaxRunRecordBytes    = 1 << 20
	MaxMetricsBytes      = 4 << 30
	MaxDrawnMetricsBytes = 512 << 20
	MaxMetricsLine       = 64 << 10

	MaxBatchSize  = 4096
	MaxEpochs     = 100_000
	MaxTotalSteps = 10_000_000
	MaxGridCells  = 10_000
	// MaxLearningRate and MaxWeightDecay are far past any rate that
	// trains: they keep the flags' values finite and meaningful.
	MaxLearningRate = 10
	MaxWeightDecay  = 10
)
