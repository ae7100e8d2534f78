#!/usr/bin/python3
"""A small NumPy interpreter for the ONNX operators the DS-CNN export uses
(Conv, BatchNormalization, Relu, GlobalAveragePool, Flatten, Gemm), in
float64. It gives an independent check that an exported graph computes what
the PyTorch model computed, and lets tests re-evaluate the committed model
without PyTorch or an ONNX runtime (only python3-onnx to parse the file).
"""

import numpy as np
import onnx
import onnx.helper
import onnx.numpy_helper


def _conv(x, w, b, attrs):
    n, c, h, wd = x.shape
    oc, icg, kh, kw = w.shape
    group = attrs.get("group", 1)
    sh, sw = attrs.get("strides", [1, 1])
    pt, pl, pb, pr = attrs.get("pads", [0, 0, 0, 0])
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    oh = (h + pt + pb - kh) // sh + 1
    ow = (wd + pl + pr - kw) // sw + 1
    out = np.zeros((n, oc, oh, ow), dtype=np.float64)
    ocg = oc // group
    for g in range(group):
        xs = xp[:, g * icg:(g + 1) * icg]
        ws = w[g * ocg:(g + 1) * ocg]
        for i in range(kh):
            for j in range(kw):
                patch = xs[:, :, i:i + sh * oh:sh, j:j + sw * ow:sw]
                out[:, g * ocg:(g + 1) * ocg] += np.einsum(
                    "nchw,oc->nohw", patch, ws[:, :, i, j])
    if b is not None:
        out += b[None, :, None, None]
    return out


def run_onnx_numpy(model, x):
    """Evaluates the ops this exporter emits for DS-CNN in float64."""
    env = {t.name: onnx.numpy_helper.to_array(t).astype(np.float64)
           for t in model.graph.initializer}
    env[model.graph.input[0].name] = x.astype(np.float64)
    for node in model.graph.node:
        attrs = {a.name: onnx.helper.get_attribute_value(a)
                 for a in node.attribute}
        ins = [env[i] if i else None for i in node.input]
        op = node.op_type
        if op == "Conv":
            y = _conv(ins[0], ins[1], ins[2] if len(ins) > 2 else None, attrs)
        elif op == "BatchNormalization":
            xx, s, bb, mean, var = ins
            eps = attrs.get("epsilon", 1e-5)
            shp = (1, -1, 1, 1)
            y = (xx - mean.reshape(shp)) / np.sqrt(var.reshape(shp) + eps) * \
                s.reshape(shp) + bb.reshape(shp)
        elif op == "Relu":
            y = np.maximum(ins[0], 0.0)
        elif op == "GlobalAveragePool":
            y = ins[0].mean(axis=(2, 3), keepdims=True)
        elif op == "Flatten":
            y = ins[0].reshape(ins[0].shape[0], -1)
        elif op == "Gemm":
            a, bm = ins[0], ins[1]
            if attrs.get("transA", 0):
                a = a.T
            if attrs.get("transB", 0):
                bm = bm.T
            y = attrs.get("alpha", 1.0) * a @ bm
            if len(ins) > 2 and ins[2] is not None:
                y = y + attrs.get("beta", 1.0) * ins[2]
        else:
            raise RuntimeError("numpy interpreter: unsupported op " + op)
        env[node.output[0]] = y
    return env[model.graph.output[0].name]
