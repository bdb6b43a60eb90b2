"""pareto_front and select_model: exact picks on hand-made results, and clear errors."""

import math
from dataclasses import dataclass

import pytest

from lightning_carbon.selection import check_selection, pareto_front, select_model


def _row(name, dice, gco2e):
    return {"name": name, "val_dice": dice, "gco2e": gco2e}


WIDTHS = [
    _row("F4", 0.800, 1.0),
    _row("F8", 0.850, 2.0),
    _row("F12", 0.840, 3.0),  # dominated by F8: lower Dice, higher cost
    _row("F16", 0.855, 4.0),
    _row("F32", 0.855, 8.0),  # dominated by F16: same Dice, higher cost
]


def _names(rows):
    return [row["name"] for row in rows]


def test_pareto_front_drops_dominated_results_and_sorts_by_cost():
    assert _names(pareto_front(WIDTHS)) == ["F4", "F8", "F16"]
    assert _names(pareto_front(list(reversed(WIDTHS)))) == ["F4", "F8", "F16"]


def test_pareto_front_keeps_exact_ties_and_drops_equal_cost_with_lower_metric():
    rows = [_row("a", 0.9, 2.0), _row("b", 0.9, 2.0), _row("c", 0.8, 2.0)]
    assert _names(pareto_front(rows)) == ["a", "b"]


def test_pareto_front_of_one_result_is_that_result():
    (only,) = pareto_front([WIDTHS[2]])
    assert only is WIDTHS[2]


def test_pareto_front_with_other_metric_and_cost_names():
    rows = [{"id": 1, "iou": 0.7, "kWh": 3.0}, {"id": 2, "iou": 0.6, "kWh": 4.0}]
    assert [r["id"] for r in pareto_front(rows, metric="iou", cost="kWh")] == [1]


def test_tolerance_picks_the_cheapest_within_that_many_dice_points_of_the_best():
    # best 0.855; within 0.01: F8 (0.850), F16, F32 -> F8 is the cheapest
    assert select_model(WIDTHS, tolerance=0.01)["name"] == "F8"
    # within 0.06: F4 (0.800 >= 0.795) qualifies too and is cheaper
    assert select_model(WIDTHS, tolerance=0.06)["name"] == "F4"
    # within 0.004: only the two 0.855 results; F16 is cheaper than F32
    assert select_model(WIDTHS, tolerance=0.004)["name"] == "F16"


def test_zero_tolerance_is_the_cheapest_of_the_best():
    assert select_model(WIDTHS, tolerance=0.0)["name"] == "F16"


def test_the_threshold_itself_qualifies():
    rows = [_row("best", 0.75, 5.0), _row("edge", 0.5, 1.0)]
    assert select_model(rows, tolerance=0.25)["name"] == "edge"


def test_a_tie_in_cost_goes_to_the_higher_metric_then_to_the_earlier_result():
    rows = [_row("low", 0.80, 1.0), _row("high", 0.81, 1.0), _row("best", 0.82, 9.0)]
    assert select_model(rows, tolerance=0.05)["name"] == "high"
    twins = [_row("first", 0.8, 1.0), _row("second", 0.8, 1.0)]
    assert select_model(twins, tolerance=0.0)["name"] == "first"


def test_the_budget_filters_first_and_the_best_is_the_best_affordable():
    # affordable at 3.0: F4, F8, F12; best among them 0.85; within 0.01 only F8
    assert select_model(WIDTHS, tolerance=0.01, budget_gco2e=3.0)["name"] == "F8"
    # at 1.5 only F4 fits, although it is far from the overall best
    assert select_model(WIDTHS, tolerance=0.01, budget_gco2e=1.5)["name"] == "F4"
    # a cost equal to the budget fits
    assert select_model(WIDTHS, tolerance=0.0, budget_gco2e=4.0)["name"] == "F16"


def test_the_pick_is_the_callers_own_object_and_attributes_work():
    @dataclass
    class Trained:
        filters: int
        val_dice: float
        gco2e: float

    rows = [Trained(4, 0.8, 1.0), Trained(8, 0.805, 2.0)]
    assert select_model(rows, tolerance=0.01) is rows[0]
    assert pareto_front(rows) == rows


def test_nothing_within_the_budget_is_a_clear_error():
    with pytest.raises(
        ValueError,
        match=r"no result fits the budget of 0\.5 gco2e: the cheapest "
        r"costs 1 gco2e",
    ):
        select_model(WIDTHS, budget_gco2e=0.5)


def test_empty_results_are_an_error():
    with pytest.raises(ValueError, match="results is empty"):
        select_model([])
    with pytest.raises(ValueError, match="results is empty"):
        pareto_front([])


@pytest.mark.parametrize("function", [select_model, pareto_front])
def test_a_nan_metric_names_the_row(function):
    rows = [WIDTHS[0], _row("broken", math.nan, 2.0)]
    with pytest.raises(ValueError, match=r"results\[1\] has val_dice=nan: .*'broken'"):
        function(rows)


@pytest.mark.parametrize(
    ("row", "match"),
    [
        ({"name": "x", "gco2e": 1.0}, r"results\[1\] has no 'val_dice'"),
        ({"name": "x", "val_dice": 0.8}, r"results\[1\] has no 'gco2e'"),
        (_row("x", "0.8", 1.0), r"results\[1\] has val_dice='0.8', not a number"),
        (_row("x", None, 1.0), r"results\[1\] has val_dice=None, not a number"),
        (_row("x", 0.8, -1.0), r"results\[1\] has gco2e=-1.0 \(need >= 0\)"),
        (_row("x", 0.8, math.inf), r"results\[1\] has gco2e=inf"),
    ],
)
def test_bad_rows_are_named(row, match):
    with pytest.raises(ValueError, match=match):
        select_model([WIDTHS[0], row])


@pytest.mark.parametrize("tolerance", [-0.01, 1.0, 1.5, math.nan, "0.01", True, None])
def test_tolerance_outside_zero_to_one_is_quoted(tolerance):
    with pytest.raises(
        ValueError,
        match=rf"tolerance must be a number in \[0, 1\), got "
        rf"{tolerance!r}",
    ):
        select_model(WIDTHS, tolerance=tolerance)


@pytest.mark.parametrize("budget", [0, -1.0, math.nan, math.inf, "5", False])
def test_budget_that_is_not_positive_is_quoted(budget):
    with pytest.raises(
        ValueError,
        match=rf"budget_gco2e must be a finite number > 0, got "
        rf"{budget!r}",
    ):
        select_model(WIDTHS, budget_gco2e=budget)


def test_check_selection_accepts_the_edges():
    check_selection(0.0, None)
    check_selection(0.999, 1e-9)
