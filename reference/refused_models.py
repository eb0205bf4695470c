"""Write five ONNX files that lenetkit refuses, each for several reasons.

    /usr/bin/python3 reference/refused_models.py DIR
    lenetkit doctor DIR/model/training.onnx     # and the other four

What `lenetkit doctor` is for: every blocker of a file at once, where
opening it stops at the first. The five mirror the cases of
onnx/backend/doctor_test.go (TestDiagnoseListsEveryBlocker), made with
onnx.helper as a user's exporter would write them:

    training.onnx   a training-mode export (BatchNormalization with its
                    running statistics as outputs, Dropout with
                    training_mode true) with an operator lenetkit lacks (Asin)
    opset6.onnx     opset 6, a Dropout without is_test, Asin twice and a
                    com.microsoft operator (Gelu)
    control.onnx    an If with a subgraph, an INT64 input, a symbolic height
    external.onnx   a weight in a file outside the model's folder, a STRING
                    initializer and a NaN weight
    recurrent.onnx  two graph inputs, LSTM and GRU

The files go in DIR/model/; DIR/outside.bin is the file external.onnx
points at, beside the folder rather than in it. Nothing here is committed
as a fixture: the files are made where they are used.
"""
import os
import sys

import numpy as np
from onnx import TensorProto, helper, numpy_helper, save


def image_input(name="x", elem=TensorProto.FLOAT, height=4):
    return helper.make_tensor_value_info(name, elem, ["batch", 1, height, 4])


def output(name="h"):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, None)


def weight(name, value):
    return numpy_helper.from_array(np.asarray(value, dtype=np.float32), name)


def model(nodes, inits, inputs, opsets, name):
    graph = helper.make_graph(nodes, name, inputs, [output()], inits)
    return helper.make_model(graph, producer_name="refused_models.py",
                             opset_imports=[helper.make_opsetid(d, v) for d, v in opsets])


def training():
    one = [weight(n, [v]) for n, v in (("scale", 1), ("bias", 0), ("mean", 0), ("var", 1), ("ratio", 0.5))]
    mode = helper.make_node("Constant", [], ["tm"], value=helper.make_tensor("t", TensorProto.BOOL, [], [True]))
    nodes = [
        helper.make_node("BatchNormalization", ["x", "scale", "bias", "mean", "var"], ["bn", "run_mean", "run_var"],
                         training_mode=1),
        helper.make_node("Asin", ["bn"], ["e"]),
        mode,
        helper.make_node("Dropout", ["e", "ratio", "tm"], ["h"]),
    ]
    return model(nodes, one, [image_input()], [("", 15)], "training")


def opset6():
    nodes = [
        helper.make_node("Dropout", ["x"], ["d"]),
        helper.make_node("Asin", ["d"], ["e1"]),
        helper.make_node("Asin", ["e1"], ["e2"]),
        helper.make_node("Gelu", ["e2"], ["h"], domain="com.microsoft"),
    ]
    return model(nodes, [], [image_input()], [("", 6), ("com.microsoft", 1)], "opset6")


def control():
    branch = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "then", [], [output("y")])
    nodes = [helper.make_node("If", ["x"], ["h"], then_branch=branch, else_branch=branch)]
    return model(nodes, [], [image_input(elem=TensorProto.INT64, height="height")], [("", 13)], "control")


def external():
    far = TensorProto(name="far", data_type=TensorProto.FLOAT, dims=[1])
    far.data_location = TensorProto.EXTERNAL
    for k, v in (("location", "../outside.bin"), ("offset", "0"), ("length", "4")):
        far.external_data.add(key=k, value=v)
    words = helper.make_tensor("words", TensorProto.STRING, [1], [b"a"])
    nodes = [
        helper.make_node("Mul", ["x", "w"], ["m"]),
        helper.make_node("Add", ["m", "far"], ["h"]),
    ]
    return model(nodes, [weight("w", [float("nan")]), far, words], [image_input()], [("", 13)], "external")


def recurrent():
    nodes = [
        helper.make_node("LSTM", ["x", "state"], ["l"]),
        helper.make_node("GRU", ["l"], ["h"]),
    ]
    return model(nodes, [], [image_input(), image_input("state")], [("", 13)], "recurrent")


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: refused_models.py DIR")
    top = sys.argv[1]
    folder = os.path.join(top, "model")
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(top, "outside.bin"), "wb") as f:
        f.write(np.zeros(1, dtype=np.float32).tobytes())
    for name, make in (("training", training), ("opset6", opset6), ("control", control),
                       ("external", external), ("recurrent", recurrent)):
        path = os.path.join(folder, name + ".onnx")
        save(make(), path)
        print(path)


if __name__ == "__main__":
    main()
