"""A pure-Python stand-in for the few NumPy operations kws_synth.py uses.

kws_synth.py imports NumPy when it is installed and this module otherwise.
Only the subset the synthesizer needs is provided: 1-D vectors of Python
floats or ints with elementwise arithmetic against scalars and vectors of
the same length, slicing, slice assignment, comparisons giving boolean
vectors, and the module functions below.

Results are numerically equivalent to NumPy's, but bit identity is not
guaranteed: sums are accumulated with math.fsum (NumPy uses pairwise
summation), so an RMS may differ in its last bit and a 16-bit sample derived
from it, rarely, by one step. Compare digest.txt with a NumPy run when that
matters.
"""

import array
import math

__version__ = "minivec (pure Python, no NumPy)"

float64 = "d"
int16 = "h"

_CODES = {"<f4": "f", "<i2": "h", "d": "d", "h": "h"}


class Vec:
    """A 1-D vector; `v` is a Python list."""

    __slots__ = ("v",)

    def __init__(self, values):
        self.v = values if isinstance(values, list) else list(values)

    @property
    def size(self):
        return len(self.v)

    def __len__(self):
        return len(self.v)

    def __getitem__(self, key):
        if isinstance(key, slice):
            return Vec(self.v[key])
        return self.v[key]

    def __setitem__(self, key, value):
        self.v[key] = value.v if isinstance(value, Vec) else value

    def _map2(self, other, fn):
        if isinstance(other, Vec):
            if len(other.v) != len(self.v):
                raise ValueError("length mismatch")
            return Vec([fn(a, b) for a, b in zip(self.v, other.v)])
        return Vec([fn(a, other) for a in self.v])

    def __add__(self, o):
        return self._map2(o, lambda a, b: a + b)

    __radd__ = __add__

    def __iadd__(self, o):
        return self.__add__(o)

    def __mul__(self, o):
        return self._map2(o, lambda a, b: a * b)

    __rmul__ = __mul__

    def __truediv__(self, o):
        return self._map2(o, lambda a, b: a / b)

    def __gt__(self, o):
        return self._map2(o, lambda a, b: a > b)

    def astype(self, dtype):
        code = _CODES[dtype]
        if code in ("h",):
            return Vec([int(a) for a in self.v])
        if code == "f":
            # Round through float32 like NumPy's cast.
            return Vec(list(array.array("f", self.v)))
        return Vec([float(a) for a in self.v])

    def tobytes(self):
        # Called on vectors cast by astype("<i2") or astype("<f4"): ints are
        # packed as int16, floats as float32 (little-endian hosts).
        if self.v and isinstance(self.v[0], int):
            return array.array("h", self.v).tobytes()
        return array.array("f", self.v).tobytes()


def frombuffer(buf, dtype):
    a = array.array(_CODES[dtype])
    a.frombytes(bytes(buf))
    return Vec(a.tolist())


def zeros(n):
    return Vec([0.0] * n)


def concatenate(vectors):
    out = []
    for x in vectors:
        out.extend(x.v)
    return Vec(out)


def roll(x, shift):
    n = len(x.v)
    if n == 0:
        return Vec([])
    shift %= n
    return Vec(x.v[n - shift:] + x.v[:n - shift])


def abs(x):  # pylint: disable=redefined-builtin
    return Vec([a if a >= 0 else -a for a in x.v])


def max(x):  # pylint: disable=redefined-builtin
    best = x.v[0]
    for a in x.v:
        if a > best:
            best = a
    return best


def mean(x):
    return math.fsum(x.v) / len(x.v)


def sqrt(a):
    return math.sqrt(a)


def nonzero(mask):
    return ([i for i, m in enumerate(mask.v) if m],)


def rint(x):
    # Python's round() rounds half to even, like NumPy's rint.
    return Vec([float(round(a)) for a in x.v])


def clip(x, lo, hi):
    return Vec([lo if a < lo else hi if a > hi else a for a in x.v])
