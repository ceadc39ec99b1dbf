"""Independent seeds for the parts of one experiment.

Two components of an experiment that must not share their random draws (claim C06b: the OMP-1
and the random-patch dictionaries draw their patches and initial atoms independently) get
seeds derived from the run's seed and a name for the component, by NumPy's
:class:`~numpy.random.SeedSequence`: ``derive_seed(seed, "omp1")`` and
``derive_seed(seed, "random_patches")`` are two independent streams, both reproducible from
``seed``.
"""

from __future__ import annotations

import numbers
import zlib
from typing import Any

import numpy as np

__all__ = ["derive_seed"]


def _key_word(key: Any) -> int:
    if isinstance(key, bool):
        raise TypeError("a key must be a str or a non-negative int, got bool")
    if isinstance(key, numbers.Integral):
        if key < 0:
            raise ValueError(f"an integer key must be non-negative, got {key}")
        return int(key)
    if isinstance(key, str):
        # a stable hash (Python's hash() of a str changes between processes)
        return zlib.crc32(key.encode("utf-8"))
    raise TypeError(f"a key must be a str or a non-negative int, got {type(key).__name__}")


def derive_seed(seed: int, *keys: Any) -> int:
    """A seed for the component named by ``keys`` of the run seeded by ``seed``.

    The result is ``SeedSequence(seed, spawn_key=keys).generate_state(1)`` (strings enter
    the spawn key as their CRC-32): the same ``(seed, keys)`` always give the same value, and
    different keys give statistically independent streams.

    Parameters
    ----------
    seed : int >= 0
    *keys : str or int >= 0
        At least one.

    Returns
    -------
    int
        In ``[0, 2**32)``.
    """
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise TypeError(f"seed must be a non-negative int, got {seed!r}")
    if not keys:
        raise ValueError("give at least one key naming the component")
    ss = np.random.SeedSequence(int(seed), spawn_key=tuple(_key_word(k) for k in keys))
    return int(ss.generate_state(1, dtype=np.uint32)[0])
