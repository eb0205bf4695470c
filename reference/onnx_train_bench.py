"""Time PyTorch's training steps of an ONNX graph lenetkit trains.

    python3 onnx_train_bench.py MODEL.onnx --steps N [--batch 128] [--threads 2]

The graph must be one of onnx_train_parity.py's fixtures (lenet5, cnn28,
keras2onnx_160, dwbn), whose torch twins are written there node for node and
checked against the file; any other graph exits with status 3 and a line
saying so. A step is what lenetkit bench times on its side: the forward pass
in training mode (BatchNorm on batch statistics), cross-entropy on the
logits, backward, and torch.optim.Adam's update (weight decay 0.002, coupled,
as lenetkit's), on a fixed batch of uniform random inputs. After three
warm-up steps, N steps are timed; prints JSON: train_ms_per_step,
peak_rss_bytes, fixture, threads.
"""

import argparse
import json
import os
import resource
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import onnx_train_parity as parity  # noqa: E402


def twin(path):
    """The fixture whose torch twin fits the graph at path, and its Model."""
    for name, spec in parity.FIXTURES.items():
        try:
            m = parity.Model(name, path, spec["shapes"], spec.get("buffers", {}))
            x = torch.zeros([2] + [d for d in m.input_dims[1:]])
            with torch.no_grad():
                spec["forward"](parity.Walk(m), m, x, False)
            return name, spec, m
        except SystemExit:
            continue
    return None, None, None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model")
    ap.add_argument("--steps", type=int, required=True)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    name, spec, m = twin(args.model)
    if m is None:
        print(f"onnx_train_bench: {args.model} is none of the graphs with a torch twin "
              f"({', '.join(sorted(parity.FIXTURES))})", file=sys.stderr)
        sys.exit(3)
    g = torch.Generator().manual_seed(1)
    x = torch.rand([args.batch] + m.input_dims[1:], generator=g)
    classes = 10
    y = torch.randint(0, classes, (args.batch,), generator=g)
    opt = torch.optim.Adam(list(m.params.values()), lr=1e-3, weight_decay=0.002)

    def step():
        logits, _ = spec["forward"](parity.Walk(m), m, x, True)
        loss = F.cross_entropy(logits, y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    for _ in range(3):
        step()
    t0 = time.perf_counter()
    for _ in range(args.steps):
        step()
    ms = (time.perf_counter() - t0) * 1000 / args.steps
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"train_ms_per_step": ms, "peak_rss_bytes": rss, "fixture": name, "threads": args.threads}))


if __name__ == "__main__":
    main()
