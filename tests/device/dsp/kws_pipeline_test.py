#!/usr/bin/python3
"""End-to-end test of the keyword-spotting data pipeline on the small preset:
synthesis is deterministic (two runs with different worker counts give
byte-identical WAVs and manifest), the manifest is well formed (1-second
16 kHz clips, balanced classes, disjoint voices per split, one noise
environment per user), kws_features turns it into a valid feature file
identically twice, and the C and Python readers agree on it and reject a
corrupted copy. Runs in a temporary directory.

Usage: kws_pipeline_test.py KWS_FEATURES_BINARY SOURCE_DIR
"""

import collections
import csv
import filecmp
import os
import subprocess
import sys
import tempfile
import wave

SEED = 3


def run(cmd, **kw):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, **kw)
    if p.returncode != 0:
        sys.exit("FAIL: %s\n%s" % (" ".join(cmd), p.stdout))
    return p.stdout


def check(cond, what):
    if not cond:
        sys.exit("FAIL: " + what)
    print("ok:", what)


def same_tree(a, b, skip):
    cmp = filecmp.dircmp(a, b, ignore=skip)
    if cmp.left_only or cmp.right_only or cmp.funny_files:
        return False
    _, mismatch, errors = filecmp.cmpfiles(a, b, cmp.common_files,
                                           shallow=False)
    if mismatch or errors:
        return False
    return all(same_tree(os.path.join(a, d), os.path.join(b, d), skip)
               for d in cmp.common_dirs)


def main():
    features_bin, src = sys.argv[1], sys.argv[2]
    synth = os.path.join(src, "tools", "kws", "kws_synth.py")
    sys.path.insert(0, os.path.join(src, "tools", "kws"))
    import tnfs  # noqa: E402

    with tempfile.TemporaryDirectory(prefix="kws-pipeline-") as tmp:
        a, b = os.path.join(tmp, "a"), os.path.join(tmp, "b")
        run([sys.executable, synth, "--out", a, "--preset", "small",
             "--seed", str(SEED), "--jobs", "2"])
        run([sys.executable, synth, "--out", b, "--preset", "small",
             "--seed", str(SEED), "--jobs", "1"])
        check(same_tree(a, b, ["stats.json"]),
              "same seed, 2 vs 1 workers: byte-identical data sets")

        with open(os.path.join(a, "manifest.csv")) as f:
            rows = list(csv.DictReader(f))
        check(len(rows) == 312, "small preset has 312 clips (%d)" % len(rows))
        per_class = collections.Counter((r["split"], r["label"]) for r in rows)
        check(len({lbl for _, lbl in per_class}) == 12 and
              all(len({n for (s, _), n in per_class.items() if s == split})
                  == 1 for split in {s for s, _ in per_class}),
              "12 classes, balanced within each split")
        voices = collections.defaultdict(set)
        for r in rows:
            if r["voice"]:
                voices[r["split"]].add(r["voice"])
        splits = list(voices)
        check(all(not (voices[s] & voices[t]) for s in splits for t in splits
                  if s < t), "voices of the splits are disjoint")
        with open(os.path.join(a, "voices.csv")) as f:
            catalogue = list(csv.DictReader(f))
        speakers = collections.defaultdict(set)
        for v in catalogue:
            speakers[v["split"]].add(v["speaker"])
        check(all(not (speakers[s] & speakers[t]) for s in speakers
                  for t in speakers if s < t),
              "speakers (timbres) of the splits are disjoint")
        used = {v["voice"]: v["split"] for v in catalogue if v["used"] == "1"}
        check(all(used.get(r["voice"]) == r["split"] for r in rows
                  if r["voice"]), "manifest voices are the catalogue's")
        envs = collections.defaultdict(set)
        for r in rows:
            if r["split"] == "users":
                envs[r["user"]].add((r["noise"], r["snr_db"]
                                     if r["label"] != "_silence_" else "*"))
        check(all(len({n for n, _ in e}) == 1 for e in envs.values()),
              "each user has one noise type")
        check(all((r["user"] != "0") == (r["split"] == "users")
                  for r in rows), "exactly the users rows carry a user id")
        for r in rows[::37]:
            with wave.open(os.path.join(a, r["path"])) as w:
                check(w.getframerate() == 16000 and w.getnchannels() == 1 and
                      w.getsampwidth() == 2 and w.getnframes() == 16000,
                      "%s is 1 s of 16 kHz mono 16-bit" % r["path"])

        fa, fb = os.path.join(tmp, "a.tnfs"), os.path.join(tmp, "b.tnfs")
        run([features_bin, "--data", a, "--out", fa])
        run([features_bin, "--data", b, "--out", fb])
        check(filecmp.cmp(fa, fb, shallow=False),
              "feature files of the two runs are identical")
        c_summary = run([features_bin, "--check", fa, "--expect-samples",
                         "312"])
        fs = tnfs.load(fa)
        py_summary = tnfs.summary(fs, fa)
        c_lines = [ln for ln in c_summary.splitlines() if ln.startswith("  ")]
        py_lines = [ln for ln in py_summary.splitlines()
                    if ln.startswith("  ")]
        check(c_lines == py_lines and len(c_lines) == 4,
              "C and Python readers give the same per-split counts")
        check(fs.info["seed"] == SEED and fs.info["preset"] == "small",
              "seed and preset recorded")
        check(list(fs.sources) == list(range(312)),
              "records keep manifest order")
        labels = [int(r["class_index"]) for r in rows]
        check(list(fs.labels) == labels, "labels match the manifest")

        # A subset keeps the features of the full file, byte for byte.
        ft = os.path.join(tmp, "test.tnfs")
        run([features_bin, "--data", a, "--out", ft, "--splits", "test",
             "--max-per-class", "2"])
        sub = tnfs.load(ft)
        check(len(sub) == 24 and all(sub.splits == 2),
              "--splits test --max-per-class 2 gives 24 test samples")
        check(all((sub.features[i] == fs.features[sub.sources[i]]).all()
                  for i in range(len(sub))),
              "subset features equal the full file's")

        # Corruption: one flipped feature byte fails both readers.
        data = bytearray(open(fa, "rb").read())
        data[1000] ^= 0x01
        bad = os.path.join(tmp, "bad.tnfs")
        with open(bad, "wb") as f:
            f.write(data)
        p = subprocess.run([features_bin, "--check", bad],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True)
        check(p.returncode != 0 and "CHECKSUM" in p.stdout,
              "C reader rejects a flipped byte")
        try:
            tnfs.parse(bytes(data))
            check(False, "Python reader rejects a flipped byte")
        except tnfs.FormatError as e:
            check("checksum" in str(e), "Python reader rejects a flipped byte")
    print("PASS")


if __name__ == "__main__":
    main()
