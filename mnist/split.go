package mnist

import (
	"fmt"
	"iter"
	"math/rand/v2"
)

// Stream selectors for PCG's second seed word, so that the split and the
// shuffle of each epoch draw from different streams of the same seed.
const (
	splitStream   = 0x73706c6974 // "split"
	shuffleStream = 0x7368756666 // "shuff"
)

// Split draws a random permutation of 0..n-1 from seed and cuts it into the
// first n-valSize indices for training and the last valSize for validation,
// the way torch.utils.data.random_split cuts [n-valSize, valSize] (with a
// different generator, so not the same indices). The same n, valSize and
// seed always give the same split.
func Split(n, valSize int, seed uint64) (train, val []int, err error) {
	if n < 0 || valSize < 0 || valSize > n {
		return nil, nil, fmt.Errorf("mnist: cannot split %d images into %d for validation and the rest for training", n, valSize)
	}
	perm := rand.New(rand.NewPCG(seed, splitStream)).Perm(n)
	return perm[: n-valSize : n-valSize], perm[n-valSize:], nil
}

// Shuffle permutes idx in place, the same way for the same seed, epoch and
// contents of idx. To replay one epoch without the ones before it, shuffle a
// fresh copy of the training split each epoch rather than the previous
// epoch's order.
func Shuffle(idx []int, seed uint64, epoch int) {
	r := rand.New(rand.NewPCG(seed, shuffleStream+uint64(epoch)))
	r.Shuffle(len(idx), func(i, j int) { idx[i], idx[j] = idx[j], idx[i] })
}

// Batches yields idx in consecutive batches of size, numbered from 0, and
// drops the last batch if it is short, like a PyTorch DataLoader with
// drop_last=True: len(idx)/size batches. A size below 1 yields nothing.
func Batches(idx []int, size int) iter.Seq2[int, []int] {
	return func(yield func(int, []int) bool) {
		if size < 1 {
			return
		}
		for b := 0; (b+1)*size <= len(idx); b++ {
			if !yield(b, idx[b*size:(b+1)*size:(b+1)*size]) {
				return
			}
		}
	}
}
