#!/usr/bin/env python3
"""Write the hostile model files of issue 12 into a directory.

    python3 reference/hostile.py OUTDIR

Each file is small (a few KB, or the LeNet's half a megabyte of weights;
the deep-subgraph ONNX is 7 MB and the storage bomb 1 MB), but before
lenetkit bounded its readers each made it crash, run out of memory, run for
minutes, or accept a broken model. docs/hostile.md lists them with what
lenetkit does with each now; cmd/lenetkit/hostile_test.go and
convert/hostile_test.go run them.

Only Python's standard library is used, and the output is the same on every
run: the files are assembled byte by byte (protobuf, pickle, zip, PNG), not
written by torch or onnx. OUTDIR/cases.tsv lists every file with the
lenetkit command that reads it and what it is.
"""

import argparse
import json
import math
import os
import struct
import zlib

# ---------------------------------------------------------------- protobuf


def varint(n):
    if n < 0:
        n += 1 << 64
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def tag(field, wire):
    return varint(field << 3 | wire)


def ld(field, payload):
    return tag(field, 2) + varint(len(payload)) + payload


def vint(field, n):
    return tag(field, 0) + varint(n)


def text(field, s):
    return ld(field, s.encode())


FLOAT, INT64 = 1, 7


def tensor_proto(name, dims, raw, dtype=FLOAT):
    return b"".join(vint(1, d) for d in dims) + vint(2, dtype) + text(8, name) + ld(9, raw)


def attr(name, kind, body):
    # AttributeProto: name 1, type 20, then the value field.
    return text(1, name) + vint(20, kind) + body


def attr_ints(name, *vs):
    return attr(name, 7, b"".join(vint(8, v) for v in vs))


def attr_int(name, v):
    return attr(name, 2, vint(3, v))


def attr_float(name, v):
    return attr(name, 1, tag(2, 5) + struct.pack("<f", v))


def attr_tensor(name, t):
    return attr(name, 4, ld(5, t))


def node_proto(n):
    b = b"".join(text(1, i) for i in n["inputs"])
    b += b"".join(text(2, o) for o in n["outputs"])
    if n.get("name"):
        b += text(3, n["name"])
    b += text(4, n["op"])
    b += b"".join(ld(5, a) for a in n.get("attrs", ()))
    return b


def value_info(name, dims):
    shape = b"".join(ld(1, text(2, d) if isinstance(d, str) else vint(1, d)) for d in dims)
    return text(1, name) + ld(2, ld(1, vint(1, FLOAT) + ld(2, shape)))


def model_proto(graph, opset=13):
    return (vint(1, 7) + text(2, "hostile.py") + ld(7, graph) + ld(8, vint(2, opset))
            + ld(14, text(1, "preprocess") + text(2, '{"pad":2,"mean":0,"std":1}')))


# ---------------------------------------------------------------- the network

# The seed's LeNet, as lenet.Params lists it: PyTorch's names and order.
CONVS = [("conv_layers.0", 1, 32), ("conv_layers.4", 32, 64), ("conv_layers.8", 64, 128)]
BNS = [("conv_layers.2", 32), ("conv_layers.6", 64), ("conv_layers.10", 128)]
FCS = [("fc_layer.1", 512, 64), ("fc_layer.3", 64, 10)]
POOLS = [2, 4, 2]


def params():
    ps = []
    for (conv, cin, cout), (bn, _) in zip(CONVS, BNS):
        ps += [(conv + ".weight", [cout, cin, 3, 3]), (conv + ".bias", [cout])]
        ps += [(bn + "." + s, [cout]) for s in ("weight", "bias", "running_mean", "running_var")]
        ps.append((bn + ".num_batches_tracked", []))
    for fc, cin, cout in FCS:
        ps += [(fc + ".weight", [cout, cin]), (fc + ".bias", [cout])]
    return ps


def numel(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def state_dict(nan=None, inf=None):
    """Deterministic weights: (name, shape, 'f32' or 'i64', values)."""
    x = 12345
    sd = []
    for name, shape in params():
        if name.endswith("num_batches_tracked"):
            sd.append((name, shape, "i64", [938]))
            continue
        vals = []
        for _ in range(numel(shape)):
            x = (1103515245 * x + 12345) & 0x7FFFFFFF
            vals.append(((x >> 7) / (1 << 24) - 0.5) * 0.2)
        if name.endswith("running_var"):
            vals = [1.0 + abs(v) for v in vals]
        if name == nan:
            vals[0] = math.nan
        if name == inf:
            vals[3] = -math.inf
        sd.append((name, shape, "f32", vals))
    return sd


def raw(t):
    name, shape, kind, vals = t
    return struct.pack("<%d%s" % (len(vals), "f" if kind == "f32" else "q"), *vals)


def lenet_nodes():
    """The nodes lenetkit's export writes (onnx/export.go), as dicts."""
    nodes, prev = [], "input"

    def add(op, name, inputs, attrs=()):
        nonlocal prev
        nodes.append({"op": op, "name": name, "inputs": [prev] + inputs, "outputs": [name], "attrs": list(attrs)})
        prev = name

    for i, ((conv, _, _), (bn, _), pool) in enumerate(zip(CONVS, BNS, POOLS), 1):
        add("Conv", "conv%d" % i, [conv + ".weight", conv + ".bias"],
            [attr_ints("kernel_shape", 3, 3), attr_ints("pads", 1, 1, 1, 1), attr_ints("strides", 1, 1),
             attr_ints("dilations", 1, 1), attr_int("group", 1)])
        add("Relu", "relu%d" % i, [])
        add("BatchNormalization", "bn%d" % i, [bn + s for s in (".weight", ".bias", ".running_mean", ".running_var")],
            [attr_float("epsilon", 1e-5), attr_float("momentum", 0.9)])
        add("MaxPool", "pool%d" % i, [], [attr_ints("kernel_shape", pool, pool), attr_ints("pads", 0, 0, 0, 0),
                                          attr_ints("strides", pool, pool), attr_int("ceil_mode", 0)])
    add("Flatten", "flatten1", [], [attr_int("axis", 1)])
    for i, (fc, _, _) in enumerate(FCS, 1):
        add("Gemm", "fc%d" % i, [fc + ".weight", fc + ".bias"], [attr_int("transB", 1)])
    nodes[-1]["outputs"] = ["logits"]
    return nodes


def lenet_onnx(sd, edit=None):
    nodes = lenet_nodes()
    inits = {t[0]: tensor_proto(t[0], t[1], raw(t)) for t in sd if t[2] == "f32"}
    if edit:
        nodes = edit(nodes, inits)
    g = b"".join(ld(1, node_proto(n)) for n in nodes) + text(2, "lenet")
    g += b"".join(ld(5, t) for t in inits.values())
    g += ld(11, value_info("input", ["batch", 1, 32, 32])) + ld(12, value_info("logits", ["batch", 10]))
    return model_proto(g)


def deep_subgraphs(levels):
    """If nodes whose then_branch nests the next graph, levels deep. Built
    from the inside out by lengths alone, so that it takes linear time."""
    node_prefix = text(4, "If")
    attr_prefix = text(1, "then_branch") + vint(20, 5)
    inner, headers = 0, []
    for _ in range(levels):
        a = len(attr_prefix) + 1 + len(varint(inner)) + inner
        n = len(node_prefix) + 1 + len(varint(a)) + a
        headers.append(tag(1, 2) + varint(n) + node_prefix + tag(5, 2) + varint(a) + attr_prefix + tag(6, 2) + varint(inner))
        inner = 1 + len(varint(n)) + n
    return model_proto(b"".join(reversed(headers)))


# ---------------------------------------------------------------- pickle and zip


class Pickler:
    """The opcodes torch.save's protocol 2 pickle uses for a state dict."""

    def __init__(self):
        self.b = bytearray(b"\x80\x02")
        self.memo = 0

    def put(self):
        self.b += b"q" + bytes([self.memo]) if self.memo < 256 else b"r" + struct.pack("<I", self.memo)
        self.memo += 1

    def str(self, s):
        e = s.encode()
        self.b += b"X" + struct.pack("<I", len(e)) + e
        self.put()

    def int(self, n):
        if 0 <= n < 256:
            self.b += b"K" + bytes([n])
        elif 0 <= n < 65536:
            self.b += b"M" + struct.pack("<H", n)
        else:
            self.b += b"J" + struct.pack("<i", n)

    def glob(self, module, name):
        self.b += b"c" + ("%s\n%s\n" % (module, name)).encode()
        self.put()

    def tuple(self, ints):
        if not ints:
            self.b += b")"
            return
        self.b += b"("
        for n in ints:
            self.int(n)
        self.b += b"t"
        self.put()

    def ordered_dict(self):
        self.glob("collections", "OrderedDict")
        self.b += b")R"
        self.put()

    def tensor(self, key, storage, shape):
        self.glob("torch._utils", "_rebuild_tensor_v2")
        self.b += b"(("
        self.str("storage")
        self.glob("torch", storage)
        self.str(key)
        self.str("cpu")
        self.int(max(numel(shape), 1) if shape else 1)
        self.b += b"t"
        self.put()
        self.b += b"Q"
        self.int(0)
        self.tuple(shape)
        strides, s = [], 1
        for d in reversed(shape):
            strides.insert(0, s)
            s *= d
        self.tuple(strides)
        self.b += b"\x89"
        self.ordered_dict()
        self.b += b"tR"
        self.put()

    def stop(self):
        return bytes(self.b + b".")


def dos_date():
    return (0 << 9) | (1 << 5) | 1  # 1980-01-01


def zip_archive(records):
    """records: (name, data, crc, uncompressed size, method); data is
    already deflated (raw) for method 8."""
    out, central = bytearray(), bytearray()
    for name, data, crc, usize, method in records:
        n = name.encode()
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, method, 0, dos_date(), crc,
                               len(data), usize, len(n), 0, 0, 0, 0, 0, len(out)) + n
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, method, 0, dos_date(), crc, len(data), usize, len(n), 0) + n
        out += data
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(records), len(records), len(central), len(out), 0)
    return bytes(out + central + end)


def stored(name, data):
    return (name, data, zlib.crc32(data), len(data), 0)


def deflated(name, data):
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    return (name, c.compress(data) + c.flush(), zlib.crc32(data), len(data), 8)


def pth(pickle, storages=(), compress=False):
    rec = deflated if compress else stored
    recs = [rec("archive/data.pkl", pickle), stored("archive/byteorder", b"little")]
    recs += [stored("archive/data/%s" % k, v) for k, v in storages]
    recs.append(stored("archive/version", b"3\n"))
    return zip_archive(recs)


def lenet_pth(sd):
    p = Pickler()
    p.ordered_dict()
    p.b += b"("
    for i, (name, shape, kind, _) in enumerate(sd):
        p.str(name)
        p.tensor(str(i), "FloatStorage" if kind == "f32" else "LongStorage", shape)
    p.b += b"u"
    return pth(p.stop(), [(str(i), raw(t)) for i, t in enumerate(sd)])


def zero_bomb(size):
    """A deflated record of size zero bytes, made from one compressed MiB
    repeated: each full flush resets the compressor, so every MiB compresses
    to the same bytes."""
    mib = bytes(1 << 20)
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    piece = c.compress(mib) + c.flush(zlib.Z_FULL_FLUSH)
    data = piece * (size >> 20) + c.flush()
    crc = 0
    for _ in range(size >> 20):
        crc = zlib.crc32(mib, crc)
    return data, crc


# ---------------------------------------------------------------- safetensors


def safetensors(header, data):
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + data


def safetensors_raw_header(h, data):
    return struct.pack("<Q", len(h)) + h + data


def lenet_safetensors(sd):
    header, data = {"__metadata__": {"format": "pt"}}, bytearray()
    for t in sd:
        b = raw(t)
        header[t[0]] = {"dtype": "F32" if t[2] == "f32" else "I64", "shape": t[1], "data_offsets": [len(data), len(data) + len(b)]}
        data += b
    return safetensors(header, bytes(data))


# ---------------------------------------------------------------- PNG


def digit_png():
    """A 28x28 grey '1', light on dark as MNIST's digits."""
    rows = b""
    for y in range(28):
        row = bytes(255 if 12 <= x <= 15 and 4 <= y <= 23 else 0 for x in range(28))
        rows += b"\x00" + row

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 28, 28, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b""))


# ---------------------------------------------------------------- the cases


def cases():
    """(file, command, what) for every case, with a function writing it."""
    sd = state_dict()
    out = []

    def case(file, command, what, make):
        out.append((file, command, what, make))

    # ONNX
    case("deep_subgraphs.onnx", "inspect", "If nodes nesting subgraphs 200,000 deep (7 MB)",
         lambda: deep_subgraphs(200000))

    def identities(nodes, inits):
        ids = [{"op": "Identity", "name": "id%d" % i, "inputs": ["input" if i == 0 else "id%d" % (i - 1)],
                "outputs": ["id%d" % i]} for i in range(20000)]
        nodes[0]["inputs"][0] = "id19999"
        return ids + nodes
    case("identity_20000.onnx", "infer --backend gorgonia", "the LeNet behind 20,000 Identity nodes",
         lambda: lenet_onnx(sd, identities))

    def cycle(nodes, inits):
        # conv1's weight comes from a Constant that takes relu2, which
        # depends on conv1.
        w = inits["conv_layers.0.weight"]
        nodes[0]["inputs"][1] = "cycle_w"
        nodes.append({"op": "Constant", "name": "cycle", "inputs": ["relu2"], "outputs": ["cycle_w"],
                      "attrs": [attr_tensor("value", w)]})
        return nodes
    case("cycle.onnx", "convert", "a cycle: conv1's weight is a Constant taking relu2", lambda: lenet_onnx(sd, cycle))

    def self_loop(nodes, inits):
        nodes[1]["inputs"].append("relu1")
        return nodes
    case("self_loop.onnx", "convert", "a self-loop: relu1 takes its own output", lambda: lenet_onnx(sd, self_loop))

    def two_producers(nodes, inits):
        nodes.append({"op": "Constant", "name": "again", "inputs": [], "outputs": ["relu1"],
                      "attrs": [attr_tensor("value", tensor_proto("", [1], struct.pack("<f", 1)))]})
        return nodes
    case("two_producers.onnx", "convert", "two producers: a Constant also gives relu1", lambda: lenet_onnx(sd, two_producers))

    def shadow(nodes, inits):
        zeros = tensor_proto("", [32, 1, 3, 3], bytes(4 * 288))
        return [{"op": "Constant", "name": "shadow", "inputs": [], "outputs": ["conv_layers.0.weight"],
                 "attrs": [attr_tensor("value", zeros)]}] + nodes
    case("constant_shadow.onnx", "convert", "a Constant of zeros named as conv1's weight initializer",
         lambda: lenet_onnx(sd, shadow))

    nan_sd = state_dict(nan="conv_layers.0.weight")
    case("nan.onnx", "infer --format json", "the LeNet with a NaN weight", lambda: lenet_onnx(nan_sd))

    # .pth
    def long4(n):
        return pth(b"\x80\x02\x8b" + struct.pack("<i", n) + b"\x01" * n + b".", compress=True)
    case("long4_1m.pth", "convert", "a LONG4 integer of 1 MiB, deflated", lambda: long4(1 << 20))
    case("long4_4m.pth", "convert", "a LONG4 integer of 4 MiB, deflated", lambda: long4(4 << 20))

    def memo_string(n):
        # One string, memoised, keys 64 nested dicts; the innermost holds a tensor.
        p = b"\x80\x02X" + struct.pack("<I", n) + b"k" * n + b"q\x000"
        p += b"}h\x00" * 64
        p += (b"ctorch._utils\n_rebuild_tensor_v2\n((X\x07\x00\x00\x00storagectorch\nFloatStorage\n"
              b"X\x01\x00\x00\x000X\x03\x00\x00\x00cpuK\x01tQK\x00(K\x01t(K\x01t\x89}tR")
        p += b"s" * 64 + b"."
        return pth(p, [("0", struct.pack("<f", 1))], compress=True)
    case("memo_string_1m.pth", "convert", "64 nested dicts keyed by one memoised 1 MiB string", lambda: memo_string(1 << 20))
    case("memo_string_8m.pth", "convert", "64 nested dicts keyed by one memoised 8 MiB string", lambda: memo_string(8 << 20))

    flood = (16 << 20) - 16
    case("memoize_flood.pth", "convert", "16 MiB of MEMOIZE", lambda: pth(b"\x80\x04}" + b"\x94" * flood + b".", compress=True))
    case("dup_flood.pth", "convert", "16 MiB of DUP", lambda: pth(b"\x80\x02}" + b"2" * flood + b".", compress=True))
    # The same floods stored, as torch.save stores records: 1 MiB each.
    case("memoize_flood_stored.pth", "convert", "1 MiB of MEMOIZE, stored",
         lambda: pth(b"\x80\x04}" + b"\x94" * (1 << 20) + b"."))
    case("dup_flood_stored.pth", "convert", "1 MiB of DUP, stored", lambda: pth(b"\x80\x02}" + b"2" * (1 << 20) + b"."))

    def storage_bomb():
        n = 1 << 28  # floats: 1 GiB
        p = Pickler()
        p.ordered_dict()
        p.str("w")
        p.tensor("0", "FloatStorage", [n])
        p.b += b"s"
        data, crc = zero_bomb(4 * n)
        return zip_archive([stored("archive/data.pkl", p.stop()), stored("archive/byteorder", b"little"),
                            ("archive/data/0", data, crc, 4 * n, 8), stored("archive/version", b"3\n")])
    case("storage_bomb.pth", "convert", "a 1 MB zip whose data/0 inflates to the 1 GiB its storage declares", storage_bomb)

    case("nan.pth", "infer --format json", "the LeNet with a NaN weight", lambda: lenet_pth(nan_sd))

    # safetensors
    f32 = {"dtype": "F32", "shape": [2]}
    case("overlap.safetensors", "inspect", "two tensors' data overlap",
         lambda: safetensors({"a": dict(f32, data_offsets=[0, 8]), "b": dict(f32, data_offsets=[4, 12])}, bytes(12)))
    case("trailing.safetensors", "inspect", "16 bytes after the last tensor's data",
         lambda: safetensors({"a": dict(f32, data_offsets=[0, 8])}, bytes(24)))
    case("gap.safetensors", "inspect", "4 bytes between two tensors' data",
         lambda: safetensors({"a": dict(f32, data_offsets=[0, 8]), "b": dict(f32, data_offsets=[12, 20])}, bytes(20)))
    case("duplicate_key.safetensors", "inspect", "one name twice in the header",
         lambda: safetensors_raw_header(b'{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},'
                                        b'"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}', bytes(8)))
    case("nan.safetensors", "infer --format json", "the LeNet with a NaN weight", lambda: lenet_safetensors(nan_sd))
    case("inf.safetensors", "inspect", "the LeNet with an infinite weight",
         lambda: lenet_safetensors(state_dict(inf="fc_layer.1.weight")))

    case("digit.png", "", "a 28x28 '1' for infer", digit_png)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("outdir")
    ap.add_argument("--only", nargs="*", help="write only these files")
    args = ap.parse_args()
    os.makedirs(args.outdir, exist_ok=True)
    lines = []
    for file, command, what, make in cases():
        if args.only and file not in args.only:
            continue
        with open(os.path.join(args.outdir, file), "wb") as f:
            f.write(make())
        lines.append("%s\t%s\t%s\n" % (file, command, what))
    with open(os.path.join(args.outdir, "cases.tsv"), "w") as f:
        f.writelines(lines)


if __name__ == "__main__":
    main()
