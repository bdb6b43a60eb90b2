"""RunTotals by hand: rank merging, budget decisions with unequal epochs, resume of old state."""

import pytest

from lightning_carbon.footprint import resolve_pue
from lightning_carbon.intensity.table import CarbonIntensity
from lightning_carbon.reading import EnergyReading
from lightning_carbon.run_totals import RunTotals

KWH = 3.6e6
GRID = CarbonIntensity(100.0, "Test grid", "TST", 2024, "a test table", "lifecycle")


def _reading(name, seconds, joules, device="cpu", component="cpu", provenance="estimated"):
    return EnergyReading(name, seconds, {device: joules}, {device: component}, {device: provenance})


def test_merging_ranks_sums_energy_takes_the_longest_duration_and_labels_nodes():
    per_rank = [
        (0, _reading("e", 2.0, 200.0, "gpu:0", "gpu", "measured").to_dict()),
        (1, _reading("e", 3.0, 300.0, "gpu:0", "gpu", "polled").to_dict()),
        (1, None),  # a rank with nothing to give
    ]
    merged = RunTotals.merge_ranks(per_rank, qualify=True)
    assert merged.energy_J_by_device == {"node0/gpu:0": 200.0, "node1/gpu:0": 300.0}
    assert merged.duration_s == 3.0  # ranks run in parallel
    assert merged.power_W_by_component == {"gpu": pytest.approx(500.0 / 3.0)}
    assert merged.provenance_by_device == {"node0/gpu:0": "measured", "node1/gpu:0": "polled"}
    assert RunTotals.merge_ranks([(0, None)], qualify=True) is None


def test_merged_notes_say_which_node_they_come_from():
    noted = EnergyReading("e", 1.0, {}, {}, {}, notes=("cpu stopped reporting (gone)",))
    merged = RunTotals.merge_ranks([(1, noted.to_dict())], qualify=True)
    assert merged.notes == ("node1: cpu stopped reporting (gone)",)


def _epochs(totals, costs_J, total_batches, gap_J=0.0):
    """Add epochs of the given costs (10 batches, 10 s each) with ``gap_J`` between them."""
    used_J = 0.0
    totals.begin_segment()
    for index, joules in enumerate(costs_J):
        used_J += joules + (gap_J if index else 0.0)
        totals.add_epoch(
            _reading("train_epoch", 10.0, joules),
            None,
            _reading("fit", 10.0 * (index + 1), used_J),
            intensity=GRID,
            epoch_index=index,
            batches=10,
            total_batches=total_batches,
            forecast_from=1,
        )


def test_a_forecast_over_budget_warns_but_only_the_next_epoch_stops():
    totals = RunTotals(resolve_pue(None))
    _epochs(totals, [63.0], total_batches=50)  # forecast 315 J, next epoch 63 J
    findings = totals.budget_findings(budget_kwh=200 / KWH, budget_gco2e=None)
    assert [(key, stop) for key, _, stop in findings] == [("energy-forecast", False)]


def test_the_next_epoch_is_priced_at_the_costliest_so_far_not_the_mean():
    # a cheap forecast (the steady rate) but one costly epoch: 100 + 20 + 20 J used, the
    # costliest is 100 J, so 140 + 100 > 200 stops although the mean (46.7 J) would not
    totals = RunTotals(resolve_pue(None))
    _epochs(totals, [100.0, 20.0, 20.0], total_batches=40)
    findings = totals.budget_findings(budget_kwh=200 / KWH, budget_gco2e=None)
    assert [(key, stop) for key, _, stop in findings] == [("energy-reached", True)]
    assert totals.latest_forecast.energy_kWh == pytest.approx(160 / KWH)  # under 200 J
    assert "costliest epoch so far with the pause after it 0.0278 Wh" in findings[0][1]


def test_the_gap_before_an_epoch_counts_in_its_cost():
    totals = RunTotals(resolve_pue(None))
    _epochs(totals, [50.0, 50.0], total_batches=40, gap_J=30.0)
    assert [r["cost"]["energy_kWh"] * KWH for r in totals.epochs] == pytest.approx([50, 80])
    assert totals.next_epoch_estimate().energy_kWh == pytest.approx(80 / KWH)
    assert totals.fit_used().energy_kWh == pytest.approx(130 / KWH)


def test_the_last_epoch_says_nothing_of_a_next_one():
    totals = RunTotals(resolve_pue(None))
    _epochs(totals, [63.0, 63.0], total_batches=20)
    assert totals.run_done
    assert totals.budget_findings(budget_kwh=130 / KWH, budget_gco2e=None) == []
    over = totals.budget_findings(budget_kwh=120 / KWH, budget_gco2e=None)
    assert [(key, stop) for key, _, stop in over] == [("energy-reached", True)]
    assert "is passed: 0.035 Wh used" in over[0][1]


def test_carbon_budget_uses_the_emissions():
    totals = RunTotals(resolve_pue(2.0))
    _epochs(totals, [36.0], total_batches=20)  # 36 J at PUE 2 and 100 g/kWh = 0.002 g
    findings = totals.budget_findings(budget_kwh=None, budget_gco2e=0.003)
    assert [(key, stop) for key, _, stop in findings] == [
        ("carbon-forecast", False),
        ("carbon-reached", True),
    ]


def test_a_version_1_checkpoint_resumes_with_its_epochs_as_costs():
    old_epoch = {
        "stage": "train",
        "epoch": 0,
        "global_step": 4,
        "energy_kWh": 63 / KWH,
        "facility_energy_kWh": 63 / KWH,
        "gco2e": 1.0,
        "reading": _reading("train_epoch", 2.0, 63.0).to_dict(),
    }
    totals = RunTotals(resolve_pue(None))
    totals.load_state_dict({"version": 1, "epochs": [old_epoch], "gco2e": 1.0})
    assert totals.fit_used().batches == 4
    assert totals.epochs[0]["cost"] == {
        "batches": 4,
        "energy_kWh": 63 / KWH,
        "gco2e": 1.0,
        "duration_s": 2.0,
    }
