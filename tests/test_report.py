"""``lightning-carbon report`` over run folders written with the real bookkeeping.

The run folders are made by :func:`write_run`: ``RunTotals`` fed with ``EnergyReading``s,
its records and summary written by ``RunRecords``, so the test data has the real schema.
Each epoch of a run: GPU 1.8 MJ (0.5 kWh, measured), CPU 0.36 MJ (0.1 kWh, estimated),
DRAM 0.18 MJ (0.05 kWh, estimated), 0.65 kWh over 600 s.
"""

from __future__ import annotations

import json
import struct

import pytest

from lightning_carbon.cli import main
from lightning_carbon.footprint import resolve_pue
from lightning_carbon.intensity.choice import resolve_intensity
from lightning_carbon.intensity.table import country_intensity
from lightning_carbon.reading import EnergyReading
from lightning_carbon.records import RunRecords
from lightning_carbon.report import build_report, combined_summary, load_run, register_cli
from lightning_carbon.run_totals import RunTotals
from lightning_carbon.sensors.base import SensorChoice

EPOCH_J = {"gpu:0": 1.8e6, "cpu": 3.6e5, "dram": 1.8e5}
COMPONENT = {"gpu:0": "gpu", "cpu": "cpu", "dram": "dram"}
PROVENANCE = {"gpu:0": "measured", "cpu": "estimated", "dram": "estimated"}
EPOCH_KWH = 0.65


def _epoch_reading(index: int) -> EnergyReading:
    return EnergyReading(
        "train_epoch",
        600.0,
        dict(EPOCH_J),
        dict(COMPONENT),
        dict(PROVENANCE),
        start_utc=f"2025-01-01T00:{index * 10:02d}:00+00:00",
        end_utc=f"2025-01-01T00:{index * 10 + 10:02d}:00+00:00",
    )


def write_run(
    directory,
    *,
    epochs: int = 2,
    max_epochs: int = 4,
    country: str = "DNK",
    pue: float | None = None,
    summary: bool = True,
    partial_reason: str | None = None,
    test_J: float | None = None,
) -> RunTotals:
    """A run folder with ``epochs`` finished epochs of a ``max_epochs`` run (10 steps each)."""
    choice = resolve_intensity(country, None, None)
    totals = RunTotals(resolve_pue(pue))
    records = RunRecords(directory)
    for index in range(epochs):
        records.append_epoch(
            totals.add_epoch(
                _epoch_reading(index),
                None,
                intensity=choice.current(),
                epoch_index=index,
                done_steps=10 * (index + 1),
                total_steps=10 * max_epochs,
                forecast_from=1,
            )
        )
    if test_J is not None:
        reading = EnergyReading(
            "test", 30.0, {"gpu:0": test_J}, {"gpu:0": "gpu"}, {"gpu:0": "measured"}
        )
        records.append_epoch(totals.add_inference("test", reading, choice.current()))
    if summary:
        records.write_summary(
            totals.summary(
                intensity=choice,
                precision="32-true",
                sensors=[SensorChoice("gpu", "gpu:0", "measured", "gpu:0: NVML counter")],
                world_size=1,
                num_nodes=1,
                partial_reason=partial_reason,
            )
        )
    return totals


def _png_size(path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def _summary(directory):
    return json.loads((directory / "carbon" / "summary.json").read_text())


@pytest.fixture
def runs(tmp_path):
    """Two good runs (DNK; USA at PUE 1.5 with a test run), one without a summary,
    one with a torn summary and no epochs, and a missing directory."""
    good_dk, good_us = tmp_path / "dk", tmp_path / "us"
    write_run(good_dk, epochs=2)
    write_run(good_us, epochs=3, country="USA", pue=1.5, test_J=3.6e5)
    rebuilt = tmp_path / "crashed"
    rebuilt_totals = write_run(rebuilt, epochs=2, summary=False)
    with (rebuilt / "carbon" / "epochs.jsonl").open("a") as stream:
        stream.write('{"stage": "train", "epoch": 2, "energy_kWh": 0.6')  # torn mid-write
    corrupt = tmp_path / "corrupt"
    (corrupt / "carbon").mkdir(parents=True)
    (corrupt / "carbon" / "summary.json").write_text('{"energy_kWh": 1.0, "gco2e": ')
    return {
        "dk": good_dk,
        "us": good_us,
        "rebuilt": rebuilt,
        "rebuilt_totals": rebuilt_totals,
        "corrupt": corrupt,
        "missing": tmp_path / "never-written",
    }


def test_run_dir_or_its_carbon_folder_reads_the_same_summary(tmp_path):
    write_run(tmp_path / "run")
    by_run = load_run(tmp_path / "run", warn=pytest.fail)
    by_folder = load_run(tmp_path / "run" / "carbon", warn=pytest.fail)
    assert by_run.summary == by_folder.summary == _summary(tmp_path / "run")
    assert by_run.totals_from == "summary.json" and not by_run.partial
    assert [r["epoch"] for r in by_run.epochs] == [0, 1]


def test_epochs_without_summary_rebuild_the_totals_and_name_the_torn_line(runs):
    warnings = []
    run = load_run(runs["rebuilt"], warn=warnings.append)
    totals = runs["rebuilt_totals"]
    epochs_path = runs["rebuilt"] / "carbon" / "epochs.jsonl"
    assert warnings == [f"skipped 1 torn line(s) of {epochs_path}"]
    assert run.totals_from == "epochs.jsonl" and run.partial
    assert "no valid summary.json" in run.summary["reason"]
    assert run.summary["epochs"] == 2
    assert run.summary["energy_kWh"] == totals.fit_total.energy_kWh == pytest.approx(1.3)
    assert run.summary["gco2e"] == totals.gco2e
    assert run.summary["facility_energy_kWh"] == totals.facility_kWh
    assert run.summary["duration_s"] == 1200.0
    assert run.summary["energy_kWh_by_component"] == pytest.approx(
        {"gpu": 1.0, "cpu": 0.2, "dram": 0.1}
    )
    assert run.summary["provenance_by_component"] == {
        "gpu": "measured",
        "cpu": "estimated",
        "dram": "estimated",
    }
    assert run.summary["intensity"]["code"] == "DNK"


def test_rebuilt_summary_matches_the_real_one_for_a_finished_run(tmp_path):
    write_run(tmp_path / "run", epochs=3, country="USA", pue=1.5, test_J=7.2e5)
    real = _summary(tmp_path / "run")
    (tmp_path / "run" / "carbon" / "summary.json").unlink()
    rebuilt = load_run(tmp_path / "run", warn=pytest.fail).summary
    for key in (
        "epochs",
        "duration_s",
        "energy_kWh",
        "gco2e",
        "inference",
        "energy_kWh_by_component",
        "provenance_by_component",
        "provenance",
        "intensity",
        "notes",
    ):
        assert rebuilt[key] == real[key], key
    assert rebuilt["facility_energy_kWh"] == pytest.approx(real["facility_energy_kWh"])
    assert rebuilt["pue"]["value"] == real["pue"]["value"] == 1.5


@pytest.mark.parametrize(
    ("content", "why"),
    [
        ('{"energy_kWh": 1.0, "gco2e": ', "not readable JSON"),
        ("[1, 2]", "not a JSON object"),
        ('{"energy_kWh": "lots", "gco2e": 1.0}', "'energy_kWh' is missing or not a number"),
        ('{"energy_kWh": 1.0, "gco2e": 1.0, "pue": {"value": null}}', "'pue' has no numeric"),
    ],
)
def test_a_malformed_summary_is_named_and_the_epochs_are_used(tmp_path, content, why):
    write_run(tmp_path / "run", epochs=2)
    summary_path = tmp_path / "run" / "carbon" / "summary.json"
    summary_path.write_text(content)
    warnings = []
    run = load_run(tmp_path / "run", warn=warnings.append)
    assert len(warnings) == 1
    assert warnings[0].startswith(f"skipped {summary_path}: {why}")
    assert run.totals_from == "epochs.jsonl" and run.summary["epochs"] == 2


def test_a_malformed_epoch_record_is_named_and_skipped(tmp_path):
    write_run(tmp_path / "run", epochs=2, summary=False)
    path = tmp_path / "run" / "carbon" / "epochs.jsonl"
    lines = path.read_text().splitlines()
    broken = json.loads(lines[0])
    del broken["gco2e"]
    path.write_text("\n".join([json.dumps(broken), lines[1]]) + "\n")
    warnings = []
    run = load_run(tmp_path / "run", warn=warnings.append)
    assert warnings == [f"skipped record 1 of {path}: 'gco2e' is missing or not a number (None)"]
    assert [r["epoch"] for r in run.epochs] == [1]
    assert run.summary["gco2e"] == json.loads(lines[1])["gco2e"]


def test_partial_summary_is_included_and_marked(tmp_path):
    write_run(tmp_path / "run", epochs=1, partial_reason="KeyboardInterrupt")
    run = load_run(tmp_path / "run", warn=pytest.fail)
    assert run.partial and run.row()["status"] == "partial"
    assert run.row()["reason"] == "KeyboardInterrupt"
    total = combined_summary([run])
    assert total["partial"] and total["reason"] == f"{tmp_path / 'run'}: KeyboardInterrupt"


def test_report_over_good_and_corrupt_runs_has_exact_totals(runs, tmp_path, capsys):
    out = tmp_path / "report"
    code = main(
        [
            "report",
            str(runs["dk"]),
            str(runs["us"]),
            str(runs["rebuilt"]),
            str(runs["corrupt"]),
            str(runs["missing"]),
            "--out",
            str(out),
            "--json",
        ]
    )
    captured = capsys.readouterr()
    assert code == 0
    report = json.loads(captured.out)
    dk, us = _summary(runs["dk"]), _summary(runs["us"])
    rebuilt = runs["rebuilt_totals"]
    assert [r["run"] for r in report["runs"]] == [
        str(runs["dk"]),
        str(runs["us"]),
        str(runs["rebuilt"]),
    ]
    assert [r["status"] for r in report["runs"]] == ["complete", "complete", "partial"]
    total = report["total"]
    assert total["energy_kWh"] == dk["energy_kWh"] + us["energy_kWh"] + rebuilt.fit_total.energy_kWh
    assert total["gco2e"] == dk["gco2e"] + us["gco2e"] + rebuilt.gco2e
    assert total["facility_energy_kWh"] == (
        dk["facility_energy_kWh"] + us["facility_energy_kWh"] + rebuilt.facility_kWh
    )
    assert total["epochs"] == 2 + 3 + 2
    # by hand: 7 epochs of 0.65 kWh + a 0.1 kWh test run
    assert total["energy_kWh"] == pytest.approx(7 * EPOCH_KWH + 0.1)
    dnk, usa = country_intensity("DNK").gco2_per_kWh, country_intensity("USA").gco2_per_kWh
    assert total["gco2e"] == pytest.approx(4 * EPOCH_KWH * dnk + (3 * EPOCH_KWH + 0.1) * 1.5 * usa)
    # two grids and two PUEs: the effective values reproduce the total exactly
    assert total["intensity"]["code"] == "MIX"
    assert total["intensity"]["gco2_per_kWh"] == total["gco2e"] / total["facility_energy_kWh"]
    assert total["pue"]["value"] == total["facility_energy_kWh"] / total["energy_kWh"]
    assert total["provenance_by_component"] == {
        "gpu": "measured",
        "cpu": "estimated",
        "dram": "estimated",
    }
    assert total["partial"] and str(runs["rebuilt"]) in total["reason"]
    # warnings name each bad file or folder, on stderr and in the JSON
    corrupt_summary = runs["corrupt"] / "carbon" / "summary.json"
    for name in (corrupt_summary, runs["missing"], runs["rebuilt"] / "carbon" / "epochs.jsonl"):
        assert str(name) in captured.err
        assert any(str(name) in w for w in report["warnings"])
    assert captured.err.count("lightning-carbon report: warning:") == len(report["warnings"]) == 4


def test_report_regions_price_the_total_facility_energy(runs, tmp_path, capsys):
    out = tmp_path / "report"
    code = main(
        [
            "report",
            str(runs["dk"]),
            "--out",
            str(out),
            "--json",
            "--regions",
            "DNK,gcp:europe-north1,US-CA",
        ]
    )
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    regions = {r["name"]: r for r in report["regions"]}
    assert list(regions) == ["DNK", "gcp:europe-north1", "US-CA"]
    assert regions["DNK"]["own"] and regions["DNK"]["gco2e"] == report["total"]["gco2e"]
    for region in regions.values():
        assert region["gco2e"] == (
            report["total"]["energy_kWh"] * 1.0 * region["intensity"]["gco2_per_kWh"]
        )
    assert "older than the country table" in regions["US-CA"]["note"]


def test_report_md_has_statement_tables_and_the_plots_it_references(runs, tmp_path, capsys):
    out = tmp_path / "report"
    assert main(["report", str(runs["dk"]), str(runs["us"]), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    markdown = (out / "report.md").read_text()
    assert "These 2 runs used" in printed and "These 2 runs used" in markdown
    assert "| run | epochs | energy | emissions | provenance | intensity | status |" in markdown
    assert f"| {runs['us']} | 3 | 2.05 kWh |" in markdown
    assert "| **OWID_WRL**" not in markdown and "| WORLD: World |" in markdown
    images = [
        line[line.index("](") + 2 : -1] for line in markdown.splitlines() if line.startswith("![")
    ]
    assert len(images) == 5  # energy + carbon per run, one regions plot
    for name in images:
        assert "/" not in name and _png_size(out / name) == (800, 450)
    assert f"Report written to {out / 'report.md'}" in printed


def test_no_valid_run_exits_2_with_a_clear_message(runs, tmp_path, capsys):
    code = main(
        ["report", str(runs["corrupt"]), str(runs["missing"]), "--out", str(tmp_path / "report")]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert "error: no valid run records in" in err and str(runs["corrupt"]) in err
    assert not (tmp_path / "report").exists()


def test_unknown_region_exits_2_naming_it(runs, tmp_path, capsys):
    code = main(
        [
            "report",
            str(runs["dk"]),
            "--regions",
            "DNK,europe-nort1",
            "--out",
            str(tmp_path / "report"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert "'europe-nort1'" in err and "europe-north1" in err
    assert not (tmp_path / "report").exists()


def test_build_report_returns_none_without_runs(tmp_path):
    assert build_report([tmp_path / "nothing"], tmp_path / "out", warn=None) is None


def test_register_cli_adds_report_with_a_func():
    import argparse

    parser = argparse.ArgumentParser()
    register_cli(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["report", "a", "b", "--regions", "DNK, EST", "--json"])
    assert args.run_dirs == ["a", "b"] and args.regions == ["DNK", "EST"] and args.json
    assert args.out == "carbon-report" and callable(args.func)


def test_importing_report_does_not_import_matplotlib():
    import subprocess
    import sys

    code = "import sys, lightning_carbon.report; print('matplotlib' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
