// Package mnist loads MNIST (and other data in the same IDX format, such as
// Fashion-MNIST) for training and evaluating lenetkit's LeNet: it finds the
// four files, checks them against the known data sets' checksums, splits the
// training images into train and validation sets, and fills batches with the
// model's input, torchvision's ToTensor() followed by Pad(2).
//
// Images stay in memory as uint8 (47 MB for the 60,000 training images) and
// are converted to float32 a batch at a time; the float32 form of the whole
// set would take 245 MB.
package mnist

// Geometry of the model's input: a 28x28 image padded by 2 zero pixels on
// every side, one channel.
const (
	Pad        = 2
	Side       = 28 + 2*Pad  // padded height and width
	PixelCount = Side * Side // float32 values per image in a batch
)

// Set is one part of the data set: N images of Rows x Cols uint8 pixels,
// row-major, image after image, and their N labels.
type Set struct {
	Images []byte // N*Rows*Cols
	Labels []byte // N, each 0-9
	N      int
	Rows   int
	Cols   int
	// Dataset is the known data set whose files these are ("MNIST",
	// "Fashion-MNIST"), or "" for IDX data Load read unchecked.
	Dataset string
}
