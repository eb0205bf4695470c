package modelfile

import (
	"fmt"
	"math"

	"github.com/lenetkit/lenetkit/lenet"
)

// ReadOptions are choices about what reading a model file accepts.
type ReadOptions struct {
	// AllowNonFinite accepts weights that are NaN or infinite. By default
	// a file holding one is refused, naming the tensor: such a model's
	// outputs are NaN, and nothing downstream can make sense of them.
	AllowNonFinite bool
}

// CheckFinite refuses a state dict with a NaN or infinite float, naming
// the first tensor that has one, unless opt allows them.
func CheckFinite(sd lenet.StateDict, opt ReadOptions) error {
	if opt.AllowNonFinite {
		return nil
	}
	for _, t := range sd {
		if err := CheckFiniteValues(t.Name, t.F32); err != nil {
			return err
		}
	}
	return nil
}

// CheckFiniteValues refuses values holding a NaN or an infinity; name is
// the tensor's, for the error.
func CheckFiniteValues(name string, values []float32) error {
	first, bad := -1, 0
	for i, v := range values {
		if f := float64(v); math.IsNaN(f) || math.IsInf(f, 0) {
			if first < 0 {
				first = i
			}
			bad++
		}
	}
	if bad == 0 {
		return nil
	}
	return NonFiniteError(name, float64(values[first]), first, bad, len(values))
}

// NonFiniteError is the error for a tensor whose element at index first
// is v, not finite, with bad such elements of n.
func NonFiniteError(name string, v float64, first, bad, n int) error {
	return fmt.Errorf("tensor %q holds %d non-finite value(s) of %d, the first %v at element %d; refused (--allow-nonfinite accepts them)",
		name, bad, n, v, first)
}
