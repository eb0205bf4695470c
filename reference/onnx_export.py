"""Export a LeNet state dict to ONNX with PyTorch's own exporter.

    onnx_export.py MODEL.pth OUT.onnx [--opset N[,N...]] [--no-constant-folding]
                   [--plain] [--batch B] [--initializers-as-inputs]

Loads MODEL.pth strictly into reference/lenet.py's LeNet, puts it in eval
mode and writes torch.onnx.export's graph to OUT.onnx (default opset 13,
training=TrainingMode.EVAL, do_constant_folding=True as torch defaults).
Several opsets, comma-separated, write one file each: OUT must then contain
"{opset}", replaced by the number (one process saves torch's start-up time).

By default the input is named "input" and the output "logits", both with a
symbolic batch dimension "batch", as a deployment script would write them.
--plain exports the way a bare torch.onnx.export(model, x, path) call does:
torch's own names for input and output ("input.1", "42"), a fixed batch of
--batch (default 1). lenetkit's tests use both forms to check that import matches
the graph by structure, not by names. --initializers-as-inputs lists the
weights among the graph inputs too, as exports for IR version 3 did
(keep_initializers_as_inputs=True).
"""
import argparse
import os
import sys
import warnings

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lenet import LeNet  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("model")
    p.add_argument("out")
    p.add_argument("--opset", default="13")
    p.add_argument("--no-constant-folding", action="store_true")
    p.add_argument("--plain", action="store_true")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--initializers-as-inputs", action="store_true")
    a = p.parse_args()
    opsets = [int(o) for o in a.opset.split(",")]
    if len(opsets) > 1 and "{opset}" not in a.out:
        p.error("several opsets need {opset} in OUT")

    torch.set_num_threads(2)
    model = LeNet()
    model.load_state_dict(torch.load(a.model, map_location="cpu", weights_only=True), strict=True)
    model.eval()
    x = torch.zeros(a.batch, 1, 32, 32)

    for opset in opsets:
        kwargs = dict(
            opset_version=opset,
            do_constant_folding=not a.no_constant_folding,
            keep_initializers_as_inputs=a.initializers_as_inputs,
        )
        if not a.plain:
            kwargs.update(
                input_names=["input"],
                output_names=["logits"],
                dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
            )
        out = a.out.replace("{opset}", str(opset))
        tmp = out + ".tmp"
        with warnings.catch_warnings():
            # torch warns about Dropout1d's input rank and other harmless
            # things.
            warnings.simplefilter("ignore")
            torch.onnx.export(model, x, tmp, **kwargs)
        os.replace(tmp, out)


if __name__ == "__main__":
    main()
