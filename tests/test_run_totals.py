"""RunTotals by hand: rank merging, budget decisions with unequal epochs, resume of old state,
and a whole run's records and summary, field by field."""

import json
from dataclasses import asdict, replace

import pytest

from lightning_carbon import __version__
from lightning_carbon.footprint import equivalents, resolve_pue
from lightning_carbon.intensity.choice import IntensityChoice
from lightning_carbon.intensity.table import CarbonIntensity
from lightning_carbon.predict import EpochCost
from lightning_carbon.reading import EnergyReading
from lightning_carbon.run_totals import OUTSIDE_EPOCHS_WHAT, RunTotals
from lightning_carbon.sensors.base import SensorChoice
from lightning_carbon.units import format_mass

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
    spent = totals.fit_used().energy_kWh
    assert totals.budget_findings(budget_kwh=spent, budget_gco2e=None) == []
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


def test_a_carbon_budget_counts_the_pause_after_the_next_epoch_too():
    # 50 J epochs with a 30 J pause between: 130 J used, the next epoch costs 80 J with the
    # pause before it, and the pause after it 30 J more: 240 J, over a budget worth 200 J but
    # not one worth 240 J; the forecast (two more epochs at the second's 80 J) is 290 J
    totals = RunTotals(resolve_pue(None))
    _epochs(totals, [50.0, 50.0], total_batches=40, gap_J=30.0)
    per_J = totals.fit_used().gco2e / 130.0
    assert totals.budget_findings(budget_kwh=None, budget_gco2e=240.0 * per_J) == [
        (
            "carbon-forecast",
            f"the carbon forecast of {format_mass(290 * per_J)} is over the "
            f"budget of {format_mass(240.0 * per_J)}",
            False,
        )
    ]
    findings = totals.budget_findings(budget_kwh=None, budget_gco2e=200.0 * per_J)
    assert [(key, stop) for key, _, stop in findings] == [
        ("carbon-forecast", False),
        ("carbon-reached", True),
    ]
    assert f"with the pause after it {format_mass(110.0 * per_J)}" in findings[1][1]


def test_the_summary_says_by_how_much_each_budget_was_passed():
    totals = RunTotals(resolve_pue(None))
    _epochs(totals, [63.0, 63.0], total_batches=20)
    totals.finish_fit(_reading("fit", 20.0, 126.0), intensity=GRID)
    used_g = totals.fit_used().gco2e
    budgets = {"budget_kwh": 200 / KWH, "budget_gco2e": used_g / 2, "on_budget": "warn"}
    summary = totals.summary(
        intensity=IntensityChoice(GRID, None),
        precision="32",
        sensors=[],
        world_size=1,
        num_nodes=1,
        budgets=budgets,
    )
    assert summary["budget"] == {
        **budgets,
        "stopped": None,
        "exceeded_kWh": 0.0,
        "exceeded_gCO2e": pytest.approx(used_g / 2),
    }


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


# --- a whole run by hand: every record and every field of the summary ---------------------------

PUE = 1.5
OUT = CarbonIntensity(200.0, "Test live", "TST", 2024, "a test source", "direct")
START = "2026-01-01T00:00:00+00:00"


def _at(second):
    return f"2026-01-01T00:00:{second:02d}+00:00"


def _gpu_cpu(name, seconds, gpu_J, cpu_J, start=0, end=None):
    return EnergyReading(
        name,
        seconds,
        {"gpu:0": gpu_J, "cpu": cpu_J},
        {"gpu:0": "gpu", "cpu": "cpu"},
        {"gpu:0": "measured", "cpu": "estimated"},
        _at(start),
        _at(start + int(seconds) if end is None else end),
    )


def _g(joules, intensity=100.0):
    """gCO2e of ``joules`` of IT energy at PUE 1.5."""
    return joules / KWH * PUE * intensity


def _same(actual, expected, where="summary"):
    """Equal, numbers to 1e-12 (sums of floats), with the path of the first difference."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict) and sorted(actual) == sorted(expected), where
        for key in expected:
            _same(actual[key], expected[key], f"{where}.{key}")
    elif isinstance(expected, float) and not isinstance(actual, bool):
        assert actual == pytest.approx(expected, rel=1e-12, abs=1e-15), where
    else:
        assert actual == expected, where


class _Priced:
    """An ``outside_intensity`` that prices at 200 g/kWh and remembers each window."""

    def __init__(self):
        self.windows = []

    def __call__(self, start_utc, end_utc):
        self.windows.append((start_utc, end_utc))
        return OUT


def _two_epochs(totals, priced):
    """Set-up 36 J of CPU (2 s); epoch 0: 720 J GPU + 360 J CPU in 10 s, 10 batches; a 36 J
    checkpoint (2 s); epoch 1: 360 + 180 J in 5 s, 12 batches, without its DRAM; of 34."""
    totals.begin_segment()
    totals.add_epoch(
        _gpu_cpu("train_epoch", 10.0, 720.0, 360.0, start=2),
        _gpu_cpu("validation", 2.0, 108.0, 0.0, start=10),
        _gpu_cpu("fit", 12.0, 720.0, 396.0),
        intensity=GRID,
        epoch_index=0,
        batches=10,
        total_batches=34,
        forecast_from=1,
        outside_intensity=priced,
    )
    totals.add_epoch(
        _gpu_cpu("train_epoch", 5.0, 360.0, 180.0, start=14),
        None,
        _gpu_cpu("fit", 19.0, 1080.0, 612.0),
        intensity=GRID,
        epoch_index=1,
        batches=12,
        total_batches=34,
        forecast_from=1,
        outside_intensity=priced,
        missing_devices={"dram": "OSError: gone"},
    )


def test_each_epoch_record_holds_its_cost_its_totals_and_the_forecast():
    totals, priced = RunTotals(resolve_pue(PUE)), _Priced()
    _two_epochs(totals, priced)
    first, second, outside = totals.records
    _same(
        second,
        {
            "stage": "train",
            "epoch": 1,
            "batches": 12,
            "energy_kWh": 540 / KWH,
            "facility_energy_kWh": 540 * PUE / KWH,
            "gco2e": _g(540),
            "intensity": asdict(GRID),
            "pue": PUE,
            "reading": _gpu_cpu("train_epoch", 5.0, 360.0, 180.0, start=14).to_dict(),
            "validation": None,
            "missing_devices": {"dram": "OSError: gone"},
            "partial": True,
            # the epoch and the 36 J checkpoint before it, priced at 200 g/kWh
            "cost": {
                "batches": 12,
                "energy_kWh": 576 / KWH,
                "gco2e": _g(540) + _g(36, 200),
                "duration_s": 7.0,
            },
            "total_kWh": 1692 / KWH,
            "total_gCO2e": _g(1620) + _g(72, 200),
            # 22 of 34 batches: 12 more at the second epoch's rate
            "forecast": {
                "energy_kWh": 2268 / KWH,
                "gco2e": _g(1620) + _g(72, 200) + _g(540) + _g(36, 200),
                "duration_s": 26.0,
                "done_batches": 22,
                "total_batches": 34,
                "method": "rate of epochs 2-2 (first epoch left out as warm-up)",
            },
            "metrics": {
                "energy/epoch_kWh": 540 / KWH,
                "energy/gpu_kWh": 360 / KWH,
                "energy/cpu_kWh": 180 / KWH,
                "energy/validate_kWh": 0.0,
                "energy/total_kWh": 1692 / KWH,
                "carbon/epoch_gCO2e": _g(540),
                "carbon/total_gCO2e": _g(1620) + _g(72, 200),
                "carbon/intensity_gCO2e_per_kWh": 100.0,
                "power/gpu_W": 72.0,
                "power/cpu_W": 36.0,
                "energy/predicted_total_kWh": 2268 / KWH,
                "carbon/predicted_total_gCO2e": _g(1620) + _g(72, 200) + _g(540) + _g(36, 200),
            },
        },
        "epoch 1",
    )
    assert first["cost"] == {
        "batches": 10,
        "energy_kWh": 1080 / KWH,
        "gco2e": _g(1080),
        "duration_s": 10.0,
    }
    assert first["metrics"]["energy/validate_kWh"] == 108 / KWH
    assert (first["partial"], first["missing_devices"]) == (False, {})
    _same(
        outside,
        {
            "stage": "outside_epochs",
            "segment": 0,
            "what": OUTSIDE_EPOCHS_WHAT,
            "energy_kWh": 72 / KWH,
            "facility_energy_kWh": 72 * PUE / KWH,
            "gco2e": _g(72, 200),
            "intensity": asdict(OUT),
            "pue": PUE,
            "reading": EnergyReading(
                "outside_epochs",
                4.0,
                {"gpu:0": 0.0, "cpu": 72.0},
                {"gpu:0": "gpu", "cpu": "cpu"},
                {"gpu:0": "measured", "cpu": "estimated"},
                _at(0),
                _at(19),
            ).to_dict(),
        },
        "outside",
    )
    # each gap is priced over the time since the last one
    assert priced.windows == [(START, _at(12)), (_at(12), _at(19))]
    assert totals.next_epoch_estimate() == EpochCost(12, 1080 / KWH, _g(1080), 10.0)


def test_the_summary_of_a_whole_run_has_every_field(monkeypatch):
    totals, priced = RunTotals(resolve_pue(PUE)), _Priced()
    _two_epochs(totals, priced)
    totals.finish_fit(
        _gpu_cpu("fit", 21.0, 1080.0, 648.0), intensity=GRID, outside_intensity=priced
    )
    gpu = EnergyReading("test", 1.0, {"gpu:0": 72.0}, {"gpu:0": "gpu"}, {"gpu:0": "measured"})
    totals.add_stage("test", gpu, GRID)
    totals.add_stage("test", replace(gpu, duration_s=0.5), GRID, partial_reason="KeyboardInterrupt")
    totals.stop_for_budget("the energy budget is passed")
    sensor = SensorChoice("gpu", "gpu:0", "measured", "gpu:0: NVML counter (measured)")
    arguments = dict(
        intensity=IntensityChoice(GRID, None),
        precision="bf16-mixed",
        sensors=[sensor],
        world_size=2,
        num_nodes=1,
        budgets={"budget_kwh": 0.001, "budget_gco2e": None, "on_budget": "stop"},
        run_name="unet",
        metrics={"val_dice": 0.5},
    )
    summary = totals.summary(**arguments)
    assert summary.pop("ended_utc").endswith("+00:00")
    assert totals.started_utc.endswith("+00:00") and len(totals.started_utc) == 25
    fit_g = _g(1620) + _g(108, 200)
    gco2e = fit_g + _g(144)
    by_component = {"gpu": 1080 / KWH, "cpu": 648 / KWH}
    provenance = {"gpu": "measured", "cpu": "estimated"}
    _same(
        summary,
        {
            "package": f"lightning-carbon {__version__}",
            "run_name": "unet",
            "partial": False,
            "reason": None,
            "started_utc": totals.started_utc,
            "epochs": 2,
            "duration_s": 22.5,
            "energy_kWh": 1872 / KWH,
            "machine_energy_kWh": 1872 / KWH,
            "facility_energy_kWh": 1872 * PUE / KWH,
            "gco2e": gco2e,
            "attribution": {},
            "training": {
                "energy_kWh": 1728 / KWH,
                "machine_energy_kWh": 1728 / KWH,
                "facility_energy_kWh": 1728 * PUE / KWH,
                "gco2e": fit_g,
                "duration_s": 21.0,
                "energy_kWh_by_component": by_component,
                "provenance_by_component": provenance,
                "partial": False,
                "reason": None,
                "epochs": {
                    "count": 2,
                    "energy_kWh": 1620 / KWH,
                    "machine_energy_kWh": 1620 / KWH,
                    "facility_energy_kWh": 1620 * PUE / KWH,
                    "gco2e": _g(1620),
                    "duration_s": 15.0,
                    "energy_kWh_by_component": {"gpu": 1080 / KWH, "cpu": 540 / KWH},
                    "provenance_by_component": provenance,
                },
                "outside_epochs": {
                    "energy_kWh": 108 / KWH,
                    "machine_energy_kWh": 108 / KWH,
                    "facility_energy_kWh": 108 * PUE / KWH,
                    "gco2e": _g(108, 200),
                    "duration_s": 6.0,
                    "energy_kWh_by_component": {"gpu": 0.0, "cpu": 108 / KWH},
                    "provenance_by_component": provenance,
                    "share": 108 / 1728,
                    "what": OUTSIDE_EPOCHS_WHAT,
                },
            },
            "inference": {
                "test": {
                    "energy_kWh": 144 / KWH,
                    "machine_energy_kWh": 144 / KWH,
                    "facility_energy_kWh": 144 * PUE / KWH,
                    "gco2e": _g(144),
                    "duration_s": 1.5,
                    "energy_kWh_by_component": {"gpu": 144 / KWH},
                    "provenance_by_component": {"gpu": "measured"},
                    "runs": 2,
                    "partial": True,
                    "reason": "KeyboardInterrupt",
                }
            },
            "energy_kWh_by_component": {"gpu": 1224 / KWH, "cpu": 648 / KWH},
            "provenance_by_component": provenance,
            "provenance": "estimated",
            "devices": {
                "gpu:0": {
                    "component": "gpu",
                    "provenance": "measured",
                    "energy_J": 1224.0,
                    "machine_energy_J": 1224.0,
                },
                "cpu": {
                    "component": "cpu",
                    "provenance": "estimated",
                    "energy_J": 648.0,
                    "machine_energy_J": 648.0,
                },
            },
            "intensity": asdict(GRID),
            "pue": asdict(resolve_pue(PUE)),
            "equivalents": [asdict(e) for e in equivalents(gco2e)],
            # made after epoch 0 for 34 batches: 24 more at 1080 J per 10 batches
            "forecast": {
                "energy_kWh": (1116 + 2592) / KWH,
                "gco2e": _g(1080) + _g(36, 200) + 2.4 * _g(1080),
                "duration_s": 36.0,
                "done_batches": 10,
                "total_batches": 34,
                "method": "rate of the first epoch",
                "after_epochs": 1,
                "relative_error": None,  # the run stopped at 22 of 34 batches
                "run_batches": 22,
            },
            "budget": {
                "budget_kwh": 0.001,
                "budget_gco2e": None,
                "on_budget": "stop",
                "stopped": {
                    "reason": "the energy budget is passed",
                    "after_epochs": 2,
                    "used_kWh": 1728 / KWH,
                    "used_gco2e": fit_g,
                },
                "exceeded_kWh": 0.0,  # 1728 J is under 0.001 kWh
            },
            "precision": "bf16-mixed",
            "hardware": {"sensors": [asdict(sensor)], "world_size": 2, "num_nodes": 1},
            "metrics": {"val_dice": 0.5},
            "missing_devices": {"dram": {"reason": "OSError: gone", "from_epoch": 1}},
            "notes": [],
        },
    )
    assert totals.final_metrics() == {
        "energy/run_total_kWh": pytest.approx(1728 / KWH),
        "carbon/run_total_gCO2e": pytest.approx(fit_g),
        "time/run_total_s": 21.0,
        "energy/outside_epochs_kWh": pytest.approx(108 / KWH),
    }
    # what a checkpoint keeps gives the same summary in a new process
    state = json.loads(json.dumps(totals.state_dict()))
    assert sorted(state) == [
        "budget_stop",
        "first_forecast",
        "records",
        "stages",
        "started_utc",
        "version",
    ]
    state["started_utc"] = summary["started_utc"] = START
    resumed = RunTotals(resolve_pue(PUE))
    resumed.load_state_dict(state)
    assert resumed.stages == {"test": {"runs": 2, "partial": True, "reason": "KeyboardInterrupt"}}
    again = resumed.summary(**arguments)
    again.pop("ended_utc")
    # the fit's status is the resumed process's to tell: until it finishes, it is partial
    summary["training"].update(partial=True, reason="the fit did not finish")
    _same(again, {**summary, "partial": True, "reason": "the fit did not finish"})


def test_mid_epoch_the_running_totals_add_what_was_used_since_the_last_epoch():
    totals = RunTotals(resolve_pue(PUE))
    totals.begin_segment()
    assert totals.running(_gpu_cpu("fit", 3.0, 30.0, 6.0), GRID) == EpochCost(
        0, 36 / KWH, _g(36), 3.0
    )
    totals.add_epoch(
        _gpu_cpu("train_epoch", 10.0, 720.0, 360.0, start=2),
        None,
        _gpu_cpu("fit", 12.0, 720.0, 396.0),
        intensity=GRID,
        epoch_index=0,
        batches=10,
        total_batches=30,
        forecast_from=1,
    )
    # 3 s into the next epoch: 180 J of GPU and 54 J of CPU since the records were updated
    running = totals.running(_gpu_cpu("fit", 15.0, 900.0, 450.0), GRID)
    assert running == EpochCost(10, pytest.approx(1350 / KWH), pytest.approx(_g(1350)), 15.0)


def test_a_fit_summarised_before_it_finished_is_partial():
    totals = RunTotals(resolve_pue(None))
    assert (
        totals.summary(
            intensity=IntensityChoice(GRID, None),
            precision="32",
            sensors=[],
            world_size=1,
            num_nodes=1,
        )["training"]
        is None
    )
    _epochs(totals, [0.0], total_batches=float("inf"))
    summary = totals.summary(
        intensity=IntensityChoice(GRID, None), precision="32", sensors=[], world_size=1, num_nodes=1
    )
    assert (summary["partial"], summary["reason"]) == (True, "the fit did not finish")
    assert summary["training"]["outside_epochs"]["share"] == 0.0  # no energy at all
    assert summary["forecast"] is None and summary["budget"] == {"stopped": None}
    assert totals.forecast_sentence() == (
        "no forecast: the run's length is unknown (set max_epochs or max_steps)"
    )


def test_the_first_forecast_in_words():
    totals = RunTotals(resolve_pue(None))
    _epochs(totals, [36.0, 18.0], total_batches=40)
    assert totals.forecast_sentence() == (
        "after 1 epoch(s) this run is forecast to use 0.04 Wh and emit 0.004 gCO2e over "
        "40 s (40 batches; rate of the first epoch)"
    )


def test_a_budget_met_exactly_is_not_passed():
    totals = RunTotals(resolve_pue(None))
    _epochs(totals, [36.0, 36.0], total_batches=40)  # 72 J used, forecast 144 J
    spent = totals.fit_used().energy_kWh
    next_epoch = totals.next_epoch_estimate().energy_kWh
    predicted = totals.latest_forecast.energy_kWh
    assert totals.budget_findings(budget_kwh=predicted, budget_gco2e=None) == []
    findings = totals.budget_findings(budget_kwh=spent + next_epoch, budget_gco2e=None)
    assert [(key, stop) for key, _, stop in findings] == [("energy-forecast", False)]
    assert totals.budget_findings(budget_kwh=spent, budget_gco2e=None)[1] == (
        "energy-reached",
        "the energy budget of 0.02 Wh would be passed by the next epoch: 0.02 Wh used, the "
        "costliest epoch so far with the pause after it 0.01 Wh.",
        True,
    )


def test_a_resumed_fit_with_epochs_left_is_not_done():
    totals = RunTotals(resolve_pue(None))
    _epochs(totals, [63.0, 63.0], total_batches=20)
    assert totals.run_done
    resumed = RunTotals(resolve_pue(None))
    resumed.load_state_dict(json.loads(json.dumps(totals.state_dict())))
    assert not resumed.run_done  # unknown until its next epoch
    resumed.begin_segment()  # the run was given more epochs
    assert not resumed.run_done
    findings = resumed.budget_findings(budget_kwh=130 / KWH, budget_gco2e=None)
    assert [(key, stop) for key, _, stop in findings] == [("energy-reached", True)]
    assert resumed.load_state_dict({"version": 2}) is None and resumed.records == []


def test_without_a_start_time_the_first_gap_is_priced_from_the_fits_start():
    totals, priced = RunTotals(resolve_pue(PUE)), _Priced()
    totals.begin_segment()
    totals.add_epoch(
        _gpu_cpu("train_epoch", 10.0, 720.0, 360.0, start=2),
        None,
        _gpu_cpu("fit", 12.0, 720.0, 396.0),
        intensity=GRID,
        epoch_index=0,
        batches=10,
        total_batches=30,
        forecast_from=1,
        outside_intensity=priced,
    )
    # from the merged fit window's own start, so every rank asks the live source alike
    assert priced.windows == [("2026-01-01T00:00:00+00:00", "2026-01-01T00:00:12+00:00")]
    assert totals.records[1]["gco2e"] == pytest.approx(_g(36, 200.0))


def test_stages_count_their_runs():
    totals = RunTotals(resolve_pue(None))
    reading = EnergyReading("test", 1.0, {}, {}, {})
    assert totals.add_stage("test", reading, GRID)["partial"] is False
    assert totals.add_stage("test", reading, GRID, "Ctrl-C")["partial"] is True
    assert totals.add_stage("predict", reading, GRID)["metrics"] == {
        "energy/predict_kWh": 0.0,
        "carbon/predict_gCO2e": 0.0,
    }
    assert totals.stages == {
        "test": {"runs": 2, "partial": True, "reason": "Ctrl-C"},
        "predict": {"runs": 1, "partial": False, "reason": None},
    }


def test_merged_ranks_keep_the_earliest_start_latest_end_and_label_the_split():
    split = {
        "method": "process",
        "devices": ["cpu"],
        "share": 0.5,
        "job_cpu_s": 1.0,
        "node_busy_cpu_s": 2.0,
        "root_pids": [7],
        "description": "cpu: 50 %",
        "shared_devices": {"gpu:0": "a MIG slice"},
    }
    node0 = EnergyReading(
        "e",
        2.0,
        {"cpu": 10.0},
        {"cpu": "cpu"},
        {"cpu": "estimated"},
        _at(1),
        _at(3),
        machine_energy_J_by_device={"cpu": 20.0},
        attribution=split,
    )
    node1 = replace(node0, start_utc=_at(0), end_utc=_at(2))
    merged = RunTotals.merge_ranks([(0, node0.to_dict()), (1, node1.to_dict())], qualify=True)
    assert (merged.start_utc, merged.end_utc) == (_at(0), _at(3))
    assert merged.machine_energy_J_by_device == {"node0/cpu": 20.0, "node1/cpu": 20.0}
    assert merged.attribution["devices"] == ["node0/cpu", "node1/cpu"]
    assert merged.attribution["shared_devices"] == {
        "node0/gpu:0": "a MIG slice",
        "node1/gpu:0": "a MIG slice",
    }
    plain = replace(node0, attribution={})
    assert RunTotals.merge_ranks([(1, plain.to_dict())], qualify=True).attribution == {}
    alone = {k: v for k, v in split.items() if k != "shared_devices"}
    merged = RunTotals.merge_ranks([(1, replace(node0, attribution=alone).to_dict())], qualify=True)
    assert merged.attribution == {**alone, "devices": ["node1/cpu"], "shared_devices": {}}


def test_a_version_1_checkpoint_counts_batches_from_global_steps():
    def old(step, joules):
        reading = _reading("train_epoch", 2.0, joules).to_dict()
        return {
            "stage": "train",
            "global_step": step,
            "energy_kWh": joules / KWH,
            "gco2e": 1.0,
            "reading": reading,
        }

    totals = RunTotals(resolve_pue(None))
    totals.load_state_dict({"epochs": [old(4, 63.0), old(10, 36.0), old(12, 9.0)]})  # no version
    assert [r["batches"] for r in totals.records] == [4, 6, 2]
    assert totals.fit_used().batches == 12
    empty = RunTotals(resolve_pue(None))
    empty.load_state_dict({"version": 1})
    assert empty.records == []


class _Live:
    """A live source that failed once and now says 300 g/kWh."""

    failures = ["DK1: timed out at 12:00"]

    def current(self):
        return replace(GRID, gco2_per_kWh=300.0, time="2026-01-01T12:00:00+00:00")


def test_a_live_intensity_is_summarised_as_the_one_the_run_effectively_used():
    totals = RunTotals(resolve_pue(PUE))
    _two_epochs(totals, _Priced())
    summary = totals.summary(
        intensity=IntensityChoice(GRID, None, live=_Live()),
        precision="32",
        sensors=[],
        world_size=1,
        num_nodes=1,
    )
    assert summary["intensity"] == {
        **asdict(GRID),
        "gco2_per_kWh": pytest.approx(summary["gco2e"] / summary["facility_energy_kWh"]),
        "time": None,
    }
    assert summary["notes"] == ["DK1: timed out at 12:00"]


def test_a_run_of_kilograms_is_pictured_by_equivalents():
    totals = RunTotals(resolve_pue(None))
    _epochs(totals, [3.6e8], total_batches=10)  # 100 kWh at 100 g/kWh: 10 kg
    summary = totals.summary(
        intensity=IntensityChoice(GRID, None), precision="32", sensors=[], world_size=1, num_nodes=1
    )
    assert summary["gco2e"] == pytest.approx(10_000.0)
    assert summary["equivalents"] == [asdict(e) for e in equivalents(summary["gco2e"])]
    assert len(summary["equivalents"]) == 3  # the car, streaming video, a tree


def test_without_a_fit_a_partial_stage_makes_the_summary_partial():
    totals = RunTotals(resolve_pue(None))
    reading = EnergyReading("test", 1.0, {}, {}, {})
    totals.add_stage("validate", reading, GRID)
    assert totals.add_stage("test", reading, GRID, "Ctrl-C") == {
        "stage": "test",
        "energy_kWh": 0.0,
        "facility_energy_kWh": 0.0,
        "gco2e": 0.0,
        "intensity": asdict(GRID),
        "pue": 1.0,
        "reading": reading.to_dict(),
        "partial": True,
        "metrics": {"energy/test_kWh": 0.0, "carbon/test_gCO2e": 0.0},
    }
    summary = totals.summary(
        intensity=IntensityChoice(GRID, None), precision="32", sensors=[], world_size=1, num_nodes=1
    )
    assert (summary["partial"], summary["reason"]) == (True, "Ctrl-C")


def test_a_fit_without_epochs_is_all_outside_them_with_its_notes():
    totals = RunTotals(resolve_pue(None))
    totals.begin_segment()
    fit = replace(_gpu_cpu("fit", 3.0, 30.0, 6.0), notes=("cpu stopped reporting (gone)",))
    totals.finish_fit(fit, intensity=GRID)
    (record,) = totals.records
    assert record["energy_kWh"] == 36 / KWH
    assert record["reading"]["notes"] == ["cpu stopped reporting (gone)"]
    assert record["reading"]["duration_s"] == 3.0


def test_a_gap_under_a_second_counts_in_the_next_epochs_cost():
    totals = RunTotals(resolve_pue(None))
    totals.begin_segment()
    for index, (epoch_s, fit_s) in enumerate([(2.0, 2.0), (2.0, 4.5)]):
        totals.add_epoch(
            _reading("train_epoch", epoch_s, 20.0),
            None,
            _reading("fit", fit_s, 20.0 * (index + 1)),
            intensity=GRID,
            epoch_index=index,
            batches=1,
            total_batches=4,
            forecast_from=1,
        )
    assert [r["cost"]["duration_s"] for r in totals.epochs] == [2.0, 2.5]  # 0.5 s save


def test_a_version_1_checkpoint_has_no_missing_devices_and_steps_from_zero():
    old = {
        "stage": "train",
        "epoch": 0,
        "energy_kWh": 0.0,
        "facility_energy_kWh": 0.0,
        "gco2e": 0.0,
        "reading": _reading("train_epoch", 1.0, 0.0).to_dict(),
    }
    totals = RunTotals(resolve_pue(None))
    started_utc = totals.started_utc
    totals.load_state_dict({"version": 1, "epochs": [old]})
    assert totals.records[0]["batches"] == 0
    assert totals.started_utc == started_utc  # an old checkpoint did not keep it
    summary = totals.summary(
        intensity=IntensityChoice(GRID, None), precision="32", sensors=[], world_size=1, num_nodes=1
    )
    assert summary["missing_devices"] == {}
