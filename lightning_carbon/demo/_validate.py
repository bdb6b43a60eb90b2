"""Argument checks shared by the demo modules; each error quotes the bad value."""

from __future__ import annotations

from typing import Any


def check_fraction(name: str, value: Any, *, allow_zero: bool) -> float:
    """Return ``value`` as a float in ``[0, 1)`` (``(0, 1)`` unless ``allow_zero``), else raise.

    Example::

        >>> check_fraction("val_fraction", 0.2, allow_zero=False)
        0.2
    """
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    in_range = is_number and (0 <= value < 1 if allow_zero else 0 < value < 1)
    if not in_range:
        interval = "[0, 1)" if allow_zero else "(0, 1)"
        raise ValueError(f"{name} must be a number in {interval}, got {value!r}")
    return float(value)
