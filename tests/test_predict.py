"""The forecast by hand: exact totals from epochs of unequal cost, and when there is none."""

import math

import pytest

from lightning_carbon.predict import EpochCost, Forecast, forecast, relative_error

WARM_UP = EpochCost(batches=4, energy_kWh=8.0, gco2e=80.0, duration_s=40.0)
STEADY = (EpochCost(4, 2.0, 20.0, 8.0), EpochCost(6, 4.0, 40.0, 12.0))


def test_after_one_batch_the_first_epoch_sets_the_rate():
    only = EpochCost(1, 2.0, 20.0, 3.0)
    assert forecast([only], used=only, total_batches=4) == Forecast(
        energy_kWh=8.0,
        gco2e=80.0,
        duration_s=12.0,
        done_batches=1,
        total_batches=4,
        method="rate of the first epoch",
    )


def test_from_two_epochs_on_the_first_is_left_out_and_the_rest_pooled():
    used = EpochCost(14, 15.0, 150.0, 70.0)  # the three epochs and 10 s of set-up
    # 10 batches cost 6 kWh, 60 g, 20 s: the 6 remaining add 3.6 kWh, 36 g, 12 s
    result = forecast([WARM_UP, *STEADY], used=used, total_batches=20)
    assert result.energy_kWh == pytest.approx(18.6)
    assert result.gco2e == pytest.approx(186.0)
    assert result.duration_s == pytest.approx(82.0)
    assert (result.done_batches, result.total_batches) == (14, 20)
    assert result.method == "rate of epochs 2-3 (first epoch left out as warm-up)"


def test_a_run_past_its_planned_length_is_forecast_as_what_it_used():
    used = EpochCost(14, 15.0, 150.0, 70.0)
    result = forecast([WARM_UP, *STEADY], used=used, total_batches=12)
    assert (result.energy_kWh, result.gco2e, result.duration_s) == (15.0, 150.0, 70.0)
    assert (result.done_batches, result.total_batches) == (14, 14)


def test_the_last_batch_forecasts_exactly_what_was_used():
    only = EpochCost(1, 2.0, 20.0, 3.0)
    result = forecast([only], used=only, total_batches=1)
    assert (result.energy_kWh, result.total_batches) == (2.0, 1)


@pytest.mark.parametrize(
    "epochs, used_batches, total_batches",
    [
        ([WARM_UP], 0, 40),  # no batch ran yet
        ([WARM_UP], 4, math.inf),  # the run's length is unknown
        ([WARM_UP], 4, 0),
        ([WARM_UP], 4, -1),
        ([], 4, 40),  # no epoch finished
        ([EpochCost(0, 1.0, 10.0, 1.0)], 4, 40),  # epochs of no batch give no rate
    ],
)
def test_no_forecast_where_it_cannot_be_honest(epochs, used_batches, total_batches):
    used = EpochCost(used_batches, 9.0, 90.0, 9.0)
    assert forecast(epochs, used=used, total_batches=total_batches) is None


def test_relative_error_of_nothing_used_is_none():
    assert relative_error(90.0, 100.0) == pytest.approx(-0.1)
    assert relative_error(5.0, 0.0) is None
    assert relative_error(5.0, -1.0) is None


def test_the_costs_are_json_ready():
    assert STEADY[0].to_dict() == {
        "batches": 4,
        "energy_kWh": 2.0,
        "gco2e": 20.0,
        "duration_s": 8.0,
    }
    result = forecast([STEADY[0]], used=STEADY[0], total_batches=8)
    assert result.to_dict() == {
        "energy_kWh": 4.0,
        "gco2e": 40.0,
        "duration_s": 16.0,
        "done_batches": 4,
        "total_batches": 8,
        "method": "rate of the first epoch",
    }
