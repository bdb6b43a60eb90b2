"""Runs, or groups of runs, priced on several grids: the shape of the study's Table 3.

Each run's IT energy at its own PUE is priced at each region's intensity; a group's cell is
the mean ± standard deviation over its runs (repeats, folds), in gCO2e and in km by an
average new EU car. Groups come from a field of the runs (``precision``, a hyperparameter
from ``hparams.yaml``, a label field) or from a regular expression on the run labels:
``re:(f\\d+)`` puts ``f8-fold1`` and ``f8-fold2`` in group ``f8`` (the first capture group if
there is one, else the whole match; a label that does not match is a group of its own).

Example::

    groups = region_groups(runs, regions=["DNK", "EST", "WORLD"], group_by="precision")
    groups[0].name, groups[0].regions["EST"].car_km.text()      # ('32-true', '43.9 ± 0.2')
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from lightning_carbon.footprint import car_km
from lightning_carbon.report.labels import field_value
from lightning_carbon.report.runs import RunReport
from lightning_carbon.spread import Spread

REGEX_PREFIX = "re:"


@dataclass(frozen=True)
class Cell:
    """Emissions of a group's runs on one grid: gCO2e and km by car, over the runs."""

    gco2e: Spread
    car_km: Spread

    @classmethod
    def of(cls, gco2e: Sequence[float]) -> Cell:
        return cls(Spread.of(gco2e), Spread.of([car_km(g).value for g in gco2e]))


@dataclass(frozen=True)
class RunGroup:
    """One row: the group's name, its runs' labels, emissions as run and on each region."""

    name: str
    labels: list[str]
    as_run: Cell
    regions: dict[str, Cell]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)


def check_group_by(group_by: str | None) -> str | None:
    """``group_by`` itself when usable; ``ValueError`` for an empty name or a bad pattern."""
    if group_by is None:
        return None
    if group_by.startswith(REGEX_PREFIX):
        try:
            re.compile(group_by[len(REGEX_PREFIX) :])
        except re.error as error:
            raise ValueError(
                f"--group-by {group_by!r} is not a regular expression: {error}"
            ) from None
    elif not group_by.strip():
        raise ValueError("--group-by needs a field name or re:PATTERN, got an empty string")
    return group_by


def group_runs(
    runs: Sequence[RunReport], group_by: str | None
) -> list[tuple[str, list[RunReport]]]:
    """The runs by group, in order of first appearance; each run alone without ``group_by``."""
    groups: dict[str, list[RunReport]] = {}
    for run in runs:
        groups.setdefault(_group_of(run, group_by), []).append(run)
    return list(groups.items())


def region_groups(
    runs: Sequence[RunReport], regions: Sequence[str], group_by: str | None = None
) -> list[RunGroup]:
    """Each group's emissions as run and on each of ``regions``, mean ± std over its runs."""
    from lightning_carbon.regions import what_if

    rows = []
    for name, members in group_runs(runs, group_by):
        priced = [what_if(run.summary["energy_kWh"], run.pue, regions) for run in members]
        rows.append(
            RunGroup(
                name=name,
                labels=[run.label for run in members],
                as_run=Cell.of([run.summary["gco2e"] for run in members]),
                regions={
                    region: Cell.of([emissions[i].gco2e for emissions in priced])
                    for i, region in enumerate(regions)
                },
            )
        )
    return rows


def _group_of(run: RunReport, group_by: str | None) -> str:
    if group_by is None:
        return run.label
    if group_by.startswith(REGEX_PREFIX):
        match = re.search(group_by[len(REGEX_PREFIX) :], run.label)
        if match is None:
            return run.label
        return match.group(1) if match.groups() else match.group(0)
    return str(field_value(run, group_by))
