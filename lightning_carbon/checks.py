"""Argument checks shared across the package; each error names the argument and quotes it."""

from __future__ import annotations

import argparse
import math
from typing import Any


def check_int(name: str, value: Any, minimum: int) -> int:
    """Return ``value`` if it is an int (not a bool) of at least ``minimum``, else raise.

    Example::

        >>> check_int("filters", 8, minimum=1)
        8
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return value


def positive_number(name: str, value: Any) -> float:
    """``value`` as a float if it is a finite int or float (not a bool) above 0, else raise.

    Example::

        >>> positive_number("budget_gco2e", 500)
        500.0
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


def comma_names(text: str) -> list[str]:
    """An ``argparse`` type: the names of a comma-separated list, at least one.

    Example::

        >>> comma_names("DNK, FRA,")
        ['DNK', 'FRA']
    """
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"no names in {text!r}")
    return names
