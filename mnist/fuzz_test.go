package mnist

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"testing"
	"time"
)

// FuzzParseIDX: any bytes give data whose size the header states, or an
// error, within 2 s; never a panic.
func FuzzParseIDX(f *testing.F) {
	idx := func(magic uint32, dims []uint32, body []byte) []byte {
		b := binary.BigEndian.AppendUint32(nil, magic)
		for _, d := range dims {
			b = binary.BigEndian.AppendUint32(b, d)
		}
		return append(b, body...)
	}
	gz := func(b []byte) []byte {
		var buf bytes.Buffer
		w := gzip.NewWriter(&buf)
		w.Write(b)
		w.Close()
		return buf.Bytes()
	}
	images := idx(magicImages, []uint32{2, 3, 3}, make([]byte, 18))
	labels := idx(magicLabels, []uint32{2}, []byte{7, 1})
	for _, seed := range [][]byte{images, labels, gz(images), gz(labels), images[:10], idx(magicImages, []uint32{1 << 31, 1 << 31, 4}, nil),
		gz(idx(magicLabels, []uint32{1 << 20}, make([]byte, 1<<20)))} {
		f.Add(seed, true)
		f.Add(seed, false)
	}
	f.Fuzz(func(t *testing.T, b []byte, asImages bool) {
		magic := uint32(magicLabels)
		if asImages {
			magic = magicImages
		}
		start := time.Now()
		data, dims, err := parseIDX("fuzz", b, magic)
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("%d bytes took %v", len(b), d)
		}
		if err != nil {
			return
		}
		n := 1
		for _, d := range dims {
			n *= d
		}
		if len(data) != n || len(dims) != int(magic&0xff) {
			t.Fatalf("dims %v but %d bytes of data", dims, len(data))
		}
	})
}
