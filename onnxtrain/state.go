package onnxtrain

// RNGState is the state of the random stream Dropout draws its masks from
// (math/rand/v2's PCG, binary): what a training checkpoint keeps so that a
// resumed run draws the masks an uninterrupted run would have drawn.
func (net *Net) RNGState() ([]byte, error) { return net.src.MarshalBinary() }

// SetRNGState sets the stream RNGState returned.
func (net *Net) SetRNGState(b []byte) error { return net.src.UnmarshalBinary(b) }
