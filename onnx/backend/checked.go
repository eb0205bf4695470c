package backend

import "github.com/lenetkit/lenetkit/modelfile"

// Every size the backend derives from a file (a dimension, an element
// count, a byte size, an offset, a pad, a convolution's or pooling's
// output) is computed here: a sum or product that would wrap around could
// pass every check made after it, as a Reshape to [1, 784, 7,
// 0x6DB6DB6DB6DB6DB7], whose product wraps to 784, once did.

type integer interface{ ~int | ~int64 }

// mulChecked returns a*b for non-negative a and b, or an error when either
// is negative (ErrFormat) or the product is above limit (ErrLimit), which
// it tests without computing an overflowing product.
func mulChecked[T integer](a, b, limit T) (T, error) {
	if a < 0 || b < 0 {
		return 0, modelfile.FormatErrorf("negative size %d x %d", a, b)
	}
	if b != 0 && a > limit/b {
		return 0, modelfile.LimitErrorf("%d x %d is more than %d, refused", a, b, limit)
	}
	return a * b, nil
}

// addChecked returns a+b for non-negative a and b, or an error as
// mulChecked does.
func addChecked[T integer](a, b, limit T) (T, error) {
	if a < 0 || b < 0 {
		return 0, modelfile.FormatErrorf("negative size %d + %d", a, b)
	}
	if a > limit-b {
		return 0, modelfile.LimitErrorf("%d + %d is more than %d, refused", a, b, limit)
	}
	return a + b, nil
}

// elements is the number of elements of a shape, checked: no negative
// dimension, at most MaxRank of them and MaxElements elements. Every
// shape the compiler makes passes through it, so numel may then multiply
// freely.
func elements[T integer](shape []T) (int, error) {
	if len(shape) > modelfile.MaxRank {
		return 0, modelfile.LimitErrorf("shape of %d dimensions, more than %d, refused", len(shape), modelfile.MaxRank)
	}
	n := 1
	for _, d := range shape {
		if d < 0 {
			return 0, modelfile.FormatErrorf("shape %v has a negative dimension", shape)
		}
		if d > modelfile.MaxElements {
			return 0, modelfile.LimitErrorf("shape %v holds more than %d elements, refused", shape, modelfile.MaxElements)
		}
		var err error
		if n, err = mulChecked(n, int(d), modelfile.MaxElements); err != nil {
			return 0, modelfile.LimitErrorf("shape %v holds more than %d elements, refused", shape, modelfile.MaxElements)
		}
	}
	return n, nil
}

// budget is what a plan may cost (modelfile.MaxPlanBytes, MaxFoldedBytes
// and MaxPlanWork of the model's size) and what it has used so far.
type budget struct {
	size                         int64 // the model's bytes: .onnx file and external data
	bytes, folded, work          int64
	maxBytes, maxFolded, maxWork int64
	// whole says the plan runs whole tensors (lenetkit run), whose
	// costs are those of the inputs given, not of one image.
	whole bool
}

func newBudget(size int64) *budget {
	return &budget{size: size, maxBytes: modelfile.MaxPlanBytes(size),
		maxFolded: modelfile.MaxFoldedBytes(size), maxWork: modelfile.MaxPlanWork(size)}
}

// spend adds n to *used, or refuses when that passes max; what says
// what is counted, and limit which of modelfile's functions sets max.
func (b *budget) spend(used *int64, n, max int64, what, limit string) error {
	total, err := addChecked(*used, n, max)
	if err != nil {
		return b.refuse(what, max, limit)
	}
	*used = total
	return nil
}

// buffer counts floats of a plan's buffer: 4 bytes each.
func (b *budget) buffer(floats int) error {
	return b.constBytes(4 * int64(floats))
}

// constBytes counts n bytes the plan keeps, a constant's or a buffer's.
func (b *budget) constBytes(n int64) error {
	return b.spend(&b.bytes, n, b.maxBytes, "the plan's constants and buffers for "+b.unit(), "MaxPlanBytes")
}

// fold counts a constant folded at load, of n bytes: it is also kept.
func (b *budget) fold(n int64) error {
	if err := b.spend(&b.folded, n, b.maxFolded, "the constants folded at load", "MaxFoldedBytes"); err != nil {
		return err
	}
	return b.constBytes(n)
}

// ops counts the multiply-adds of a step, a product of factors that may
// each be large.
func (b *budget) ops(factors ...int) error {
	n := int64(1)
	for _, f := range factors {
		var err error
		if n, err = mulChecked(n, int64(f), b.maxWork); err != nil {
			return b.refuse("the operations for "+b.unit(), b.maxWork, "MaxPlanWork")
		}
	}
	return b.spend(&b.work, n, b.maxWork, "the operations for "+b.unit(), "MaxPlanWork")
}

// unit is what a cost is counted for: one image, or the whole tensors
// given.
func (b *budget) unit() string {
	if b.whole {
		return "these inputs"
	}
	return "one image"
}

// refuse is the error of a cost, what, that passes max; limit names the
// modelfile function that sets it. Whole tensors are refused with what to
// do: give fewer at once.
func (b *budget) refuse(what string, max int64, limit string) error {
	hint := ""
	if b.whole {
		hint = ": give smaller inputs, fewer images at once"
	}
	return modelfile.LimitErrorf("%s pass %d, the limit for a model of %d bytes (modelfile.%s), refused%s", what, max, b.size, limit, hint)
}
