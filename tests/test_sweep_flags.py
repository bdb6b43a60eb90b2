"""The precision sweep's arithmetic on scripted runs (no training, no timing): medians,
savings, outliers, comparisons lost in the spread, and how the table words them."""

from __future__ import annotations

import pytest

from lightning_carbon.sweep import (
    OUTLIER_RATIO,
    PrecisionSweepResult,
    SweepRun,
    outliers,
    precision_rows,
)

GRID = {"gco2_per_kWh": 200.0, "region": "Denmark", "code": "DNK", "source": "table"}
SETTINGS = {"repeats": 3, "precisions": ["32-true", "bf16-mixed"]}


def _run(precision, repeat, Wh, seconds, intensity=GRID):
    kWh = Wh / 1000
    return SweepRun(
        precision,
        repeat,
        kWh,
        kWh * intensity["gco2_per_kWh"],
        seconds,
        16,
        0.5,
        "estimated",
        f"runs/{repeat:02d}-{precision}-r{repeat}",
        intensity,
    )


def _result(runs):
    precisions = list(dict.fromkeys(r.precision for r in runs))
    return PrecisionSweepResult("cpu", precision_rows(precisions, runs), runs, [], SETTINGS)


def test_the_issue_case_flags_both_runs_and_words_the_cost():
    """bf16 runs of 10.3 s and 0.71 s: neither is trusted, and the 'saving' is a cost."""
    runs = [
        _run("32-true", 0, 0.02, 1.0),
        _run("32-true", 1, 0.021, 1.05),
        _run("bf16-mixed", 0, 0.6, 10.3),
        _run("bf16-mixed", 1, 0.034, 0.71),
    ]
    result = _result(runs)
    full, half = result.rows
    assert full.outliers == ()
    assert half.outliers == (
        "00-bf16-mixed-r0 and 01-bf16-mixed-r1 differ 17.6x in energy (0.6 and 0.034 Wh) and "
        "14.5x in time (10.3 and 0.71 s): one of them is off, and more repeats would tell which",
    )
    assert half.energy_kWh.median == pytest.approx(0.317e-3)
    assert half.energy_saving == pytest.approx(1 - 0.317 / 0.0205)  # negative: a cost
    assert half.inconclusive is True  # a spread of 0.4 Wh against a difference of 0.3 Wh
    markdown = result.to_markdown()
    assert f"| {-half.energy_saving:.1%} more (a cost) |".replace("%", " %") in markdown
    assert f"{half.energy_saving:+.1%}".replace("%", " %") not in markdown  # not as -1446.3 %
    assert f"- **Outlier** (bf16-mixed): {half.outliers[0]}." in markdown
    assert "- **Inconclusive** (bf16-mixed against 32-true): the spread of the repeats" in markdown


def test_with_three_repeats_only_the_odd_run_is_flagged_and_the_median_ignores_it():
    runs = [_run("32-true", r, 0.02, 1.0) for r in range(3)]
    runs += [
        _run("bf16-mixed", r, wh, s)
        for r, (wh, s) in enumerate([(0.5, 9.0), (0.01, 0.5), (0.0105, 0.52)])
    ]
    _, half = _result(runs).rows
    assert half.outliers == (
        "00-bf16-mixed-r0: energy 0.5 Wh is 47.6x the median (0.0105 Wh), time 9 s is 17.3x "
        "the median (0.52 s) of the precision's 3 runs",
    )
    assert half.energy_kWh.median == pytest.approx(0.0105e-3)
    assert half.energy_saving == pytest.approx(1 - 0.0105 / 0.02)
    assert half.energy_kWh.mean == pytest.approx((0.5 + 0.01 + 0.0105) / 3e3)


def test_the_outlier_threshold_is_a_ratio_both_ways():
    at_limit = [_run("32-true", 0, 1.0, 1.0), _run("32-true", 1, OUTLIER_RATIO, OUTLIER_RATIO)]
    assert outliers(at_limit) == ()
    over = [_run("32-true", 0, 1.0, 1.0), _run("32-true", 1, 2.01, 1.0)]
    assert outliers(over) == (
        "00-32-true-r0 and 01-32-true-r1 differ 2.01x in energy (1 and 2.01 Wh): one of them "
        "is off, and more repeats would tell which",
    )
    low = [_run("32-true", r, wh, 1.0) for r, wh in enumerate([1.0, 1.0, 0.49])]
    assert [flag.split(":")[0] for flag in outliers(low)] == ["02-32-true-r2"]
    high = [_run("32-true", r, 1.0, s) for r, s in enumerate([1.0, 2.0, 1.0])]
    assert outliers(high) == ()  # exactly twice the median is still in
    zero = [_run("32-true", r, wh, 1.0) for r, wh in enumerate([0.0, 0.0, 0.0])]
    assert outliers(zero) == ()  # nothing metered is not an outlier
    assert outliers([_run("32-true", 0, 1.0, 1.0)]) == ()  # nothing to compare with


def test_a_clear_saving_is_conclusive_and_worded_as_less():
    runs = [_run("32-true", r, wh, 1.0) for r, wh in enumerate([0.020, 0.021, 0.0205])]
    runs += [_run("bf16-mixed", r, wh, 0.6) for r, wh in enumerate([0.010, 0.0102, 0.0098])]
    result = _result(runs)
    _, half = result.rows
    assert half.inconclusive is False and half.outliers == ()
    assert half.energy_saving == pytest.approx(1 - 0.010 / 0.0205)
    assert "| 51.2 % less |" in result.to_markdown()
    assert "Outlier" not in result.to_markdown() and "Inconclusive" not in result.to_markdown()


def test_one_run_each_cannot_be_judged():
    _, half = _result([_run("32-true", 0, 0.02, 1.0), _run("bf16-mixed", 0, 0.019, 1.0)]).rows
    assert half.inconclusive is None and half.energy_kWh.std is None


def test_the_intensity_used_is_in_the_table_and_the_json():
    result = _result([_run("32-true", 0, 0.02, 1.0), _run("bf16-mixed", 0, 0.01, 1.0)])
    assert "| gCO2e at 200 g/kWh (DNK) |" in result.to_markdown()
    assert result.to_dict()["intensity"] == GRID
    assert result.to_dict()["rows"][1]["inconclusive"] is None


def test_runs_on_different_grids_show_the_effective_intensity():
    other = {**GRID, "gco2_per_kWh": 100.0, "code": "DK1", "region": "DK1 live"}
    result = _result([_run("32-true", 0, 0.02, 1.0), _run("bf16-mixed", 0, 0.02, 1.0, other)])
    assert result.intensity["gco2_per_kWh"] == pytest.approx(150.0)
    assert result.intensity["region"] == "several grid intensities (live data)"
