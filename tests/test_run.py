"""CarbonRun in a plain PyTorch-style loop, with sensors scripted on a clock moved by hand.

The GPU draws 100 W and the CPU 20 W (120 W in all) whenever the clock moves, so every energy
below is exact: a 1 s set-up is 120 J, a 0.5 s batch 60 J, a 0.25 s validation 30 J.
"""

import json
import subprocess
import sys
import textwrap

import pytest

from lightning_carbon import CarbonRun, emissions
from lightning_carbon import run as run_module
from lightning_carbon.intensity.table import country_intensity
from lightning_carbon.run import CarbonBudgetWarning
from tests.fakes import FakeClock, ScriptedSensor

KWH = 3.6e6
DNK = country_intensity("DNK").gco2_per_kWh


def _sensors(clock):
    return [
        ScriptedSensor("gpu:0", "gpu", clock, power_W=100.0),
        ScriptedSensor("cpu", "cpu", clock, power_W=20.0, provenance="estimated"),
    ]


def _train(run, clock, epochs=3, warm_up_s=5.0, batch_s=0.5, checkpoint_s=1.0, stop=True):
    """Set-up 1 s, then epochs of 4 batches (the first at ``warm_up_s`` each) and a 0.25 s
    validation, each followed by a checkpoint save of ``checkpoint_s``."""
    run.start()
    clock.advance(1.0)
    for epoch in range(epochs):
        with run.epoch(epoch, total_batches=epochs * 4):
            for _ in range(4):
                clock.advance(warm_up_s if epoch == 0 else batch_s)
                run.batch_done()
            with run.validation():
                clock.advance(0.25)
        clock.advance(checkpoint_s)
        if stop and run.should_stop:
            break
    return run.finish()


def _read(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_plain_loop_accounts_for_the_whole_run(tmp_path, monkeypatch):
    monkeypatch.setattr(run_module, "_DESCRIBED", set())  # said once per process: say it here
    clock = FakeClock()
    messages = []
    run = CarbonRun(
        country="DNK",
        output_dir=tmp_path,
        sensors=_sensors(clock),
        info=messages.append,
        clock=clock,
    )
    final = _train(run, clock)
    # set-up 120 J; epoch 0: 4 x 5 s + 0.25 s = 2430 J; epochs 1-2: 270 J; saves 3 x 120 J
    assert final["energy/run_total_kWh"] == pytest.approx(3450 / KWH)
    assert final["energy/outside_epochs_kWh"] == pytest.approx(480 / KWH)
    assert final["carbon/run_total_gCO2e"] == pytest.approx(3450 / KWH * DNK)
    records = _read(tmp_path / "carbon" / "epochs.jsonl")
    assert [r["stage"] for r in records] == ["train"] * 3 + ["outside_epochs"]
    assert [r["reading"]["energy_J"] for r in records] == pytest.approx([2430, 270, 270, 480])
    assert [r["validation"]["energy_J"] for r in records[:3]] == pytest.approx([30, 30, 30])
    # what forecasts and budgets count per epoch: the epoch and the save before it
    assert [r["cost"]["energy_kWh"] * KWH for r in records[:3]] == pytest.approx([2430, 390, 390])
    summary = json.loads((tmp_path / "carbon" / "summary.json").read_text())
    assert summary["energy_kWh"] == pytest.approx(3450 / KWH)
    assert summary["devices"]["gpu:0"]["energy_J"] == pytest.approx(3450 * 100 / 120)
    assert summary["training"]["outside_epochs"]["share"] == pytest.approx(480 / 3450)
    assert summary["duration_s"] == pytest.approx(1 + 20.25 + 2 * 2.25 + 3)
    assert summary["training"]["epochs"]["duration_s"] == pytest.approx(20.25 + 2 * 2.25)
    assert records[1]["metrics"]["power/gpu_W"] == pytest.approx(100.0)
    statement = (tmp_path / "carbon" / "statement.md").read_text()
    assert statement.startswith("Training used 0.958 Wh of electricity")
    assert "the rest, 0.133 Wh (13.9%), went to set-up" in statement
    assert messages[0].startswith("lightning-carbon: meters:\ngpu:0: scripted 100 W")


def test_the_forecast_leaves_the_warm_up_out_once_two_epochs_are_done(tmp_path):
    clock = FakeClock()
    run = CarbonRun(
        country="DNK", output_dir=tmp_path, sensors=_sensors(clock), clock=clock, monitor_epochs=2
    )
    _train(run, clock)
    forecast = json.loads((tmp_path / "carbon" / "summary.json").read_text())["forecast"]
    # after epoch 1: 2940 J used + 4 batches at (270 + 120) J / 4 batches = 3330 J
    assert forecast["energy_kWh"] == pytest.approx(3330 / KWH)
    assert forecast["method"] == "rate of epochs 2-2 (first epoch left out as warm-up)"
    assert forecast["relative_error"] == pytest.approx(3330 / 3450 - 1)
    assert abs(forecast["relative_error"]) < 0.05


def test_the_forecast_after_the_first_epoch_uses_its_rate(tmp_path):
    clock = FakeClock()
    run = CarbonRun(country="DNK", output_dir=tmp_path, sensors=_sensors(clock), clock=clock)
    _train(run, clock)
    forecast = json.loads((tmp_path / "carbon" / "summary.json").read_text())["forecast"]
    # 2550 J used + 8 batches at 2430 J / 4 batches
    assert forecast["energy_kWh"] == pytest.approx(7410 / KWH)
    # 21.25 s so far + 8 batches at 20.25 s / 4 batches
    assert forecast["duration_s"] == pytest.approx(21.25 + 2 * 20.25)
    assert forecast["done_batches"] == 4 and forecast["total_batches"] == 12


def test_should_stop_keeps_the_run_under_its_budget(tmp_path):
    clock = FakeClock()
    run = CarbonRun(
        country="DNK",
        output_dir=tmp_path,
        sensors=_sensors(clock),
        clock=clock,
        budget_kwh=3000 / KWH,
        on_budget="stop",
    )
    with pytest.warns(CarbonBudgetWarning, match="Training stops now"):
        final = _train(run, clock, epochs=10, warm_up_s=0.5)
    # epochs of 270 J, saves of 120 J: after epoch k, 390 k J are used and the costliest epoch
    # with its save is 390 J, so it stops after 7 (2730 J + 390 J would pass 3000 J)
    assert len(run.totals.epochs) == 7
    assert final["energy/run_total_kWh"] == pytest.approx(2850 / KWH)
    summary = json.loads((tmp_path / "carbon" / "summary.json").read_text())
    assert summary["budget"]["stopped"]["after_epochs"] == 7
    assert summary["budget"]["stopped"]["used_kWh"] == pytest.approx(2730 / KWH)
    assert summary["budget"]["budget_kwh"] == pytest.approx(3000 / KWH)


def test_an_inference_stage_and_a_failing_one(tmp_path):
    clock = FakeClock()
    run = CarbonRun(country="DNK", output_dir=tmp_path, sensors=_sensors(clock), clock=clock)
    _train(run, clock, epochs=1)
    with run.stage("test"):
        clock.advance(2.0)
    with pytest.raises(KeyboardInterrupt), run.stage("predict"):
        clock.advance(1.0)
        raise KeyboardInterrupt
    summary = json.loads((tmp_path / "carbon" / "summary.json").read_text())
    assert summary["partial"] is False  # the finished fit stays whole
    assert summary["inference"]["test"]["energy_kWh"] == pytest.approx(240 / KWH)
    assert summary["inference"]["predict"]["partial"] is True
    assert summary["inference"]["predict"]["reason"] == "KeyboardInterrupt"
    assert summary["inference"]["predict"]["energy_kWh"] == pytest.approx(120 / KWH)
    records = _read(tmp_path / "carbon" / "epochs.jsonl")
    assert [r["stage"] for r in records] == ["train", "outside_epochs", "test", "predict"]
    assert sum(r["energy_kWh"] for r in records) == pytest.approx(summary["energy_kWh"])


def test_a_failed_fit_is_partial_and_counts_up_to_the_failure(tmp_path):
    clock = FakeClock()
    run = CarbonRun(country="DNK", output_dir=tmp_path, sensors=_sensors(clock), clock=clock)
    run.start()
    clock.advance(1.0)
    with run.epoch(0, total_batches=8):
        clock.advance(1.0)
        run.batch_done()
    clock.advance(0.5)
    run.fail("RuntimeError: out of memory")
    summary = json.loads((tmp_path / "carbon" / "summary.json").read_text())
    assert summary["partial"] is True and summary["reason"] == "RuntimeError: out of memory"
    assert summary["energy_kWh"] == pytest.approx(300 / KWH)
    assert (tmp_path / "carbon" / "statement.md").read_text().startswith("**Partial record**")


def test_resume_restores_the_records_and_continues(tmp_path):
    clock = FakeClock()
    first = CarbonRun(country="DNK", output_dir=tmp_path, sensors=_sensors(clock), clock=clock)
    first.start()
    clock.advance(1.0)
    for epoch in range(2):
        with first.epoch(epoch, total_batches=12):
            clock.advance(1.0)
            first.batch_done(4)
    state = json.loads(json.dumps(first.state_dict()))  # what a checkpoint keeps
    with first.epoch(2, total_batches=12):  # written, then the process dies before a save
        clock.advance(1.0)
        first.batch_done(4)
    second = CarbonRun(country="DNK", output_dir=tmp_path, sensors=_sensors(clock), clock=clock)
    second.start()
    second.load_state_dict(state)
    restored = _read(tmp_path / "carbon" / "epochs.jsonl")
    assert [(r["stage"], r.get("epoch")) for r in restored] == [
        ("train", 0),
        ("train", 1),
        ("outside_epochs", None),
    ]
    clock.advance(0.5)
    with second.epoch(2, total_batches=12):
        clock.advance(1.0)
        second.batch_done(4)
    final = second.finish()
    # first process: 120 + 2 x 120 J; second: 60 J set-up + 120 J epoch
    assert final["energy/run_total_kWh"] == pytest.approx(540 / KWH)
    records = _read(tmp_path / "carbon" / "epochs.jsonl")
    assert [(r["stage"], r.get("epoch")) for r in records] == [
        ("train", 0),
        ("train", 1),
        ("outside_epochs", None),
        ("train", 2),
        ("outside_epochs", None),
    ]
    assert sum(r["energy_kWh"] for r in records) == pytest.approx(540 / KWH)


def test_metrics_reach_a_tracker_through_on_metrics(tmp_path):
    clock = FakeClock()
    logged = []
    run = CarbonRun(
        country="DNK",
        output_dir=tmp_path,
        sensors=_sensors(clock),
        clock=clock,
        on_metrics=lambda metrics, step: logged.append((step, dict(metrics))),
    )
    _train(run, clock, epochs=2, warm_up_s=0.5)
    assert [step for step, _ in logged] == [0, 1, None]
    assert logged[1][1]["energy/total_kWh"] == pytest.approx((120 + 270 + 120 + 270) / KWH)
    assert logged[2][1]["energy/run_total_kWh"] == pytest.approx((120 + 2 * 390) / KWH)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"monitor_epochs": 0}, "monitor_epochs"),
        ({"on_budget": "explode"}, "explode"),
        ({"budget_gco2e": -1.0}, "budget_gco2e"),
        ({"pue": 0.5}, "0.5"),
    ],
)
def test_bad_arguments_are_clear_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        CarbonRun(**kwargs)


def test_start_twice_and_an_unknown_stage_are_refused(tmp_path):
    clock = FakeClock()
    run = CarbonRun(sensors=_sensors(clock))
    with pytest.raises(ValueError, match="'train'"):
        run.start("train")
    run.start()
    with pytest.warns(RuntimeWarning, match="stage 'fit' is still running"):
        run.start("test")
    run.finish()


@pytest.mark.parametrize(("zone", "code"), [("DK1", "DNK"), ("DK2", "DNK"), ("GB-RG10", "GBR")])
def test_live_zone_without_country_falls_back_to_the_zones_country(zone, code, monkeypatch):
    monkeypatch.delenv("LIGHTNING_CARBON_COUNTRY", raising=False)
    run = CarbonRun(live_zone=zone)
    assert run.intensity_choice.base.code == code
    assert run.intensity_choice.note.startswith(f"no country given: the live zone {zone} falls")


def test_an_electricity_maps_zone_starts_with_its_country(monkeypatch):
    monkeypatch.setenv("ELECTRICITYMAPS_TOKEN", "t")
    monkeypatch.delenv("LIGHTNING_CARBON_COUNTRY", raising=False)
    assert CarbonRun(live_zone="US-CAL-CISO").intensity_choice.base.code == "USA"
    assert CarbonRun(live_zone="DE").intensity_choice.base.code == "DEU"


def test_emissions_is_the_quick_answer_with_provenance():
    result = emissions(2.0, country="DNK", pue=1.5)
    assert result.gco2e == pytest.approx(2.0 * 1.5 * DNK)
    assert result.intensity.code == "DNK" and result.intensity.basis == "lifecycle"
    assert emissions(1.0, carbon_intensity=100.0).gco2e == 100.0
    with pytest.raises(ValueError, match="-1"):
        emissions(-1.0)


def test_footprint_is_the_module_whatever_was_imported_before():
    # a fresh interpreter, so nothing has imported the submodule yet
    code = (
        "import types; from lightning_carbon import footprint as first; "
        "import lightning_carbon.footprint; from lightning_carbon import footprint as again; "
        "print(isinstance(first, types.ModuleType), first is again, callable(first.footprint))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.split() == ["True", "True", "True"], result.stderr


FRAMEWORK_FREE = textwrap.dedent(
    """
    import sys

    class Block:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("pytorch_lightning", "lightning", "lightning_fabric"):
                raise ImportError(name + " is blocked")

    sys.meta_path.insert(0, Block())
    import lightning_carbon
    from lightning_carbon import CarbonRun, EnergyMeter
    from lightning_carbon.sensors.base import Sensor

    class Tick(Sensor):
        component, device, provenance = "cpu", "cpu", "estimated"
        def __init__(self):
            self.joules = 0.0
        def energy_J(self):
            self.joules += 10.0
            return self.joules

    with EnergyMeter([Tick()]) as meter:
        pass
    assert meter.result.energy_J == 10.0
    run = CarbonRun(country="DNK", output_dir=sys.argv[1], sensors=[Tick()], info=print)
    run.start()
    with run.epoch(0, total_batches=1):
        run.batch_done()
    final = run.finish()
    frameworks = [m for m in sys.modules if m.split(".")[0] in ("pytorch_lightning", "lightning")]
    assert not frameworks, frameworks
    print("run total J", round(final["energy/run_total_kWh"] * 3.6e6, 6))
    """
)


def test_the_core_runs_with_no_training_framework_importable(tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", FRAMEWORK_FREE, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    # each snapshot reads the sensor once (+10 J): the stage opens at 10 J, then the epoch's
    # begin and end, a peek, and the stage's end at 50 J
    assert "run total J 40.0" in result.stdout
    assert (tmp_path / "carbon" / "statement.md").exists()


def test_our_warnings_print_as_one_plain_line():
    code = (
        "import warnings, lightning_carbon.run; "
        "warnings.warn('lightning-carbon: the budget is passed', UserWarning); "
        "warnings.warn('someone else', UserWarning)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    lines = result.stderr.splitlines()
    assert lines[0] == "lightning-carbon: the budget is passed"
    assert lines[1].endswith("UserWarning: someone else")  # others keep Python's format


class _ScriptedTree:
    """The job's process tree, its CPU seconds scripted: half of the node's busy time."""

    def __init__(self, clock):
        self.clock, self.roots = clock, [1]

    def cpu_s(self):
        return 0.5 * self.clock()

    def add_roots(self, pids):
        self.roots += list(pids)

    def pids(self):
        return set(self.roots)


def test_node_wide_energy_is_this_jobs_share_and_the_machines_figure_is_kept(tmp_path):
    from lightning_carbon.sensors.attribution import Attribution

    class NodeWide(ScriptedSensor):
        node_wide = True

    clock = FakeClock()
    attribution = Attribution("process", tree=_ScriptedTree(clock), node_busy_s=clock)
    sensors = [
        ScriptedSensor("gpu:0", "gpu", clock, power_W=100.0),
        NodeWide("cpu", "cpu", clock, power_W=20.0, provenance="estimated"),
    ]
    run = CarbonRun(
        country="DNK", output_dir=tmp_path, sensors=sensors, clock=clock, attribution=attribution
    )
    run.start()
    with run.epoch(0, total_batches=1):
        clock.advance(10.0)
        run.batch_done()
    run.finish()
    summary = json.loads((tmp_path / "carbon" / "summary.json").read_text())
    # GPU 1000 J, CPU 200 J of which the job used half of the busy CPU time
    assert summary["energy_kWh"] == pytest.approx(1100 / KWH)
    assert summary["machine_energy_kWh"] == pytest.approx(1200 / KWH)
    assert summary["devices"]["cpu"] == {
        "component": "cpu",
        "provenance": "estimated",
        "energy_J": pytest.approx(100.0),
        "machine_energy_J": pytest.approx(200.0),
    }
    assert summary["attribution"]["share"] == pytest.approx(0.5)
    assert summary["training"]["machine_energy_kWh"] == pytest.approx(1200 / KWH)
    statement = (tmp_path / "carbon" / "statement.md").read_text()
    assert "Attribution: cpu: 50 % of the machine's energy, this job's share" in statement
    assert "The machine as a whole used 0.333 Wh." in statement


def test_the_stop_keeps_room_for_the_pause_after_the_last_epoch(tmp_path):
    # epochs of 270 J and checkpoint saves of 120 J after each: after 2 epochs (780 J) the
    # next epoch with its save (390 J) and the save after it (120 J) would pass 1200 J
    clock = FakeClock()
    run = CarbonRun(
        country="DNK",
        output_dir=tmp_path,
        sensors=_sensors(clock),
        clock=clock,
        budget_kwh=1200 / KWH,
        on_budget="stop",
    )
    with pytest.warns(CarbonBudgetWarning, match="with the pause after it 0.142 Wh"):
        final = _train(run, clock, epochs=10, warm_up_s=0.5)
    assert len(run.totals.epochs) == 2
    assert final["energy/run_total_kWh"] == pytest.approx(900 / KWH)  # the last save too
    budget = json.loads((tmp_path / "carbon" / "summary.json").read_text())["budget"]
    assert budget["exceeded_kWh"] == 0.0 and budget["stopped"]["after_epochs"] == 2


def test_a_budget_passed_under_warn_is_said_with_how_much(tmp_path):
    clock = FakeClock()
    run = CarbonRun(
        country="DNK", output_dir=tmp_path, sensors=_sensors(clock), clock=clock, budget_kwh=1e-4
    )
    with pytest.warns(CarbonBudgetWarning):
        _train(run, clock, epochs=2, warm_up_s=0.5)
    budget = json.loads((tmp_path / "carbon" / "summary.json").read_text())["budget"]
    # 120 + 270 + 120 + 270 + 120 J = 900 J = 0.25 Wh against 0.1 Wh
    assert budget["exceeded_kWh"] == pytest.approx(900 / KWH - 1e-4)
    assert budget["stopped"] is None and budget["on_budget"] == "warn"
    statement = (tmp_path / "carbon" / "statement.md").read_text()
    assert "The fit passed its energy budget of 0.1 Wh by 0.15 Wh." in statement


def test_what_lies_outside_the_epochs_is_split_by_its_own_share_of_the_cpu_time():
    from lightning_carbon.reading import EnergyReading
    from lightning_carbon.sensors.attribution import attribution_record

    def reading(name, machine_J, job_s, busy_s):
        share = job_s / busy_s
        return EnergyReading(
            name,
            10.0,
            {"cpu": machine_J * share},
            {"cpu": "cpu"},
            {"cpu": "estimated"},
            machine_energy_J_by_device={"cpu": machine_J},
            attribution=attribution_record(
                "process", ["cpu"], share=share, job_cpu_s=job_s, node_busy_cpu_s=busy_s
            ),
        )

    epoch = reading("epoch", 150.0, 3.0, 3.0)  # the job alone on the machine: all of it
    fit = reading("fit", 200.0, 4.0, 8.0)  # over the whole fit: half of it
    outside = fit.minus(epoch)
    # outside the epoch the machine used 50 J while the job had 1 of its 5 busy CPU s
    assert outside.machine_energy_J_by_device == {"cpu": 50.0}
    assert outside.energy_J_by_device == {"cpu": pytest.approx(10.0)}
    assert outside.attribution["share"] == pytest.approx(0.2)
    assert outside.attribution["description"].startswith("cpu: 20 % of the machine's energy")


def test_the_outside_record_keeps_the_machines_figure(tmp_path):
    from lightning_carbon.footprint import resolve_pue
    from lightning_carbon.reading import EnergyReading
    from lightning_carbon.run_totals import RunTotals

    grid = country_intensity("DNK")

    def reading(name, joules, machine_J):
        return EnergyReading(
            name,
            10.0,
            {"cpu": joules},
            {"cpu": "cpu"},
            {"cpu": "estimated"},
            machine_energy_J_by_device={"cpu": machine_J},
        )

    totals = RunTotals(resolve_pue(None))
    totals.begin_segment()
    totals.add_epoch(
        reading("train_epoch", 60.0, 120.0),
        None,
        reading("fit", 90.0, 200.0),
        intensity=grid,
        epoch_index=0,
        batches=1,
        total_batches=1,
        forecast_from=1,
    )
    (outside,) = [r for r in totals.records if r["stage"] == "outside_epochs"]
    assert outside["reading"]["machine_energy_J"] == pytest.approx(80.0)
    assert outside["reading"]["energy_J"] == pytest.approx(30.0)
