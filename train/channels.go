package train

import "github.com/lenetkit/lenetkit/dataset"

// channels is how a graph takes the data's images: as they are, one
// channel; for a colour input each grey image as dataset.GreyChannels
// equal channels, as torchvision's Grayscale(num_output_channels=3) makes
// them for a model of digits trained in colour; or a colour set's red,
// green and blue planes (dataset.Options.Colour).
type channels struct {
	px     int  // floats of one image as the set fills it: a grey plane, or a colour set's planes
	copies int  // channels each grey image goes in as
	planes int  // a colour set's planes, 0 for grey images
	last   bool // channels-last: the graph's input is [batch, H, W, C]
}

// fitChannels returns how a graph whose input is image, one image's
// declared shape, takes images of h x w, grey or, for planes above 1, a
// colour set's; ok false when it cannot: grey images as one channel
// ([1, H, W], [H, W, 1] or flat) or GreyChannels first or last, a colour
// set's planes first or last.
func fitChannels(image []int, h, w, planes int) (c channels, ok bool) {
	if planes > 1 {
		c = channels{px: planes * h * w, copies: 1, planes: planes}
		switch {
		case len(image) == 3 && image[0] == planes && image[1] == h && image[2] == w:
			return c, true
		case len(image) == 3 && image[2] == planes && image[0] == h && image[1] == w:
			c.last = true
			return c, true
		}
		return c, false
	}
	c = channels{px: h * w, copies: 1}
	if size(image) == h*w {
		return c, true
	}
	c.copies = dataset.GreyChannels
	if len(image) != 3 || size(image) != c.copies*h*w {
		return c, false
	}
	switch {
	case image[0] == c.copies && image[1] == h && image[2] == w:
		return c, true
	case image[2] == c.copies && image[0] == h && image[1] == w:
		c.last = true
		return c, true
	}
	return c, false
}

// spread turns n grey images at the start of x into the graph's channels
// in place.
func (c channels) spread(x []float32, n int) {
	if c.copies > 1 {
		dataset.AsChannels(x, x, n, c.px, c.copies, c.last)
	}
	if c.planes > 1 && c.last { // a colour set's planes, as the graph's [H, W, C]
		dataset.Interleave(x, n, c.px/c.planes, c.planes)
	}
}
