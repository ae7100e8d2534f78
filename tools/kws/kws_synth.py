#!/usr/bin/python3
"""Synthesizes a keyword-spotting data set from speech synthesizers.

Twelve classes in the order of the Speech Commands convention: _silence_,
_unknown_ and the ten keywords yes no up down left right on off stop go.
Speech comes from espeak-ng (8 English accents x 85 voice variants) and 5
flite voices; every utterance gets a random speaking rate, pitch shift,
tempo, level, position in the 1-second clip and background noise
(sox-synthesized noise beds and a babble bed), all drawn from a generator
seeded by the data set seed and the utterance's identity, so the same seed
and preset give byte-identical WAV files and manifest whatever the number of
worker processes. Speakers (an espeak variant with all its accents, or a
flite speaker) are split into disjoint train / validation / test / users
sets, so no held-out timbre is heard in training; each "user" is one
held-out voice recorded in one fixed noise environment (noise type and
SNR), for per-node personalization.

Output (all paths relative to the output directory):
  manifest.csv   one row per clip: path,label,class_index,split,voice,user,
                 noise,snr_db,level_dbfs,take,text
  wav/<split>/<label>/<name>.wav   1 s, 16 kHz, mono, 16-bit PCM
  noise/<type>.wav                 the noise beds the clips were mixed with
  voices.csv     every voice of the catalogue: speaker, split, whether the
                 preset used it, user id and environment
  digest.txt     SHA-256 over manifest.csv and every WAV, in manifest order
  stats.json     counts, tool versions, generation time (not deterministic)

Without NumPy the mixing runs on tools/kws/minivec.py (pure Python, several
times slower): the same clips, up to a possible one-step difference of a
16-bit sample (see there); compare digest.txt.

The "users16" preset renders only the users split: 16 users (15 espeak-ng
voices and one flite voice), 16 takes of every class plus 24 more of
_unknown_ (40 unknown-word clips per user, so a node can hold some of its
own unknown words apart for threshold calibration). --users-env TYPE:SNR
puts every user in one common noise environment (a fleet deployed in one
place) instead of a seeded environment per user.

Usage: kws_synth.py --out DIR [--preset small|large|users16] [--seed N]
                    [--jobs N] [--users-env TYPE:SNR_DB]
"""

import argparse
import csv
import hashlib
import io
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import wave
from concurrent.futures import ProcessPoolExecutor

try:
    import numpy as np
except ImportError:  # the pure-Python subset (slower)
    import minivec as np

SAMPLE_RATE = 16000
CLIP_SAMPLES = SAMPLE_RATE  # 1 second

KEYWORDS = ["yes", "no", "up", "down", "left", "right", "on", "off", "stop",
            "go"]
CLASSES = ["_silence_", "_unknown_"] + KEYWORDS

# Words for the _unknown_ class: none is a keyword; a few sound close to
# one (bird/bed, follow/go, up/cup) so the class is not trivially separable.
UNKNOWN_WORDS = [
    "bed", "bird", "cat", "dog", "happy", "house", "marvin", "sheila", "tree",
    "wow", "zero", "one", "two", "three", "four", "five", "six", "seven",
    "eight", "nine", "backward", "forward", "follow", "learn", "visual",
    "yellow", "water", "window", "orange", "cup"
]

# espeak-ng accents (language voices that accept +variant suffixes; the
# British voice is "en": "en-gb" ignores variants).
ESPEAK_ACCENTS = ["en", "en-us", "en-us-nyc", "en-gb-scotland",
                  "en-gb-x-gbclan", "en-gb-x-rp", "en-gb-x-gbcwmd", "en-029"]
# espeak-ng voice variants (timbres): the plain voice, the numbered male and
# female variants and the named ones that sound like a person and differ
# from each other. Left out: variants identical to another one or to the
# plain voice (caleb = klatt = klatt6; "Mr serious", fast), and robotic,
# whispered or distorted ones (Demonic, UniRobot, anikaRobot, robosoft*,
# whisper, whisperf).
ESPEAK_VARIANTS = (
    [""] + ["m%d" % i for i in range(1, 9)] + ["f%d" % i for i in range(1, 6)]
    + ["Alex", "Alicia", "Andrea", "Andy", "Annie", "AnxiousAndy", "Denis",
       "Diogo", "Gene", "Gene2", "Henrique", "Hugo", "Jacky", "Lee", "Marco",
       "Mario", "Michael", "Mike", "Nguyen", "RicishayMax", "RicishayMax2",
       "RicishayMax3", "Storm", "Tweaky", "adam", "anika", "announcer",
       "antonio", "aunty", "belinda", "benjamin", "boris", "caleb", "croak",
       "david", "ed", "edward", "edward2", "grandma", "grandpa", "gustave",
       "iven", "iven2", "iven3", "iven4", "john", "kaukovalta", "klatt2",
       "klatt3", "klatt4", "klatt5", "linda", "marcelo", "max", "michel",
       "miguel", "norbert", "pablo", "paul", "pedro", "quincy", "rob",
       "robert", "sandro", "shelby", "steph", "steph2", "steph3", "travis",
       "victor", "zac"])
# flite voices that speak arbitrary text (awb_time is limited-domain), with
# their speaker: kal and kal16 are one speaker at two sample rates.
FLITE_VOICES = [("kal", "kal"), ("kal16", "kal"), ("awb", "awb"),
                ("rms", "rms"), ("slt", "slt")]

SPLITS = ["train", "val", "test", "users"]
# Speakers (espeak variants, flite speakers) of each engine per held-out
# split; the rest trains. A variant goes to one split with all 8 accents, so
# no test or users timbre is ever heard in training.
SPLIT_SPEAKERS = {"espeak": {"val": 8, "test": 10, "users": 8},
                  "flite": {"val": 0, "test": 1, "users": 1}}

NOISE_TYPES = ["white", "pink", "brown", "fan", "hum", "babble"]
NOISE_BED_SECONDS = 20
USER_SNRS_DB = [0.0, 5.0, 10.0, 15.0]

# Presets: voices used per (split, engine), the first ones of the split in
# its seeded order (None = all), and takes = repetitions of every class per
# voice. "users" voices are the users, one each.
PRESETS = {
    "small": {
        "voices": {"train": {"espeak": 11, "flite": 1},
                   "val": {"espeak": 3, "flite": 0},
                   "test": {"espeak": 2, "flite": 1},
                   "users": {"espeak": 4, "flite": 0}},
        "takes": {"train": 1, "val": 1, "test": 1, "users": 2},
    },
    "large": {
        "voices": {"train": {"espeak": None, "flite": None},
                   "val": {"espeak": None, "flite": None},
                   "test": {"espeak": None, "flite": None},
                   "users": {"espeak": 11, "flite": 1}},
        "takes": {"train": 2, "val": 1, "test": 1, "users": 10},
    },
    "users16": {
        "voices": {"train": {"espeak": 0, "flite": 0},
                   "val": {"espeak": 0, "flite": 0},
                   "test": {"espeak": 0, "flite": 0},
                   "users": {"espeak": 15, "flite": 1}},
        "takes": {"train": 0, "val": 0, "test": 0, "users": 16},
        "extra_unknown_takes": {"users": 24},
    },
}


def voice_catalogue():
    """Every voice, in a fixed order: (name, engine, engine argument,
    speaker)."""
    voices = []
    for accent in ESPEAK_ACCENTS:
        for variant in ESPEAK_VARIANTS:
            arg = accent + ("+" + variant if variant else "")
            voices.append(("espeak:" + arg, "espeak", arg, variant or "plain"))
    for v, speaker in FLITE_VOICES:
        voices.append(("flite:" + v, "flite", v, speaker))
    return voices


def rng_for(seed, *parts):
    """A random.Random seeded from the data set seed and a key: independent
    of the order in which clips are generated."""
    key = ("%d|" % seed + "|".join(str(p) for p in parts)).encode()
    return random.Random(int.from_bytes(hashlib.sha256(key).digest()[:8],
                                        "little"))


def assign_splits(seed):
    """Maps split -> list of (name, engine, arg, speaker), in a seeded
    order. Each engine's speakers are shuffled by the seed and cut into val,
    test, users and train; a voice goes where its speaker went."""
    by_split = {s: [] for s in SPLITS}
    catalogue = voice_catalogue()
    for engine in ("espeak", "flite"):
        speakers = sorted({v[3] for v in catalogue if v[1] == engine})
        rng_for(seed, "speaker-split", engine).shuffle(speakers)
        split_of = {}
        pos = 0
        for split in ("val", "test", "users"):
            for sp in speakers[pos:pos + SPLIT_SPEAKERS[engine][split]]:
                split_of[sp] = split
            pos += SPLIT_SPEAKERS[engine][split]
        for sp in speakers[pos:]:
            split_of[sp] = "train"
        for v in catalogue:
            if v[1] == engine:
                by_split[split_of[v[3]]].append(v)
    for split in SPLITS:
        rng_for(seed, "voice-order", split).shuffle(by_split[split])
    return by_split


def select_voices(seed, preset):
    """Voices the preset uses: split -> list of (name, engine, arg,
    speaker)."""
    by_split = assign_splits(seed)
    chosen = {}
    for split in SPLITS:
        chosen[split] = []
        for engine in ("espeak", "flite"):
            pool = [v for v in by_split[split] if v[1] == engine]
            n = PRESETS[preset]["voices"][split][engine]
            chosen[split] += pool if n is None else pool[:n]
    return chosen


def user_environments(seed, n_users):
    """Noise environment of each user (1-based id): (type, snr_db)."""
    rng = rng_for(seed, "user-environments")
    types = list(NOISE_TYPES)
    rng.shuffle(types)
    envs = {}
    for u in range(n_users):
        envs[u + 1] = (types[u % len(types)], rng.choice(USER_SNRS_DB))
    return envs


def run(cmd, stdin=None):
    """Runs a command, returns stdout bytes; raises with stderr on failure."""
    p = subprocess.run(cmd, input=stdin, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, check=False)
    if p.returncode != 0:
        raise RuntimeError("%s failed (%d): %s" %
                           (" ".join(cmd), p.returncode,
                            p.stderr.decode(errors="replace")[:400]))
    return p.stdout


def sox_to_f32(args_in, effects, stdin=None):
    """Runs sox with the given input arguments and effects, returns float32
    16 kHz mono samples. -D: no dither (dither draws random numbers)."""
    out = run(["sox", "-D", "-R"] + args_in +
              ["-t", "f32", "-r", str(SAMPLE_RATE), "-c", "1", "-"] +
              effects + ["rate", str(SAMPLE_RATE)], stdin)
    return np.frombuffer(out, dtype="<f4").astype(np.float64)


def synthesize(engine, arg, text, rate_wpm, stretch, tmpdir):
    """Raw speech for `text` as float64 at 16 kHz."""
    if engine == "espeak":
        wav = run(["espeak-ng", "-v", arg, "-s", str(rate_wpm), "--stdout",
                   text])
        return sox_to_f32(["-t", "wav", "-"], [], wav)
    path = os.path.join(tmpdir, "flite.wav")
    run(["flite", "-voice", arg, "--setf", "duration_stretch=%.3f" % stretch,
         "-t", text, "-o", path])
    return sox_to_f32([path], [])


def read_wav_i16(path):
    with wave.open(path, "rb") as w:
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")


def write_wav_i16(path, samples):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes(samples.astype("<i2").tobytes())


def to_i16(x):
    return np.clip(np.rint(x * 32768.0), -32768, 32767).astype(np.int16)


def rms(x):
    return float(np.sqrt(np.mean(x * x))) if x.size else 0.0


def make_noise_beds(out_dir, seed, babble_voices):
    """Writes noise/<type>.wav (NOISE_BED_SECONDS, RMS -20 dBFS)."""
    n = NOISE_BED_SECONDS * SAMPLE_RATE
    secs = str(NOISE_BED_SECONDS)
    synth = ["-n"]
    beds = {
        "white": sox_to_f32(synth, ["synth", secs, "whitenoise"]),
        "pink": sox_to_f32(synth, ["synth", secs, "pinknoise"]),
        "brown": sox_to_f32(synth, ["synth", secs, "brownnoise", "highpass",
                                    "20"]),
        # A fan or engine: band-limited noise with a slow amplitude wobble.
        "fan": sox_to_f32(synth, ["synth", secs, "pinknoise", "lowpass",
                                  "700", "highpass", "60", "tremolo", "7",
                                  "40"]),
    }
    # Mains hum with harmonics over a faint pink floor.
    hum = sox_to_f32(synth, ["synth", secs, "sawtooth", "50", "lowpass",
                             "1500"])
    beds["hum"] = hum / rms(hum) + 0.1 * beds["pink"] / rms(beds["pink"])
    # Babble: six talkers (train voices) reading random unknown words.
    rng = rng_for(seed, "babble")
    babble = np.zeros(n)
    with tempfile.TemporaryDirectory() as tmp:
        for talker in range(6):
            _, engine, arg, _ = babble_voices[talker % len(babble_voices)]
            stream = np.zeros(0)
            while stream.size < n:
                words = " ".join(rng.choice(UNKNOWN_WORDS) for _ in range(12))
                stream = np.concatenate(
                    [stream, synthesize(engine, arg, words, 170, 1.0, tmp)])
            shift = rng.randrange(n)
            babble += np.roll(stream[:n], shift)
    beds["babble"] = babble
    paths = {}
    for name in NOISE_TYPES:
        x = beds[name][:n]
        x = x * (0.1 / max(rms(x), 1e-12))  # -20 dBFS
        path = os.path.join(out_dir, "noise", name + ".wav")
        write_wav_i16(path, to_i16(x))
        paths[name] = path
    return paths


# ---- per-clip work (runs in worker processes) -----------------------------

_BEDS = None
_TMP = None


def _worker_init(noise_dir, tmp_root):
    global _BEDS, _TMP
    _BEDS = {t: read_wav_i16(os.path.join(noise_dir, t + ".wav")).astype(
        np.float64) / 32768.0 for t in NOISE_TYPES}
    _TMP = tempfile.mkdtemp(dir=tmp_root)


def noise_segment(rng, noise_type):
    bed = _BEDS[noise_type]
    start = rng.randrange(bed.size - CLIP_SAMPLES)
    seg = bed[start:start + CLIP_SAMPLES]
    return seg / max(rms(seg), 1e-12)  # unit RMS


def trim(x, rel_db=-40.0, margin=160):
    """Drops leading and trailing samples quieter than rel_db below peak."""
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    if peak <= 0.0:
        return x[:0]
    idx = np.nonzero(np.abs(x) > peak * 10.0 ** (rel_db / 20.0))[0]
    lo = max(int(idx[0]) - margin, 0)
    hi = min(int(idx[-1]) + margin + 1, x.size)
    return x[lo:hi]


def make_clip(job):
    """Renders one clip; returns its manifest row. job is a dict."""
    rng = rng_for(job["seed"], job["split"], job["voice"], job["label"],
                  job["take"])
    label = job["label"]
    clip = np.zeros(CLIP_SAMPLES)
    text = ""
    level_db = 0.0
    if label == "_silence_":
        # Background only: one of the noise beds at a random level (users:
        # their own environment), now and then almost digital silence.
        noise = job["user_noise"] or rng.choice(NOISE_TYPES)
        level_db = -75.0 if rng.random() < 0.1 else rng.uniform(-60.0, -25.0)
        clip = noise_segment(rng, noise) * 10.0 ** (level_db / 20.0)
        snr = None
    else:
        text = rng.choice(UNKNOWN_WORDS) if label == "_unknown_" else label
        engine, arg = job["engine"], job["engine_arg"]
        rate_wpm = rng.randint(130, 200)
        stretch = rng.uniform(0.85, 1.25)
        tempo = rng.uniform(0.9, 1.1)
        cents = rng.randint(-200, 200)
        speech = synthesize(engine, arg, text, rate_wpm, stretch, _TMP)
        speech = trim(speech)
        # Tempo and pitch through sox on the trimmed word; squeeze words
        # that would not fit 0.9 s.
        fit = speech.size / (0.9 * SAMPLE_RATE)
        tempo = max(tempo, fit * 1.001)
        raw = speech.astype("<f4").tobytes()
        speech = sox_to_f32(["-t", "f32", "-r", str(SAMPLE_RATE), "-c", "1",
                             "-"], ["tempo", "-s", "%.4f" % tempo, "pitch",
                                    str(cents)], raw)
        speech = trim(speech)[:CLIP_SAMPLES]
        level_db = rng.uniform(-32.0, -14.0)
        speech = speech * (10.0 ** (level_db / 20.0) / max(rms(speech),
                                                           1e-12))
        start = rng.randrange(CLIP_SAMPLES - speech.size + 1)
        clip[start:start + speech.size] = speech
        if job["user_noise"]:
            noise, snr = job["user_noise"], job["user_snr"]
        elif rng.random() < 0.15:
            noise, snr = "none", None
        else:
            noise, snr = rng.choice(NOISE_TYPES), rng.uniform(5.0, 30.0)
        if noise != "none":
            # SNR against the speech's RMS over its active part.
            noise_rms = 10.0 ** ((level_db - snr) / 20.0)
            clip = clip + noise_segment(rng, noise) * noise_rms
    samples = to_i16(clip)
    write_wav_i16(os.path.join(job["out_dir"], job["path"]), samples)
    return {
        "path": job["path"], "label": label,
        "class_index": CLASSES.index(label), "split": job["split"],
        "voice": job["voice"] if label != "_silence_" else "",
        "user": job["user"], "noise": noise,
        "snr_db": "" if snr is None else "%.2f" % snr,
        "level_dbfs": "%.2f" % level_db, "take": job["take"], "text": text,
    }


# ---- driver ----------------------------------------------------------------

MANIFEST_FIELDS = ["path", "label", "class_index", "split", "voice", "user",
                   "noise", "snr_db", "level_dbfs", "take", "text"]


def plan_jobs(out_dir, seed, preset, users_env=None):
    """Clip jobs of a preset. users_env: (type, snr_db) shared by every
    user, or None for the seeded environment of each user."""
    chosen = select_voices(seed, preset)
    envs = user_environments(seed, len(chosen["users"]))
    if users_env is not None:
        envs = {u: users_env for u in envs}
    extra = PRESETS[preset].get("extra_unknown_takes", {})
    jobs = []
    for split in SPLITS:
        for vi, (name, engine, arg, _) in enumerate(chosen[split]):
            user = vi + 1 if split == "users" else 0
            env = envs.get(user, (None, None)) if user else (None, None)
            takes = PRESETS[preset]["takes"][split]
            plan = [(t, label) for t in range(takes) for label in CLASSES]
            plan += [(t, "_unknown_")
                     for t in range(takes, takes + extra.get(split, 0))]
            for take, label in plan:
                safe = name.replace(":", "_").replace("+", "_")
                path = "wav/%s/%s/%s_t%02d.wav" % (split, label, safe, take)
                jobs.append({
                    "seed": seed, "out_dir": out_dir, "path": path,
                    "split": split, "voice": name, "engine": engine,
                    "engine_arg": arg, "label": label, "take": take,
                    "user": user, "user_noise": env[0],
                    "user_snr": env[1]})
    return jobs, chosen, envs


def tool_versions():
    def version_line(cmd):
        # flite prints its version with exit status 1: read it anyway.
        try:
            p = subprocess.run(cmd, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, check=False)
        except OSError:
            return "unknown"
        lines = [ln.strip() for ln in
                 p.stdout.decode(errors="replace").splitlines() if ln.strip()]
        for ln in lines:
            if "version" in ln.lower() or ln.lower().startswith(cmd[0]):
                return ln
        return lines[0] if lines else "unknown"
    return {"espeak-ng": version_line(["espeak-ng", "--version"]),
            "flite": version_line(["flite", "--version"]),
            "sox": version_line(["sox", "--version"]),
            "numpy": np.__version__}


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, help="output directory")
    ap.add_argument("--preset", choices=sorted(PRESETS), default="small")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--users-env", metavar="TYPE:SNR_DB",
                    help="one noise environment for every user, e.g. "
                    "babble:5")
    args = ap.parse_args(argv)
    users_env = None
    if args.users_env:
        kind, _, snr = args.users_env.partition(":")
        if kind not in NOISE_TYPES or not snr:
            sys.exit("kws_synth: --users-env wants TYPE:SNR_DB with TYPE one "
                     "of %s" % ", ".join(NOISE_TYPES))
        users_env = (kind, float(snr))

    for tool in ("espeak-ng", "flite", "sox"):
        if shutil.which(tool) is None:
            sys.exit("kws_synth: %s not found (deploy/install-deps.sh "
                     "--with-tools installs it)" % tool)
    out = os.path.abspath(args.out)
    if os.path.exists(os.path.join(out, "manifest.csv")):
        sys.exit("kws_synth: %s already holds a data set" % out)
    os.makedirs(out, exist_ok=True)
    t0 = time.monotonic()

    jobs, chosen, envs = plan_jobs(out, args.seed, args.preset, users_env)
    make_noise_beds(out, args.seed, assign_splits(args.seed)["train"])
    t_beds = time.monotonic() - t0

    with tempfile.TemporaryDirectory(prefix="kws-synth-") as tmp_root:
        with ProcessPoolExecutor(
                max_workers=max(1, args.jobs), initializer=_worker_init,
                initargs=(os.path.join(out, "noise"), tmp_root)) as ex:
            rows = list(ex.map(make_clip, jobs, chunksize=8))

    buf = io.StringIO()
    wr = csv.DictWriter(buf, fieldnames=MANIFEST_FIELDS, lineterminator="\n")
    wr.writeheader()
    wr.writerows(rows)
    manifest = buf.getvalue().encode()
    with open(os.path.join(out, "manifest.csv"), "wb") as f:
        f.write(manifest)

    with open(os.path.join(out, "voices.csv"), "w") as f:
        f.write("voice,engine,speaker,split,used,user,user_noise,"
                "user_snr_db\n")
        for split, voices in assign_splits(args.seed).items():
            used = {v[0]: i + 1 for i, v in enumerate(chosen[split])}
            for name, engine, _, speaker in voices:
                user = used.get(name, 0) if split == "users" else 0
                noise, snr = envs.get(user, ("", "")) if user else ("", "")
                f.write("%s,%s,%s,%s,%d,%d,%s,%s\n" %
                        (name, engine, speaker, split, int(name in used),
                         user, noise, snr))

    h = hashlib.sha256(manifest)
    for r in rows:
        with open(os.path.join(out, r["path"]), "rb") as f:
            h.update(f.read())
    digest = h.hexdigest()
    with open(os.path.join(out, "digest.txt"), "w") as f:
        f.write(digest + "\n")

    elapsed = time.monotonic() - t0
    counts = {s: {c: 0 for c in CLASSES} for s in SPLITS}
    for r in rows:
        counts[r["split"]][r["label"]] += 1
    stats = {
        "preset": args.preset, "seed": args.seed, "clips": len(rows),
        "users_env": args.users_env or "per user",
        "voices": {s: len(v) for s, v in chosen.items()},
        "users": {str(u): {"voice": chosen["users"][u - 1][0],
                           "noise": e[0], "snr_db": e[1]}
                  for u, e in envs.items()},
        "counts": counts, "jobs": args.jobs,
        "seconds": round(elapsed, 2), "noise_bed_seconds": round(t_beds, 2),
        "tools": tool_versions(), "digest": digest,
    }
    with open(os.path.join(out, "stats.json"), "w") as f:
        json.dump(stats, f, indent=1)
        f.write("\n")
    print("kws_synth: %d clips (%s, seed %d) in %.1f s; digest %s" %
          (len(rows), args.preset, args.seed, elapsed, digest))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
