"""Seeds derived from one root seed and a path of keys; never a global RNG.

Every random draw in ``sweep`` comes from ``Seeds(root).rng(*keys)``: a NumPy generator whose
state is a pure function of the root seed and the keys (for example ``("class", 17)`` or
``("instance", 17, 3)``). Work can therefore be split across any number of processes, in any
order, and every image is still the same bytes. Device code that cannot afford a generator per
image uses :meth:`Seeds.key32`, a 32-bit key fed to a counter-based hash
(:mod:`sweep.generators._hashrng`).

Imports: numpy and the standard library only.
"""

from __future__ import annotations

import hashlib

import numpy as np

Key = int | str


def _key_int(key: Key) -> int:
    """Map a key to a non-negative int; strings through a stable hash (not Python's ``hash``)."""
    if isinstance(key, bool):  # bool is an int subclass; refuse the ambiguity
        raise TypeError("seed keys must be ints or strings, not bool")
    if isinstance(key, int | np.integer):
        if key < 0:
            raise ValueError(f"seed keys must be non-negative, got {key}")
        return int(key)
    if isinstance(key, str):
        return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=4).digest(), "little")
    raise TypeError(f"seed keys must be ints or strings, got {type(key).__name__}")


class Seeds:
    """A root seed from which keyed, independent random streams are derived."""

    def __init__(self, root: int) -> None:
        if not isinstance(root, int | np.integer) or isinstance(root, bool) or root < 0:
            raise ValueError(f"the root seed must be a non-negative integer, got {root!r}")
        self.root = int(root)

    def __repr__(self) -> str:
        return f"Seeds({self.root})"

    def sequence(self, *keys: Key) -> np.random.SeedSequence:
        """The SeedSequence for ``keys``: distinct key paths give independent streams."""
        return np.random.SeedSequence(self.root, spawn_key=tuple(_key_int(k) for k in keys))

    def rng(self, *keys: Key) -> np.random.Generator:
        """A fresh NumPy generator for ``keys``."""
        return np.random.Generator(np.random.PCG64(self.sequence(*keys)))

    def key32(self, *keys: Key) -> int:
        """A 32-bit integer key for counter-based hashing on a device."""
        return int(self.sequence(*keys).generate_state(1, np.uint32)[0])
