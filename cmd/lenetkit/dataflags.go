package main

import (
	"errors"
	"fmt"
	"slices"

	"github.com/urfave/cli/v2"

	"github.com/lenetkit/lenetkit/dataset"
	"github.com/lenetkit/lenetkit/digit"
	"github.com/lenetkit/lenetkit/mnist"
)

// The flags that name a person's own data (package dataset), shared by
// eval, infer and train so that each takes the same forms.
var (
	ownDataFlag = &cli.StringFlag{Name: "data", Usage: "`DIR` of the data: IDX files (MNIST's names, gzipped or not; EMNIST's as DIR/emnist-balanced) " +
		"or one subfolder of images per class (torchvision's ImageFolder), or train/ and test/ (or val/) of such subfolders", DefaultText: "the MNIST of $LENETKIT_DATA, else the GoMNIST module's copy"}
	prepFlag = &cli.StringFlag{Name: "prep", Value: "digit", Usage: "how an image folder's pictures become images: digit (as infer prepares a digit: " +
		"cropped to the ink, centred in 28x28, as MNIST), resize (grey, resized to the model's input, bilinear, as torchvision's Resize; IDX images too) or resize:area"}
	labelsFlag     = &cli.StringFlag{Name: "labels", Usage: "class names, one a line in label order, from `FILE` (default: the class folders' names, or 0, 1, ... for IDX data)"}
	firstLabelFlag = &cli.IntFlag{Name: "first-label", Usage: "the IDX data's label that is the model's class 0: 1 for EMNIST letters, " +
		"labelled 1 to 26, against a model of 26 outputs trained on label - 1", DefaultText: "0"}
	colourFlag = &cli.BoolFlag{Name: "colour", Aliases: []string{"color"}, Usage: "keep each picture's colours, as PIL's convert(\"RGB\") gives them, for a model of 3 channels (CIFAR-10's), " +
		"where they are made grey by default; with --prep resize, for a folder's pictures and infer's PATHs"}
	augmentFlag = &cli.StringFlag{Name: "augment", Usage: "transform training images at random, as torchvision's RandomAffine: shift, rotate, scale, " +
		"each with an optional range (shift=2,rotate=10,scale=0.9:1.1; shift=10% of the side); the names alone give RandomAffine(10, (0.1, 0.1), (0.9, 1.1))", DefaultText: "none"}
	valFlag = &cli.StringFlag{Name: "val", Usage: "validation images split from the training data with the seed: a count (5000), " +
		"a fraction (0.1) or a percentage (10%)", DefaultText: "5,000 of MNIST-sized data (the seed's 55,000/5,000), else 1/12; a folder's val/ beside train/ and test/ when it has one"}
)

// dataFlags are the flags that choose the data: --data, --prep and
// --labels, and for training --augment and --val too. --skip-checksum,
// which most commands have already, says whether IDX files named as
// MNIST's must be a known set.
func dataFlags(training bool) []cli.Flag {
	flags := []cli.Flag{ownDataFlag, prepFlag, labelsFlag, firstLabelFlag}
	if training {
		flags = append(flags, augmentFlag, valFlag)
	}
	return flags
}

// openData opens the data --data names. The caller's opt says what the
// command needs: Height and Width, the size of image the model takes before
// its own padding (28x28 for the seed's LeNet, whose 32x32 input is a digit
// padded by 2); Parts, which parts of an IDX set; ClassesByNumber, whether
// folders named 0-9 keep their digit as label (eval and infer, whose model
// has fixed outputs). The flags give the rest: --prep, --labels and
// --skip-checksum. A flag's bad value is a usage error (exit 2); bad data
// is a failure, one line naming the file.
func openData(c *cli.Context, opt dataset.Options) (*dataset.Data, error) {
	if c.String("data") == "" {
		return nil, usageError("--data needs a directory")
	}
	prep, err := dataset.ParsePrep(c.String("prep"))
	if err != nil {
		return nil, usageError("--prep %q: want digit, resize or resize:area", c.String("prep"))
	}
	opt.Prep, opt.Verify, opt.FirstLabel, opt.Colour = prep, !c.Bool("skip-checksum"), c.Int("first-label"), c.Bool("colour")
	if c.IsSet("invert") { // infer's: a folder's pictures as its PATHs
		if opt.Prep.Invert, err = digit.ParseInvert(c.String("invert")); err != nil {
			return nil, usageError("--invert %q: want auto, always or never", c.String("invert"))
		}
	}
	if f := c.String("labels"); f != "" {
		if opt.Classes, err = dataset.ReadClassNames(f); err != nil {
			return nil, fmt.Errorf("--labels: %w", err)
		}
	} else if c.IsSet("labels") {
		return nil, usageError("--labels needs a file of class names")
	}
	d, err := dataset.Open(c.String("data"), opt)
	if errors.Is(err, dataset.ErrClassNames) && opt.Classes != nil {
		return nil, fmt.Errorf("--labels: %w", err)
	}
	if err != nil {
		return nil, err
	}
	if opt.FirstLabel != 0 && d.Layout != dataset.LayoutIDX {
		return nil, usageError("--first-label %d: %s is a folder of class folders, whose labels come from their names; it applies to IDX data", opt.FirstLabel, c.String("data"))
	}
	for _, f := range d.Skipped {
		fmt.Fprintf(statusOut(c), "note: skipping %s: not a .png, .jpg, .jpeg, .gif or .bmp file\n", quoteName(f))
	}
	return d, nil
}

// prepResizes tells whether --prep resizes (resize or resize:area),
// which a command without the flag does not.
func prepResizes(c *cli.Context) bool { return prepResize(c) != "" }

// padGivesWay is the one rule for a model whose file declares no
// preprocessing, so that its padding is only assumed: --prep resize
// drops it and makes the images the whole input, as torchvision's
// Resize(32) makes LeNet-5's from MNIST's 28x28. eval's openModel and
// train --model's graphSetup both follow it.
func padGivesWay(c *cli.Context, declared bool) bool { return !declared && prepResizes(c) }

// prepResize is how --prep resizes, as a model's preprocess metadata
// records it (infer.Preprocessing.Resize): "bilinear", "area", or "".
func prepResize(c *cli.Context) string {
	switch p, err := dataset.ParsePrep(c.String("prep")); {
	case err != nil || !p.Resize:
		return ""
	case p.Area:
		return "area"
	}
	return "bilinear"
}

// declaredPrep makes a model's declared resizing (infer.Preprocessing.
// Resize, which lenetkit train writes when it trained on resized images)
// --prep's value unless the person gave one: the images are prepared as
// the model was trained on them. It says so with -v.
func declaredPrep(c *cli.Context, path, resize string) error {
	if resize == "" || c.IsSet("prep") || !slices.ContainsFunc(c.Command.Flags, func(f cli.Flag) bool { return slices.Contains(f.Names(), "prep") }) {
		return nil
	}
	prep := "resize"
	if resize == "area" {
		prep = "resize:area"
	}
	if c.Bool("verbose") {
		fmt.Fprintf(statusOut(c), "note: %s was trained on images resized to its input (its preprocess metadata): --prep %s\n", printable(path), prep)
	}
	return c.Set("prep", prep)
}

// defaultData gives --data, when it is not set, the MNIST that commands
// read by default ($LENETKIT_DATA, else the GoMNIST module's copy), for a
// command that then reads it as it reads a person's data: resized (--prep
// resize), or split for training.
func defaultData(c *cli.Context) error {
	if c.IsSet("data") {
		return nil
	}
	src, err := mnist.Locate(c.Context, "")
	if err != nil {
		return err
	}
	return c.Set("data", src.Dir)
}

// augmentation reads --augment; the zero Augment when it is not given.
func augmentation(c *cli.Context) (dataset.Augment, error) {
	a, err := dataset.ParseAugment(c.String("augment"))
	if err != nil {
		return a, usageError("--augment: %s", trimDataset(err))
	}
	return a, nil
}

// validation reads --val for a training set of n images: when it is not
// given, 5,000 of 60,000 as the seed's recipe, and a twelfth of any other
// size, the same share.
func validation(c *cli.Context, n int) (dataset.Val, error) {
	if !c.IsSet("val") {
		return dataset.Val{Count: (n + 6) / 12}, nil
	}
	v, err := dataset.ParseVal(c.String("val"))
	if err != nil {
		return v, usageError("--val: %s", trimDataset(err))
	}
	if _, err := v.Size(n); err != nil {
		return v, usageError("--val: %s", trimDataset(err))
	}
	return v, nil
}

// trimDataset drops the "dataset: " an option's error starts with, the
// flag's name standing in its place.
func trimDataset(err error) string {
	var de *dataset.Error
	if errors.As(err, &de) && de.Path == "" {
		return de.Msg
	}
	return err.Error()
}
