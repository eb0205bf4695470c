package mnist

import (
	"errors"
	"testing"
)

// TestLoadPrefixAnyLabels: Options.Prefix finds EMNIST-style names,
// Options.AnyLabels takes labels past 9 that Load refuses by default, and
// HasPart sees what Load would read.
func TestLoadPrefixAnyLabels(t *testing.T) {
	dir := t.TempDir()
	labels := []byte{0, 12, 46}
	writeFile(t, dir, "emnist-balanced-t10k-images-idx3-ubyte", idxFile(0x803, []uint32{3, 28, 28}, pattern(3*784)))
	writeFile(t, dir, "emnist-balanced-t10k-labels-idx1-ubyte.gz", gz(t, idxFile(0x801, []uint32{3}, labels)))
	tests := []struct {
		name    string
		opt     Options
		wantErr error
	}{
		{"no prefix", Options{SkipChecksum: true, AnyLabels: true}, ErrMissingFile},
		{"digits only", Options{SkipChecksum: true, Prefix: "emnist-balanced-"}, ErrCorrupt},
		{"any labels", Options{SkipChecksum: true, AnyLabels: true, Prefix: "emnist-balanced-"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Load(dir, "test", tc.opt)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Load: %v, want %v", err, tc.wantErr)
			}
			if err == nil && (s.N != 3 || string(s.Labels) != string(labels)) {
				t.Errorf("N %d labels %v, want 3 %v", s.N, s.Labels, labels)
			}
		})
	}
	if !HasPart(dir, "emnist-balanced-", "test") || HasPart(dir, "emnist-balanced-", "train") || HasPart(dir, "", "test") {
		t.Error("HasPart disagrees with the files written")
	}
}

// TestErrorKinds: each kind of bad IDX pair matches its sentinel.
func TestErrorKinds(t *testing.T) {
	dir := t.TempDir()
	img := idxFile(0x803, []uint32{3, 28, 28}, pattern(3*784))
	tests := []struct {
		name           string
		images, labels []byte
		want           error
	}{
		{"truncated images", img[:1000], idxFile(0x801, []uint32{3}, []byte{1, 2, 3}), ErrTruncated},
		{"truncated gzip", func() []byte { b := gz(t, img); return b[:len(b)/2] }(), idxFile(0x801, []uint32{3}, []byte{1, 2, 3}), ErrTruncated},
		{"counts disagree", img, idxFile(0x801, []uint32{2}, []byte{1, 2}), ErrCountMismatch},
		{"wrong magic", img, idxFile(0x803, []uint32{3, 1, 1}, []byte{1, 2, 3}), ErrCorrupt},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadSet(writeFile(t, dir, "i", tc.images), writeFile(t, dir, "l", tc.labels))
			if !errors.Is(err, tc.want) {
				t.Errorf("ReadSet: %v, want %v", err, tc.want)
			}
		})
	}
}
