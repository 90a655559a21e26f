"""The generator registry: ``name -> Generator`` class, imported lazily.

>>> from sweep.generators import get_generator, list_generators
>>> gen = get_generator("visualatom", {"freq1": [0, 3], "freq2": [0, 3]}, image_size=64)

Imports: :mod:`sweep.registry` only (and the generators' base class for type checking); each
generator module is imported by name, on first use.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sweep.registry import Registry

if TYPE_CHECKING:  # types only: nothing is imported at run time
    from sweep.generators.base import Generator

GENERATORS: Registry[type[Generator]] = Registry("generator")
GENERATORS.register("visualatom", "sweep.generators.visualatom:VisualAtom")
GENERATORS.register("rcdb", "sweep.generators.rcdb:RCDB")
GENERATORS.register("fractaldb", "sweep.generators.fractal:FractalDB")
GENERATORS.register("1p-frac", "sweep.generators.fractal:OnePFrac")
GENERATORS.register("exfractaldb", "sweep.generators.exfractaldb:ExFractalDB")


def list_generators() -> list[str]:
    return GENERATORS.names()


def generator_class(name: str) -> type[Generator]:
    return GENERATORS.get(name)


def get_generator(name: str, params: Mapping[str, Any] | None = None, *, image_size: int = 512):
    """A configured generator.

    Raises:
        SweepError: an unknown name (with a did-you-mean) or an invalid parameter.
    """
    return GENERATORS.get(name)(params, image_size=image_size)
