"""The generator contract: a parameter schema, class sampling and vectorised renderers.

A generator is a pure function family. Given its resolved parameters (the schema's published
defaults plus user overrides), it

* draws the parameters of one class from a NumPy generator (:meth:`Generator.sample_class`),
* renders any set of instances of that class into a ``uint8`` array of shape ``(n, S, S)``
  on the CPU (:meth:`Generator.render`), and
* renders the same distribution straight into a ``torch.uint8`` tensor on a device
  (:meth:`Generator.render_torch`).

Invariants every generator keeps:

* no file I/O and no global RNG: all randomness comes from the :class:`~sweep.seeding.Seeds`
  passed in, keyed by (class index, instance index, ...), so an image is a pure function of
  (dataset seed, class index, instance index, parameters) whatever the batch or worker count;
* class parameters are JSON-serialisable, so a dataset is reproducible from its parameters file;
* ``version`` changes whenever the bytes a given seed produces change.

Lengths in the published definitions are pixels on a 512x512 canvas. At other image sizes every
length (radii, steps, noise amplitude, wave amplitude, centre spread) is multiplied by S/512, so
an image at size S is the 512 image's geometry scaled down; strokes stay 1 px wide.

Imports: numpy, torch (lazily); :mod:`sweep.errors`, :mod:`sweep.seeding`.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from sweep.errors import SweepError, did_you_mean
from sweep.seeding import Seeds

REFERENCE_SIZE = 512


@dataclass(frozen=True)
class Param:
    """One generator parameter.

    Attributes:
        name: key used in search spaces and ``--set name=value``.
        type: ``"int"``, ``"float"``, ``"int_range"`` or ``"float_range"``. A range is a
            ``(min, max)`` pair with ``min <= max``: each class draws uniformly inside it, and
            sweeps vary the pair (for example the frequency band ``[n_min, n_max]``).
        default: the published value.
        low, high: the valid domain (inclusive); ``None`` means unbounded on that side.
        help: one line for ``sweep ls``.
    """

    name: str
    type: str
    default: Any
    low: float | None
    high: float | None
    help: str

    @property
    def is_range(self) -> bool:
        return self.type.endswith("_range")

    @property
    def is_int(self) -> bool:
        return self.type.startswith("int")

    def describe_domain(self) -> str:
        lo = "-inf" if self.low is None else _fmt(self.low)
        hi = "inf" if self.high is None else _fmt(self.high)
        return f"[{lo}, {hi}]"

    def validate(self, value: Any, where: str) -> Any:
        """Return ``value`` normalised (a tuple for ranges).

        Raises:
            SweepError: a wrong type, a value outside the domain, or a range with min > max.
        """
        label = f"{where}{self.name}"
        if self.is_range:
            if isinstance(value, str) or not isinstance(value, Sequence) or len(value) != 2:
                d_lo, d_hi = (_fmt(v) for v in self.default)
                raise SweepError(
                    key=label,
                    message=f"expected a [min, max] pair, got {value!r}; "
                    f"write for example {self.name}=[{d_lo},{d_hi}]",
                )
            lo, hi = (self._scalar(v, label) for v in value)
            if lo > hi:
                raise SweepError(
                    key=label,
                    message=f"min {_fmt(lo)} > max {_fmt(hi)}; write the pair as [min, max]",
                )
            for v in (lo, hi):
                self._check_domain(v, label)
            return (lo, hi)
        v = self._scalar(value, label)
        self._check_domain(v, label)
        return v

    def _scalar(self, value: Any, label: str) -> int | float:
        if isinstance(value, bool) or not isinstance(
            value, int | float | np.integer | np.floating
        ):
            kind = "an integer" if self.is_int else "a number"
            raise SweepError(key=label, message=f"expected {kind}, got {value!r}")
        if self.is_int:
            if float(value) != int(value):
                raise SweepError(key=label, message=f"expected an integer, got {value!r}")
            return int(value)
        if not math.isfinite(float(value)):
            raise SweepError(key=label, message=f"expected a finite number, got {value!r}")
        return float(value)

    def _check_domain(self, v: float, label: str) -> None:
        if (self.low is not None and v < self.low) or (self.high is not None and v > self.high):
            raise SweepError(
                key=label,
                message=f"{_fmt(v)} is outside the valid domain {self.describe_domain()}",
            )


def _fmt(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else f"{v:g}"


class Generator(abc.ABC):
    """Base class of all formula-driven image generators (see the module docstring)."""

    #: registry name
    name: ClassVar[str]
    #: bumped whenever the bytes produced for a given seed and parameters change
    version: ClassVar[str]
    #: one line for listings
    summary: ClassVar[str]
    #: paper and official code the implementation follows
    reference: ClassVar[str]
    #: parameter schema (published values as defaults)
    schema: ClassVar[tuple[Param, ...]]
    #: grey level of the empty canvas
    background: ClassVar[int] = 0
    #: published dataset shape (classes, instances per class, image size)
    published_shape: ClassVar[tuple[int, int, int]] = (1000, 1000, 512)
    #: smallest image size at which the generator can draw anything meaningful
    min_image_size: ClassVar[int] = 8

    def __init__(self, params: Mapping[str, Any] | None = None, *, image_size: int = 512) -> None:
        self.params: dict[str, Any] = self.resolve_params(params or {})
        if isinstance(image_size, bool) or not isinstance(image_size, int | np.integer):
            raise SweepError(f"image_size: expected an integer, got {image_size!r}")
        if image_size < self.min_image_size:
            raise SweepError(
                f"image_size: {image_size} is too small to draw {self.name}; "
                f"use at least {self.min_image_size}"
            )
        if image_size > 8192:
            raise SweepError(f"image_size: {image_size} is larger than the supported 8192")
        self.image_size = int(image_size)
        self.scale = self.image_size / REFERENCE_SIZE
        self.check_params()

    # ------------------------------------------------------------------ schema
    @classmethod
    def param_names(cls) -> list[str]:
        return [p.name for p in cls.schema]

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        return {p.name: p.default for p in cls.schema}

    @classmethod
    def resolve_params(cls, overrides: Mapping[str, Any], where: str = "") -> dict[str, Any]:
        """Published defaults updated with ``overrides``, every value validated.

        Raises:
            SweepError: an unknown name (with a did-you-mean) or an invalid value.
        """
        by_name = {p.name: p for p in cls.schema}
        out = {p.name: p.validate(p.default, where) for p in cls.schema}
        for key, value in overrides.items():
            if key not in by_name:
                raise SweepError(
                    key=f"{where}{key}",
                    message=f"unknown parameter of generator '{cls.name}'"
                    f"{did_you_mean(key, by_name)}; valid: {', '.join(by_name)}",
                )
            out[key] = by_name[key].validate(value, where)
        return out

    def check_params(self) -> None:  # noqa: B027 - optional hook
        """Cross-parameter checks (hook); raise :class:`SweepError` on a bad combination."""

    # ------------------------------------------------------------------ contract
    def prepare(self, seeds: Seeds) -> dict[str, Any]:
        """Dataset-level state shared by all classes (hook); JSON-serialisable. Default: none."""
        return {}

    @abc.abstractmethod
    def sample_class(self, seeds: Seeds, class_index: int, shared: Mapping[str, Any]) -> dict:
        """Draw the parameters of class ``class_index`` (JSON-serialisable)."""

    @abc.abstractmethod
    def render(
        self, cls: Mapping[str, Any], seeds: Seeds, class_index: int, instances: np.ndarray
    ) -> np.ndarray:
        """Render ``instances`` of one class on the CPU: ``uint8`` array ``(n, S, S)``."""

    def render_torch(
        self,
        cls: Mapping[str, Any],
        seeds: Seeds,
        class_index: int,
        instances: np.ndarray,
        device: Any,
    ):
        """Render on a torch device: ``torch.uint8`` tensor ``(n, S, S)``.

        The default renders on the CPU and copies; generators with a native device path
        override it.
        """
        import torch

        return torch.from_numpy(self.render(cls, seeds, class_index, instances)).to(device)

    @classmethod
    def describe(cls) -> dict[str, Any]:
        """The schema and metadata as plain data (``sweep ls NAME --json``)."""
        return {
            "name": cls.name,
            "version": cls.version,
            "summary": cls.summary,
            "reference": cls.reference,
            "background": cls.background,
            "published_shape": list(cls.published_shape),
            "params": {
                p.name: {
                    "type": p.type,
                    "default": list(p.default) if p.is_range else p.default,
                    "domain": [p.low, p.high],
                    "help": p.help,
                }
                for p in cls.schema
            },
        }
