package serve

import "sync"

// floatBuffers keeps requests' images and scores between requests: a
// request's buffers are given back once its batch has run and been read.
var floatBuffers sync.Pool

// maxPooledFloats is the largest buffer kept, a batch of 32 images of the
// seed's 32x32 input.
const maxPooledFloats = 32 * 32 * 32

// getFloats is a buffer of n floats, of any contents.
func getFloats(n int) *[]float32 {
	p, _ := floatBuffers.Get().(*[]float32)
	if p == nil {
		p = new([]float32)
	}
	if cap(*p) < n {
		*p = make([]float32, n)
	}
	*p = (*p)[:n]
	return p
}

// putFloats gives p back for another request.
func putFloats(p *[]float32) {
	if cap(*p) <= maxPooledFloats {
		floatBuffers.Put(p)
	}
}
