""" "How to cut this footprint": the study's five guidelines, and what the runs say for each.

Selvan et al. (MICCAI 2022) close with five practical guidelines: track and report; search
hyperparameters smartly instead of on a grid; use energy-efficient hardware and settings;
choose where and when to train; use mixed precision. For each, the report says what the
user's own records show, with numbers, or that they cannot tell and what would.

Example::

    findings = cut_footprint(runs, total, emissions, sweep=None)
    print(guidelines_markdown(findings))
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from lightning_carbon.report.runs import RunReport
from lightning_carbon.report.validate import is_number
from lightning_carbon.units import format_energy, format_mass

FULL_PRECISIONS = ("32-true", "32", "64-true", "64")
"""Precision settings that are not mixed or reduced."""
_MEASURED = ("measured", "polled")


@dataclass(frozen=True)
class Finding:
    """One guideline and what the data says for it; ``known`` is False where it cannot tell."""

    key: str
    guideline: str
    says: str
    known: bool
    numbers: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)


def cut_footprint(
    runs: Sequence[RunReport],
    total: dict[str, Any],
    emissions: Sequence[Any],
    sweep: dict[str, Any] | None = None,
) -> list[Finding]:
    """The five findings, in the study's order.

    ``total`` is the combined summary of ``runs``; ``emissions`` the what-if rows
    (:class:`~lightning_carbon.regions.RegionEmission`) of that total; ``sweep`` the content
    of a ``precision_sweep.json`` when one was given.
    """
    return [
        _track(total),
        _search(runs),
        _settings(runs),
        _where_when(runs, emissions),
        _precision(runs, sweep),
    ]


def guidelines_markdown(findings: Sequence[Finding]) -> str:
    """The report's closing section."""
    lines = [
        "## How to cut this footprint\n",
        "The study behind this package (Selvan et al., MICCAI 2022) closes with five "
        "guidelines. What these records say for each:\n",
    ]
    lines += [
        f"{i}. **{f.guideline}.** {f.says}" + ("" if f.known else " *(cannot tell)*")
        for i, f in enumerate(findings, start=1)
    ]
    return "\n".join(lines) + "\n"


def _track(total: dict[str, Any]) -> Finding:
    by_component = total.get("energy_kWh_by_component", {})
    provenance = total.get("provenance_by_component", {})
    measured = sum(kWh for c, kWh in by_component.items() if provenance.get(c) in _MEASURED)
    metered = sum(by_component.values())
    share = measured / metered if metered > 0 else None
    runs = total["runs"]
    what = f"{runs} run{'s' if runs != 1 else ''} tracked: {format_energy(total['energy_kWh'])}, "
    what += f"{format_mass(total['gco2e'])}"
    if share is None:
        how = "; no energy by component was recorded, so what was measured cannot be told."
    elif share >= 1.0:
        how = "; all of it measured by hardware counters. Report it with its sources, as above."
    else:
        estimated = ", ".join(c.upper() for c in by_component if provenance.get(c) not in _MEASURED)
        how = (
            f"; {share:.0%} measured by hardware counters, the rest ({estimated}) estimated from "
            "a published model. Readable counters (RAPL, NVML) would turn estimates into "
            "measurements; report the figures with their sources, as above."
        )
    return Finding(
        "track",
        "Track, log and report",
        what + how,
        share is not None,
        {"energy_kWh": total["energy_kWh"], "gco2e": total["gco2e"], "measured_share": share},
    )


def _search(runs: Sequence[RunReport]) -> Finding:
    guideline = "Search hyperparameters with a budget, not on a grid"
    forecasts = [(run, run.summary["forecast"]) for run in runs if _forecast(run.summary)]
    budgets = [(run, used) for run in runs for used in _budget_use(run.summary)]
    emitted = sum(run.summary["gco2e"] for run in runs)
    grid = (
        f"These {len(runs)} runs emitted {format_mass(emitted)}; a grid search pays that per "
        "point, while a budgeted study (lightning_carbon.optuna_carbon) stops within one."
        if len(runs) > 1
        else ""
    )
    if not forecasts and not budgets:
        return Finding(
            "search",
            guideline,
            "No run recorded a forecast or a budget (a forecast needs max_epochs or max_steps; "
            "set budget_gco2e to cap a run). " + grid,
            False,
            {"runs_gco2e": emitted},
        )
    parts = []
    errors = [f.get("relative_error") for _, f in forecasts if is_number(f.get("relative_error"))]
    if forecasts:
        run, first = forecasts[0]
        parts.append(
            f"{len(forecasts)} of {len(runs)} run(s) forecast their total early; "
            f"{run.label} after epoch {first.get('after_epochs', '?')}: "
            f"{format_mass(first['gco2e'])} forecast, {format_mass(run.summary['gco2e'])} emitted"
        )
        if errors:
            parts[-1] += f" (forecasts off by {_mean_abs(errors):.0%} on average)"
    if budgets:
        used = [share for _, share in budgets]
        over = list(dict.fromkeys(run.label for run, share in budgets if share > 1.0))
        stopped = [run.label for run in runs if _stopped(run.summary)]
        parts.append(
            f"{len(budgets)} budget(s) set, {min(used):.0%} to {max(used):.0%} of each used"
            + (f"; over budget: {', '.join(over)}" if over else "")
            + (f"; stopped by its budget: {', '.join(stopped)}" if stopped else "")
        )
    else:
        parts.append("no run had a carbon budget: set budget_gco2e to cap one before it runs")
    return Finding(
        "search",
        guideline,
        "; ".join(parts) + ". " + grid,
        True,
        {
            "runs_gco2e": emitted,
            "forecasts": len(forecasts),
            "mean_abs_forecast_error": _mean_abs(errors) if errors else None,
            "budgets": len(budgets),
        },
    )


def _settings(runs: Sequence[RunReport]) -> Finding:
    guideline = "Use energy-efficient hardware and settings"
    parts = [(_outside_epochs(run.summary), run) for run in runs]
    known = [(split, run) for split, run in parts if split is not None]
    if not known:
        return Finding(
            "settings",
            guideline,
            "The records hold no whole-run total, so the share of energy spent outside training "
            "epochs (setup, checkpoint saves, teardown) is unknown.",
            False,
        )
    outside = sum(split[0] for split, _ in known)
    whole = sum(split[1] for split, _ in known)
    share = outside / whole if whole > 0 else 0.0
    advice = (
        "worth cutting: fewer checkpoint saves, cached data, no idle waits"
        if share >= 0.05
        else "little to gain there; the epochs themselves are the cost"
    )
    return Finding(
        "settings",
        guideline,
        f"{share:.1%} of the energy ({format_energy(outside)} of {format_energy(whole)}) went "
        f"outside training epochs in {len(known)} of {len(runs)} run(s): {advice}.",
        True,
        {"outside_epochs_kWh": outside, "run_kWh": whole, "outside_epochs_share": share},
    )


def _where_when(runs: Sequence[RunReport], emissions: Sequence[Any]) -> Finding:
    guideline = "Choose where and when to train"
    own = next((e for e in emissions if e.own), None)
    others = sorted((e for e in emissions if not e.own), key=lambda e: e.gco2e)[:2]
    against = own.gco2e if own is not None and own.gco2e > 0 else None
    where = ", ".join(
        f"{e.name} ({e.intensity.gco2_per_kWh:.4g} g/kWh: {format_mass(e.gco2e)}"
        + (f", {e.gco2e / against - 1:+.0%} against the runs' own grid" if against else "")
        + ")"
        for e in others
    )
    if own is not None and (not others or own.gco2e <= others[0].gco2e):
        where_text = "The runs' own grid is the lowest-carbon of those compared"
        where_text += f"; next: {where}." if where else "."
    else:
        where_text = f"Lowest-carbon of the grids compared: {where}."
    minutes = max(1, round(sum(r.summary.get("duration_s", 0.0) for r in runs) / len(runs) / 60))
    live = own is not None and own.intensity.is_live and own.intensity.code
    zone = own.intensity.code if live else "ZONE"
    when_text = (
        " The best start time needs a live forecast of the grid, which the records do not "
        f"hold: `lightning-carbon when --zone {zone} --duration {minutes}m` gives it for zones "
        "with forecasts (DK1, DK2, GB, Electricity Maps)."
    )
    return Finding(
        "where_when",
        guideline,
        where_text + when_text,
        True,
        {"lowest": [{"region": e.name, "gco2e": e.gco2e} for e in others], "best_start": None},
    )


def _precision(runs: Sequence[RunReport], sweep: dict[str, Any] | None) -> Finding:
    guideline = "Use automatic mixed precision"
    if sweep is not None:
        rows = [r for r in sweep.get("rows", []) if is_number(r.get("energy_saving"))]
        if rows:
            baseline = sweep.get("baseline", "32-true")
            said = "; ".join(_saving_words(r, baseline) for r in rows)
            return Finding(
                "precision",
                guideline,
                f"The precision sweep measured: {said}.",
                True,
                {r["precision"]: r["energy_saving"] for r in rows},
            )
    used = sorted(
        {str(run.summary.get("precision")) for run in runs if run.summary.get("precision")}
    )
    if not used:
        return Finding(
            "precision",
            guideline,
            "The records do not say which precision the runs used, and no precision sweep was "
            "given (--sweep).",
            False,
        )
    sweep_hint = (
        "`lightning-carbon sweep precision --data folder:PATH` measures what mixed precision "
        "saves on this data, and `--sweep` brings its result here"
    )
    if all(p in FULL_PRECISIONS for p in used):
        says = f"The runs used full precision ({', '.join(used)}); {sweep_hint}."
    else:
        says = f"The runs used {', '.join(used)}; {sweep_hint}."
    return Finding("precision", guideline, says, False, {"precisions": used})


def _saving_words(row: dict[str, Any], baseline: str) -> str:
    saving = row["energy_saving"]
    amount = f"{abs(saving):.0%} {'less' if saving >= 0 else 'more'} energy than {baseline}"
    words = f"{row['precision']} used {amount}" + ("" if saving >= 0 else " (a cost, not a saving)")
    if row.get("inconclusive"):
        words += ", within the spread of the repeats (inconclusive)"
    return words


def _forecast(summary: dict[str, Any]) -> bool:
    forecast = summary.get("forecast")
    return isinstance(forecast, dict) and is_number(forecast.get("gco2e"))


def _budget_use(summary: dict[str, Any]) -> list[float]:
    """The share of each budget the run used: ``budget`` is a number (gCO2e) or, as records
    write it, ``{"budget_gco2e": ..., "budget_kwh": ...}``."""
    budget = summary.get("budget")
    limits = budget if isinstance(budget, dict) else {"budget_gco2e": budget}
    used = []
    for key, spent in (("budget_gco2e", summary["gco2e"]), ("budget_kwh", summary["energy_kWh"])):
        limit = limits.get(key)
        if is_number(limit) and limit > 0:
            used.append(spent / limit)
    return used


def _stopped(summary: dict[str, Any]) -> bool:
    budget = summary.get("budget")
    return isinstance(budget, dict) and bool(budget.get("stopped"))


def _outside_epochs(summary: dict[str, Any]) -> tuple[float, float] | None:
    """(kWh outside epochs, kWh of the whole fit) from the training section (summary schema
    2); ``None`` for records that do not split the run (schema 1)."""
    training = summary.get("training")
    if not isinstance(training, dict) or not isinstance(training.get("outside_epochs"), dict):
        return None
    outside, total = training["outside_epochs"].get("energy_kWh"), training.get("energy_kWh")
    if is_number(outside) and is_number(total) and total > 0:
        return float(outside), float(total)
    return None


def _mean_abs(values: Sequence[float]) -> float:
    return math.fsum(abs(v) for v in values) / len(values)
