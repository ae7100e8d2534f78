#!/usr/bin/python3
"""Trains the DS-CNN-S keyword-spotting model on a feature data set file and
exports it to ONNX.

Input: a feature data set file (docs/formats/dataset.md) written by
kws_features, i.e. the node's own int8 MFCCs; the model is trained on their
dequantized values, scale * (q - zero_point), so the float model sees
exactly what the gateway's int8 pipeline will quantize again. The train
split trains, the validation split picks the epoch, the test split (held-out
voices) and the users split (held-out voices in fixed noise environments)
are reported.

Model (DS-CNN small, after Zhang et al., "Hello Edge", 2017): conv 10x4
stride 2, 64 channels; four depthwise-separable blocks (3x3 depthwise + 1x1
pointwise, 64 channels), each convolution followed by batch norm and ReLU;
global average pooling; fully connected to the 12 classes. Input
[1, 1, 49, 10] (frames x coefficients), output logits [1, 12].

The exported graph is checked with onnx.checker and shape inference and run
by a small NumPy interpreter of its operators, whose predictions on the test
split must agree with PyTorch's.

Determinism: seeds fixed, deterministic algorithms, one intra-op thread by
default (--threads): the same file, seed and thread count give the same ONNX
bytes. (Two OpenMP threads on a busy 2-core machine are also several times
slower than one.)

Usage: train_kws.py --features FILE --out DIR [--epochs N] [--seed N]
Writes DIR/ds_cnn_s.onnx and DIR/ds_cnn_s.metrics.json.
"""

import argparse
import hashlib
import json
import os
import platform
import sys
import time

import numpy as np
import onnx
import onnx.shape_inference
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.dont_write_bytecode = True  # keep the source tree clean
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(_HERE, "..", "kws"))
sys.path.insert(0, _HERE)
import tnfs  # noqa: E402
from onnx_numpy import run_onnx_numpy  # noqa: E402

OPSET = 13


class DsCnnS(nn.Module):
    def __init__(self, classes, channels=64, blocks=4):
        super().__init__()
        # Symmetric padding (5, 1) gives the 25 x 5 map TF's SAME padding
        # gives for stride 2, without a separate Pad node.
        self.conv = nn.Conv2d(1, channels, (10, 4), stride=(2, 2),
                              padding=(5, 1), bias=False)
        self.bn = nn.BatchNorm2d(channels)
        layers = []
        for _ in range(blocks):
            layers += [
                nn.Conv2d(channels, channels, 3, padding=1, groups=channels,
                          bias=False),
                nn.BatchNorm2d(channels), nn.ReLU(),
                nn.Conv2d(channels, channels, 1, bias=False),
                nn.BatchNorm2d(channels), nn.ReLU()]
        self.blocks = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.drop = nn.Dropout(0.2)
        self.fc = nn.Linear(channels, classes)

    def forward(self, x):
        x = F.relu(self.bn(self.conv(x)))
        x = self.blocks(x)
        x = torch.flatten(self.pool(x), 1)
        return self.fc(self.drop(x))


def macs_of(model, shape):
    """Multiply-accumulates of one inference (convolutions and FC)."""
    total = 0
    hooks = []

    def conv_hook(m, _inp, out):
        nonlocal total
        k = m.kernel_size[0] * m.kernel_size[1] * m.in_channels // m.groups
        total += out.numel() * k

    def fc_hook(m, _inp, out):
        nonlocal total
        total += out.numel() * m.in_features

    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            hooks.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            hooks.append(m.register_forward_hook(fc_hook))
    with torch.no_grad():
        model(torch.zeros(shape))
    for h in hooks:
        h.remove()
    return total


# ---- training ---------------------------------------------------------------

def augment(x, gen, mel_bands, max_shift=6, max_gain_db=6.0):
    """Feature-domain augmentation of a batch [n, 1, frames, coeffs]: a time
    shift of up to max_shift frames (edge frames repeated) and a level
    change of up to max_gain_db, which adds the same amount to every log-mel
    energy and so only moves c0, by sqrt(mel_bands) * ln(gain)."""
    n, _, frames, _ = x.shape
    shift = torch.randint(-max_shift, max_shift + 1, (n, 1), generator=gen)
    idx = (torch.arange(frames).unsqueeze(0) - shift).clamp(0, frames - 1)
    x = torch.gather(x, 2, idx[:, None, :, None].expand(-1, 1, -1,
                                                         x.shape[3]))
    gain_db = (torch.rand(n, generator=gen) * 2.0 - 1.0) * max_gain_db
    c0 = (mel_bands ** 0.5) * gain_db * (np.log(10.0) / 20.0)
    x = x.clone()
    x[:, 0, :, 0] += c0.unsqueeze(1)
    return x


def accuracy(model, x, y, batch=512):
    model.eval()
    preds = []
    with torch.no_grad():
        for i in range(0, len(x), batch):
            preds.append(model(x[i:i + batch]).argmax(1))
    p = torch.cat(preds) if preds else torch.zeros(0, dtype=torch.long)
    return float((p == y).float().mean()) if len(y) else 0.0, p


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--features", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--weight-decay", type=float, default=1e-4)
    ap.add_argument("--augment", action="store_true",
                    help="random time shift and level change of the "
                         "training features")
    ap.add_argument("--report", nargs="*", default=[],
                    help="more feature files to report accuracy on (e.g. "
                         "the committed fixtures)")
    args = ap.parse_args(argv)

    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)

    with open(args.features, "rb") as f:
        raw = f.read()
    fs = tnfs.parse(raw)
    names = fs.class_names
    x_all = torch.from_numpy(fs.dequantize()).unsqueeze(1)  # [n,1,49,10]
    y_all = torch.from_numpy(fs.labels.astype(np.int64))

    def part(split):
        m = torch.from_numpy(fs.split_mask(split))
        return x_all[m], y_all[m]

    x_tr, y_tr = part("train")
    x_va, y_va = part("val")
    x_te, y_te = part("test")
    if len(x_tr) == 0 or len(x_va) == 0:
        sys.exit("train_kws: the file needs train and val samples")

    model = DsCnnS(len(names))
    params = sum(p.numel() for p in model.parameters())
    shape = (1, 1, fs.info["frames"], fs.info["coeffs"])
    macs = macs_of(model, shape)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr,
                           weight_decay=args.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, args.epochs)
    gen = torch.Generator().manual_seed(args.seed)

    best = (-1.0, -1)
    best_state = None
    history = []
    t0 = time.monotonic()
    for epoch in range(args.epochs):
        model.train()
        order = torch.randperm(len(x_tr), generator=gen)
        total_loss = 0.0
        for i in range(0, len(order), args.batch):
            idx = order[i:i + args.batch]
            opt.zero_grad()
            xb = x_tr[idx]
            if args.augment:
                xb = augment(xb, gen, fs.info["mel_bands"])
            loss = F.cross_entropy(model(xb), y_tr[idx])
            loss.backward()
            opt.step()
            total_loss += float(loss) * len(idx)
        sched.step()
        va, _ = accuracy(model, x_va, y_va)
        history.append({"epoch": epoch + 1,
                        "loss": round(total_loss / len(x_tr), 5),
                        "val_accuracy": round(va, 5)})
        print("epoch %3d  loss %.4f  val %.4f" %
              (epoch + 1, total_loss / len(x_tr), va), flush=True)
        if va > best[0]:
            best = (va, epoch + 1)
            best_state = {k: v.clone() for k, v in model.state_dict().items()}
    train_seconds = time.monotonic() - t0
    model.load_state_dict(best_state)
    model.eval()

    val_acc, _ = accuracy(model, x_va, y_va)
    test_acc, test_pred = accuracy(model, x_te, y_te)
    tr_acc, _ = accuracy(model, x_tr, y_tr)
    per_class = {}
    confusion = np.zeros((len(names), len(names)), dtype=np.int64)
    for t, p in zip(y_te.tolist(), test_pred.tolist()):
        confusion[t, p] += 1
    for c, name in enumerate(names):
        per_class[name] = {"correct": int(confusion[c, c]),
                           "total": int(confusion[c].sum())}
    per_user = {}
    um = fs.split_mask("users")
    for u in sorted(set(fs.users[um].tolist())):
        m = torch.from_numpy(um & (fs.users == u))
        acc, _ = accuracy(model, x_all[m], y_all[m])
        per_user[str(u)] = {"accuracy": round(acc, 5),
                            "samples": int(m.sum())}

    # Export.
    os.makedirs(args.out, exist_ok=True)
    onnx_path = os.path.join(args.out, "ds_cnn_s.onnx")
    torch.onnx.export(model, torch.zeros(shape), onnx_path,
                      input_names=["mfcc"], output_names=["logits"],
                      opset_version=OPSET, do_constant_folding=True,
                      training=torch.onnx.TrainingMode.EVAL)
    m = onnx.load(onnx_path)
    onnx.checker.check_model(m)
    inferred = onnx.shape_inference.infer_shapes(m, strict_mode=True)
    out_dims = [d.dim_value for d in
                inferred.graph.output[0].type.tensor_type.shape.dim]
    in_dims = [d.dim_value for d in
               inferred.graph.input[0].type.tensor_type.shape.dim]
    if out_dims != [1, len(names)] or in_dims != list(shape):
        sys.exit("train_kws: unexpected exported shapes %s -> %s" %
                 (in_dims, out_dims))
    ops = sorted({n.op_type for n in m.graph.node})

    # The exported graph, interpreted in NumPy, against PyTorch.
    with torch.no_grad():
        ref = model(x_te).numpy()
    got = run_onnx_numpy(m, x_te.numpy())
    max_diff = float(np.abs(ref - got).max()) if len(x_te) else 0.0
    agree = int((ref.argmax(1) == got.argmax(1)).sum())
    if agree != len(x_te):
        sys.exit("train_kws: ONNX graph disagrees with PyTorch on %d of %d" %
                 (len(x_te) - agree, len(x_te)))

    # Accuracy on further files, by PyTorch and by the exported graph.
    files = {}
    for path in args.report:
        with open(path, "rb") as f:
            rraw = f.read()
        rfs = tnfs.parse(rraw)
        if rfs.class_names != names or \
                rfs.info["scale"] != fs.info["scale"] or \
                rfs.info["zero_point"] != fs.info["zero_point"]:
            sys.exit("train_kws: %s has other classes or quantization" % path)
        rx = torch.from_numpy(rfs.dequantize()).unsqueeze(1)
        ry = torch.from_numpy(rfs.labels.astype(np.int64))
        acc, pred = accuracy(model, rx, ry)
        onnx_pred = run_onnx_numpy(m, rx.numpy()).argmax(1)
        files[os.path.basename(path)] = {
            "crc32": "%08x" % int.from_bytes(rraw[-4:], "little"),
            "samples": len(rfs),
            "float_accuracy": round(acc, 5),
            "correct": int((pred == ry).sum()),
            "onnx_numpy_correct": int((onnx_pred == ry.numpy()).sum())}

    with open(onnx_path, "rb") as f:
        onnx_sha = hashlib.sha256(f.read()).hexdigest()
    metrics = {
        "model": "ds_cnn_s",
        "onnx": {"file": "ds_cnn_s.onnx", "sha256": onnx_sha,
                 "opset": OPSET, "ops": ops, "input": "mfcc",
                 "input_shape": list(shape), "output": "logits",
                 "output_shape": [1, len(names)]},
        "params": int(params), "macs": int(macs),
        "classes": names,
        "input_quantization": {"scale": fs.info["scale"],
                               "zero_point": fs.info["zero_point"],
                               "meaning": "mfcc = scale * (q - zero_point)"},
        "dataset": {"file": os.path.basename(args.features),
                    "crc32": "%08x" % int.from_bytes(raw[-4:], "little"),
                    "preset": fs.info["preset"], "seed": fs.info["seed"],
                    "samples": {s: int(fs.split_mask(s).sum())
                                for s in tnfs.SPLITS}},
        "float_accuracy": {"train": round(tr_acc, 5),
                           "val": round(val_acc, 5),
                           "test": round(test_acc, 5)},
        "test_per_class": per_class,
        "test_confusion": confusion.tolist(),
        "users": per_user,
        "files": files,
        "onnx_check": {"numpy_agreement": "%d/%d" % (agree, len(x_te)),
                       "max_abs_logit_diff": float("%.3g" % max_diff)},
        "training": {"epochs": args.epochs, "best_epoch": best[1],
                     "batch": args.batch, "lr": args.lr, "seed": args.seed,
                     "optimizer": "adam, cosine schedule",
                     "weight_decay": args.weight_decay,
                     "augment": args.augment,
                     "threads": args.threads,
                     "seconds": round(train_seconds, 1),
                     "torch": torch.__version__, "onnx": onnx.__version__,
                     "machine": platform.machine(),
                     "history": history},
    }
    with open(os.path.join(args.out, "ds_cnn_s.metrics.json"), "w") as f:
        json.dump(metrics, f, indent=1)
        f.write("\n")
    print("train_kws: val %.4f test %.4f (best epoch %d, %.0f s); %d params, "
          "%d MACs; ONNX ops %s; numpy agreement %d/%d" %
          (val_acc, test_acc, best[1], train_seconds, params, macs,
           ",".join(ops), agree, len(x_te)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
