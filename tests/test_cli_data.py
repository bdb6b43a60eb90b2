"""``--data folder:PATH`` and ``--data decathlon:PATH`` reach the demo and both sweeps.

The data are generated here with the loaders' own test helpers: six PNG image/mask pairs
(one goes to validation, five train), and a Decathlon task of two 6 x 5 x 4 volumes (one
volume's four slices validate, the other's four train). The runs are metered with
step-scripted sensors, so they are short and their energy is exact; the count of training
samples each run saw proves which data it trained on.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest

from lightning_carbon.cli import main
from lightning_carbon.demo.options import DataSpec, data_spec, workload_parent
from tests.fakes import STEP_COUNTS, step_sensors
from tests.test_demo_decathlon import _image, _label, _task
from tests.test_demo_folder import GRAY, MASK, _png

TINY = ["--size", "16", "--batch-size", "4", "--accelerator", "cpu", "--carbon-intensity", "100"]


@pytest.fixture
def folder(tmp_path):
    for index in range(6):
        _png(tmp_path / "pairs" / "images" / f"{index}.png", np.tile(GRAY + index, (8, 8)))
        _png(tmp_path / "pairs" / "masks" / f"{index}_mask.png", np.tile(MASK, (8, 8)))
    return tmp_path / "pairs"


@pytest.fixture
def decathlon(tmp_path):
    volumes = {
        "case_a": (_image(), _label(foreground_slices=(1, 2))),
        "case_b": (_image(), _label(foreground_slices=(0, 3))),
    }
    return _task(tmp_path / "Task99_Tiny", volumes)


@pytest.fixture(autouse=True)
def _scripted_sensors(monkeypatch):
    """Every CarbonCallback the commands build meters with the step-scripted sensors, and
    each batch of the demo U-Net counts one step: 12.5 J a training batch, 6.5 J a validation
    batch (see tests.fakes)."""
    from lightning_carbon import CarbonCallback
    from lightning_carbon.demo.module import SegmentationModule

    real_init = CarbonCallback.__init__
    monkeypatch.setattr(
        CarbonCallback,
        "__init__",
        lambda self, *a, **kw: real_init(self, *a, **{**kw, "sensors": step_sensors}),
    )
    for stage in ("train", "val"):
        hook = "training_step" if stage == "train" else "validation_step"
        real = getattr(SegmentationModule, hook)

        def counted(self, *args, _real=real, _stage=stage, **kwargs):
            STEP_COUNTS[_stage] += 1
            return _real(self, *args, **kwargs)

        monkeypatch.setattr(SegmentationModule, hook, counted)


def _samples(document):
    return [run["samples"] for run in document["runs"]]


@pytest.mark.parametrize(("kind", "train_items"), [("folder", 5), ("decathlon", 4)])
def test_precision_sweep_trains_on_the_data_given(kind, train_items, request, tmp_path, capsys):
    root = request.getfixturevalue(kind)
    out = tmp_path / "sweep"
    argv = ["sweep", "precision", "--data", f"{kind}:{root}", "--precision", "32-true"]
    argv += ["--repeats", "2", "--no-warmup", "--cooldown-s", "0", "--filters", "4"]
    assert main([*argv, *TINY, "--out", str(out), "--json"]) == 0
    captured = capsys.readouterr()
    document = json.loads(captured.out)
    assert _samples(document) == [train_items, train_items]  # one epoch each
    batches = -(-train_items // 4)  # training batches of 4, and one validation batch
    energy_kWh = (batches * 12.5 + 6.5) / 3.6e6
    assert [run["energy_kWh"] for run in document["runs"]] == pytest.approx([energy_kWh] * 2)
    assert document["rows"][0]["runs"] == 2 and document["rows"][0]["energy_saving"] is None
    assert document["intensity"]["gco2_per_kWh"] == 100.0
    assert f"precision sweep on {kind} {root}" in captured.err
    assert "run 2/2: 32-true, repeat 1" in captured.err
    assert (out / "precision_sweep.json").is_file()


def test_width_sweep_trains_on_a_folder(folder, tmp_path, capsys):
    out = tmp_path / "width"
    argv = ["sweep", "width", "--data", f"folder:{folder}", "--filters", "4,8", "--no-warmup"]
    assert main([*argv, *TINY, "--out", str(out), "--epochs", "2"]) == 0
    printed = capsys.readouterr().out
    assert "Pareto front (cheapest first): F=" in printed
    rows = json.loads((out / "width_sweep.json").read_text())["rows"]
    assert [row["filters"] for row in rows] == [4, 8]
    assert (out / "width_sweep.png").is_file()


def test_demo_trains_on_a_decathlon_task(decathlon, tmp_path, capsys):
    out = tmp_path / "demo"
    argv = ["demo", "--data", f"decathlon:{decathlon}", "--epochs", "1", "--filters", "4"]
    assert main([*argv, *TINY, "--pue", "1.5", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"Data: decathlon {decathlon}, 32-true" in printed
    summary = json.loads((out / "demo" / "version_0" / "carbon" / "summary.json").read_text())
    assert summary["pue"]["value"] == 1.5 and summary["intensity"]["gco2_per_kWh"] == 100.0
    assert summary["epochs"] == 1
    # 4 training slices in batches of 4: one training batch, one validation batch
    assert summary["gco2e"] == pytest.approx((12.5 + 6.5) / 3.6e6 * 1.5 * 100.0)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("imagenet", "expected synthetic, folder:PATH or decathlon:PATH, got 'imagenet'"),
        ("folder:", "expected synthetic, folder:PATH or decathlon:PATH, got 'folder:'"),
        ("folder:/no/such/place", "folder data folder not found: /no/such/place"),
    ],
)
def test_bad_data_is_a_usage_error(text, message, capsys):
    assert main(["sweep", "width", "--data", text]) == 2
    assert f"argument --data: {message}" in capsys.readouterr().err


def test_a_folder_without_dataset_json_is_not_a_decathlon_task(folder):
    with pytest.raises(argparse.ArgumentTypeError, match="no dataset.json in .*not a Decathlon"):
        data_spec(f"decathlon:{folder}")
    assert data_spec(f"folder:{folder}") == DataSpec("folder", folder)


def test_every_workload_command_shares_the_same_options():
    """demo, sweep precision and sweep width parse the shared options alike."""
    shared = ["--country", "DNK", "--pue", "datacentre", "--epochs", "3", "--seed", "2"]
    parser = argparse.ArgumentParser(prog="lightning-carbon")
    commands = parser.add_subparsers(dest="command")
    from lightning_carbon.demo import command as demo_command
    from lightning_carbon.sweep import register_cli

    demo_command.register_cli(commands)
    register_cli(commands)
    for argv in (["demo"], ["sweep", "precision"], ["sweep", "width"]):
        args = parser.parse_args([*argv, *shared])
        assert (args.country, args.pue, args.epochs, args.seed) == ("DNK", "datacentre", 3, 2)
        assert args.data == DataSpec("synthetic")
    assert parser.parse_args(["sweep", "precision", "--precision", "bf16-mixed"]).precision == [
        "bf16-mixed"
    ]
    assert parser.parse_args(["demo", "--precision", "bf16-mixed"]).precision == "bf16-mixed"
    parent = workload_parent(epochs=1, out="x")
    assert {a.dest for a in parent._actions} >= {"data", "country", "pue", "precision", "epochs"}


def test_a_bad_pue_is_a_usage_error(capsys):
    assert main(["demo", "--pue", "0.9"]) == 2
    assert (
        "argument --pue: PUE must be a finite number >= 1.0, got '0.9'" in capsys.readouterr().err
    )
