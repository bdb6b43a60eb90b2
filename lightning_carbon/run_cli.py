"""The carbon options of a command that trains: where, PUE, budgets, CPU TDP, attribution.

A command adds them with :func:`add_run_arguments` and builds its
:class:`~lightning_carbon.run.CarbonRun` from :func:`run_kwargs`.

Example::

    >>> import argparse
    >>> parser = argparse.ArgumentParser()
    >>> add_run_arguments(parser)
    >>> kwargs = run_kwargs(parser.parse_args(["--country", "DNK", "--pue", "1.2"]))
    >>> kwargs["pue"], kwargs["attribution"]
    (1.2, 'process')
"""

from __future__ import annotations

import argparse
from typing import Any

from lightning_carbon.run import BUDGET_ACTIONS
from lightning_carbon.sensors.attribution import METHODS


def _pue(text: str) -> float | str:
    """A number, or a survey's name (resolved, and checked, by the run)."""
    try:
        return float(text)
    except ValueError:
        return text


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of :class:`~lightning_carbon.run.CarbonRun` as a ``carbon`` group."""
    group = parser.add_argument_group("carbon")
    group.add_argument(
        "--country", default=None, help="where the machine runs: ISO-3, ISO-2 or name"
    )
    group.add_argument(
        "--carbon-intensity", type=float, default=None, help="grid intensity in gCO2e/kWh"
    )
    group.add_argument(
        "--live-zone",
        default=None,
        help="live grid data for a zone (DK1, GB, an Electricity Maps zone)",
    )
    group.add_argument("--pue", type=_pue, default=None, help="PUE: a number >= 1 or a survey")
    group.add_argument("--budget-kwh", type=float, default=None, help="energy budget of the fit")
    group.add_argument("--budget-gco2e", type=float, default=None, help="carbon budget of the fit")
    group.add_argument(
        "--on-budget",
        choices=BUDGET_ACTIONS,
        default="warn",
        help="warn once, or stop before the epoch that would pass a budget (default: warn)",
    )
    group.add_argument(
        "--cpu-tdp-w", type=float, default=None, help="CPU TDP in W, for the estimate"
    )
    group.add_argument(
        "--attribution",
        choices=METHODS,
        default="process",
        help="CPU and DRAM energy: this job's share of the machine's busy CPU time (process, "
        "the default) or the whole machine's",
    )


def run_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """The :class:`~lightning_carbon.run.CarbonRun` arguments from parsed options."""
    return {
        "country": args.country,
        "carbon_intensity": args.carbon_intensity,
        "live_zone": args.live_zone,
        "pue": args.pue,
        "budget_kwh": args.budget_kwh,
        "budget_gco2e": args.budget_gco2e,
        "on_budget": args.on_budget,
        "cpu_tdp_w": args.cpu_tdp_w,
        "attribution": args.attribution,
    }
