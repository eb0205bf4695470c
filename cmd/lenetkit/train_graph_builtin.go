package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/lenetkit/lenetkit/lenet"
	"github.com/lenetkit/lenetkit/mnist"
	"github.com/lenetkit/lenetkit/modelfile"
	"github.com/lenetkit/lenetkit/onnx"
	"github.com/lenetkit/lenetkit/onnx/backend"
)

// builtinLeNet is the name --model takes for the seed's LeNet itself, as a
// graph: what someone with images and no ONNX file trains. A file of that
// name in the working directory is read instead, as any --model file is.
const builtinLeNet = "lenet"

// isBuiltin says whether --model path names the built-in LeNet.
func isBuiltin(path string) bool {
	if path != builtinLeNet {
		return false
	}
	_, err := os.Lstat(path)
	return errors.Is(err, fs.ErrNotExist)
}

// builtinGraph is the seed's LeNet with the weights train's own
// initialisation draws from seed (lenet.Init), as lenetkit's export writes
// it and the backend reads it back, with the SHA-256 of those bytes: the
// same seed gives the same bytes, so a checkpoint knows the graph again.
// The export has no Dropout1d (the identity at inference), so a graph run
// trains without the seed's dropout.
func builtinGraph(seed uint64) (*onnx.Model, string, error) {
	p, err := onnx.FromStateDict(lenet.Init(seed), onnx.ExportOptions{})
	if err != nil {
		return nil, "", err
	}
	b, err := onnx.Marshal(p)
	if err != nil {
		return nil, "", err
	}
	m, _, err := backend.Load(b, builtinLeNet, filepath.Dir(builtinLeNet), modelfile.ReadOptions{})
	if err != nil {
		return nil, "", err
	}
	sum := sha256.Sum256(b)
	return m, hex.EncodeToString(sum[:]), nil
}

// notSeedData says whether --data dir is data of another form than the
// seed's recipe reads (MNIST's training pair in a directory, as
// mnist.HasPart finds it): a directory without it (class folders of
// images, or IDX files of other names), or EMNIST's DIR/emnist-balanced,
// a set of files named with that prefix. A graph run reads those
// (package dataset), and says what is wrong with a directory that holds
// neither. A path that is not there stays with the recipe, whose error
// names the files it wants.
func notSeedData(dir string) bool {
	fi, err := os.Stat(dir)
	if err != nil {
		parent, prefix := filepath.Dir(dir), filepath.Base(dir)+"-"
		return mnist.HasPart(parent, prefix, "train") || mnist.HasPart(parent, prefix, "test")
	}
	return fi.IsDir() && !mnist.HasPart(dir, "", "train")
}
