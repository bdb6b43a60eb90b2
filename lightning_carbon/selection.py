"""Carbon-aware model selection: the Pareto front of quality against emissions, and a pick.

A result is one trained model: a mapping (or an object with attributes) that holds a quality
metric where higher is better (``val_dice`` by default) and its cost in ``gco2e``. Both
functions return the caller's own result objects, so any extra fields (the width, a path to the
checkpoint) come along.

Example::

    >>> results = [
    ...     {"filters": 4, "val_dice": 0.80, "gco2e": 1.0},
    ...     {"filters": 8, "val_dice": 0.86, "gco2e": 2.0},
    ...     {"filters": 16, "val_dice": 0.865, "gco2e": 5.0},
    ...     {"filters": 32, "val_dice": 0.85, "gco2e": 9.0},
    ... ]
    >>> [r["filters"] for r in pareto_front(results)]
    [4, 8, 16]
    >>> select_model(results, tolerance=0.01)["filters"]
    8
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

Result = TypeVar("Result")


def pareto_front(
    results: Sequence[Result], metric: str = "val_dice", cost: str = "gco2e"
) -> list[Result]:
    """The results no other result beats: none has a metric at least as high at a cost at
    most as low, with one of the two strictly better. Sorted by cost, cheapest first.

    Results with equal metric and cost are all kept.

    Example::

        >>> front = pareto_front([{"val_dice": 0.9, "gco2e": 3.0}, {"val_dice": 0.8, "gco2e": 4.0}])
        >>> front
        [{'val_dice': 0.9, 'gco2e': 3.0}]
    """
    points = _points(results, metric, cost)
    front = [
        i
        for i, (m_i, c_i) in enumerate(points)
        if not any(m_j >= m_i and c_j <= c_i and (m_j > m_i or c_j < c_i) for m_j, c_j in points)
    ]
    return [results[i] for i in sorted(front, key=lambda i: (points[i][1], -points[i][0], i))]


def select_model(
    results: Sequence[Result],
    metric: str = "val_dice",
    tolerance: float = 0.01,
    budget_gco2e: float | None = None,
    cost: str = "gco2e",
) -> Result:
    """The cheapest result whose metric is within ``tolerance`` of the best affordable one.

    Semantics, in order:

    1. With a budget, only results that cost at most ``budget_gco2e`` are considered
       (an error if none does).
    2. The best is the highest ``metric`` among them.
    3. Every considered result with ``metric >= best - tolerance`` qualifies; ``tolerance`` is
       absolute, in the metric's own units (0.01 is one Dice point).
    4. The qualifying result with the lowest cost wins; a tie in cost goes to the higher
       metric, then to the earlier result.

    ``tolerance=0`` picks the cheapest of the best. The metric must be higher-is-better.

    Example::

        >>> rows = [{"val_dice": 0.90, "gco2e": 8.0}, {"val_dice": 0.895, "gco2e": 2.0}]
        >>> select_model(rows, tolerance=0.01)
        {'val_dice': 0.895, 'gco2e': 2.0}
        >>> select_model(rows, tolerance=0.0)
        {'val_dice': 0.9, 'gco2e': 8.0}
    """
    check_selection(tolerance, budget_gco2e)
    points = _points(results, metric, cost)
    affordable = [i for i, (_, c) in enumerate(points) if budget_gco2e is None or c <= budget_gco2e]
    if not affordable:
        cheapest = min(c for _, c in points)
        raise ValueError(
            f"no result fits the budget of {budget_gco2e:g} {cost}: the cheapest costs "
            f"{cheapest:g} {cost}"
        )
    best = max(points[i][0] for i in affordable)
    qualifying = [i for i in affordable if points[i][0] >= best - tolerance]
    return results[min(qualifying, key=lambda i: (points[i][1], -points[i][0], i))]


def check_selection(tolerance: float, budget_gco2e: float | None) -> None:
    """Raise ``ValueError`` unless ``0 <= tolerance < 1`` and the budget is ``None`` or > 0.

    Example::

        >>> check_selection(0.01, None)
    """
    if not _is_number(tolerance) or not 0 <= tolerance < 1:
        raise ValueError(f"tolerance must be a number in [0, 1), got {tolerance!r}")
    if budget_gco2e is None:
        return
    if not _is_number(budget_gco2e) or not 0 < budget_gco2e < math.inf:
        raise ValueError(f"budget_gco2e must be a finite number > 0, got {budget_gco2e!r}")


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _points(results: Sequence[Any], metric: str, cost: str) -> list[tuple[float, float]]:
    """``(metric, cost)`` of each result, checked: finite metric, finite cost >= 0."""
    if len(results) == 0:
        raise ValueError("results is empty: nothing to select from")
    points = []
    for index, result in enumerate(results):
        value, price = _field(result, metric, index), _field(result, cost, index)
        if not math.isfinite(value):
            raise ValueError(f"results[{index}] has {metric}={value!r}: {result!r}")
        if not (math.isfinite(price) and price >= 0):
            raise ValueError(f"results[{index}] has {cost}={price!r} (need >= 0): {result!r}")
        points.append((value, price))
    return points


def _field(result: Any, name: str, index: int) -> float:
    if isinstance(result, Mapping):
        found = name in result
        value = result.get(name)
    else:
        found = hasattr(result, name)
        value = getattr(result, name, None)
    if not found:
        raise ValueError(f"results[{index}] has no {name!r}: {result!r}")
    if not _is_number(value):
        raise ValueError(f"results[{index}] has {name}={value!r}, not a number: {result!r}")
    return float(value)
