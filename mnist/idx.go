package mnist

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"os"
)

// IDX magic numbers: two zero bytes, 0x08 for unsigned bytes, then the number
// of dimensions.
const (
	magicImages = 0x00000803
	magicLabels = 0x00000801
)

// deflate cannot expand data by more than about 1032:1, so a gzip file of n
// bytes never holds more than this many times n; the bound keeps a corrupt
// header from making the reader allocate what the file cannot fill.
const maxGzipRatio = 1100

// ReadSet reads an IDX images file and its IDX labels file, each gzipped or
// raw. It checks their structure (magic numbers, sizes, matching counts,
// labels 0-9) but no checksum; Load does both.
func ReadSet(imagesPath, labelsPath string) (*Set, error) {
	img, err := readFile(imagesPath)
	if err != nil {
		return nil, err
	}
	lab, err := readFile(labelsPath)
	if err != nil {
		return nil, err
	}
	return parseSet(imagesPath, img, labelsPath, lab, false)
}

func readFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("mnist: %w", err)
	}
	return b, nil
}

// parseSet decodes the contents of an images file and a labels file; the
// names are for error messages. Labels must be digits 0-9 unless anyLabels.
func parseSet(imagesName string, img []byte, labelsName string, lab []byte, anyLabels bool) (*Set, error) {
	pix, dims, err := parseIDX(imagesName, img, magicImages)
	if err != nil {
		return nil, err
	}
	labels, ldims, err := parseIDX(labelsName, lab, magicLabels)
	if err != nil {
		return nil, err
	}
	n, rows, cols := dims[0], dims[1], dims[2]
	if ldims[0] != n {
		return nil, errorOf(ErrCountMismatch, "mnist: %s: %d labels for the %d images in %s", labelsName, ldims[0], n, imagesName)
	}
	for i, l := range labels {
		if l > 9 && !anyLabels {
			return nil, errorOf(ErrCorrupt, "mnist: %s: label %d of image %d is not a digit 0-9", labelsName, l, i)
		}
	}
	return &Set{Images: pix, Labels: labels, N: n, Rows: rows, Cols: cols}, nil
}

// parseIDX decodes one IDX file of unsigned bytes, gzipped or raw (told
// apart by the gzip magic bytes, not by the name), and returns its data and
// dimensions. The data of a raw file is a slice of b.
func parseIDX(name string, b []byte, magic uint32) (data []byte, dims []int, err error) {
	gzipped := len(b) >= 2 && b[0] == 0x1f && b[1] == 0x8b
	var r io.Reader = bytes.NewReader(b)
	if gzipped {
		zr, err := gzip.NewReader(r)
		if err != nil {
			return nil, nil, errorOf(ErrCorrupt, "mnist: %s: gzip: %v", name, err)
		}
		r = zr
	}

	ndim := int(magic & 0xff)
	head := make([]byte, 4+4*ndim)
	n, err := io.ReadFull(r, head)
	// A wrong magic number says more than the truncation that a short
	// header of another kind of file may also show.
	if n >= 4 && binary.BigEndian.Uint32(head) != magic {
		return nil, nil, errorOf(ErrCorrupt, "mnist: %s: wrong magic number 0x%08x, want 0x%08x (%s)", name, binary.BigEndian.Uint32(head), magic, kind(magic))
	}
	if err != nil {
		return nil, nil, readError(name, err, fmt.Sprintf("truncated: the header needs %d bytes, file holds %d", len(head), n))
	}
	dims = make([]int, ndim)
	size := uint64(1)
	for i := range dims {
		d := binary.BigEndian.Uint32(head[4+4*i:])
		hi, lo := bits.Mul64(size, uint64(d))
		if hi != 0 || lo > math.MaxInt {
			return nil, nil, errorOf(ErrCorrupt, "mnist: %s: header promises an impossible size (%s)", name, describe(magic, head))
		}
		size = lo
		dims[i] = int(d)
	}
	want := int(size)

	if !gzipped {
		data = b[len(head):]
		switch {
		case len(data) < want:
			return nil, nil, errorOf(ErrTruncated, "mnist: %s: truncated: %s, file holds %d bytes of %s", name, describe(magic, head), len(data), unit(magic))
		case len(data) > want:
			return nil, nil, errorOf(ErrCorrupt, "mnist: %s: %d bytes of trailing data: %s", name, len(data)-want, describe(magic, head))
		}
		return data, dims, nil
	}

	data = make([]byte, min(want, maxGzipRatio*len(b)))
	n, err = io.ReadFull(r, data)
	if err != nil {
		return nil, nil, readError(name, err, fmt.Sprintf("truncated: %s, file holds %d bytes of %s", describe(magic, head), n, unit(magic)))
	}
	// Count what is left: too little when the header promised more than
	// the bound let us allocate, too much when the file has trailing data.
	rest, err := io.Copy(io.Discard, r)
	total := int64(n) + rest
	if err != nil {
		return nil, nil, readError(name, err, fmt.Sprintf("truncated: %s, file holds %d bytes of %s", describe(magic, head), total, unit(magic)))
	}
	switch {
	case total < int64(want):
		return nil, nil, errorOf(ErrTruncated, "mnist: %s: truncated: %s, file holds %d bytes of %s", name, describe(magic, head), total, unit(magic))
	case total > int64(want):
		return nil, nil, errorOf(ErrCorrupt, "mnist: %s: %d bytes of trailing data: %s", name, total-int64(want), describe(magic, head))
	}
	return data, dims, nil
}

// readError reports a failed read: the input ending early, whether the file
// or its gzip stream, is truncation; anything else is a corrupt file.
func readError(name string, err error, truncated string) error {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return errorOf(ErrTruncated, "mnist: %s: %s", name, truncated)
	}
	return errorOf(ErrCorrupt, "mnist: %s: %v", name, err)
}

func kind(magic uint32) string {
	if magic == magicImages {
		return "IDX images"
	}
	return "IDX labels"
}

func unit(magic uint32) string {
	if magic == magicImages {
		return "pixels"
	}
	return "labels"
}

// describe says what a header promises, e.g. "header says 10000 images of
// 28x28".
func describe(magic uint32, head []byte) string {
	n := binary.BigEndian.Uint32(head[4:])
	if magic == magicImages {
		return fmt.Sprintf("header says %d images of %dx%d", n, binary.BigEndian.Uint32(head[8:]), binary.BigEndian.Uint32(head[12:]))
	}
	return fmt.Sprintf("header says %d labels", n)
}
