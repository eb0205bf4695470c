#!/usr/bin/env python3
"""Write the hostile model files of issues 12 and 19 into a directory.

    python3 reference/hostile.py OUTDIR

Each file is small (a few KB, or the LeNet's half a megabyte of weights;
the deep-subgraph ONNX is 7 MB and the storage bomb 1 MB; the external data
beside external_shared.onnx is 256 MiB of zeros, written sparse), but
before lenetkit bounded its readers and the ONNX backend's compiler each
made it crash, run out of memory, run for minutes, or accept a broken
model. docs/hostile.md lists them with what lenetkit does with each now;
cmd/lenetkit/hostile_test.go, convert/hostile_test.go,
onnx/validate_test.go and onnx/backend/hostile_test.go run them.

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


# ---------------------------------------------------------------- small graphs for onnx/backend


def small_onnx(nodes, inits=(), inputs=(("input", ["batch", 1, 32, 32]),), outputs=(("logits", ["batch", 10]),), opset=13):
    """A graph of the given nodes; inits are TensorProto bytes."""
    g = b"".join(ld(1, node_proto(n)) for n in nodes) + text(2, "hostile")
    g += b"".join(ld(5, t) for t in inits)
    g += b"".join(ld(11, value_info(name, dims)) for name, dims in inputs)
    g += b"".join(ld(12, value_info(name, dims)) for name, dims in outputs)
    return model_proto(g, opset)


def op(kind, inputs, output, *attrs):
    return {"op": kind, "name": output, "inputs": list(inputs), "outputs": [output], "attrs": list(attrs)}


def floats(name, dims, vals=None):
    vals = [0.0] * numel(dims) if vals is None else vals
    return tensor_proto(name, dims, struct.pack("<%df" % len(vals), *vals))


def int64s(name, vals):
    return tensor_proto(name, [len(vals)], struct.pack("<%dq" % len(vals), *vals), INT64)


def external(name, dims, location, offset, length):
    """A float tensor whose data is external: location, offset and length
    (TensorProto.external_data, 13), data_location EXTERNAL (14)."""
    entries = [("location", location), ("offset", str(offset)), ("length", str(length))]
    return (b"".join(vint(1, d) for d in dims) + vint(2, FLOAT) + text(8, name)
            + b"".join(ld(13, text(1, k) + text(2, v)) for k, v in entries) + vint(14, 1))


class Zeros:
    """A file of size zero bytes, written sparse where the file system
    allows, so that it takes no space."""

    def __init__(self, size):
        self.size = size


def classifier_head(x):
    """GlobalAveragePool, Flatten and a Gemm of 10 outputs behind x, a
    one-channel map: what makes a graph a digit classifier that infer runs."""
    nodes = [op("GlobalAveragePool", [x], "gap"), op("Flatten", ["gap"], "flat", attr_int("axis", 1)),
             op("Gemm", ["flat", "head_w", "head_b"], "logits", attr_int("transB", 1))]
    return nodes, [floats("head_w", [10, 1], [0.1 * i for i in range(10)]), floats("head_b", [10])]


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

    # onnx/backend's compiler (issue 19): sizes that overflow, plans that
    # outgrow memory, attributes that give wrong results.
    def reshape_overflow():
        # 1024 * 7 * 0x6DB6DB6DB6DB6DB7 wraps around to 1024 in 64 bits; adding
        # a [7, 1] constant walks the huge last dimension.
        head, w = classifier_head("back")
        nodes = [op("Reshape", ["input", "huge_shape"], "r"), op("Add", ["r", "seven"], "sum"),
                 op("Reshape", ["sum", "image_shape"], "back")] + head
        return small_onnx(nodes, [int64s("huge_shape", [1, 1024, 7, 0x6DB6DB6DB6DB6DB7]), floats("seven", [7, 1]),
                                  int64s("image_shape", [1, 1, 32, 32])] + w)
    case("reshape_overflow.onnx", "infer", "a Reshape to [1, 1024, 7, 0x6DB6DB6DB6DB6DB7], whose product wraps to 1024",
         reshape_overflow)

    def maxpool_overflow():
        big = 1 << 62
        head, w = classifier_head("pool")
        nodes = [op("MaxPool", ["input"], "pool", attr_ints("kernel_shape", big, big), attr_ints("pads", big, big, big, big),
                    attr_ints("strides", 1, 1))] + head
        return small_onnx(nodes, w)
    case("maxpool_overflow.onnx", "infer", "a MaxPool of kernel and pads 2^62: the output size overflows", maxpool_overflow)

    def external_overflow():
        # The shape's element count wraps to 2^60, 8 bytes each to a negative
        # bound; offset + length wraps to a negative end.
        head, w = classifier_head("input")
        big = 1 << 62
        return small_onnx(head, w + [external("unused", [1 << 40, 1 << 20], "external_overflow.bin", big, big)])
    case("external_overflow.onnx", "infer", "external data at offset 2^62, 2^62 bytes, for a tensor of 2^60 elements",
         external_overflow)
    case("external_overflow.bin", "", "the external data file of external_overflow.onnx", lambda: bytes(64))

    def concat_doubling():
        # 40 Concats, each of the previous one with itself: 2^40 elements.
        nodes = [{"op": "Constant", "name": "c0", "inputs": [], "outputs": ["c0"],
                  "attrs": [attr_tensor("value", int64s("", [1]))]}]
        nodes += [op("Concat", ["c%d" % i, "c%d" % i], "c%d" % (i + 1), attr_int("axis", 0)) for i in range(40)]
        head, w = classifier_head("input")
        return small_onnx(nodes + head, w)
    case("concat_doubling.onnx", "infer", "40 Concat(prev, prev) nodes folding a constant to 2^40 elements", concat_doubling)

    def conv_pad_chain():
        # Each 1x1 Conv pads its input by its own size: 32, 96, 288, ...
        nodes, x, side = [], "input", 32
        for i in range(8):
            nodes.append(op("Conv", [x, "one"], "conv%d" % i, attr_ints("kernel_shape", 1, 1), attr_ints("pads", side, side, side, side)))
            x, side = "conv%d" % i, 3 * side
        head, w = classifier_head(x)
        return small_onnx(nodes + head, [floats("one", [1, 1, 1, 1], [1.0])] + w)
    case("conv_pad_chain.onnx", "infer", "8 1x1 Convs, each padding its input by its own size: a plan of tens of GB",
         conv_pad_chain)

    def pad_chain():
        nodes, x = [], "input"
        for i in range(16):
            nodes.append(op("Pad", [x, "pads"], "pad%d" % i))
            x = "pad%d" % i
        head, w = classifier_head(x)
        return small_onnx(nodes + head, [int64s("pads", [0, 0, 1024, 1024, 0, 0, 1024, 1024])] + w)
    case("pad_chain.onnx", "infer", "16 Pads of 1024 on each side: a plan of tens of GB", pad_chain)

    def input_4096():
        head, w = classifier_head("mix")
        nodes = [op("Conv", ["input", "mix_w"], "mix", attr_ints("kernel_shape", 1, 1))] + head
        return small_onnx(nodes, [floats("mix_w", [1, 4096, 1, 1])] + w, inputs=(("input", ["batch", 4096, 4096, 4096]),))
    case("input_4096.onnx", "infer", "an input declared [batch, 4096, 4096, 4096]: 2^36 floats", input_4096)

    def external_shared():
        head, w = classifier_head("input")
        n = 1 << 26  # floats: 256 MiB
        shared = [external("shared%d" % i, [n], "external_shared.bin", 0, 4 * n) for i in range(16)]
        return small_onnx(head, w + shared)
    case("external_shared.onnx", "infer", "16 initializers whose external data is one 256 MiB region", external_shared)
    case("external_shared.bin", "", "the 256 MiB of zeros external_shared.onnx points at", lambda: Zeros(256 << 20))

    def gemm_alpha_nan():
        head, w = classifier_head("input")
        head[-1]["attrs"].append(attr_float("alpha", math.nan))
        return small_onnx(head, w)
    case("gemm_alpha_nan.onnx", "infer", "a Gemm whose alpha is NaN", gemm_alpha_nan)

    def bn_negative_epsilon():
        head, w = classifier_head("bn")
        nodes = [op("BatchNormalization", ["input", "bn_scale", "bn_bias", "bn_mean", "bn_var"], "bn",
                    attr_float("epsilon", -2.0))] + head
        return small_onnx(nodes, [floats("bn_scale", [1], [1.0]), floats("bn_bias", [1]), floats("bn_mean", [1]),
                                  floats("bn_var", [1], [1.0])] + w)
    case("bn_negative_epsilon.onnx", "infer", "a BatchNormalization of epsilon -2, variance 1: sqrt(-1)", bn_negative_epsilon)

    def gemm_c_broadcast():
        head, w = classifier_head("input")
        w[1] = floats("head_b", [5, 10])
        return small_onnx(head, w)
    case("gemm_c_broadcast.onnx", "infer", "a Gemm of result (1, 10) whose C is (5, 10)", gemm_c_broadcast)

    def softmax_zero_rows():
        # An empty Shape (start = end = 0) reshaped to [0, 1] is a Gemm's A:
        # the Gemm's run-time result is [0, 1024], and a Softmax over its
        # zero rows writes nothing, on a second output.
        head, w = classifier_head("input")
        nodes = head + [op("Shape", ["input"], "empty", attr_int("start", 0), attr_int("end", 0)),
                        op("Cast", ["empty"], "empty_f", attr_int("to", FLOAT)),
                        op("Reshape", ["empty_f", "zero_rows"], "a"),
                        op("Flatten", ["input"], "pixels", attr_int("axis", 1)),
                        op("Gemm", ["a", "pixels"], "rows"),
                        op("Softmax", ["rows"], "probs", attr_int("axis", -1))]
        return small_onnx(nodes, w + [int64s("zero_rows", [0, 1])],
                          outputs=(("logits", ["batch", 10]), ("probs", [0, 1024])), opset=15)
    case("softmax_zero_rows.onnx", "infer", "a Softmax over the zero rows of a [0, 1024] Gemm result", softmax_zero_rows)

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
            data = make()
            if isinstance(data, Zeros):
                f.truncate(data.size)
            else:
                f.write(data)
        lines.append("%s\t%s\t%s\n" % (file, command, what))
    with open(os.path.join(args.outdir, "cases.tsv"), "w") as f:
        f.writelines(lines)


if __name__ == "__main__":
    main()
