package dataset

// GreyChannels is how many channels a colour model takes a grey image as:
// three equal ones, as torchvision's Grayscale(num_output_channels=3)
// makes them, and as models of digits trained that way expect.
const GreyChannels = 3

// AsChannels writes n grey images of px floats each, from src, into dst
// as c equal channels each: channels-first, [n][c][px], or with last
// channels-last, [n][px][c]. dst holds n*c*px floats; src may be its
// first n*px, the grey images packed at its start.
func AsChannels(dst, src []float32, n, px, c int, last bool) {
	dst, src = dst[:n*c*px], src[:n*px]
	for i := n - 1; i >= 0; i-- { // from the end: an image never overwrites one still to come
		img, grey := dst[i*c*px:(i+1)*c*px], src[i*px:(i+1)*px]
		if last {
			for j := px - 1; j >= 0; j-- {
				v := grey[j]
				for k := range c {
					img[j*c+k] = v
				}
			}
			continue
		}
		for k := c - 1; k >= 0; k-- {
			copy(img[k*px:(k+1)*px], grey)
		}
	}
}

// Interleave turns n images of c planes of px floats each, [n][c][px] in
// x, into channels-last ones, [n][px][c], in place: a colour set's
// images (Options.Colour) for a graph declared [batch, H, W, C].
func Interleave(x []float32, n, px, c int) {
	tmp := make([]float32, c*px)
	for i := range n {
		img := x[i*c*px : (i+1)*c*px]
		copy(tmp, img)
		for p := range c {
			for k := range px {
				img[k*c+p] = tmp[p*px+k]
			}
		}
	}
}
