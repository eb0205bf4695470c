package convert

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"os"
	"strconv"
	"strings"

	"github.com/nlpodyssey/gopickle/types"

	"github.com/lenetkit/lenetkit/lenet"
	"github.com/lenetkit/lenetkit/modelfile"
)

// ReadPTH reads every tensor of a file written by torch.save, in the order
// the pickle holds them, named as stored: a state dict's keys as they are; a
// tensor inside nested dicts, lists or tuples (a checkpoint) by its path of
// keys and indices joined with dots ("optimizer.state.0.exp_avg"); a file
// holding one bare tensor as "". Values that are not tensors are skipped.
// Names are not checked against any network; see ReadPTHStateDict.
//
// It reads the zip format of torch 1.6 through 2.x (any archive folder name,
// any extra records) and the older format of
// _use_new_zipfile_serialization=False; tensors saved from a GPU are read
// onto the CPU; views (offsets, strides, storages shared between tensors)
// come out as dense row-major copies. Float tensors become float32, integer
// and bool tensors int64.
//
// Nothing the file asks for is executed: the pickle may name only the
// tensor-rebuilding functions, the storage classes, OrderedDict and
// torch.Size. A file naming anything else is refused whole.
func ReadPTH(path string) (lenet.StateDict, error) {
	obj, err := loadPTHFile(path)
	if err != nil {
		return nil, err
	}
	sd, err := flatten(obj, obj.root)
	if err != nil {
		return nil, fmt.Errorf("convert: %s: %w", path, err)
	}
	return sd, nil
}

// DecodePTH is ReadPTH on size bytes read from r; name identifies them in errors.
func DecodePTH(r io.ReaderAt, size int64, name string) (lenet.StateDict, error) {
	obj, err := decodePTH(r, size)
	if err != nil {
		return nil, fmt.Errorf("convert: %s: %w", name, err)
	}
	sd, err := flatten(obj, obj.root)
	if err != nil {
		return nil, fmt.Errorf("convert: %s: %w", name, err)
	}
	return sd, nil
}

// checkpointKeys are the keys under which training scripts commonly save a
// model's state dict next to optimizer state and counters, in the order
// they are tried.
var checkpointKeys = []string{"state_dict", "model_state_dict", "model"}

// ReadPTHStateDict reads a model's state dict from path: what ReadPTH reads,
// after unwrapping a checkpoint dict (the dict under "state_dict",
// "model_state_dict" or "model") and dropping the "module." prefix that
// nn.DataParallel puts on every key. It does not check the names against a
// network; lenet.Check does that.
func ReadPTHStateDict(path string) (lenet.StateDict, error) {
	obj, err := loadPTHFile(path)
	if err != nil {
		return nil, err
	}
	sd, err := flatten(obj, unwrapCheckpoint(obj.root))
	if err == nil && len(sd) == 0 {
		err = errors.New("no tensors in the file")
	}
	if err != nil {
		return nil, fmt.Errorf("convert: %s: %w", path, err)
	}
	return stripPrefix(sd, "module."), nil
}

func loadPTHFile(path string) (*pthObject, error) {
	// A file of another format gets its name, not the pickle reader's
	// complaint about the first byte.
	if err := modelfile.CheckContent(path, modelfile.PTH); err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("convert: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("convert: %w", err)
	}
	obj, err := decodePTH(f, info.Size())
	if err != nil {
		return nil, fmt.Errorf("convert: %s: %w", path, err)
	}
	return obj, nil
}

// unwrapCheckpoint descends into a checkpoint's model entry, a few levels
// at most ({"model": {"state_dict": ...}} exists too).
func unwrapCheckpoint(root any) any {
	for range 4 {
		inner := checkpointEntry(root)
		if inner == nil {
			break
		}
		root = inner
	}
	return root
}

// checkpointEntry returns the dict that v, a checkpoint dict, keeps its
// model under, or nil.
func checkpointEntry(v any) any {
	entries, _ := dictEntries(v)
	for _, k := range checkpointKeys {
		for _, e := range entries {
			if s, ok := e.key.(string); ok && s == k {
				if _, isDict := dictEntries(e.value); isDict {
					return e.value
				}
			}
		}
	}
	return nil
}

// stripPrefix drops prefix from every name if every name has it.
func stripPrefix(sd lenet.StateDict, prefix string) lenet.StateDict {
	for _, t := range sd {
		if !strings.HasPrefix(t.Name, prefix) {
			return sd
		}
	}
	for _, t := range sd {
		t.Name = strings.TrimPrefix(t.Name, prefix)
	}
	return sd
}

// pthObject is a decoded file: the unpickled object, its tensors still
// views into storages whose bytes are loaded.
type pthObject struct {
	root   any
	stored int // elements in all storages together
}

// decodePTH tells the two formats apart as torch.load does, by the zip
// signature, and returns the unpickled object with storages loaded.
func decodePTH(r io.ReaderAt, size int64) (*pthObject, error) {
	head := make([]byte, 4)
	n, _ := r.ReadAt(head, 0)
	head = head[:n]
	switch {
	case size == 0:
		return nil, errors.New("empty file")
	case bytes.HasPrefix(head, []byte("PK")):
		return decodeZip(r, size)
	case size > 262 && isTar(r):
		return nil, errors.New("PyTorch's pre-1.0 tar format is not supported; re-save the file with a newer torch.save")
	}
	return decodeLegacy(r, size)
}

func isTar(r io.ReaderAt) bool {
	magic := make([]byte, 5)
	n, _ := r.ReadAt(magic, 257)
	return n == 5 && string(magic) == "ustar"
}

// pthDecoder collects the storages a pickle declares.
type pthDecoder struct {
	legacy   bool
	storages map[string]*storage // root storages by key
	order    []*storage          // in the order the pickle first names them
	views    map[string]*storage // legacy storage views by view key
}

func newDecoder(legacy bool) *pthDecoder {
	return &pthDecoder{legacy: legacy, storages: map[string]*storage{}, views: map[string]*storage{}}
}

func (d *pthDecoder) object(root any) *pthObject {
	obj := &pthObject{root: root}
	for _, st := range d.order {
		obj.stored += st.numel
	}
	return obj
}

// persistentLoad resolves ('storage', class, key, location, numel) in the zip
// format, with a sixth element, view metadata, in the legacy one.
func (d *pthDecoder) persistentLoad(pid *types.Tuple) (any, error) {
	want := 5
	if d.legacy {
		want = 6
	}
	if len(*pid) != want {
		return nil, fmt.Errorf("pickle has a persistent id of %d elements, want %d", len(*pid), want)
	}
	if kind := asString((*pid)[0]); kind != "storage" {
		return nil, fmt.Errorf("pickle has persistent id %q, want \"storage\"", kind)
	}
	typ, ok := (*pid)[1].(*storageType)
	if !ok {
		return nil, fmt.Errorf("storage class is a %s", pyType((*pid)[1]))
	}
	key, keyOK := (*pid)[2].(string)
	_, locOK := (*pid)[3].(string) // "cpu", "cuda:0", ...: everything is read onto the CPU
	if !keyOK || !locOK {
		return nil, errors.New("storage key or location is not a str")
	}
	numel, ok := (*pid)[4].(int)
	if !ok || numel < 0 || numel > math.MaxInt/8 {
		return nil, fmt.Errorf("storage %s has %v elements", key, (*pid)[4])
	}
	st := d.storages[key]
	switch {
	case st == nil:
		st = &storage{key: key, typ: typ, numel: numel}
		d.storages[key] = st
		d.order = append(d.order, st)
	case st.typ != typ || st.numel != numel:
		return nil, fmt.Errorf("storage %s declared as %d %s and as %d %s", key, st.numel, st.typ.name, numel, typ.name)
	}
	if !d.legacy || (*pid)[5] == nil {
		return st, nil
	}
	// Legacy view metadata: (view_key, offset, view_size) in elements of st.
	vm, ok := (*pid)[5].(*types.Tuple)
	if !ok || len(*vm) != 3 {
		return nil, fmt.Errorf("storage %s has view metadata %v", key, (*pid)[5])
	}
	viewKey, ok1 := (*vm)[0].(string)
	off, ok2 := (*vm)[1].(int)
	n, ok3 := (*vm)[2].(int)
	if !ok1 || !ok2 || !ok3 || off < 0 || n < 0 || off > numel || n > numel-off {
		return nil, fmt.Errorf("storage %s has view %v outside its %d elements", key, *vm, numel)
	}
	if v := d.views[viewKey]; v != nil {
		return v, nil
	}
	v := &storage{key: viewKey, typ: typ, numel: n, root: st, offset: off}
	d.views[viewKey] = v
	return v, nil
}

// decodeZip reads torch.save's zip format: <folder>/data.pkl names storages
// kept as <folder>/data/<key>.
func decodeZip(r io.ReaderAt, size int64) (*pthObject, error) {
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return nil, fmt.Errorf("truncated or corrupt zip archive (%v)", err)
	}
	if len(zr.File) == 0 {
		return nil, errors.New("zip archive is empty, no data.pkl")
	}
	records := make(map[string]*zip.File, len(zr.File))
	for _, f := range zr.File {
		if records[f.Name] == nil {
			records[f.Name] = f
		}
	}
	// torch takes the folder from the first record, whatever it is called.
	folder, _, _ := strings.Cut(zr.File[0].Name, "/")
	prefix := folder + "/"
	pkl := records[prefix+"data.pkl"]
	if pkl == nil {
		if records[prefix+"constants.pkl"] != nil {
			return nil, errors.New("a TorchScript archive (torch.jit.save), not torch.save's; save model.state_dict() instead")
		}
		return nil, fmt.Errorf("zip archive has no %sdata.pkl, so torch.save did not write it", prefix)
	}
	if pkl.UncompressedSize64 > modelfile.MaxPickleBytes {
		return nil, fmt.Errorf("%s is %d bytes, larger than %d MiB", pkl.Name, pkl.UncompressedSize64, modelfile.MaxPickleBytes>>20)
	}
	// What the records may inflate to, all together (modelfile.MaxInflated).
	budget := uint64(modelfile.MaxInflated(size))
	inflate := func(what string, n uint64) error {
		if n > budget {
			return fmt.Errorf("%s, more than a %d-byte archive may inflate to (%d times its size + %d MiB), refused",
				what, size, modelfile.MaxInflateRatio, modelfile.InflateSlack>>20)
		}
		budget -= n
		return nil
	}
	if err := inflate(fmt.Sprintf("%s is %d bytes", pkl.Name, pkl.UncompressedSize64), pkl.UncompressedSize64); err != nil {
		return nil, err
	}
	data, err := readRecord(pkl, int64(pkl.UncompressedSize64), size)
	if err != nil {
		return nil, err
	}
	n, err := scanPickle(data, allowGlobal)
	if err != nil {
		return nil, within(pkl.Name, err)
	}
	d := newDecoder(false)
	up := &unpickler{allow: allowGlobal, persistentLoad: d.persistentLoad}
	root, err := up.load(data[:n])
	if err != nil {
		return nil, within(pkl.Name, err)
	}
	for _, st := range d.order {
		f := records[prefix+"data/"+st.key]
		if f == nil {
			return nil, fmt.Errorf("storage %s has no record %sdata/%s", st.key, prefix, st.key)
		}
		want := uint64(st.numel) * uint64(st.typ.size)
		if f.UncompressedSize64 != want {
			return nil, fmt.Errorf("storage %s declares %d %s elements (%d bytes) but %s holds %d bytes",
				st.key, st.numel, st.typ.name, want, f.Name, f.UncompressedSize64)
		}
		if err := inflate(fmt.Sprintf("storage %s declares %d %s elements (%d bytes)", st.key, st.numel, st.typ.name, want), want); err != nil {
			return nil, err
		}
		if st.data, err = readRecord(f, int64(want), size); err != nil {
			return nil, err
		}
	}
	return d.object(root), nil
}

// readRecord reads a record of the size its header declares. A stored
// record cannot be larger than the archive, so its buffer is allocated up
// front; a compressed one grows as data actually arrives, so that a lying
// header cannot make the reader allocate what the file does not hold.
func readRecord(f *zip.File, n, archiveSize int64) ([]byte, error) {
	rc, err := f.Open()
	if err != nil {
		return nil, fmt.Errorf("read %s: %v", f.Name, err)
	}
	defer rc.Close()
	var buf bytes.Buffer
	if f.Method == zip.Store && n <= archiveSize {
		buf.Grow(int(n))
	}
	if _, err := io.Copy(&buf, io.LimitReader(rc, n+1)); err != nil {
		return nil, fmt.Errorf("read %s: %v", f.Name, err)
	}
	if int64(buf.Len()) != n {
		return nil, fmt.Errorf("read %s: %d bytes, header says %d", f.Name, buf.Len(), n)
	}
	return buf.Bytes(), nil
}

// within says where in the file err arose, unless err is a refusal, which
// is about the file as a whole.
func within(where string, err error) error {
	if r := (*refusal)(nil); errors.As(err, &r) {
		return err
	}
	return fmt.Errorf("%s: %w", where, err)
}

// legacyMagic is torch's MAGIC_NUMBER, the first pickle of the legacy format.
var legacyMagic, _ = new(big.Int).SetString("1950a86a20f9469cfc6c", 16)

const legacyProtocolVersion = 1001

// decodeLegacy reads the format of torch.save(..., _use_new_zipfile_serialization=False):
// five pickles in a row (magic number, protocol version, sys info, the
// object, its storage keys), then each storage as an int64 element count and
// its bytes.
func decodeLegacy(r io.ReaderAt, size int64) (*pthObject, error) {
	data, err := io.ReadAll(io.NewSectionReader(r, 0, size))
	if err != nil {
		return nil, err
	}
	pos := 0
	next := func(allow func(string, string) error, up *unpickler, what string) (any, error) {
		sc := pickleScan{allow: allow, maxIntBytes: modelfile.MaxPickleIntBytes}
		if what == "magic number" {
			sc.maxIntBytes = 10 // the magic number is an 80-bit integer
		}
		n, err := sc.scan(data[pos:])
		if err != nil {
			return nil, within(what, err)
		}
		v, err := up.load(data[pos : pos+n])
		if err != nil {
			return nil, within(what, err)
		}
		pos += n
		return v, nil
	}
	plain := &unpickler{allow: refuseGlobals}
	notTorch := errors.New("not a PyTorch file: neither a zip archive nor torch's legacy format")
	magic, err := next(refuseGlobals, plain, "magic number")
	if r := (*refusal)(nil); errors.As(err, &r) {
		return nil, err
	}
	if m, ok := magic.(*big.Int); err != nil || !ok || m.Cmp(legacyMagic) != 0 {
		return nil, notTorch
	}
	version, err := next(refuseGlobals, plain, "protocol version")
	if err != nil {
		return nil, err
	}
	if version != legacyProtocolVersion {
		return nil, fmt.Errorf("legacy format protocol version %v, want %d", version, legacyProtocolVersion)
	}
	sysInfo, err := next(refuseGlobals, plain, "sys info")
	if err != nil {
		return nil, err
	}
	if entries, ok := dictEntries(sysInfo); ok {
		for _, e := range entries {
			if e.key == "little_endian" && e.value == false {
				return nil, errors.New("written on a big-endian machine, which is not supported")
			}
		}
	}
	d := newDecoder(true)
	root, err := next(allowGlobal, &unpickler{allow: allowGlobal, persistentLoad: d.persistentLoad}, "object pickle")
	if err != nil {
		return nil, err
	}
	keyList, err := next(refuseGlobals, plain, "storage keys")
	if err != nil {
		return nil, err
	}
	keys, ok := keyList.(*types.List)
	if !ok {
		return nil, fmt.Errorf("storage keys are a %s, not a list", pyType(keyList))
	}
	for _, k := range *keys {
		key, _ := k.(string)
		st := d.storages[key]
		if st == nil {
			return nil, fmt.Errorf("storage %v in the file is not one the pickle names", k)
		}
		if st.data != nil {
			return nil, fmt.Errorf("storage %s stored twice", key)
		}
		if len(data)-pos < 8 {
			return nil, fmt.Errorf("file truncated before storage %s", key)
		}
		count := binary.LittleEndian.Uint64(data[pos:])
		pos += 8
		if count != uint64(st.numel) {
			return nil, fmt.Errorf("storage %s declares %d %s elements but the file holds %d", key, st.numel, st.typ.name, count)
		}
		nb := st.numel * st.typ.size
		if len(data)-pos < nb {
			return nil, fmt.Errorf("file truncated in storage %s (%d of %d bytes)", key, len(data)-pos, nb)
		}
		st.data = data[pos : pos+nb : pos+nb]
		pos += nb
	}
	for _, st := range d.order {
		if st.data == nil {
			return nil, fmt.Errorf("storage %s is missing from the file", st.key)
		}
	}
	return d.object(root), nil
}

// dictEntry is one key-value pair of a decoded dict or OrderedDict.
type dictEntry struct{ key, value any }

// dictEntries lists a dict's pairs in insertion order, with Python's rule
// for a key set twice: first position, last value.
func dictEntries(v any) ([]dictEntry, bool) {
	switch d := v.(type) {
	case *types.OrderedDict:
		out := make([]dictEntry, 0, d.Len())
		for e := d.List.Front(); e != nil; e = e.Next() {
			oe := e.Value.(*types.OrderedDictEntry)
			out = append(out, dictEntry{oe.Key, oe.Value})
		}
		return out, true
	case *types.Dict:
		out := make([]dictEntry, 0, d.Len())
		type key struct{ typ, s string } // 1 and "1" are different keys
		at := make(map[key]int)
		for _, e := range *d {
			k := key{pyType(e.Key), keyString(e.Key)} // a string key is not copied
			if i, ok := at[k]; ok {
				out[i].value = e.Value
				continue
			}
			at[k] = len(out)
			out = append(out, dictEntry{e.Key, e.Value})
		}
		return out, true
	}
	return nil, false
}

// keyString is a dict key or sequence index as it appears in a tensor's name.
func keyString(k any) string {
	switch k := k.(type) {
	case string:
		return k
	case []byte:
		return string(k)
	case int:
		return strconv.Itoa(k)
	case bool:
		if k {
			return "True"
		}
		return "False"
	case nil:
		return "None"
	case float64:
		return strconv.FormatFloat(k, 'g', -1, 64)
	case *big.Int:
		return k.String()
	}
	return fmt.Sprintf("<%s>", pyType(k))
}

func asString(v any) string {
	switch s := v.(type) {
	case string:
		return s
	case []byte:
		return string(s)
	}
	return ""
}

type flattener struct {
	out    lenet.StateDict
	names  map[string]bool
	visits int
	budget int // elements the copies may still take
}

// flatten collects the tensors in root, part of obj, in order, named by
// their path. Tensors sharing a storage each get a copy; the copies
// together may hold a few times the elements stored, not the square of
// them that many full views of one large storage would make. A pickle can
// share and nest containers (even cyclically) to make a naive walk
// endless, so depth and visits are bounded (modelfile's limits.go).
func flatten(obj *pthObject, root any) (lenet.StateDict, error) {
	f := &flattener{names: map[string]bool{}, budget: 4*obj.stored + 1<<20}
	if err := f.walk(root, nil, 0); err != nil {
		return nil, err
	}
	if f.out == nil {
		f.out = lenet.StateDict{}
	}
	return f.out, nil
}

// pathName joins a tensor's path of keys and indices with dots, or refuses
// a name longer than modelfile.MaxTensorName: a key repeated down nested
// dicts would otherwise make names of gigabytes from a pickle of kilobytes.
func pathName(path []string) (string, error) {
	n := max(len(path)-1, 0)
	for _, p := range path {
		if n += len(p); n > modelfile.MaxTensorName {
			return "", fmt.Errorf("a tensor's name (its path of %d keys) is longer than %d bytes, refused", len(path), modelfile.MaxTensorName)
		}
	}
	return strings.Join(path, "."), nil
}

// walk visits v at path. Names are made only for tensors, so a long key
// costs nothing until a tensor lies below it.
func (f *flattener) walk(v any, path []string, depth int) error {
	if f.visits++; f.visits > modelfile.MaxObjectVisits {
		return fmt.Errorf("more than %d objects in the pickle", modelfile.MaxObjectVisits)
	}
	if depth > modelfile.MaxContainerNesting {
		return fmt.Errorf("containers nested deeper than %d", modelfile.MaxContainerNesting)
	}
	if t, ok := v.(*tensorRef); ok {
		name, err := pathName(path)
		if err != nil {
			return err
		}
		if f.names[name] {
			return fmt.Errorf("two tensors named %q", name)
		}
		f.names[name] = true
		dense, err := t.materialize(name)
		if err != nil {
			return err
		}
		if f.budget -= dense.NumElements(); f.budget < 0 {
			return fmt.Errorf("tensor %s: views of shared storages add up to more than 4 times the elements stored, refused", name)
		}
		f.out = append(f.out, dense)
		return nil
	}
	// Siblings share path's array: each is walked to the end before the
	// next overwrites its key, and names are copies (pathName).
	if entries, ok := dictEntries(v); ok {
		for _, e := range entries {
			if err := f.walk(e.value, append(path[:depth], keyString(e.key)), depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	var items []any
	switch s := v.(type) {
	case *types.List:
		items = *s
	case *types.Tuple:
		items = *s
	}
	for i, it := range items {
		if err := f.walk(it, append(path[:depth], strconv.Itoa(i)), depth+1); err != nil {
			return err
		}
	}
	return nil
}

// maxBroadcast is how many elements a view may have beyond its storage's
// (stride-0 views repeat elements): enough for any expanded bias, too few
// for a file of a few bytes to decode to gigabytes.
const maxBroadcast = 1 << 16

// materialize copies the view into a dense row-major tensor of float32 or int64.
func (t *tensorRef) materialize(name string) (*lenet.Tensor, error) {
	st := t.st
	numel := 1
	for _, d := range t.shape {
		if d != 0 && numel > math.MaxInt32/d {
			return nil, fmt.Errorf("tensor %s: shape %v too large", name, t.shape)
		}
		numel *= d
	}
	out := &lenet.Tensor{Name: name, Shape: append([]int{}, t.shape...), DType: st.typ.dtype()}
	if numel > st.numel && numel > maxBroadcast {
		return nil, fmt.Errorf("tensor %s: view of %d elements over a storage of %d, refused", name, numel, st.numel)
	}
	if numel > 0 {
		// The last element addressed must lie inside the storage.
		last := t.offset
		for i, d := range t.shape {
			if t.stride[i] != 0 && d-1 > (st.numel-last)/t.stride[i] {
				last = st.numel
				break
			}
			last += (d - 1) * t.stride[i]
		}
		if last >= st.numel {
			return nil, fmt.Errorf("tensor %s: size %v, stride %v, offset %d reach past storage %s of %d elements",
				name, t.shape, t.stride, t.offset, st.key, st.numel)
		}
	}
	if out.DType == lenet.Float32 {
		out.F32 = make([]float32, numel)
	} else {
		out.I64 = make([]int64, numel)
	}
	if numel == 0 {
		return out, nil
	}
	data, es := st.bytes(), st.typ.size
	put := func(i, src int) {
		b := data[src*es : src*es+es]
		if out.F32 != nil {
			out.F32[i] = st.typ.toFloat(b)
		} else {
			out.I64[i] = st.typ.toInt(b)
		}
	}
	// Walk the view's indices in row-major order, odometer style.
	idx := make([]int, len(t.shape))
	src := t.offset
	for i := range numel {
		put(i, src)
		for k := len(idx) - 1; k >= 0; k-- {
			idx[k]++
			src += t.stride[k]
			if idx[k] < t.shape[k] {
				break
			}
			src -= idx[k] * t.stride[k]
			idx[k] = 0
		}
	}
	return out, nil
}
