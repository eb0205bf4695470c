// Package dataset loads the labelled images people bring, for training and
// evaluating classifiers: IDX pairs of images and labels (MNIST,
// Fashion-MNIST, KMNIST, EMNIST and any set in that format), and image
// folders laid out as torchvision's ImageFolder (one subfolder per class).
// Both become the same thing, a Set: grey images of one size stored as
// 8-bit pixels, their labels, the class names and where each image came
// from, so that the code that trains or evaluates never asks which it was.
//
// # Opening
//
// Open takes what a person gives to --data:
//
//   - a directory holding IDX files named as MNIST's are,
//     train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte
//     and t10k-labels-idx1-ubyte, each gzipped or not (read by package
//     mnist, which also recognises MNIST and Fashion-MNIST by checksum);
//   - the same with a prefix before each name, as EMNIST's
//     emnist-balanced-train-images-idx3-ubyte: the directory, when it holds
//     one such set, or DIR/emnist-balanced to choose among several;
//   - a directory of class folders: the classes are the folder names sorted,
//     the files of each (PNG, JPEG, GIF or BMP, at any depth) sorted by path,
//     as torchvision's ImageFolder orders them. Each image is made grey and
//     prepared as Options.Prep says: PrepDigit, the preparation lenetkit
//     infer gives a digit (cropped to the ink, scaled into 20x20, centred by
//     mass in 28x28, as MNIST's were), or PrepResize, the whole picture
//     resized to Options.Height x Options.Width;
//   - a split image folder: train/ and test/ (or val/, valid/, validation/)
//     beside each other and nothing else, each of class folders, as
//     torchvision users lay out their data. train/'s folders are the
//     classes and its images Data.Train; the held-out folder's class
//     folders are labelled by their names among them, and its images are
//     Data.Test, what an evaluation measures (Data.TestFolder names it);
//     val/ beside test/ is Data.Val, what a trainer validates on.
//
// The number of classes of an IDX set is its largest label plus one (EMNIST
// letters: 27, class 0 unused); class names are "0", "1", ... unless
// Options.Classes gives them (ReadClassNames reads a file of one name a
// line). Labels are indices into Set.Classes.
//
// # Using a Set for training
//
// A trainer opens the data, splits off a validation set, and fills batches:
//
//	data, err := dataset.Open(dir, dataset.Options{Prep: prep, Height: 28, Width: 28})
//	train, val, err := data.Train.Split(dataset.Val{Count: 5000}, seed)
//	aug, err := dataset.ParseAugment("shift,rotate,scale")
//	x := make([]float32, batch*train.Height*train.Width)
//	y := make([]int64, batch)
//	for each batch idx of 0..train.Len()-1, shuffled:
//		err = train.Fill(idx, x, y, dataset.FillOptions{Augment: aug, Seed: seed, Epoch: epoch})
//
// Fill writes float32 pixels in [0, 1] (pixel/255, as torchvision's
// ToTensor), row-major HxW, one channel, optionally padded with zeros
// (FillOptions.Pad, torchvision's Pad after the augmentation). Augmentation
// is drawn from the seed, the epoch and the image, never from the batch or
// the order, so the same seed gives the same images however the batches are
// cut. Split of 60,000 images with Val{Count: 5000} is mnist.Split's, the
// seed's recipe, index for index.
//
// Pixels stay 8-bit until Fill converts a batch: MNIST's 60,000 training
// images take 47 MB so, 188 MB as float32.
//
// # Errors
//
// Every error is one line that names the file or directory at fault and,
// where it can, what to do. Callers tell kinds apart with errors.Is: ErrNotFound,
// ErrLayout, ErrEmptyClass, ErrNotImage, ErrBlank, ErrClassNames,
// ErrClasses, ErrOption, and the IDX kinds ErrTruncated, ErrCorrupt,
// ErrCountMismatch and ErrMissingFile (package mnist's own values).
package dataset
