"""CarbonRun in a plain loop: records that match the run, and forecasts of runs cut short.

A scripted 100 W sensor on a hand-moved clock: 10 s of training is 1000 J.
"""

import json

import pytest

from lightning_carbon.run import CarbonRun
from tests.fakes import FakeClock, ScriptedSensor

KWH = 3.6e6


def _run(clock, output_dir, **kwargs):
    kwargs.setdefault("country", "DNK")
    return CarbonRun(
        output_dir=output_dir,
        sensors=[ScriptedSensor("cpu", "cpu", clock, power_W=100.0)],
        info=lambda message: None,
        **kwargs,
    )


def _train(run, clock, epochs, *, first=0, batches=10, total_epochs=10):
    for index in range(first, first + epochs):
        with run.epoch(index, total_batches=total_epochs * batches):
            clock.advance(10.0)
            run.batch_done(batches)


def _records(output_dir):
    return [json.loads(line) for line in (output_dir / "carbon" / "epochs.jsonl").open()]


def test_a_run_that_stops_before_its_length_has_a_forecast_but_no_error(tmp_path):
    clock = FakeClock()
    run = _run(clock, tmp_path, monitor_epochs=2)
    run.start()
    _train(run, clock, 2)  # 2 of 10 epochs, 1000 J each
    final = run.finish()
    forecast = run.summary["forecast"]
    assert forecast["total_batches"] == 100 and forecast["run_batches"] == 20
    assert forecast["energy_kWh"] == pytest.approx(10_000 / KWH)
    assert forecast["relative_error"] is None
    assert "energy/forecast_error" not in final
    statement = (tmp_path / "carbon" / "statement.md").read_text()
    assert "After 2 epoch(s) the full run of 100 batches (this one ran 20) was forecast to use" in (
        statement
    )
    assert "for 0.0" in statement and "km; a forecast, not a measurement" in statement


def test_a_run_that_covers_its_forecast_is_checked_against_it(tmp_path):
    clock = FakeClock()
    run = _run(clock, tmp_path)
    run.start()
    _train(run, clock, 2, total_epochs=2)
    final = run.finish()
    assert run.summary["forecast"]["relative_error"] == pytest.approx(0.0)
    assert run.summary["forecast"]["run_batches"] == 20
    assert final["energy/forecast_error"] == pytest.approx(0.0)


def test_a_fit_replaces_the_records_an_earlier_run_left_in_its_folder(tmp_path):
    clock = FakeClock()
    first = _run(clock, tmp_path)
    first.start()
    _train(first, clock, 3)
    first.finish()
    assert len(_records(tmp_path)) == 4

    second = _run(clock, tmp_path)
    second.start()
    assert _records(tmp_path) == []  # the file is this run's from the start, not only at its end
    _train(second, clock, 1)
    assert [(r["stage"], r.get("epoch")) for r in _records(tmp_path)] == [("train", 0)]
    second.finish()
    assert [(r["stage"], r.get("epoch")) for r in _records(tmp_path)] == [
        ("train", 0),
        ("outside_epochs", None),
    ]
    assert second.summary["energy_kWh"] == pytest.approx(1000 / KWH)


def test_totals_restored_before_the_fit_starts_are_written_when_it_starts(tmp_path):
    clock = FakeClock()
    first = _run(clock, tmp_path / "a")
    first.start()
    _train(first, clock, 2)
    first.finish()
    state = first.state_dict()

    second = _run(clock, tmp_path / "b")
    second.load_state_dict(state)  # as a framework that loads checkpoints before training
    second.start()
    assert [r["stage"] for r in _records(tmp_path / "b")] == ["train", "train", "outside_epochs"]
    _train(second, clock, 1, first=2)
    second.finish()
    records = _records(tmp_path / "b")
    assert [(r["stage"], r.get("epoch"), r.get("segment")) for r in records] == [
        ("train", 0, None),
        ("train", 1, None),
        ("outside_epochs", None, 0),
        ("train", 2, None),
        ("outside_epochs", None, 1),
    ]
    assert second.summary["energy_kWh"] == pytest.approx(3000 / KWH)
