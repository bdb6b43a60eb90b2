"""The report's closing section, "How to cut this footprint": the study's five guidelines and
what the runs' own records say for each, with numbers, or that they cannot tell.

Runs come from :func:`tests.test_report.write_run` (2 epochs of 0.65 kWh, 600 s each, in
Denmark, forecast for 4 epochs after the first); sweeps from scripted runs
(:mod:`tests.test_sweep_flags`), written the way ``precision_sweep`` writes them.
"""

from __future__ import annotations

import json

import pytest

from lightning_carbon.cli import main
from lightning_carbon.intensity.table import country_intensity
from lightning_carbon.report import load_run
from tests.test_report import EPOCH_KWH, write_run
from tests.test_sweep_flags import _result, _run

DNK = country_intensity("DNK").gco2_per_kWh
TITLES = [
    "Track, log and report",
    "Search hyperparameters with a budget, not on a grid",
    "Use energy-efficient hardware and settings",
    "Choose where and when to train",
    "Use automatic mixed precision",
]


def _guidelines(tmp_path, capsys, *args):
    out = tmp_path / "report"
    code = main(["report", *map(str, args), "--out", str(out), "--json"])
    report = json.loads(capsys.readouterr().out)
    markdown = (out / "report.md").read_text()
    return code, {f["key"]: f for f in report["how_to_cut"]}, markdown


def _sweep_file(tmp_path, runs):
    path = tmp_path / "sweep" / "precision_sweep.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(_result(runs).to_dict()))
    return path


def test_without_a_sweep_it_says_what_it_can_and_what_it_cannot(tmp_path, capsys):
    write_run(tmp_path / "run", epochs=2, max_epochs=4)
    code, found, markdown = _guidelines(tmp_path, capsys, tmp_path / "run")
    assert code == 0
    assert [f["guideline"] for f in found.values()] == TITLES
    section = markdown[markdown.index("## How to cut this footprint") :]
    assert [
        line.split("**")[1]
        for line in section.splitlines()
        if line[:3] in {"1. ", "2. ", "3. ", "4. ", "5. "}
    ] == [f"{title}." for title in TITLES]
    # track: the GPU's 0.5 of every 0.65 kWh is measured, CPU and DRAM are estimates
    assert found["track"]["numbers"]["measured_share"] == pytest.approx(0.5 / 0.65)
    assert (
        "77% measured by hardware counters, the rest (CPU, DRAM) estimated"
        in found["track"]["says"]
    )
    # search: forecast after epoch 1 of 4 epochs, twice what the 2 epochs run used: a forecast
    # of a longer run than the one that ran has no error to average; no budget
    search = found["search"]
    assert search["known"] and search["numbers"]["mean_abs_forecast_error"] is None
    assert "forecasts off by" not in search["says"]
    assert (
        f"{4 * EPOCH_KWH * DNK:.3g} gCO2e forecast, {2 * EPOCH_KWH * DNK:.3g} gCO2e emitted"
        in (search["says"])
    )
    assert "no run had a carbon budget" in search["says"]
    # settings: these fits spent nothing outside their epochs
    assert found["settings"]["known"]
    assert found["settings"]["says"].startswith("0.0% of the energy (0 Wh of 1.3 kWh)")
    # where: the own grid (DNK) is the lowest of the defaults; when: needs live data
    where = found["where_when"]
    assert where["says"].startswith("The runs' own grid is the lowest-carbon of those compared")
    assert [r["region"] for r in where["numbers"]["lowest"]] == ["EU27", "EST"]
    assert "`lightning-carbon when --zone ZONE --duration 20m`" in where["says"]
    # precision: full precision, no sweep to measure the saving
    assert not found["precision"]["known"]
    assert found["precision"]["says"].startswith("The runs used full precision (32-true)")
    assert "3. **Use energy-efficient hardware and settings.**" in markdown
    assert markdown.count("*(cannot tell)*") == 1  # precision; settings are known now
    assert markdown.rstrip().endswith("*(cannot tell)*")  # the closing section of the report


def test_with_a_sweep_the_measured_saving_and_a_cost_are_said(tmp_path, capsys):
    write_run(tmp_path / "run", precision="bf16-mixed")
    runs = [_run("32-true", r, wh, 1.0) for r, wh in enumerate([0.020, 0.021, 0.0205])]
    runs += [_run("bf16-mixed", r, wh, 0.6) for r, wh in enumerate([0.010, 0.0102, 0.0098])]
    runs += [_run("16-mixed", r, wh, 1.2) for r, wh in enumerate([0.03, 0.01, 0.02])]
    sweep = _sweep_file(tmp_path, runs)
    code, found, _ = _guidelines(tmp_path, capsys, tmp_path / "run", "--sweep", sweep.parent)
    assert code == 0
    precision = found["precision"]
    assert precision["known"]
    assert precision["numbers"] == {
        "bf16-mixed": pytest.approx(1 - 0.010 / 0.0205),
        "16-mixed": pytest.approx(1 - 0.02 / 0.0205),
    }
    assert precision["says"] == (
        "The precision sweep measured: bf16-mixed used 51% less energy than 32-true; "
        "16-mixed used 2% less energy than 32-true, within the spread of the repeats "
        "(inconclusive)."
    )


def test_a_sweep_whose_saving_is_negative_calls_it_a_cost(tmp_path, capsys):
    write_run(tmp_path / "run")
    runs = [_run("32-true", 0, 0.02, 1.0), _run("bf16-mixed", 0, 0.03, 1.0)]
    sweep = _sweep_file(tmp_path, runs)
    _, found, _ = _guidelines(tmp_path, capsys, tmp_path / "run", "--sweep", sweep)
    assert found["precision"]["says"] == (
        "The precision sweep measured: bf16-mixed used 50% more energy than 32-true "
        "(a cost, not a saving)."
    )


def test_mixed_precision_runs_without_a_sweep_say_so(tmp_path, capsys):
    write_run(tmp_path / "run", precision="bf16-mixed")
    write_run(tmp_path / "unknown", extra={"precision": None})
    _, found, _ = _guidelines(tmp_path, capsys, tmp_path / "run")
    assert found["precision"]["says"].startswith("The runs used bf16-mixed; ")
    _, found, _ = _guidelines(tmp_path, capsys, tmp_path / "unknown")
    assert found["precision"]["says"].startswith("The records do not say which precision")


def test_energy_outside_epochs_from_the_training_section(tmp_path, capsys):
    # two runs whose fits spent 0.1 and 0.05 kWh outside their epochs (set-up, checkpoints),
    # and one of schema 1 (no training section), which cannot tell
    outside = {"energy_kWh": 1.4, "gco2e": 200.0, "outside_epochs": {"energy_kWh": 0.1}}
    write_run(tmp_path / "a", extra={"training": outside})
    write_run(
        tmp_path / "b",
        extra={"training": {**outside, "energy_kWh": 1.35, "outside_epochs": {"energy_kWh": 0.05}}},
    )
    write_run(tmp_path / "old", extra={"training": {"energy_kWh": 1.3, "gco2e": 186.0}})
    runs = [tmp_path / name for name in ("a", "b", "old")]
    _, found, _ = _guidelines(tmp_path, capsys, *runs)
    settings = found["settings"]
    assert settings["known"]
    assert settings["numbers"]["outside_epochs_kWh"] == pytest.approx(0.15)
    assert settings["numbers"]["run_kWh"] == pytest.approx(1.4 + 1.35)
    assert settings["says"].startswith("5.5% of the energy (150 Wh of 2.75 kWh) went outside")
    assert "in 2 of 3 run(s): worth cutting" in settings["says"]
    _, found, _ = _guidelines(tmp_path, capsys, tmp_path / "b")
    assert "3.7% of the energy" in found["settings"]["says"]
    assert "little to gain there" in found["settings"]["says"]


def test_outside_epochs_records_count_in_a_rebuilt_fit(tmp_path, capsys):
    """Without a summary, an ``outside_epochs`` record (summary schema 2) joins the fit."""
    write_run(tmp_path / "run", epochs=2, summary=False)
    path = tmp_path / "run" / "carbon" / "epochs.jsonl"
    first = json.loads(path.read_text().splitlines()[0])
    reading = {**first["reading"], "name": "outside_epochs", "duration_s": 60.0}
    reading["devices"] = {"cpu": {"component": "cpu", "provenance": "estimated", "energy_J": 3.6e5}}
    outside = {
        "stage": "outside_epochs",
        "segment": 0,
        "energy_kWh": 0.1,
        "facility_energy_kWh": 0.1,
        "gco2e": 0.1 * DNK,
        "pue": 1.0,
        "intensity": first["intensity"],
        "reading": reading,
    }
    with path.open("a") as stream:
        stream.write(json.dumps(outside) + "\n")
    code, found, _ = _guidelines(tmp_path, capsys, tmp_path / "run")
    assert code == 0
    settings = found["settings"]
    assert settings["numbers"]["outside_epochs_kWh"] == pytest.approx(0.1)
    assert settings["numbers"]["run_kWh"] == pytest.approx(2 * EPOCH_KWH + 0.1)
    run = load_run(tmp_path / "run", warn=pytest.fail)  # the record is valid, not skipped
    assert run.summary["epochs"] == 2 and run.summary["inference"] == {}
    assert run.summary["training"]["energy_kWh"] == pytest.approx(2 * EPOCH_KWH + 0.1)
    assert run.summary["energy_kWh_by_component"]["cpu"] == pytest.approx(0.2 + 0.1)


def test_forecast_against_budget(tmp_path, capsys):
    emitted, used_kWh = 2 * EPOCH_KWH * DNK, 2 * EPOCH_KWH  # 186 g, 1.3 kWh
    within = {"budget_gco2e": 2 * emitted, "budget_kwh": 4 * used_kWh, "stopped": None}
    write_run(tmp_path / "within", extra={"budget": within})
    write_run(tmp_path / "over", extra={"budget": emitted / 2})
    write_run(tmp_path / "stopped", extra={"budget": {"budget_gco2e": emitted, "stopped": "x"}})
    runs = [tmp_path / name for name in ("within", "over", "stopped")]
    _, found, _ = _guidelines(tmp_path, capsys, *runs)
    search = found["search"]
    assert search["numbers"]["budgets"] == 4 and search["numbers"]["forecasts"] == 3
    assert (
        "4 budget(s) set, 25% to 200% of each used; over budget: over; "
        "stopped by its budget: stopped" in search["says"]
    )
    assert f"These 3 runs emitted {3 * emitted:.3g} gCO2e; a grid search pays" in search["says"]


def test_no_forecast_and_no_budget_cannot_tell(tmp_path, capsys):
    write_run(tmp_path / "run", extra={"forecast": None})
    _, found, _ = _guidelines(tmp_path, capsys, tmp_path / "run")
    assert not found["search"]["known"]
    assert found["search"]["says"].startswith("No run recorded a forecast or a budget")


def test_a_live_zone_is_named_in_the_when_command(tmp_path, capsys):
    live = {
        "gco2_per_kWh": 90.0,
        "region": "DK1",
        "code": "DK1",
        "year": None,
        "source": "Energi Data Service",
        "basis": "direct",
        "is_live": True,
    }
    write_run(tmp_path / "run", extra={"intensity": live})
    _, found, _ = _guidelines(tmp_path, capsys, tmp_path / "run")
    assert "`lightning-carbon when --zone DK1 --duration 20m`" in found["where_when"]["says"]
