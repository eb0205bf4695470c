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
	// SkipChecksum loads IDX files that are not the original MNIST, such
	// as Fashion-MNIST, which uses the same file names.
	SkipChecksum bool
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
// data set in dir, each file named as published, gzipped or not, and checks
// each file's checksum unless opt.SkipChecksum is set.
func Load(dir, part string, opt Options) (*Set, error) {
	prefix, ok := prefixes[part]
	if !ok {
		return nil, fmt.Errorf("mnist: unknown part %q, want \"train\" or \"test\"", part)
	}
	var names [2]string
	var contents [2][]byte
	for i, base := range []string{prefix + "-images-idx3-ubyte", prefix + "-labels-idx1-ubyte"} {
		path, err := find(dir, base)
		if err != nil {
			return nil, err
		}
		b, err := readFile(path)
		if err != nil {
			return nil, err
		}
		if !opt.SkipChecksum {
			if err := verify(path, b); err != nil {
				return nil, err
			}
		}
		names[i], contents[i] = path, b
	}
	return parseSet(names[0], contents[0], names[1], contents[1])
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
	return "", fmt.Errorf("mnist: data directory %s lacks %s (or %s.gz)", dir, base, base)
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
