//go:build linux

package gemm

import (
	"math/rand/v2"
	"syscall"
	"testing"
	"unsafe"
)

// TestGemvTReadsNothingPast: with a and the weights each ending where
// readable memory ends, every set computes every shape without a fault:
// the tail's masked loads read nothing past the slices.
func TestGemvTReadsNothingPast(t *testing.T) {
	page := syscall.Getpagesize()
	edge := func(n int) []float32 {
		// Pages enough, then one unreadable: the n floats end where it starts.
		size := (4*n + page - 1) / page * page
		mem, err := syscall.Mmap(-1, 0, size+page, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
		if err != nil {
			t.Skip("mmap:", err)
		}
		t.Cleanup(func() { syscall.Munmap(mem) })
		if err := syscall.Mprotect(mem[size:], syscall.PROT_NONE); err != nil {
			t.Skip("mprotect:", err)
		}
		all := unsafe.Slice((*float32)(unsafe.Pointer(&mem[0])), size/4)
		return all[size/4-n:]
	}
	rng := rand.New(rand.NewPCG(11, 12))
	for _, k := range []int{1, 5, 7, 9, 15, 17, 31, 33, 100} {
		for _, n := range []int{1, 2, 3, 7, 9, 15} {
			a, bt := edge(k), edge(n*k)
			copy(a, random(rng, k))
			copy(bt, random(rng, n*k))
			for _, set := range gemvSets() {
				y := make([]float32, n)
				gemvT(set, y, a, bt, nil)
				for j := range n {
					want, mag := dotRef(a, bt[j*k:(j+1)*k])
					if !closeTo(y[j], want, mag, k) {
						t.Fatalf("%s: n=%d k=%d: y[%d] = %g, want %g", set.name, n, k, j, y[j], want)
					}
				}
				var one [1]float32
				gemvT(set, one[:], a, bt[(n-1)*k:], nil)
				if got, want := one[0], y[n-1]; !closeTo(got, float64(want), float64(k), k) {
					t.Fatalf("%s: the last row of %d alone: %g, among %d rows %g", set.name, k, got, n, want)
				}
			}
		}
	}
}
