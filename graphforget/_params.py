"""Checks of constructor parameters shared by the methods (one wording everywhere).

Each raises :class:`~graphforget.errors.GraphForgetError` naming the parameter and the
value it got; ``bool`` is never accepted as a number.
"""

from __future__ import annotations

from typing import Any

from graphforget.errors import GraphForgetError

__all__ = ["check_int", "check_number"]


def check_int(name: str, value: Any, low: int, optional: bool = False) -> None:
    """``value`` is an integer ``>= low`` (or ``None`` when ``optional``)."""
    if optional and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise GraphForgetError(f"{name} must be an integer >= {low}{' or None' if optional else ''}, "
                               f"got {value!r}")


def check_number(name: str, value: Any, positive: bool = False, high: float | None = None) -> None:
    """``value`` is a real number ``> 0`` (``positive``) or ``>= 0``, and ``<= high``
    when given (then the message names the interval ``[0, high]``)."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) \
        and (value > 0 if positive else value >= 0) and (high is None or value <= high)
    if not ok:
        if high is not None:
            raise GraphForgetError(f"{name} must lie in [0, {high:g}], got {value!r}")
        raise GraphForgetError(f"{name} must be a number {'>' if positive else '>='} 0, got {value!r}")
