"""Our warnings print as one plain line: ``lightning-carbon: ...``, no source-file prefix.

Python prints a warning as ``/path/file.py:381: Category: message`` plus the source line,
which says nothing to a user about their run. Every warning this package raises starts with
``lightning-carbon:``; :func:`install_warning_format` wraps ``warnings.formatwarning`` (keeping
whatever format was in force, Lightning's included) so those print as the message alone.
Called once when :mod:`lightning_carbon.run` is imported; calling it again does nothing.

Example::

    >>> import warnings
    >>> install_warning_format()
    >>> warnings.formatwarning("lightning-carbon: the budget is passed", UserWarning, "f.py", 3)
    'lightning-carbon: the budget is passed\\n'
"""

from __future__ import annotations

import warnings
from typing import Any

PREFIX = "lightning-carbon:"


def install_warning_format() -> None:
    """Format this package's warnings as their message alone; others as before."""
    previous = warnings.formatwarning
    if getattr(previous, "_lightning_carbon", False):
        return

    def formatwarning(message: Any, category: Any, filename: str, lineno: int, *args: Any) -> str:
        if str(message).startswith(PREFIX):
            return f"{message}\n"
        return previous(message, category, filename, lineno, *args)

    formatwarning._lightning_carbon = True  # type: ignore[attr-defined]
    warnings.formatwarning = formatwarning
