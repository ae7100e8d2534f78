#!/usr/bin/python3
"""Writes an untrained DS-CNN keyword-spotting graph of a chosen width as
ONNX, for load tests that need a model of a given size (e.g. the OTA
fan-out benchmark's 100 kB blob) rather than a useful one.

The graph has the shape of tests/fixtures/kws/ds_cnn_s.onnx (input "mfcc"
[1, 1, 49, 10], a 10x4 stride-2 convolution, four depthwise-separable
blocks, global average pool, a 12-way Gemm), with `--channels` channels and
He-initialised weights from a fixed seed, so the file is reproducible.
The model compiler quantizes it like any export; its accuracy is chance.

Usage: synth_dscnn.py --channels 128 --out M.onnx [--seed 1]
Needs python3-numpy and python3-onnx.
"""

import argparse

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

CLASSES = 12
BLOCKS = 4


def build(channels, seed):
    rng = np.random.default_rng(seed)
    inits, nodes = [], []

    def weight(name, shape, fan_in):
        w = rng.normal(0.0, np.sqrt(2.0 / fan_in), size=shape)
        inits.append(numpy_helper.from_array(w.astype(np.float32), name))
        return name

    def bias(name, n):
        b = rng.normal(0.0, 0.05, size=(n,))
        inits.append(numpy_helper.from_array(b.astype(np.float32), name))
        return name

    def conv(x, name, shape, group, pads, strides, fan_in):
        out = name + "_out"
        nodes.append(helper.make_node(
            "Conv", [x, weight(name + ".w", shape, fan_in),
                     bias(name + ".b", shape[0])], [out],
            dilations=[1, 1], group=group, kernel_shape=list(shape[2:]),
            pads=pads, strides=strides))
        relu = name + "_relu"
        nodes.append(helper.make_node("Relu", [out], [relu]))
        return relu

    c = channels
    x = conv("mfcc", "conv", (c, 1, 10, 4), 1, [5, 1, 5, 1], [2, 2], 40)
    for i in range(BLOCKS):
        x = conv(x, "dw%d" % i, (c, 1, 3, 3), c, [1, 1, 1, 1], [1, 1], 9)
        x = conv(x, "pw%d" % i, (c, c, 1, 1), 1, [0, 0, 0, 0], [1, 1], c)
    nodes.append(helper.make_node("GlobalAveragePool", [x], ["pool"]))
    nodes.append(helper.make_node("Flatten", ["pool"], ["flat"], axis=1))
    nodes.append(helper.make_node(
        "Gemm", ["flat", weight("fc.weight", (CLASSES, c), c),
                 bias("fc.bias", CLASSES)], ["logits"],
        alpha=1.0, beta=1.0, transB=1))
    graph = helper.make_graph(
        nodes, "ds_cnn_w%d" % c,
        [helper.make_tensor_value_info("mfcc", TensorProto.FLOAT,
                                       [1, 1, 49, 10])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT,
                                       [1, CLASSES])],
        inits)
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 13)],
        producer_name="tinyfleet synth_dscnn")
    model.ir_version = 7
    onnx.checker.check_model(model)
    return model


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--channels", type=int, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    if not 8 <= args.channels <= 512:
        ap.error("--channels must be 8..512")
    onnx.save(build(args.channels, args.seed), args.out)


if __name__ == "__main__":
    main()
