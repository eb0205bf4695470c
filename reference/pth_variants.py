"""Write the .pth variants lenetkit's reader is tested on, with what it must read.

    /usr/bin/python3 reference/pth_variants.py [OUTDIR]    (default: testdata/pth)

Every file is written by this machine's real PyTorch, or by rewriting what it
wrote where torch cannot produce the variant here (a GPU location, torch
2.x's extra records). OUTDIR/expected.json lists, per file, either

  "tensors":    every tensor in file order as convert.ReadPTH must name it
                (dict keys and list indices joined with dots), with the dtype
                it converts to (float32 or int64), shape and the sha256 of its
                little-endian bytes after that conversion;
  "state_dict": the same for convert.ReadPTHStateDict (checkpoint unwrapped,
                "module." dropped); "lenet": true if that is a LeNet state dict;

or, for a malicious or broken file, "error_contains": substrings of the
one-line error the reader must give. The expected values come from
torch.load of the written file, not from anything lenetkit computes.
Reruns write the same bytes except in the legacy-format files, where torch
names storages by memory address; expected.json comes out the same.
"""
import collections
import hashlib
import io
import json
import os
import sys
import zipfile

import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from lenet import LeNet  # noqa: E402

CHECKPOINT_KEYS = ("state_dict", "model_state_dict", "model")


def converted(t):
    t = t.detach().cpu()
    if t.dtype.is_floating_point:
        return t.to(torch.float32).contiguous()
    return t.to(torch.int64).contiguous()


def info(name, t):
    c = converted(t)
    return {
        "name": name,
        "dtype": str(c.dtype).replace("torch.", ""),
        "shape": list(c.shape),
        "sha256": hashlib.sha256(c.numpy().tobytes()).hexdigest(),
    }


def flatten(obj, prefix=""):
    """Tensors in obj in pickle order, named by their path of keys and indices."""
    def join(k):
        return f"{prefix}.{k}" if prefix else str(k)
    if isinstance(obj, torch.Tensor):
        yield prefix, obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from flatten(v, join(k))
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            yield from flatten(v, join(i))


def unwrap(obj):
    for _ in range(4):
        if not isinstance(obj, dict):
            break
        inner = next((obj[k] for k in CHECKPOINT_KEYS if isinstance(obj.get(k), dict)), None)
        if inner is None:
            break
        obj = inner
    return obj


def expected(path, lenet=False):
    obj = torch.load(path, map_location="cpu")
    tensors = [info(n, t) for n, t in flatten(obj)]
    sd = [info(n, t) for n, t in flatten(unwrap(obj))]
    if sd and all(e["name"].startswith("module.") for e in sd):
        for e in sd:
            e["name"] = e["name"][len("module."):]
    out = {"tensors": tensors, "state_dict": sd}
    if lenet:
        model = LeNet()
        model.load_state_dict({e["name"]: t for e, (_, t) in zip(sd, flatten(unwrap(obj)))}, strict=True)
        out["lenet"] = True
    return out


def lenet_state_dict(seed):
    """A LeNet state dict with trained-looking BatchNorm statistics."""
    torch.manual_seed(seed)
    model = LeNet()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0, 0.1)
                m.running_mean.normal_(0, 0.2)
                m.running_var.uniform_(0.5, 2)
                m.num_batches_tracked.fill_(4290 + seed)
    return model.state_dict()


def tiny_state_dict(seed):
    torch.manual_seed(seed)
    return collections.OrderedDict([
        ("fc.weight", torch.randn(3, 2)),
        ("fc.bias", torch.randn(3)),
        ("bn.num_batches_tracked", torch.tensor(17)),
    ])


def put(z, name, data):
    """Add a stored record with a fixed date, so that reruns write the same bytes."""
    z.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), data)


def rewrite_zip(src, dst, folder=None, edit=None, extra=()):
    """Copy a zip archive record by record, renaming its folder, changing
    records through edit(name, data) (None drops one) and adding extra
    (name, data) records after data.pkl."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zout:
        for item in zin.infolist():
            old_folder, rest = item.filename.split("/", 1)
            name = f"{folder or old_folder}/{rest}"
            data = zin.read(item.filename)
            if edit:
                data = edit(rest, data)
            if data is None:
                continue
            put(zout, name, data)
            if rest == "data.pkl":
                for extra_name, extra_data in extra:
                    put(zout, f"{folder or old_folder}/{extra_name}", extra_data)


def evil_zip(path, pickle_bytes):
    folder = os.path.splitext(os.path.basename(path))[0]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        put(z, f"{folder}/data.pkl", pickle_bytes)
        put(z, f"{folder}/version", b"3\n")


def refused_by_weights_only(path):
    try:
        torch.load(path, map_location="cpu", weights_only=True)
    except Exception:
        return True
    return False


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "testdata", "pth")
    os.makedirs(out, exist_ok=True)
    files = []

    def add(name, what, **kw):
        path = os.path.join(out, name)
        entry = {"file": name, "what": what}
        if "error_contains" in kw:
            entry["error_contains"] = kw["error_contains"]
            assert refused_by_weights_only(path), f"{name}: torch's weights_only loads it"
        else:
            entry.update(expected(path, lenet=kw.get("lenet", False)))
        files.append(entry)

    def p(name):
        return os.path.join(out, name)

    # Full LeNet state dicts: the formats a real model file comes in.
    torch.save(lenet_state_dict(1), p("lenet_zip.pth"))
    add("lenet_zip.pth", "torch.save(model.state_dict()), zip format, with _metadata", lenet=True)

    torch.save(lenet_state_dict(2), p("lenet_legacy.pth"), _use_new_zipfile_serialization=False)
    add("lenet_legacy.pth", "legacy format (_use_new_zipfile_serialization=False)", lenet=True)

    sd = lenet_state_dict(3)
    torch.manual_seed(3)
    checkpoint = {
        "epoch": 7,
        "state_dict": collections.OrderedDict(("module." + k, v) for k, v in sd.items()),
        "optimizer": {
            "state": {0: {"step": torch.tensor(3.0), "exp_avg": torch.randn(4)}},
            "param_groups": [{"lr": 0.01, "betas": (0.9, 0.999), "params": [0, 1]}],
        },
        "best_acc": 99.16,
    }
    torch.save(checkpoint, p("lenet_checkpoint.pth"))
    add("lenet_checkpoint.pth", "checkpoint dict, state_dict key, nn.DataParallel's module. prefix", lenet=True)

    # Tiny files for everything else.
    torch.save({"epoch": 3, "model_state_dict": tiny_state_dict(4),
                "optimizer_state_dict": {"state": {}, "param_groups": [{"lr": 0.1, "params": [0, 1]}]}},
               p("ckpt_model_state_dict.pth"))
    add("ckpt_model_state_dict.pth", "checkpoint dict, model_state_dict key")

    torch.save({"model": tiny_state_dict(5), "epoch": 1}, p("ckpt_model.pth"))
    add("ckpt_model.pth", "checkpoint dict, model key")

    nan = float("nan")
    inf = float("inf")
    torch.save(collections.OrderedDict([
        ("f32", torch.tensor([0.1, -0.0, 1e-45, 3.4e38, -inf], dtype=torch.float32)),
        ("f64", torch.tensor([0.1, 1 / 3, 1e-300, 1e300, -2.5, 1 + 2**-24, 1 + 3 * 2**-24, nan], dtype=torch.float64)),
        ("f16", torch.tensor([0.1, 65504, 6e-8, -0.0, inf, nan, -3e-5], dtype=torch.float16)),
        ("bf16", torch.tensor([0.1, 3e38, -1e-40, nan, -inf], dtype=torch.bfloat16)),
        ("i64", torch.tensor([-2**63, 2**63 - 1, -1, 0], dtype=torch.int64)),
        ("i32", torch.tensor([-2**31, 2**31 - 1, -7], dtype=torch.int32)),
        ("i16", torch.tensor([-2**15, 2**15 - 1], dtype=torch.int16)),
        ("i8", torch.tensor([-128, 127], dtype=torch.int8)),
        ("u8", torch.tensor([0, 255, 128], dtype=torch.uint8)),
        ("bool", torch.tensor([True, False, True])),
        ("f64_matrix", torch.randn(2, 3, dtype=torch.float64)),
    ]), p("dtypes.pth"))
    add("dtypes.pth", "float64/float16/bfloat16 to float32, int32/int16/int8/uint8/bool to int64")

    torch.manual_seed(6)
    base = torch.arange(24, dtype=torch.float32) * 0.5
    ints = torch.arange(10, dtype=torch.int64) - 3
    views = collections.OrderedDict([
        ("base", base),
        ("offset", base[5:11]),
        ("transposed", base[:12].view(3, 4).t()),
        ("every_other", base.view(4, 6)[:, ::2]),
        ("expanded", torch.tensor([1.5, -2.5]).expand(3, 2)),
        ("scalar_in_storage", base[7]),
        ("ints", ints),
        ("ints_view", ints[2:8].view(2, 3)),
        ("param", nn.Parameter(torch.randn(2, 3))),
        ("half_view", torch.randn(4, 4).half()[1:, ::2]),
        ("empty", torch.zeros(0, 3)),
    ])
    torch.save(views, p("views.pth"))
    add("views.pth", "views: offsets, strides, stride 0, shared storages, a Parameter, empty")
    torch.save(views, p("views_legacy.pth"), _use_new_zipfile_serialization=False)
    add("views_legacy.pth", "the same views in the legacy format")

    torch.save(tiny_state_dict(7), p("protocol4.pth"), pickle_protocol=4)
    add("protocol4.pth", "pickle protocol 4: FRAME, STACK_GLOBAL, MEMOIZE")

    torch.save(torch.arange(6, dtype=torch.float32).view(2, 3), p("bare_tensor.pth"))
    add("bare_tensor.pth", "a single tensor, not a dict")

    # A GPU location: rewrite the 'cpu' tag torch wrote, as a CUDA save would have it.
    cpu = b"X\x03\x00\x00\x00cpu"
    cuda = b"X\x06\x00\x00\x00cuda:0"
    buf = io.BytesIO()
    torch.save(tiny_state_dict(8), buf)
    rewrite_zip(buf, p("cuda.pth"), folder="cuda",
                edit=lambda n, d: d.replace(cpu, cuda) if n == "data.pkl" else d)
    add("cuda.pth", "storages located on cuda:0 (zip format)")
    buf = io.BytesIO()
    torch.save(tiny_state_dict(9), buf, _use_new_zipfile_serialization=False)
    raw = buf.getvalue()
    assert raw.count(cpu) == 1, "expected one memoized 'cpu' tag"
    with open(p("cuda_legacy.pth"), "wb") as f:
        f.write(raw.replace(cpu, cuda))
    add("cuda_legacy.pth", "storages located on cuda:0 (legacy format)")

    # torch 2.x's extra records, under an archive folder named unlike the file.
    buf = io.BytesIO()
    torch.save(tiny_state_dict(10), buf)
    rewrite_zip(buf, p("torch2_records.pth"), folder="my.model-v2", extra=[
        (".format_version", b"1"), (".storage_alignment", b"64"), ("byteorder", b"little"),
        (".data/serialization_id", b"1234567890123456789012345678901234567890")])
    add("torch2_records.pth", "byteorder, .format_version, .data/serialization_id; folder my.model-v2")

    # Malicious and broken files: none of these may get past the reader.
    evil_zip(p("evil_os_system.pth"),
             b"\x80\x02cos\nsystem\nX\x1f\x00\x00\x00echo lenetkit-pickle-payload-ran\x85R.")
    add("evil_os_system.pth", "pickle calls os.system",
        error_contains=["evil_os_system.pth", "pickle asks for global os.system, refused"])

    # A state dict whose SETITEMS targets a list (the CVE-2026-24747 pattern).
    evil_zip(p("evil_setitems_list.pth"),
             b"\x80\x02]q\x00(X\x01\x00\x00\x00aK\x01X\x01\x00\x00\x00bK\x02u.")
    add("evil_setitems_list.pth", "SETITEMS applied to a list",
        error_contains=["evil_setitems_list.pth", "SETITEMS", "not a dict, refused"])

    buf = io.BytesIO()
    torch.save(collections.OrderedDict([("w", torch.randn(6))]), buf)
    rewrite_zip(buf, p("evil_storage_size.pth"), folder="evil_storage_size",
                edit=lambda n, d: d[:-4] if n == "data/0" else d)
    files.append({"file": "evil_storage_size.pth", "what": "storage of 6 floats whose record holds 5",
                  "error_contains": ["evil_storage_size.pth", "storage 0", "24 bytes", "20 bytes"]})

    with open(os.path.join(out, "expected.json"), "w") as f:
        f.write(dump({"torch": torch.__version__, "files": files}))


def dump(obj, indent=""):
    """JSON with one line per tensor: readable in a diff, not 50 KB of brackets."""
    if isinstance(obj, dict) and "sha256" not in obj:
        inner = indent + "  "
        items = [f"{inner}{json.dumps(k)}: {dump(v, inner)}" for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + indent + "}" + ("\n" if not indent else "")
    if isinstance(obj, list) and obj and isinstance(obj[0], dict):
        inner = indent + "  "
        return "[\n" + ",\n".join(inner + dump(v, inner) for v in obj) + "\n" + indent + "]"
    return json.dumps(obj)


if __name__ == "__main__":
    main()
