package convert

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"math"
)

// torchZip writes a zip archive the way PyTorch's PyTorchStreamWriter (miniz)
// does: every record stored uncompressed behind a local header whose "FB"
// extra field pads the data to a 64-byte boundary, so that a loader can map
// tensors straight from the file; sizes and CRC in a data descriptor after
// the data (none for an empty record); zip64 end records even for small
// archives; DOS time zero. The bytes match torch.save's for the same records.
type torchZip struct {
	w       io.Writer
	off     int64
	records []zipRecord
	err     error
}

type zipRecord struct {
	name   string
	offset int64 // of the local header
	flags  uint16
	crc    uint32
	size   int64
}

const (
	zipAlign         = 64     // PyTorch's kFieldAlignment
	zipLocalHeader   = 30     // bytes before the name in a local header
	zipUTF8          = 0x0800 // names are UTF-8
	zipDescriptor    = 0x0008 // sizes and CRC follow the data
	zipMax32         = math.MaxUint32
	zipLocalSig      = 0x04034b50
	zipDescriptorSig = 0x08074b50
	zipCentralSig    = 0x02014b50
	zip64EndSig      = 0x06064b50
	zip64LocatorSig  = 0x07064b50
	zipEndSig        = 0x06054b50
)

var errZipTooLarge = errors.New("archive reaches 4 GiB, beyond this writer's 32-bit records")

func (z *torchZip) write(b []byte) {
	if z.err != nil {
		return
	}
	n, err := z.w.Write(b)
	z.off += int64(n)
	z.err = err
}

// record writes one file of the archive.
func (z *torchZip) record(name string, data []byte) error {
	if z.err != nil {
		return z.err
	}
	if z.off >= zipMax32 || int64(len(data)) >= zipMax32 {
		return errZipTooLarge
	}
	// The padding is measured from where the data would start with an empty
	// FB field (4 bytes of header), exactly as PyTorch's getPadding does.
	start := z.off + zipLocalHeader + int64(len(name)) + 4
	pad := (zipAlign - start%zipAlign) % zipAlign
	extra := make([]byte, 4+pad)
	copy(extra, "FB")
	binary.LittleEndian.PutUint16(extra[2:], uint16(pad))
	for i := 4; i < len(extra); i++ {
		extra[i] = 'Z'
	}

	r := zipRecord{name: name, offset: z.off, flags: zipUTF8, crc: crc32.ChecksumIEEE(data), size: int64(len(data))}
	if len(data) > 0 {
		r.flags |= zipDescriptor // miniz writes none for an empty record
	}
	h := make([]byte, 0, zipLocalHeader+len(name)+len(extra))
	h = binary.LittleEndian.AppendUint32(h, zipLocalSig)
	h = binary.LittleEndian.AppendUint16(h, 0) // version needed, as miniz leaves it
	h = binary.LittleEndian.AppendUint16(h, r.flags)
	h = binary.LittleEndian.AppendUint16(h, 0) // stored
	h = binary.LittleEndian.AppendUint32(h, 0) // DOS time and date
	h = binary.LittleEndian.AppendUint32(h, 0) // CRC, in the descriptor
	h = binary.LittleEndian.AppendUint32(h, 0) // compressed size, in the descriptor
	h = binary.LittleEndian.AppendUint32(h, 0) // size, in the descriptor
	h = binary.LittleEndian.AppendUint16(h, uint16(len(name)))
	h = binary.LittleEndian.AppendUint16(h, uint16(len(extra)))
	h = append(h, name...)
	h = append(h, extra...)
	z.write(h)
	z.write(data)
	if r.flags&zipDescriptor != 0 {
		d := make([]byte, 0, 16)
		d = binary.LittleEndian.AppendUint32(d, zipDescriptorSig)
		d = binary.LittleEndian.AppendUint32(d, r.crc)
		d = binary.LittleEndian.AppendUint32(d, uint32(r.size))
		d = binary.LittleEndian.AppendUint32(d, uint32(r.size))
		z.write(d)
	}
	z.records = append(z.records, r)
	return z.err
}

// close writes the central directory and the end records.
func (z *torchZip) close() error {
	if z.err != nil {
		return z.err
	}
	if z.off >= zipMax32 {
		return errZipTooLarge
	}
	le := binary.LittleEndian
	dirStart := z.off
	for _, r := range z.records {
		c := make([]byte, 0, 46+len(r.name))
		c = le.AppendUint32(c, zipCentralSig)
		c = le.AppendUint16(c, 0) // version made by
		c = le.AppendUint16(c, 0) // version needed
		c = le.AppendUint16(c, r.flags)
		c = le.AppendUint16(c, 0) // stored
		c = le.AppendUint32(c, 0) // DOS time and date
		c = le.AppendUint32(c, r.crc)
		c = le.AppendUint32(c, uint32(r.size))
		c = le.AppendUint32(c, uint32(r.size))
		c = le.AppendUint16(c, uint16(len(r.name)))
		c = le.AppendUint16(c, 0) // extra: the padding lives in the local header only
		c = le.AppendUint16(c, 0) // comment
		c = le.AppendUint16(c, 0) // disk
		c = le.AppendUint16(c, 0) // internal attributes
		c = le.AppendUint32(c, 0) // external attributes
		c = le.AppendUint32(c, uint32(r.offset))
		c = append(c, r.name...)
		z.write(c)
	}
	dirSize := z.off - dirStart
	n := uint64(len(z.records))

	end64 := z.off
	e := make([]byte, 0, 56+20+22)
	e = le.AppendUint32(e, zip64EndSig)
	e = le.AppendUint64(e, 44)     // size of the rest of this record
	e = le.AppendUint16(e, 0x031e) // made by: Unix, zip 3.0
	e = le.AppendUint16(e, 0x002d) // needed: zip 4.5 (zip64)
	e = le.AppendUint32(e, 0)
	e = le.AppendUint32(e, 0)
	e = le.AppendUint64(e, n)
	e = le.AppendUint64(e, n)
	e = le.AppendUint64(e, uint64(dirSize))
	e = le.AppendUint64(e, uint64(dirStart))

	e = le.AppendUint32(e, zip64LocatorSig)
	e = le.AppendUint32(e, 0)
	e = le.AppendUint64(e, uint64(end64))
	e = le.AppendUint32(e, 1) // disks

	n16 := uint16(min(n, math.MaxUint16))
	e = le.AppendUint32(e, zipEndSig)
	e = le.AppendUint16(e, 0)
	e = le.AppendUint16(e, 0)
	e = le.AppendUint16(e, n16)
	e = le.AppendUint16(e, n16)
	e = le.AppendUint32(e, uint32(dirSize))
	e = le.AppendUint32(e, uint32(dirStart))
	e = le.AppendUint16(e, 0) // comment
	z.write(e)
	return z.err
}
