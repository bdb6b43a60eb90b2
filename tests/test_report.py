"""``lightning-carbon report`` over run folders written with the real bookkeeping.

The run folders are made by :func:`write_run`: ``RunTotals`` fed with ``EnergyReading``s,
its records and summary written by ``RunRecords``, so the test data has the real schema.
Each epoch of a run: GPU 1.8 MJ (0.5 kWh, measured), CPU 0.36 MJ (0.1 kWh, estimated),
DRAM 0.18 MJ (0.05 kWh, estimated), 0.65 kWh over 600 s.
"""

from __future__ import annotations

import json

import pytest
from PIL import Image

from lightning_carbon.cli import main
from lightning_carbon.footprint import resolve_pue
from lightning_carbon.intensity.choice import resolve_intensity
from lightning_carbon.intensity.table import country_intensity
from lightning_carbon.reading import EnergyReading
from lightning_carbon.records import RunRecords
from lightning_carbon.report import (
    UnusableRun,
    build_report,
    combined_summary,
    load_run,
    register_cli,
)
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
    precision: str = "32-true",
    extra: dict | None = None,
) -> RunTotals:
    """A run folder with ``epochs`` finished epochs of a ``max_epochs`` run (10 steps each);
    ``extra`` fields join the summary (fields that newer records carry: ``run_name``...)."""
    choice = resolve_intensity(country, None, None)
    totals = RunTotals(resolve_pue(pue))
    records = RunRecords(directory)
    totals.begin_segment()
    fit = None
    for index in range(epochs):
        epoch = _epoch_reading(index)
        fit = epoch if fit is None else fit.plus(epoch)
        records.append_epoch(
            totals.add_epoch(
                epoch,
                None,
                fit,
                intensity=choice.current(),
                epoch_index=index,
                batches=10,
                total_batches=10 * max_epochs,
                forecast_from=1,
            )
        )
    if summary and fit is not None:  # the fit ends: its (here empty) outside-epochs record
        totals.finish_fit(fit, intensity=choice.current(), partial_reason=partial_reason)
        records.rewrite_epochs(totals.records)
    if test_J is not None:
        reading = EnergyReading(
            "test", 30.0, {"gpu:0": test_J}, {"gpu:0": "gpu"}, {"gpu:0": "measured"}
        )
        records.append_epoch(totals.add_stage("test", reading, choice.current()))
    if summary:
        summary_fields = totals.summary(
            intensity=choice,
            precision=precision,
            sensors=[SensorChoice("gpu", "gpu:0", "measured", "gpu:0: NVML counter")],
            world_size=1,
            num_nodes=1,
        )
        records.write_summary({**summary_fields, **(extra or {})})
    return totals


def _png_size(path) -> tuple[int, int]:
    """Width and height of a PNG file in pixels, read back with PIL."""
    with Image.open(path) as image:
        assert image.format == "PNG"
        return image.size


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
    assert by_run.directory == by_folder.directory == tmp_path / "run"
    assert by_run.totals_from == "summary.json" and not by_run.partial
    assert [r["epoch"] for r in by_run.epochs if r["stage"] == "train"] == [0, 1]


def test_epochs_without_summary_rebuild_the_totals_and_name_the_torn_line(runs):
    warnings = []
    run = load_run(runs["rebuilt"], warn=warnings.append)
    totals = runs["rebuilt_totals"]
    epochs_path = runs["rebuilt"] / "carbon" / "epochs.jsonl"
    assert warnings == [f"skipped 1 torn line(s) of {epochs_path}"]
    assert run.totals_from == "epochs.jsonl" and run.partial
    assert "no valid summary.json" in run.summary["reason"]
    assert run.summary["epochs"] == 2
    assert run.summary["energy_kWh"] == totals.fit_used().energy_kWh == pytest.approx(1.3)
    assert run.summary["gco2e"] == totals.fit_used().gco2e
    assert run.summary["facility_energy_kWh"] == pytest.approx(
        sum(r["facility_energy_kWh"] for r in totals.records)
    )
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


def _good_summary(**changes):
    summary = {"energy_kWh": 1.0, "facility_energy_kWh": 1.0, "gco2e": 100.0, "epochs": 2}
    return json.dumps({**summary, **changes})


@pytest.mark.parametrize(
    ("content", "why"),
    [
        ('{"energy_kWh": 1.0, "gco2e": ', "not readable JSON"),
        ("[1, 2]", "not a JSON object"),
        (_good_summary(energy_kWh="lots"), "'energy_kWh' is missing or not a number ('lots')"),
        (_good_summary(gco2e=None), "'gco2e' is missing or not a number (None)"),
        (_good_summary(duration_s="1 h"), "'duration_s' is not a number ('1 h')"),
        (_good_summary(epochs=True), "'epochs' is not a number (True)"),
        (_good_summary(energy_kWh=-1.0), "'energy_kWh' is negative (-1.0)"),
        (
            _good_summary(energy_kWh_by_component={"gpu": "a lot"}),
            "'energy_kWh_by_component' is not a mapping of numbers",
        ),
        (_good_summary(intensity={"gco2_per_kWh": "high"}), "'intensity' has no numeric"),
        (_good_summary(pue={"value": None}), "'pue' has no numeric 'value'"),
        (_good_summary(pue={"value": 0.8, "source": "?"}), "'pue' value is below 1 (0.8)"),
        (
            _good_summary(facility_energy_kWh=0.5),
            "'facility_energy_kWh' is below 'energy_kWh' (0.5)",
        ),
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


def _device(record):
    return next(iter(record["reading"]["devices"].values()))


@pytest.mark.parametrize(
    ("break_record", "why"),
    [
        (lambda r: r.clear() or r.update(stage="train"), "'energy_kWh' is missing or not a number"),
        (lambda r: r.pop("gco2e"), "'gco2e' is missing or not a number (None)"),
        (lambda r: r.update(epoch="one"), "'epoch' is missing or not a number ('one')"),
        (lambda r: r.update(total_gCO2e=float("inf")), "'total_gCO2e' is missing or not a number"),
        (lambda r: r.update(pue=0.9), "'pue' is below 1 (0.9)"),
        (lambda r: r.update(intensity=None), "'intensity' has no numeric 'gco2_per_kWh' (None)"),
        (lambda r: r.update(forecast={"gco2e": "soon"}), "'forecast' has no numeric 'gco2e'"),
        (lambda r: r.pop("reading"), "'reading' is not a JSON object (None)"),
        (lambda r: r.update(reading=[1, 2]), "'reading' is not a JSON object ([1, 2])"),
        (lambda r: r["reading"].pop("name"), "'reading' is malformed (KeyError: 'name')"),
        (
            lambda r: _device(r).pop("component"),
            "'reading' is malformed (KeyError: 'component')",
        ),
        (
            lambda r: _device(r).update(energy_J="many"),
            "'reading' is malformed (ValueError: could not convert",
        ),
        (
            lambda r: r["reading"].update(energy_J_by_component={"gpu": "x"}),
            "'reading' has an 'energy_J_by_component' that is not numbers",
        ),
        (
            lambda r: r["reading"].update(provenance_by_component=["measured"]),
            "'reading' has a 'provenance_by_component' that is not words",
        ),
    ],
)
def test_a_malformed_epoch_record_is_named_and_skipped(tmp_path, break_record, why):
    write_run(tmp_path / "run", epochs=2, summary=False)
    path = tmp_path / "run" / "carbon" / "epochs.jsonl"
    lines = path.read_text().splitlines()
    broken = json.loads(lines[0])
    break_record(broken)
    path.write_text("\n".join([json.dumps(broken), lines[1]]) + "\n")
    warnings = []
    run = load_run(tmp_path / "run", warn=warnings.append)
    assert len(warnings) == 1 and warnings[0].startswith(f"skipped record 1 of {path}: {why}")
    assert [r["epoch"] for r in run.epochs] == [1]
    assert run.summary["gco2e"] == json.loads(lines[1])["gco2e"]


def test_a_record_that_is_not_an_object_is_named(tmp_path):
    write_run(tmp_path / "run", epochs=1, summary=False)
    path = tmp_path / "run" / "carbon" / "epochs.jsonl"
    path.write_text("[1, 2]\n" + path.read_text())
    warnings = []
    load_run(tmp_path / "run", warn=warnings.append)
    assert warnings == [f"skipped record 1 of {path}: not a JSON object"]


def test_epochs_that_are_not_text_are_named_and_the_summary_still_used(tmp_path):
    write_run(tmp_path / "run", epochs=1)
    path = tmp_path / "run" / "carbon" / "epochs.jsonl"
    path.write_bytes(b"\xff\xfe not utf-8\n")
    warnings = []
    run = load_run(tmp_path / "run", warn=warnings.append)
    assert len(warnings) == 1 and warnings[0].startswith(f"skipped {path}: not readable (")
    assert run.epochs == [] and run.totals_from == "summary.json"


@pytest.mark.parametrize(
    ("make", "why"),
    [
        (lambda d: d.mkdir(), "no carbon/summary.json or carbon/epochs.jsonl"),
        (lambda d: d.write_text("a file"), "no such directory"),
    ],
)
def test_a_folder_without_records_is_unusable_and_named(tmp_path, make, why):
    make(tmp_path / "empty")
    with pytest.raises(UnusableRun) as error:
        load_run(tmp_path / "empty", warn=pytest.fail)
    assert str(error.value) == f"{tmp_path / 'empty'}: {why}"


def test_a_malformed_record_beside_a_good_summary_never_reaches_the_figures(tmp_path, capsys):
    """The crash this replaces: a reading whose provenance was a list broke the plots."""
    write_run(tmp_path / "run", epochs=2)
    path = tmp_path / "run" / "carbon" / "epochs.jsonl"
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    lines[0]["reading"]["provenance_by_component"] = []
    path.write_text("\n".join(map(json.dumps, lines)) + "\n")
    assert main(["report", str(tmp_path / "run"), "--out", str(tmp_path / "out")]) == 0
    assert f"skipped record 1 of {path}" in capsys.readouterr().err
    assert (tmp_path / "out" / "run-energy.png").is_file()


def test_partial_summary_is_included_and_marked(tmp_path):
    write_run(tmp_path / "run", epochs=1, partial_reason="KeyboardInterrupt")
    run = load_run(tmp_path / "run", warn=pytest.fail)
    assert run.partial and run.row()["status"] == "partial"
    assert run.row()["reason"] == "KeyboardInterrupt"
    total = combined_summary([run])
    assert total["partial"] and total["reason"] == "run: KeyboardInterrupt"


def test_report_over_good_and_corrupt_runs_has_exact_totals_and_exits_1(runs, tmp_path, capsys):
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
    assert code == 1  # two inputs left out; the three others are still reported
    report = json.loads(captured.out)
    dk, us = _summary(runs["dk"]), _summary(runs["us"])
    rebuilt = runs["rebuilt_totals"]
    assert [r["run"] for r in report["runs"]] == ["dk", "us", "crashed"]
    assert [r["path"] for r in report["runs"]] == [str(runs[k]) for k in ("dk", "us", "rebuilt")]
    assert [r["status"] for r in report["runs"]] == ["complete", "complete", "partial"]
    total = report["total"]
    assert (
        total["energy_kWh"] == dk["energy_kWh"] + us["energy_kWh"] + rebuilt.fit_used().energy_kWh
    )
    assert total["gco2e"] == dk["gco2e"] + us["gco2e"] + rebuilt.fit_used().gco2e
    assert total["facility_energy_kWh"] == (
        dk["facility_energy_kWh"]
        + us["facility_energy_kWh"]
        + sum(r["facility_energy_kWh"] for r in rebuilt.records)
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
    assert total["partial"] and "crashed: no valid summary.json" in total["reason"]
    # each bad file or folder is named, on stderr and in the JSON
    corrupt_summary = runs["corrupt"] / "carbon" / "summary.json"
    assert report["errors"] == [
        f"left out {runs['corrupt']}: no valid summary.json and no valid epoch records",
        f"left out {runs['missing']}: no such directory",
    ]
    for name in (corrupt_summary, runs["rebuilt"] / "carbon" / "epochs.jsonl"):
        assert any(str(name) in w for w in report["warnings"])
    assert captured.err.count("lightning-carbon report: warning:") == len(report["warnings"]) == 2
    assert captured.err.count("lightning-carbon report: error: left out") == 2
    markdown = (out / "report.md").read_text()
    assert "## Inputs left out" in markdown and f"{runs['missing']}: no such directory" in markdown


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


def test_report_md_has_statement_tables_and_the_figures_it_references(runs, tmp_path, capsys):
    out = tmp_path / "report"
    assert main(["report", str(runs["dk"]), str(runs["us"]), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    markdown = (out / "report.md").read_text()
    assert "These 2 runs used" in printed and "These 2 runs used" in markdown
    header = "| run | precision | epochs | energy | emissions | provenance | intensity | status |"
    assert header in markdown
    assert "| us | 32-true | 3 | 2.05 kWh |" in markdown
    images = [
        line[line.index("](") + 2 : -1] for line in markdown.splitlines() if line.startswith("![")
    ]
    # energy + carbon per run, energy per run, regions
    assert images == [
        "dk-energy.png",
        "dk-carbon.png",
        "us-energy.png",
        "us-carbon.png",
        "runs-energy.png",
        "regions.png",
    ]
    for name in images:
        width, _ = _png_size(out / name)
        assert width == 3.5 * 300  # one column at 300 dpi
    assert markdown.index("## How to cut this footprint") > markdown.index("## Figures")
    assert f"Report written to {out / 'report.md'}" in printed


def test_what_if_is_sorted_and_names_each_source_once(runs, tmp_path, capsys):
    out = tmp_path / "report"
    assert main(["report", str(runs["dk"]), "--out", str(out), "--regions", "WORLD,EST,DNK"]) == 0
    markdown = (out / "report.md").read_text()
    section = markdown[markdown.index("## The same energy") : markdown.index("## Runs by region")]
    rows = [line for line in section.splitlines() if line.startswith("| ")][1:]
    assert [row.split(":")[0] for row in rows] == [
        "| **DNK** (own grid of this run)",
        "| EST",
        "| WORLD",
    ]
    source = country_intensity("DNK").source
    assert section.count(source) == 2  # the footnote of the countries, and of WORLD's aggregate
    assert f"[1] {source}\n" in section and "| [1] |" in section


def test_no_valid_run_exits_1_naming_each_input(runs, tmp_path, capsys):
    code = main(
        ["report", str(runs["corrupt"]), str(runs["missing"]), "--out", str(tmp_path / "report")]
    )
    err = capsys.readouterr().err
    assert code == 1
    assert "lightning-carbon report: error: no valid run records in" in err
    assert str(runs["corrupt"]) in err and str(runs["missing"]) in err
    assert not (tmp_path / "report").exists()


def test_no_valid_run_with_json_prints_the_error_as_json(runs, tmp_path, capsys):
    code = main(["report", str(runs["missing"]), "--json", "--out", str(tmp_path / "report")])
    error = json.loads(capsys.readouterr().out)
    assert code == error["exit"] == 1
    assert error["schema"] == "lightning-carbon/error/1"
    assert error["command"] == "lightning-carbon report"
    assert f"{runs['missing']}: no such directory" in error["error"]


def test_unknown_region_is_a_usage_error_naming_it(runs, tmp_path, capsys):
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
    assert "argument --regions:" in err and "'europe-nort1'" in err and "europe-north1" in err
    assert not (tmp_path / "report").exists()


def test_a_sweep_file_that_is_not_one_is_left_out_and_exits_1(runs, tmp_path, capsys):
    bad = tmp_path / "not-a-sweep.json"
    bad.write_text('{"schema": "something/else"}')
    out = tmp_path / "report"
    assert main(["report", str(runs["dk"]), "--sweep", str(bad), "--out", str(out)]) == 1
    assert f"left out sweep {bad}: not a precision sweep result" in capsys.readouterr().err
    assert (out / "report.md").is_file()


def test_build_report_without_runs_raises_naming_them(tmp_path):
    with pytest.raises(UnusableRun, match="no valid run records in .*nothing.*no such directory"):
        build_report([tmp_path / "nothing"], tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_register_cli_adds_report_with_a_func():
    import argparse

    parser = argparse.ArgumentParser()
    register_cli(parser.add_subparsers(dest="command"))
    args = parser.parse_args(
        ["report", "a", "b", "--regions", "DNK, EST", "--json", "--format", "pdf,svg"]
    )
    assert args.run_dirs == ["a", "b"] and args.regions == ["DNK", "EST"] and args.json
    assert args.out == "carbon-report" and callable(args.func)
    assert args.format == ("pdf", "svg") and args.dpi == 300.0 and args.metric == "val_dice"


def test_importing_report_does_not_import_matplotlib():
    import subprocess
    import sys

    code = "import sys, lightning_carbon.report; print('matplotlib' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
