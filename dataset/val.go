package dataset

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Val is the size of a validation split: Count images, or a Fraction of
// the set when Count is 0. The zero Val is no validation set.
type Val struct {
	Count    int
	Fraction float64
}

// ParseVal reads a validation size as --val takes it: a count of images
// ("5000"), a fraction ("0.1") or a percentage ("10%"); "0" is none.
func ParseVal(s string) (Val, error) {
	t := strings.TrimSpace(s)
	bad := func(why string) (Val, error) {
		return Val{}, newError(ErrOption, "", fmt.Sprintf("validation size %q: %s; want a count of images (5000), a fraction (0.1) or a percentage (10%%)", s, why))
	}
	if p, ok := strings.CutSuffix(t, "%"); ok {
		f, err := strconv.ParseFloat(p, 64)
		if err != nil || !(f >= 0 && f < 100) {
			return bad("not a percentage from 0 to under 100")
		}
		return Val{Fraction: f / 100}, nil
	}
	if n, err := strconv.Atoi(t); err == nil {
		if n < 0 {
			return bad("negative")
		}
		return Val{Count: n}, nil
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || !(f >= 0 && f < 1) {
		return bad("not a whole number, nor a fraction from 0 to under 1")
	}
	return Val{Fraction: f}, nil
}

// Size is the number of images v takes from a set of n: Count, or
// Fraction*n rounded to the nearest. It must leave at least one image for
// training.
func (v Val) Size(n int) (int, error) {
	size := v.Count
	if size == 0 {
		size = int(math.Round(v.Fraction * float64(n)))
	}
	if size < 0 || (size > 0 && size >= n) {
		return 0, newError(ErrOption, "", fmt.Sprintf("a validation set of %s leaves none of the %d images for training", v, n))
	}
	return size, nil
}

func (v Val) String() string {
	if v.Count > 0 || v.Fraction == 0 {
		return strconv.Itoa(v.Count)
	}
	return strconv.FormatFloat(100*v.Fraction, 'g', -1, 64) + "%"
}
