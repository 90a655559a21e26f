"""Plain-value helpers shared by the schema, the engine, the calibration and the report.

One copy each of: number checks (a bool is not a number), the reading of YAML 1.1 number strings
(``1e-3`` without a dot is a string to PyYAML), JSON-ready conversion (numpy scalars, tuples)
and freezing lists into tuples.

Imports: the standard library only.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, TypeGuard


def is_int(v: Any) -> TypeGuard[int]:
    """An integer that is not a bool."""
    return isinstance(v, int) and not isinstance(v, bool)


def is_real(v: Any) -> TypeGuard[int | float]:
    """A real number (infinities and NaN included) that is not a bool."""
    return isinstance(v, int | float) and not isinstance(v, bool)


def is_number(v: Any) -> TypeGuard[int | float]:
    """A finite real number that is not a bool."""
    return is_real(v) and math.isfinite(v)


def is_primitive(v: Any) -> bool:
    """A value Optuna can store as a categorical choice."""
    return v is None or isinstance(v, bool | int | float | str)


def yaml_float(v: Any) -> Any:
    """A string that reads as a float (YAML 1.1 reads ``1e-3`` as a string) as that float;
    anything else as it is."""
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            return v
    return v


def cli_number(value: Any) -> Any:
    """A command-line string as an int, else a float, else as it is (``--set k=1e-3``)."""
    if isinstance(value, str):
        for kind in (int, float):
            try:
                return kind(value)
            except ValueError:
                pass
    return value


def freeze(value: Any) -> Any:
    """Lists (nested too) as tuples, so the value can sit in a frozen dataclass."""
    if isinstance(value, list | tuple):
        return tuple(freeze(v) for v in value)
    return value


def jsonable(value: Any, *, nan_to_none: bool = False) -> Any:
    """``value`` as JSON-ready data: string keys, lists for tuples and arrays, numpy scalars
    unwrapped; with ``nan_to_none``, NaN and infinities as None (JSON has no NaN)."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v, nan_to_none=nan_to_none) for k, v in value.items()}
    if hasattr(value, "tolist") and hasattr(value, "shape") and getattr(value, "ndim", 0) > 0:
        value = value.tolist()  # numpy arrays
    if isinstance(value, list | tuple):
        return [jsonable(v, nan_to_none=nan_to_none) for v in value]
    if hasattr(value, "item") and not isinstance(value, str):  # numpy scalars
        value = value.item()
    if nan_to_none and isinstance(value, float) and not math.isfinite(value):
        return None
    return value
