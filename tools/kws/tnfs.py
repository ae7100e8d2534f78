#!/usr/bin/python3
"""Reader of feature data set files (docs/formats/dataset.md, version 1).

The same checks as the C reader (tn_fset_open in device/dsp): magic,
version, exact size, CRC-32, header fields, class names and per-record
fields. Features come back as int8 arrays [samples, frames, coeffs];
dequantize() maps them to the float features the front-end computed
(scale * (q - zero_point)).

Usage as a program: tnfs.py FILE  prints a summary (the same one as
`kws_features --check FILE`).
"""

import struct
import sys
import zlib

import numpy as np

MAGIC = b"TNFS"
VERSION = 1
HEADER_SIZE = 128
CLASS_NAME_SIZE = 16
RECORD_HEADER_SIZE = 8
SPLITS = ["train", "val", "test", "users"]
MAX_CLASSES = 64
MAX_FEATURES = 65536


class FormatError(ValueError):
    pass


class FeatureSet:
    """A validated file: header fields, class names and record arrays."""

    def __init__(self, info, class_names, labels, splits, users, sources,
                 features):
        self.info = info
        self.class_names = class_names
        self.labels = labels          # uint8 [n]
        self.splits = splits          # uint8 [n]
        self.users = users            # uint16 [n]
        self.sources = sources        # uint32 [n]
        self.features = features      # int8 [n, frames, coeffs]

    def __len__(self):
        return int(self.labels.shape[0])

    def dequantize(self, index=None):
        q = self.features if index is None else self.features[index]
        return (self.info["scale"] *
                (q.astype(np.float32) - self.info["zero_point"])).astype(
                    np.float32)

    def split_mask(self, name):
        return self.splits == SPLITS.index(name)


def _ascii_slot(raw, allow_space):
    end = raw.find(b"\0")
    if end < 0:
        end = len(raw)
    if any(b != 0 for b in raw[end:]):
        raise FormatError("bytes after the terminating NUL")
    lo = 0x20 if allow_space else 0x21
    if any(c < lo or c > 0x7E for c in raw[:end]):
        raise FormatError("non-printable name")
    return raw[:end].decode("ascii")


def parse(data):
    """Validates `data` (bytes) and returns a FeatureSet."""
    if len(data) < 8:
        raise FormatError("truncated")
    if data[:4] != MAGIC:
        raise FormatError("bad magic")
    version, header_size = struct.unpack_from("<HH", data, 4)
    if version != VERSION:
        raise FormatError("unsupported version %d" % version)
    if header_size != HEADER_SIZE:
        raise FormatError("bad header size")
    if len(data) < HEADER_SIZE:
        raise FormatError("truncated")
    (count, frames, coeffs, dtype, n_classes, record_size, scale_bits,
     zero_point, sample_rate, window, stride, fft_size, mel_bands,
     low_hz, high_hz, log_floor, flags, seed) = struct.unpack_from(
         "<IHHBBHIiIHHHHfffIQ", data, 8)
    if not (1 <= frames and 1 <= coeffs and frames * coeffs <= MAX_FEATURES
            and 1 <= n_classes <= MAX_CLASSES and count <= 2**31):
        raise FormatError("shape out of range")
    rec = RECORD_HEADER_SIZE + frames * coeffs
    expect = HEADER_SIZE + CLASS_NAME_SIZE * n_classes + rec * count + 4
    if len(data) < expect:
        raise FormatError("truncated")
    if len(data) > expect:
        raise FormatError("longer than the header says")
    body = len(data) - 4
    if zlib.crc32(data[:body]) != struct.unpack_from("<I", data, body)[0]:
        raise FormatError("checksum mismatch")
    scale = struct.unpack("<f", struct.pack("<I", scale_bits))[0]
    if dtype != 1 or flags != 0 or any(data[80:HEADER_SIZE]):
        raise FormatError("unsupported dtype, flags or reserved bytes")
    if record_size != rec:
        raise FormatError("record size mismatch")
    if not (np.isfinite(scale) and scale > 0 and -128 <= zero_point <= 127):
        raise FormatError("bad quantization parameters")
    if not 0 <= low_hz < high_hz:
        raise FormatError("bad mel range")
    if not (window <= fft_size and stride >= 1 and coeffs <= mel_bands and
            log_floor > 0 and high_hz <= sample_rate / 2):
        raise FormatError("bad front-end fields")
    preset = _ascii_slot(data[64:80], allow_space=False)
    names = []
    for c in range(n_classes):
        off = HEADER_SIZE + CLASS_NAME_SIZE * c
        name = _ascii_slot(data[off:off + CLASS_NAME_SIZE], allow_space=True)
        if not name:
            raise FormatError("empty class name")
        if name in names:
            raise FormatError("duplicate class name")
        names.append(name)
    start = HEADER_SIZE + CLASS_NAME_SIZE * n_classes
    dt = np.dtype([("label", "u1"), ("split", "u1"), ("user", "<u2"),
                   ("source", "<u4"), ("features", "i1", (frames, coeffs))])
    recs = np.frombuffer(data, dtype=dt, count=count, offset=start)
    if count:
        if recs["label"].max() >= n_classes or recs["split"].max() > 3:
            raise FormatError("record label or split out of range")
        is_user = recs["split"] == 3
        if np.any(is_user != (recs["user"] != 0)):
            raise FormatError("user id rule violated")
    info = {"samples": count, "frames": frames, "coeffs": coeffs,
            "classes": n_classes, "scale": scale, "zero_point": zero_point,
            "sample_rate": sample_rate, "window": window, "stride": stride,
            "fft_size": fft_size, "mel_bands": mel_bands, "low_hz": low_hz,
            "high_hz": high_hz, "log_floor": log_floor, "seed": seed,
            "preset": preset}
    return FeatureSet(info, names, recs["label"].copy(), recs["split"].copy(),
                      recs["user"].copy(), recs["source"].copy(),
                      recs["features"].copy())


def load(path):
    with open(path, "rb") as f:
        return parse(f.read())


def summary(fs, path):
    i = fs.info
    lines = ["%s: %d samples, %dx%d int8 (scale %g, zero point %d), "
             "%d classes, preset %s, seed %d" %
             (path, len(fs), i["frames"], i["coeffs"], i["scale"],
              i["zero_point"], i["classes"], i["preset"], i["seed"])]
    for s, name in enumerate(SPLITS):
        sel = fs.splits == s
        if sel.any():
            per = np.bincount(fs.labels[sel], minlength=i["classes"])
            lines.append("  %-5s %5d: %s" % (name, int(sel.sum()),
                                             " ".join(str(int(c))
                                                      for c in per)))
    return "\n".join(lines)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: tnfs.py FILE")
    try:
        print(summary(load(sys.argv[1]), sys.argv[1]))
    except (OSError, FormatError) as e:
        sys.exit("tnfs: %s: %s" % (sys.argv[1], e))
