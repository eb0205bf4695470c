package serve

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"
)

// TestPlainFloat holds the fast path to ParseFloat's answer, bit for bit,
// on the numbers it takes, and checks it leaves the rest to ParseFloat.
func TestPlainFloat(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var cases []string
	for range 50000 {
		digits := 1 + r.IntN(14)
		cases = append(cases, fmt.Sprintf("%d.%0*d", r.IntN(3), digits, r.IntN(pow10(digits))))
		cases = append(cases, strconv.Itoa(r.IntN(1<<40)))
		// What json.Marshal writes for a pixel: float32's shortest form.
		cases = append(cases, strconv.FormatFloat(float64(float32(r.IntN(256))/255), 'g', -1, 32))
	}
	// A float32 midpoint, exactly: 1 + 2^-24, written out in full (15
	// digits after the point are too many for the fast path, which must
	// say no rather than round twice).
	cases = append(cases, "0", "1", "0.0000001", "0.9999999", "16777215", "9999999.9", "1.000000059604644775390625", "1.00000005960464")
	for _, s := range cases {
		got, ok := plainFloat([]byte(s))
		want, err := strconv.ParseFloat(s, 32)
		if !ok {
			continue
		}
		if err != nil || got != float32(want) {
			t.Fatalf("%s: fast path %v, ParseFloat %v (%v)", s, got, float32(want), err)
		}
	}
	// 16777217 = 2^24+1 lies midway between two float32s.
	for _, s := range []string{"16777217", "1e3", "-0.5", "1234567890123456", "1.", "0.5.5", "", "2.5E-1", "0.1234567890123456"} {
		if v, ok := plainFloat([]byte(s)); ok {
			t.Errorf("%q: the fast path took it (%v); ParseFloat should", s, v)
		}
	}
}

func pow10(n int) int {
	p := 1
	for range n {
		p *= 10
	}
	return p
}
