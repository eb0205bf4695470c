"""Check an ONNX file with the ONNX project's own checker.

    onnx_check.py MODEL.onnx

Loads the file with onnx.load, runs onnx.checker.check_model(model,
full_check=True) (structure, operator schemas at the model's opsets, and
strict shape inference) and prints one JSON object:

    {"ok": true, "ir_version": 7, "opsets": {"": 13}, "producer": "lenetkit",
     "producer_version": "...", "inputs": {"input": ["batch", 1, 32, 32]},
     "outputs": {"logits": ["batch", 10]}, "ops": ["Conv", ...],
     "initializers": {"conv_layers.0.weight": [32, 1, 3, 3], ...},
     "metadata": {...}, "onnx": "1.12.0"}

or {"ok": false, "error": "..."} (exit status 1) when the checker refuses it.
"""
import json
import sys

import onnx


def dims(value_info):
    return [d.dim_param if d.HasField("dim_param") else d.dim_value
            for d in value_info.type.tensor_type.shape.dim]


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    path = sys.argv[1]
    try:
        model = onnx.load(path)
        onnx.checker.check_model(model, full_check=True)
    except Exception as e:  # the checker raises several types; report any
        print(json.dumps({"ok": False, "error": f"{type(e).__name__}: {e}".strip()}))
        sys.exit(1)
    g = model.graph
    print(json.dumps({
        "ok": True,
        "ir_version": model.ir_version,
        "opsets": {o.domain: o.version for o in model.opset_import},
        "producer": model.producer_name,
        "producer_version": model.producer_version,
        "inputs": {v.name: dims(v) for v in g.input},
        "outputs": {v.name: dims(v) for v in g.output},
        "ops": [n.op_type for n in g.node],
        "initializers": {t.name: list(t.dims) for t in g.initializer},
        "metadata": {p.key: p.value for p in model.metadata_props},
        "onnx": onnx.__version__,
    }))


if __name__ == "__main__":
    main()
