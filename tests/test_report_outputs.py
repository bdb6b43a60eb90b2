"""What the report is for a paper: run labels and file names, formats and dpi read back, the
runs' metric, and runs (or groups of runs) by region in gCO2e and km by car.

Run folders come from :func:`tests.test_report.write_run`: each epoch uses 0.65 kWh.
"""

from __future__ import annotations

import json
import statistics

import pytest
from PIL import Image

from lightning_carbon.cli import main
from lightning_carbon.intensity.table import country_intensity
from tests.test_report import EPOCH_KWH, write_run

DNK = country_intensity("DNK").gco2_per_kWh
EST = country_intensity("EST").gco2_per_kWh
CAR_G_PER_KM = 106.8


def _report(tmp_path, capsys, *args):
    out = tmp_path / "report"
    code = main(["report", *map(str, args), "--out", str(out), "--json"])
    return code, json.loads(capsys.readouterr().out), out


def test_labels_are_relative_to_the_common_parent_and_name_the_files(tmp_path, capsys):
    base = tmp_path / "home" / "me" / "runs"
    write_run(base / "unet" / "f8")
    write_run(base / "unet" / "f16")
    write_run(base / "other" / "f8")
    code, report, out = _report(
        tmp_path, capsys, base / "unet" / "f8", base / "unet" / "f16", base / "other" / "f8"
    )
    assert code == 0
    assert [r["run"] for r in report["runs"]] == ["unet/f8", "unet/f16", "other/f8"]
    names = sorted(p.name for p in out.iterdir() if p.suffix == ".png")
    assert names == [
        "other-f8-carbon.png",
        "other-f8-energy.png",
        "regions.png",
        "runs-energy.png",
        "unet-f16-carbon.png",
        "unet-f16-energy.png",
        "unet-f8-carbon.png",
        "unet-f8-energy.png",
    ]
    assert not any("home" in name or "tmp" in name for name in names)


def test_a_recorded_run_name_is_the_label_and_repeats_are_numbered(tmp_path, capsys):
    write_run(tmp_path / "a" / "version_0", extra={"run_name": "unet/version_0"})
    write_run(tmp_path / "b" / "version_0", extra={"run_name": "unet/version_0"})
    write_run(tmp_path / "c", extra={"run_name": 7})  # not a name: ignored
    _, report, out = _report(
        tmp_path, capsys, tmp_path / "a" / "version_0", tmp_path / "b" / "version_0", tmp_path / "c"
    )
    assert [r["run"] for r in report["runs"]] == ["unet/version_0", "unet/version_0 (2)", "c"]
    assert (out / "unet-version-0-energy.png").is_file()
    assert (out / "unet-version-0-2-energy.png").is_file()


def test_label_option_one_per_run_or_a_template(tmp_path, capsys):
    write_run(tmp_path / "x", precision="32-true")
    write_run(tmp_path / "y", precision="bf16-mixed")
    (tmp_path / "y" / "hparams.yaml").write_text("filters: 16\nlr: 0.01\n")
    (tmp_path / "x" / "hparams.yaml").write_text("filters: 8\nlr: 0.01\n")
    _, report, _ = _report(
        tmp_path, capsys, tmp_path / "x", tmp_path / "y", "--label", "full", "--label", "mixed"
    )
    assert [r["run"] for r in report["runs"]] == ["full", "mixed"]
    _, report, out = _report(
        tmp_path, capsys, tmp_path / "x", tmp_path / "y", "--label", "F{filters} {precision}"
    )
    assert [r["run"] for r in report["runs"]] == ["F8 32-true", "F16 bf16-mixed"]
    assert (out / "f16-bf16-mixed-energy.png").is_file()


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        (["only-one", "two", "three"], "3 label(s) for 2 readable run(s)"),
        (["{width}"], "has no field 'width'; it has: "),
    ],
)
def test_bad_labels_are_usage_errors(tmp_path, capsys, labels, message):
    write_run(tmp_path / "x")
    write_run(tmp_path / "y")
    options = [item for label in labels for item in ("--label", label)]
    code = main(["report", str(tmp_path / "x"), str(tmp_path / "y"), *options])
    assert code == 2 and message in capsys.readouterr().err


def test_formats_and_dpi_are_written_and_read_back(tmp_path, capsys):
    write_run(tmp_path / "run")
    code, report, out = _report(
        tmp_path, capsys, tmp_path / "run", "--format", "png,pdf,svg", "--dpi", "150"
    )
    assert code == 0
    figures = {f["caption"]: f["paths"] for f in report["figures"]}
    assert list(figures) == [
        "Energy per epoch: run",
        "Cumulative emissions: run",
        "Energy per run",
        "The same energy on other grids",
    ]
    for paths in figures.values():
        png, pdf, svg = paths
        with Image.open(png) as image:
            assert image.size[0] == 3.5 * 150
            assert image.info["dpi"] == pytest.approx((150, 150), abs=0.05)
        with open(pdf, "rb") as stream:
            assert stream.read(5) == b"%PDF-"
        with open(svg) as stream:
            assert "<svg" in stream.read()
    markdown = (out / "report.md").read_text()
    assert "![Energy per run](runs-energy.png)" in markdown
    assert (
        "Also: [runs-energy.pdf](runs-energy.pdf), [runs-energy.svg](runs-energy.svg)" in markdown
    )


def test_pdf_alone_is_shown_in_the_markdown(tmp_path, capsys):
    write_run(tmp_path / "run")
    _, _, out = _report(tmp_path, capsys, tmp_path / "run", "--format", "pdf")
    assert "![Energy per run](runs-energy.pdf)" in (out / "report.md").read_text()
    assert not list(out.glob("*.png"))


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--format", "png,gif"], "argument --format: formats must be one or more of"),
        (["--dpi", "0"], "argument --dpi: dpi must be a number in (0, 10000), got '0'"),
        (["--group-by", "re:(unclosed"], "is not a regular expression"),
    ],
)
def test_bad_output_options_are_usage_errors(tmp_path, capsys, option, message):
    write_run(tmp_path / "run")
    code = main(["report", str(tmp_path / "run"), "--out", str(tmp_path / "out"), *option])
    assert code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_the_metric_comes_from_the_summary_else_metrics_csv(tmp_path, capsys):
    write_run(tmp_path / "csv")
    (tmp_path / "csv" / "metrics.csv").write_text(
        "epoch,step,val_dice,train_loss\n0,9,0.5,\n0,9,,0.7\n1,19,0.61,\n1,19,,0.4\n"
    )
    write_run(tmp_path / "summary", extra={"metrics": {"val_dice": 0.72}})
    (tmp_path / "summary" / "metrics.csv").write_text("epoch,val_dice\n0,0.1\n")
    write_run(tmp_path / "none")
    code, report, out = _report(
        tmp_path, capsys, tmp_path / "csv", tmp_path / "summary", tmp_path / "none"
    )
    assert code == 0 and report["metric"] == "val_dice"
    assert [r["val_dice"] for r in report["runs"]] == [0.61, 0.72, None]
    markdown = (out / "report.md").read_text()
    assert "| csv | 32-true | 2 | 1.3 kWh | 186 gCO2e | 0.61 |" in markdown
    assert "| none | 32-true | 2 | 1.3 kWh | 186 gCO2e | - |" in markdown
    assert (out / "runs-val-dice.png").is_file()
    _, report, out = _report(tmp_path, capsys, tmp_path / "csv", "--metric", "train_loss")
    assert report["runs"][0]["train_loss"] == 0.4 and (out / "runs-train-loss.png").is_file()


def _cell_of(values):
    gco2e = statistics.fmean(values)
    std = statistics.stdev(values) if len(values) > 1 else None
    return gco2e, std


def test_runs_by_region_grouped_by_precision_are_mean_and_std_over_repeats(tmp_path, capsys):
    # two full-precision repeats of 2 and 4 epochs in DNK, two mixed of 1 and 3 epochs in EST
    write_run(tmp_path / "full-1", epochs=2, precision="32-true")
    write_run(tmp_path / "mixed-1", epochs=1, precision="bf16-mixed", country="EST")
    write_run(tmp_path / "full-2", epochs=4, precision="32-true")
    write_run(tmp_path / "mixed-2", epochs=3, precision="bf16-mixed", country="EST")
    runs = [tmp_path / name for name in ("full-1", "mixed-1", "full-2", "mixed-2")]
    code, report, out = _report(
        tmp_path, capsys, *runs, "--group-by", "precision", "--regions", "DNK,EST"
    )
    assert code == 0
    groups = {g["name"]: g for g in report["groups"]}
    assert list(groups) == ["32-true", "bf16-mixed"]
    assert groups["32-true"]["labels"] == ["full-1", "full-2"]
    full_kWh, mixed_kWh = [2 * EPOCH_KWH, 4 * EPOCH_KWH], [1 * EPOCH_KWH, 3 * EPOCH_KWH]
    for name, kWh in (("32-true", full_kWh), ("bf16-mixed", mixed_kWh)):
        for region, intensity in (("DNK", DNK), ("EST", EST)):
            cell = groups[name]["regions"][region]
            mean, std = _cell_of([e * intensity for e in kWh])
            assert cell["gco2e"]["mean"] == pytest.approx(mean)
            assert cell["gco2e"]["std"] == pytest.approx(std)
            assert cell["gco2e"]["n"] == 2
            assert cell["car_km"]["mean"] == pytest.approx(mean / CAR_G_PER_KM)
            assert cell["car_km"]["std"] == pytest.approx(std / CAR_G_PER_KM)
    # as run: the full runs ran in Denmark, the mixed ones in Estonia
    assert groups["bf16-mixed"]["as_run"]["gco2e"]["mean"] == pytest.approx(2 * EPOCH_KWH * EST)
    markdown = (out / "report.md").read_text()
    assert "## Runs by region grouped by precision" in markdown
    full_dnk = _cell_of([e * DNK for e in full_kWh])
    km = _cell_of([e * DNK / CAR_G_PER_KM for e in full_kWh])
    assert (
        f"| 32-true | 2 | {full_dnk[0]:.3g} ± {full_dnk[1]:.2g} | {full_dnk[0]:.3g} ± "
        f"{full_dnk[1]:.2g} |" in markdown
    )
    assert f"| 32-true | 2 | {km[0]:.3g} ± {km[1]:.2g} |" in markdown


def test_runs_by_region_grouped_by_a_pattern_on_the_labels(tmp_path, capsys):
    for name, epochs in (("f8-fold1", 1), ("f8-fold2", 2), ("f16-fold1", 3), ("odd", 1)):
        write_run(tmp_path / name, epochs=epochs)
    runs = [tmp_path / n for n in ("f8-fold1", "f16-fold1", "f8-fold2", "odd")]
    _, report, _ = _report(
        tmp_path, capsys, *runs, "--group-by", r"re:^(f\d+)-", "--regions", "DNK"
    )
    groups = [(g["name"], g["labels"]) for g in report["groups"]]
    assert groups == [
        ("f8", ["f8-fold1", "f8-fold2"]),
        ("f16", ["f16-fold1"]),
        ("odd", ["odd"]),  # no match: a group of its own
    ]
    f8 = report["groups"][0]["regions"]["DNK"]["gco2e"]
    assert f8["mean"] == pytest.approx(1.5 * EPOCH_KWH * DNK) and f8["median"] == f8["mean"]
    f16 = report["groups"][1]["regions"]["DNK"]["gco2e"]
    assert f16["std"] is None and f16["n"] == 1


def test_group_by_a_field_no_run_has_is_a_usage_error(tmp_path, capsys):
    write_run(tmp_path / "run")
    assert main(["report", str(tmp_path / "run"), "--group-by", "fold"]) == 2
    assert "has no field 'fold'" in capsys.readouterr().err


def test_a_run_labelled_runs_does_not_overwrite_the_comparison_figure(tmp_path, capsys):
    write_run(tmp_path / "a")
    write_run(tmp_path / "b")
    _, report, out = _report(
        tmp_path, capsys, tmp_path / "a", tmp_path / "b", "--label", "runs", "--label", "b"
    )
    paths = [p for f in report["figures"] for p in f["paths"]]
    assert len(paths) == len(set(paths)) == 6
    assert (out / "runs-2-energy.png").is_file() and (out / "runs-energy.png").is_file()
