package mnist

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Options changes how Load reads a data set.
type Options struct {
	// SkipChecksum loads IDX files that are none of the data sets Load
	// knows (KnownDatasets), such as a set of one's own.
	SkipChecksum bool
	// AnyLabels takes labels of any value 0-255 rather than only the
	// digits 0-9: the classes of EMNIST (up to 62), KMNIST's Kuzushiji-49
	// or a set of one's own. Evaluate and Fill take such sets only where
	// the model has as many classes.
	AnyLabels bool
	// Prefix goes before each file's published name: EMNIST's files are
	// named emnist-balanced-train-images-idx3-ubyte and so on, the
	// prefix "emnist-balanced-". The checksums are those of the names
	// without it.
	Prefix string
}

// prefixes maps a part of the data set to the prefix of its file names.
var prefixes = map[string]string{"train": "train", "test": "t10k"}

// fileNames lists the four files a data directory holds, without .gz.
var fileNames = []string{
	"train-images-idx3-ubyte",
	"train-labels-idx1-ubyte",
	"t10k-images-idx3-ubyte",
	"t10k-labels-idx1-ubyte",
}

// Load reads part "train" (60,000 images) or "test" (10,000 images) of the
// data set in dir, each file named as published (after opt.Prefix), gzipped
// or not. Each file must be one of a known data set's, MNIST or
// Fashion-MNIST (the Set's Dataset names it), unless opt.SkipChecksum is set.
func Load(dir, part string, opt Options) (*Set, error) {
	prefix, ok := prefixes[part]
	if !ok {
		return nil, fmt.Errorf("mnist: unknown part %q, want \"train\" or \"test\"", part)
	}
	var names, bases [2]string
	var contents [2][]byte
	for i, base := range []string{prefix + "-images-idx3-ubyte", prefix + "-labels-idx1-ubyte"} {
		path, err := find(dir, opt.Prefix+base)
		if err != nil {
			return nil, err
		}
		b, err := readFile(path)
		if err != nil {
			return nil, err
		}
		names[i], bases[i], contents[i] = path, base, b
	}
	// Parsed first: a truncated or corrupt file is told as such, not as a
	// checksum mismatch, and a gzipped one is decompressed only once.
	s, err := parseSet(names[0], contents[0], names[1], contents[1], opt.AnyLabels)
	if err != nil {
		return nil, err
	}
	sums := [2]string{
		contentSHA256(magicImages, []int{s.N, s.Rows, s.Cols}, s.Images),
		contentSHA256(magicLabels, []int{s.N}, s.Labels),
	}
	var sets [2]string
	for i := range sets {
		sets[i] = identify(bases[i], sums[i])
		if sets[i] == "" && !opt.SkipChecksum {
			return nil, &ChecksumError{Path: names[i], SHA256: sums[i]}
		}
	}
	if sets[0] != sets[1] && sets[0] != "" && sets[1] != "" {
		return nil, &MixedError{Path: names[0], Dataset: sets[0], OtherPath: names[1], OtherDataset: sets[1]}
	}
	if sets[0] == sets[1] {
		s.Dataset = sets[0]
	}
	return s, nil
}

// HasPart tells whether dir holds both files of part "train" or "test",
// named as published after prefix, gzipped or not: what Load of that part
// looks for.
func HasPart(dir, prefix, part string) bool {
	p, ok := prefixes[part]
	if !ok {
		return false
	}
	for _, base := range []string{p + "-images-idx3-ubyte", p + "-labels-idx1-ubyte"} {
		if _, err := find(dir, prefix+base); err != nil {
			return false
		}
	}
	return true
}

// find returns the path of file base in dir: base itself if present, which
// is faster to read, else base.gz.
func find(dir, base string) (string, error) {
	for _, name := range []string{base, base + ".gz"} {
		path := filepath.Join(dir, name)
		fi, err := os.Stat(path)
		if err == nil && fi.Mode().IsRegular() {
			return path, nil
		}
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("mnist: %w", err)
		}
	}
	return "", errorOf(ErrMissingFile, "mnist: data directory %s lacks %s (or %s.gz)", dir, base, base)
}

// checkDir reports whether dir exists and holds the four files.
func checkDir(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("mnist: data directory: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("mnist: data directory %s is not a directory", dir)
	}
	for _, base := range fileNames {
		if _, err := find(dir, base); err != nil {
			return err
		}
	}
	return nil
}
