package dataset

import (
	"fmt"
	"strconv"

	"github.com/lenetkit/lenetkit/mnist"
)

// Set is labelled images of one size, grey or in colour: a part of a data
// set (an IDX file pair, an image folder) or a split of one. Splits share their
// parent's pixels; a Set is not changed after it is made, so several
// goroutines may Fill from it at once.
type Set struct {
	// Height and Width are every image's size in pixels.
	Height, Width int
	// Channels is 1 for grey images (0 reads as 1), Colour for a
	// folder's pictures in red, green and blue (Options.Colour), plane
	// after plane.
	Channels int
	// Classes are the class names; a label is an index into them.
	Classes []string
	st      *store
	idx     []int // the store's images in this set, in order; nil: all of them
}

// store holds a part's images, shared by the Sets split from it.
type store struct {
	pix    []byte  // n*h*w, row-major, image after image
	labels []int32 // n
	// files are the image files of a folder, one per image; nil for IDX,
	// whose images are named by idxPath and their index.
	files   []string
	idxPath string
}

func newSet(h, w int, classes []string, st *store) *Set {
	return &Set{Height: h, Width: w, Classes: classes, st: st}
}

// Len is the number of images.
func (s *Set) Len() int {
	if s.idx == nil {
		return len(s.st.labels)
	}
	return len(s.idx)
}

// at is the store's index of image i.
func (s *Set) at(i int) int {
	if s.idx == nil {
		return i
	}
	return s.idx[i]
}

func (s *Set) check(i int) error {
	if i < 0 || i >= s.Len() {
		return newError(ErrOption, "", fmt.Sprintf("image index %d out of range [0, %d)", i, s.Len()))
	}
	return nil
}

// Label is image i's class, an index into Classes. It panics, as a slice
// does, for an i outside [0, Len()).
func (s *Set) Label(i int) int { return int(s.st.labels[s.at(i)]) }

// planes is how many Height x Width planes an image has.
func (s *Set) planes() int { return max(s.Channels, 1) }

// Pixels are image i's Height*Width 8-bit grey values, row-major, 0 the
// background (Channels planes of them for a colour set): a view of the
// Set's storage, not to be changed. It panics, as a slice does, for an i
// outside [0, Len()).
func (s *Set) Pixels(i int) []byte {
	n := s.planes() * s.Height * s.Width
	k := s.at(i)
	return s.st.pix[k*n : (k+1)*n : (k+1)*n]
}

// Origin says where image i came from, for messages: its file in a folder,
// or the IDX images file and the image's index in it ("DIR/t10k-images-idx3-ubyte.gz[42]").
func (s *Set) Origin(i int) string {
	k := s.at(i)
	if s.st.files != nil {
		return s.st.files[k]
	}
	return s.st.idxPath + "[" + strconv.Itoa(k) + "]"
}

// Counts are the number of images of each class.
func (s *Set) Counts() []int {
	c := make([]int, len(s.Classes))
	for i := range s.Len() {
		c[s.Label(i)]++
	}
	return c
}

// Subset is the Set of images idx of s, in that order; it shares s's
// pixels.
func (s *Set) Subset(idx []int) (*Set, error) {
	sub := make([]int, len(idx))
	for k, i := range idx {
		if err := s.check(i); err != nil {
			return nil, err
		}
		sub[k] = s.at(i)
	}
	return &Set{Height: s.Height, Width: s.Width, Channels: s.Channels, Classes: s.Classes, st: s.st, idx: sub}, nil
}

// Split draws a validation set of v's size from s with the seed, as
// mnist.Split does (for 60,000 images and Val{Count: 5000}, the seed
// recipe's split), and returns the rest for training. The same seed gives
// the same split.
func (s *Set) Split(v Val, seed uint64) (train, val *Set, err error) {
	size, err := v.Size(s.Len())
	if err != nil {
		return nil, nil, err
	}
	tr, va, err := mnist.Split(s.Len(), size, seed)
	if err != nil {
		return nil, nil, newError(ErrOption, "", err.Error())
	}
	if train, err = s.Subset(tr); err != nil {
		return nil, nil, err
	}
	if val, err = s.Subset(va); err != nil {
		return nil, nil, err
	}
	return train, val, nil
}

// MNIST gives s as package mnist's Set, for the code that takes one
// (mnist.Evaluate, lenetkit's LeNet training). Its pixels are s's own when
// s is a whole part, a copy otherwise. It needs fewer than 257 classes.
func (s *Set) MNIST() (*mnist.Set, error) {
	if len(s.Classes) > 256 {
		return nil, newError(ErrClasses, "", fmt.Sprintf("%d classes: package mnist's sets hold at most 256", len(s.Classes)))
	}
	if s.planes() != 1 {
		return nil, newError(ErrOption, "", "colour images: package mnist's sets are grey")
	}
	n := s.Len()
	m := &mnist.Set{Labels: make([]byte, n), N: n, Rows: s.Height, Cols: s.Width}
	if s.idx == nil {
		m.Images = s.st.pix
	} else {
		m.Images = make([]byte, 0, n*s.Height*s.Width)
		for i := range n {
			m.Images = append(m.Images, s.Pixels(i)...)
		}
	}
	for i := range n {
		m.Labels[i] = byte(s.Label(i))
	}
	return m, nil
}

// toUnit maps a pixel to torchvision's ToTensor float, float32(v)/255.
var toUnit = func() (t [256]float32) {
	for v := range t {
		t[v] = float32(v) / 255
	}
	return t
}()

// FillOptions say how Fill makes images into a batch.
type FillOptions struct {
	// Pad puts this many zero pixels around every image after the
	// augmentation, as torchvision's Pad: the seed's LeNet takes MNIST's
	// 28x28 digits padded by 2 to 32x32.
	Pad int
	// Augment transforms each image, its parameters drawn from Seed,
	// Epoch and the image; the zero Augment leaves images as they are.
	Augment Augment
	Seed    uint64
	Epoch   int
	// Orient turns each padded image last, as a model trained on
	// images so turned takes them (EMNIST transposed). It must fit the
	// padded size (Orientation.Fits).
	Orient Orientation
}

// Fill writes images idx of s into x as float32 values in [0, 1], row-major,
// (Height+2*Pad) x (Width+2*Pad) per image and plane (Channels of them, each
// augmented alike), and, unless y is nil, their
// labels into y. x must hold exactly that many values for len(idx) images,
// y len(idx); every value is written, so both may be reused from batch to
// batch. On error nothing is written.
func (s *Set) Fill(idx []int, x []float32, y []int64, opt FillOptions) error {
	if opt.Pad < 0 {
		return newError(ErrOption, "", fmt.Sprintf("padding %d", opt.Pad))
	}
	if err := opt.Augment.check(); err != nil {
		return err
	}
	h, w, planes := s.Height+2*opt.Pad, s.Width+2*opt.Pad, s.planes()
	if len(x) != len(idx)*planes*h*w {
		return newError(ErrOption, "", fmt.Sprintf("%d images of %dx%dx%d need %d floats, got %d", len(idx), planes, h, w, len(idx)*planes*h*w, len(x)))
	}
	if y != nil && len(y) != len(idx) {
		return newError(ErrOption, "", fmt.Sprintf("%d images need %d labels, got %d", len(idx), len(idx), len(y)))
	}
	for _, i := range idx {
		if err := s.check(i); err != nil {
			return err
		}
	}
	if !opt.Orient.Fits(h, w) {
		return newError(ErrOption, "", fmt.Sprintf("orientation %s of %dx%d images: a transpose needs a square", opt.Orient, h, w))
	}
	orient := opt.Orient.For(h, w)
	var src, aug []float32
	if opt.Augment.Enabled() {
		src, aug = make([]float32, s.Height*s.Width), make([]float32, s.Height*s.Width)
	}
	n := s.Height * s.Width
	for k, i := range idx {
		img := x[k*planes*h*w : (k+1)*planes*h*w]
		clear(img)
		for c := range planes {
			dst, pix := img[c*h*w:(c+1)*h*w], s.Pixels(i)[c*n:(c+1)*n]
			if src != nil {
				for j, v := range pix {
					src[j] = toUnit[v]
				}
				// Each plane drawn from the image's own stream: the same
				// transform for its red, green and blue.
				opt.Augment.Apply(aug, src, s.Height, s.Width, opt.Augment.rand(opt.Seed, opt.Epoch, s.at(i)))
			}
			for r := range s.Height {
				row := dst[(r+opt.Pad)*w+opt.Pad : (r+opt.Pad)*w+opt.Pad+s.Width]
				if aug != nil {
					copy(row, aug[r*s.Width:(r+1)*s.Width])
					continue
				}
				for c, v := range pix[r*s.Width : (r+1)*s.Width] {
					row[c] = toUnit[v]
				}
			}
		}
		orient.Planes(img, nil)
		if y != nil {
			y[k] = int64(s.Label(i))
		}
	}
	return nil
}
