"""Plain-text formatting shared by the page, the figures and the dashboard note.

Numbers (:func:`num`), a correlation with its interval (:func:`fmt_ci`) and searched values
(:func:`params_text`) as text; no HTML here (the templates escape what they print).

Imports: the standard library only.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any


def num(v: Any, digits: int = 4) -> str:
    """A float to ``digits`` significant digits; None as ""; anything else as ``str``."""
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.{digits}g}"
    return str(v)


def fmt_ci(rho: float | None, ci: Sequence[float] | None) -> str:
    """``+0.42 [+0.10, +0.71]``; ``n/a`` without a value."""
    if rho is None:
        return "n/a"
    s = f"{rho:+.2f}"
    return s + (f" [{ci[0]:+.2f}, {ci[1]:+.2f}]" if ci else " [interval n/a]")


def params_text(params: Mapping[str, Any]) -> str:
    """``freq=[2, 4], scale=0.5``: searched values as JSON values."""
    return ", ".join(f"{k}={json.dumps(v)}" for k, v in params.items())
