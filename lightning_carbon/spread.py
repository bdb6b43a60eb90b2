"""The spread of repeated measurements: mean, sample standard deviation, median, range.

Used wherever runs are repeated: the precision sweep's rows and the report's table of runs
(or groups of runs) by region.

Example::

    >>> s = Spread.of([1.0, 2.0, 6.0])
    >>> s.mean, s.std, s.median, s.n
    (3.0, 2.6457513110645907, 2.0, 3)
    >>> s.text(spec=".2f")
    '3.00 ± 2.6'
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Spread:
    """Mean, sample standard deviation (``None`` for one value), median, minimum, maximum, count.

    Example::

        >>> Spread.of([1.0, 2.0, 3.0])
        Spread(mean=2.0, std=1.0, median=2.0, min=1.0, max=3.0, n=3)
    """

    mean: float
    std: float | None
    median: float
    min: float
    max: float
    n: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread:
        """The spread of ``values`` (at least one); raises ``ValueError`` on none."""
        if not values:
            raise ValueError("a spread needs at least one value, got none")
        std = statistics.stdev(values) if len(values) > 1 else None
        return cls(
            statistics.fmean(values),
            std,
            statistics.median(values),
            min(values),
            max(values),
            len(values),
        )

    def text(self, scale: float = 1.0, spec: str = ".3g") -> str:
        """``'mean ± std'`` (``'mean'`` alone for one value), each times ``scale``."""
        mean = format(self.mean * scale, spec)
        return mean if self.std is None else f"{mean} ± {self.std * scale:.2g}"
