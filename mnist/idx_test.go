package mnist

import (
	"bytes"
	"errors"
	"io/fs"
	"path/filepath"
	"testing"
)

func TestReadSetGzipAndRawAgree(t *testing.T) {
	dir := t.TempDir()
	pix := pattern(5 * 28 * 28)
	labels := []byte{3, 1, 4, 1, 5}
	img := idxFile(0x803, []uint32{5, 28, 28}, pix)
	lab := idxFile(0x801, []uint32{5}, labels)
	// The gzipped copy is deliberately named without .gz: the reader must
	// go by the content.
	pairs := map[string][2]string{
		"raw":           {writeFile(t, dir, "img", img), writeFile(t, dir, "lab", lab)},
		"gzip":          {writeFile(t, dir, "img.gz", gz(t, img)), writeFile(t, dir, "lab.gz", gz(t, lab))},
		"gzip, no .gz":  {writeFile(t, dir, "imgz", gz(t, img)), writeFile(t, dir, "labz", gz(t, lab))},
		"raw named .gz": {writeFile(t, dir, "img2.gz", img), writeFile(t, dir, "lab2.gz", lab)},
	}
	for name, p := range pairs {
		t.Run(name, func(t *testing.T) {
			s, err := ReadSet(p[0], p[1])
			if err != nil {
				t.Fatal(err)
			}
			if s.N != 5 || s.Rows != 28 || s.Cols != 28 {
				t.Errorf("N, Rows, Cols = %d, %d, %d; want 5, 28, 28", s.N, s.Rows, s.Cols)
			}
			if !bytes.Equal(s.Images, pix) {
				t.Error("images differ from what was written")
			}
			if !bytes.Equal(s.Labels, labels) {
				t.Errorf("labels = %v, want %v", s.Labels, labels)
			}
		})
	}
}

func TestReadSetErrors(t *testing.T) {
	good := idxFile(0x803, []uint32{3, 28, 28}, pattern(3*784))
	short := idxFile(0x803, []uint32{3, 28, 28}, pattern(2000))
	full := gz(t, good)
	labels3 := idxFile(0x801, []uint32{3}, []byte{0, 9, 2})
	tests := []struct {
		name     string
		images   []byte // nil: no file
		labels   []byte
		badFile  string // "images" or "labels": the file the error must name
		want     string // what the error must say after "mnist: <path>: "
		contains bool   // want is only part of the message after the path
	}{
		{"missing images", nil, labels3, "images", "no such file or directory", true},
		{"wrong magic", idxFile(0x801, []uint32{3}, []byte{1, 2, 3}), labels3, "images",
			"wrong magic number 0x00000801, want 0x00000803 (IDX images)", false},
		{"labels in place of images", labels3, labels3, "images", "wrong magic number 0x00000801", true},
		{"images in place of labels", good, good, "labels", "wrong magic number 0x00000803, want 0x00000801 (IDX labels)", false},
		{"truncated", short, labels3, "images",
			"truncated: header says 3 images of 28x28, file holds 2000 bytes of pixels", false},
		{"truncated, gzipped", gz(t, short), labels3, "images",
			"truncated: header says 3 images of 28x28, file holds 2000 bytes of pixels", false},
		{"gzip stream cut off", full[:len(full)/2], labels3, "images", "truncated: header says 3 images of 28x28", true},
		{"truncated header", good[:10], labels3, "images", "truncated: the header needs 16 bytes, file holds 10", false},
		{"truncated labels", good, idxFile(0x801, []uint32{3}, []byte{1}), "labels",
			"truncated: header says 3 labels, file holds 1 bytes of labels", false},
		{"trailing data", append(good[:len(good):len(good)], 1, 2), labels3, "images",
			"2 bytes of trailing data: header says 3 images of 28x28", false},
		{"huge size, gzipped", gz(t, idxFile(0x803, []uint32{1 << 30, 1 << 10, 1 << 10}, []byte{1, 2})), labels3, "images",
			"truncated: header says 1073741824 images of 1024x1024, file holds 2 bytes of pixels", false},
		{"impossible size", idxFile(0x803, []uint32{1 << 31, 1 << 16, 1 << 16}, nil), labels3, "images",
			"header promises an impossible size (header says 2147483648 images of 65536x65536)", false},
		{"corrupt gzip", []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff, 1, 2, 3, 4, 5, 6}, labels3, "images", "flate: corrupt input", true},
		{"count mismatch", good, idxFile(0x801, []uint32{2}, []byte{1, 2}), "labels", "2 labels for the 3 images in", true},
		{"label above 9", good, idxFile(0x801, []uint32{3}, []byte{1, 10, 2}), "labels",
			"label 10 of image 1 is not a digit 0-9", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			paths := map[string]string{
				"images": filepath.Join(dir, "images-idx3-ubyte.gz"),
				"labels": writeFile(t, dir, "labels-idx1-ubyte", tt.labels),
			}
			if tt.images != nil {
				writeFile(t, dir, "images-idx3-ubyte.gz", tt.images)
			}
			_, err := ReadSet(paths["images"], paths["labels"])
			checkOneLine(t, err, paths[tt.badFile], tt.want)
			if !tt.contains {
				if want := "mnist: " + paths[tt.badFile] + ": " + tt.want; err.Error() != want {
					t.Errorf("error\n got %q\nwant %q", err, want)
				}
			}
		})
	}
}

func TestReadSetMissingIsNotExist(t *testing.T) {
	_, err := ReadSet(filepath.Join(t.TempDir(), "nothing"), "nothing")
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("err = %v, want one that is fs.ErrNotExist", err)
	}
}

// mnistDir writes four small IDX files named as MNIST's into a new directory;
// they are well-formed but not MNIST, so only SkipChecksum lets them load.
func mnistDir(t *testing.T, gzipped bool) string {
	dir := t.TempDir()
	for _, prefix := range []string{"train", "t10k"} {
		img := idxFile(0x803, []uint32{4, 28, 28}, pattern(4*784))
		lab := idxFile(0x801, []uint32{4}, []byte{9, 8, 7, 6})
		suffix := ""
		if gzipped {
			img, lab, suffix = gz(t, img), gz(t, lab), ".gz"
		}
		writeFile(t, dir, prefix+"-images-idx3-ubyte"+suffix, img)
		writeFile(t, dir, prefix+"-labels-idx1-ubyte"+suffix, lab)
	}
	return dir
}

func TestLoadChecksum(t *testing.T) {
	// Well-formed IDX files that are no known data set's: refused, naming
	// the file, its sum and the flag that reads them, gzipped or not (the
	// sum is of the contents either way).
	for _, gzipped := range []bool{true, false} {
		t.Run(map[bool]string{true: "gzipped", false: "raw"}[gzipped], func(t *testing.T) {
			dir := mnistDir(t, gzipped)
			path := filepath.Join(dir, "t10k-images-idx3-ubyte")
			if gzipped {
				path += ".gz"
			}
			_, err := Load(dir, "test", Options{})
			var ce *ChecksumError
			if !errors.As(err, &ce) {
				t.Fatalf("%v, want a *ChecksumError", err)
			}
			b := idxFile(0x803, []uint32{4, 28, 28}, pattern(4*784))
			checkOneLine(t, err, path, "checksum mismatch", "SHA-256 "+sha256hex(b), "MNIST", "Fashion-MNIST", "--skip-checksum")

			s, err := Load(dir, "test", Options{SkipChecksum: true})
			if err != nil {
				t.Fatalf("with SkipChecksum: %v", err)
			}
			if s.N != 4 || !bytes.Equal(s.Labels, []byte{9, 8, 7, 6}) || s.Dataset != "" {
				t.Errorf("with SkipChecksum: N = %d, labels %v, data set %q; want 4, [9 8 7 6], none", s.N, s.Labels, s.Dataset)
			}
		})
	}
}

// TestLoadTruncatedBeforeChecksum: a damaged file is told by what is wrong
// with it, which a checksum cannot say.
func TestLoadTruncatedBeforeChecksum(t *testing.T) {
	dir := mnistDir(t, false)
	b := idxFile(0x803, []uint32{4, 28, 28}, pattern(4*784))
	path := writeFile(t, dir, "t10k-images-idx3-ubyte", b[:100])
	_, err := Load(dir, "test", Options{})
	checkOneLine(t, err, path, "truncated")
}

func TestLoadErrors(t *testing.T) {
	dir := mnistDir(t, false)
	_, err := Load(dir, "validation", Options{SkipChecksum: true})
	checkOneLine(t, err, `unknown part "validation"`)

	empty := t.TempDir()
	_, err = Load(empty, "train", Options{})
	checkOneLine(t, err, empty, "lacks train-images-idx3-ubyte (or train-images-idx3-ubyte.gz)")
}
