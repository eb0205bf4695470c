"""Generate the ONNX project's own backend node tests.

    /usr/bin/python3 reference/onnx_node_tests.py DIR [--op-type OP]

Runs ONNX's test-data generator (python -m onnx.backend.test.cmd_tools
generate-data -o DIR) with Debian's python3-onnx 1.12, which writes one
folder per test case:

    DIR/node/test_relu/model.onnx
    DIR/node/test_relu/test_data_set_0/input_0.pb
    DIR/node/test_relu/test_data_set_0/output_0.pb
    ...

about 900 of them under DIR/node (plus the few model tests under DIR/real
and DIR/simple, which need downloads or are not single operators). Each
input_N.pb and output_N.pb is a serialized TensorProto, in the order of the
graph's inputs and outputs. --op-type OP generates only the tests of one
operator (ONNX's -t).

Debian's numpy (1.24 and later) has removed the aliases np.float, np.int,
np.bool and np.object that some of ONNX 1.12's test cases still use; they
are set back to the builtins they stood for before the generator runs.

lenetkit's onnx/backend/nodetest_test.go runs these tests against the
backend (and onnx-go's gorgonnx) and writes docs/onnx-node-tests.md; the
folders also feed lenetkit run:

    lenetkit run DIR/node/test_relu/model.onnx DIR/node/test_relu/test_data_set_0 --expect
"""
import argparse
import builtins
import os
import runpy
import sys
import warnings

import numpy as np


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dir", help="folder to write DIR/node/test_*/ into")
    ap.add_argument("--op-type", help="only the tests of this operator")
    args = ap.parse_args()

    for name in ("float", "int", "bool", "object"):
        if name not in np.__dict__:
            setattr(np, name, getattr(builtins, name))
    warnings.simplefilter("ignore")

    os.makedirs(args.dir, exist_ok=True)
    argv = ["cmd_tools", "generate-data", "-o", args.dir]
    if args.op_type:
        argv += ["-t", args.op_type]
    saved = sys.argv
    sys.argv = argv
    try:
        runpy.run_module("onnx.backend.test.cmd_tools", run_name="__main__", alter_sys=True)
    finally:
        sys.argv = saved
    node = os.path.join(args.dir, "node")
    n = len(os.listdir(node)) if os.path.isdir(node) else 0
    print(f"{n} node tests in {node}")


if __name__ == "__main__":
    main()
