#!/usr/bin/python3
"""Checks the committed keyword-spotting fixtures (tests/fixtures/kws): every
feature file is valid for both readers and uses the node's KWS front-end,
the metrics JSON is consistent with the files it names (CRC-32, sample
counts, per-class totals, the ONNX file's SHA-256), the fixtures stay under
their size budget, and, when python3-onnx is installed (--model), the
committed ONNX model re-evaluated by the NumPy interpreter reproduces the
recorded float accuracy on every fixture file, sample for sample.

Usage: kws_fixtures_test.py KWS_FEATURES_BINARY SOURCE_DIR [--model]
Exit code 77 (skipped) with --model when python3-onnx is missing.
"""

import hashlib
import json
import os
import subprocess
import sys

BUDGET_BYTES = 2 * 1024 * 1024
FIXTURE_FILES = ["kws_test.tnfs", "kws_calib.tnfs", "kws_users.tnfs"]


def check(cond, what):
    if not cond:
        sys.exit("FAIL: " + what)
    print("ok:", what)


def main():
    features_bin, src = sys.argv[1], sys.argv[2]
    model_mode = "--model" in sys.argv[3:]
    fixtures = os.path.join(src, "tests", "fixtures", "kws")
    sys.path.insert(0, os.path.join(src, "tools", "kws"))
    sys.path.insert(0, os.path.join(src, "tools", "train"))
    import tnfs  # noqa: E402

    with open(os.path.join(fixtures, "ds_cnn_s.metrics.json")) as f:
        metrics = json.load(f)
    if model_mode:
        try:
            # libonnx-testdata installs a bare onnx/ directory, which
            # imports as an empty namespace package: probe a real module.
            import onnx  # noqa: F401,E402
            import onnx.helper  # noqa: F401,E402
        except ImportError:
            print("python3-onnx not installed: skipped")
            sys.exit(77)
        from onnx_numpy import run_onnx_numpy  # noqa: E402
        model = onnx.load(os.path.join(fixtures, "ds_cnn_s.onnx"))
        onnx.checker.check_model(model)
        for name in FIXTURE_FILES:
            fs = tnfs.load(os.path.join(fixtures, name))
            pred = run_onnx_numpy(model, fs.dequantize()[:, None]).argmax(1)
            correct = int((pred == fs.labels).sum())
            want = metrics["files"][name]
            check(correct == want["correct"] == want["onnx_numpy_correct"],
                  "%s: ONNX model gets %d of %d right, as recorded" %
                  (name, correct, len(fs)))
        print("PASS")
        return

    total = 0
    for name in sorted(os.listdir(fixtures)):
        total += os.path.getsize(os.path.join(fixtures, name))
    check(total < BUDGET_BYTES, "fixtures total %d bytes < 2 MiB" % total)

    for name in FIXTURE_FILES:
        path = os.path.join(fixtures, name)
        out = subprocess.run([features_bin, "--check", path],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True)
        check(out.returncode == 0,
              "%s: C reader accepts it, KWS front-end (%s)" %
              (name, out.stdout.strip().splitlines()[0]))
        data = open(path, "rb").read()
        fs = tnfs.parse(data)
        want = metrics["files"][name]
        check(want["crc32"] == "%08x" % int.from_bytes(data[-4:], "little")
              and want["samples"] == len(fs),
              "%s: CRC-32 and sample count match the metrics" % name)
        check(fs.class_names == metrics["classes"],
              "%s: classes in model order" % name)
        check(fs.info["preset"] == metrics["dataset"]["preset"] and
              fs.info["seed"] == metrics["dataset"]["seed"],
              "%s: preset and seed of the training set" % name)

    test = tnfs.load(os.path.join(fixtures, "kws_test.tnfs"))
    check(bool((test.splits == 2).all()) and
          len(test) == metrics["dataset"]["samples"]["test"],
          "kws_test.tnfs is the whole test split of the training set")
    per_class = metrics["test_per_class"]
    check(sum(v["total"] for v in per_class.values()) == len(test),
          "per-class totals add up to the test split")
    acc = sum(v["correct"] for v in per_class.values()) / len(test)
    check(abs(acc - metrics["float_accuracy"]["test"]) < 1e-4 and
          abs(metrics["files"]["kws_test.tnfs"]["float_accuracy"] - acc)
          < 1e-4, "test accuracy %.4f consistent" % acc)
    sha = hashlib.sha256(open(os.path.join(fixtures, "ds_cnn_s.onnx"),
                              "rb").read()).hexdigest()
    check(sha == metrics["onnx"]["sha256"], "ONNX file is the one measured")
    print("PASS")


if __name__ == "__main__":
    main()
