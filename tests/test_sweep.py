"""precision_sweep and width_sweep on the tiny demo U-Net, metered by step-scripted sensors.

The data: 10 synthetic 32 x 32 images in batches of 4, 2 of them for validation, so each epoch
runs 2 training batches (8 samples) and 1 validation batch. The models below bump
``STEP_COUNTS["train"]`` by a weight per training batch (the work of one batch, in units) and
``STEP_COUNTS["val"]`` by 1 per validation batch. Under ``step_sensors`` one training unit costs
10 + 2 + 0.5 = 12.5 J and one validation batch 5 + 1 + 0.5 = 6.5 J, so an epoch of weight w
costs exactly 2 x w x 12.5 + 6.5 J.
"""

import argparse
import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from lightning_carbon import sweep
from lightning_carbon.demo import SegmentationModule, demo_datamodule
from lightning_carbon.sweep import Spread, precision_sweep, supported_precisions, width_sweep
from lightning_carbon.sweep import command as sweep_command
from lightning_carbon.sweep import runner as sweep_runner
from tests.fakes import STEP_COUNTS, step_sensors

KWH = 3.6e6
INTENSITY = 100.0  # gCO2e/kWh
PRECISION_WEIGHT = {"32-true": 2, "bf16-mixed": 1}
FITS = []  # (precision, max_epochs, limit_train_batches) of every fit, in order


def _epoch_J(weight):
    return 2 * weight * 12.5 + 6.5


def _g(joules):
    return joules / KWH * INTENSITY


class PrecisionWeighted(SegmentationModule):
    """The demo module whose training batch costs 2 units at 32-true and 1 at bf16-mixed."""

    def on_fit_start(self):
        FITS.append(
            (self.trainer.precision, self.trainer.max_epochs, self.trainer.limit_train_batches)
        )

    def training_step(self, batch, batch_idx):
        STEP_COUNTS["train"] += PRECISION_WEIGHT[self.trainer.precision]
        return super().training_step(batch, batch_idx)

    def validation_step(self, batch, batch_idx):
        STEP_COUNTS["val"] += 1
        super().validation_step(batch, batch_idx)


DICE_BY_WIDTH = {4: 0.80, 8: 0.85, 12: 0.84, 16: 0.855}


class WidthWeighted(SegmentationModule):
    """The demo module whose training batch costs F / 4 units and whose Dice is scripted."""

    def training_step(self, batch, batch_idx):
        STEP_COUNTS["train"] += self.hparams.filters // 4
        return super().training_step(batch, batch_idx)

    def validation_step(self, batch, batch_idx):
        STEP_COUNTS["val"] += 1
        self.log("val_dice", DICE_BY_WIDTH[self.hparams.filters])


def _data():
    return demo_datamodule(n_images=10, size=32, batch_size=4)


def _kwargs(tmp_path, **kwargs):
    return {
        "accelerator": "cpu",
        "output_dir": tmp_path / "out",
        "callback_kwargs": {"sensors": step_sensors, "carbon_intensity": INTENSITY},
        **kwargs,
    }


@pytest.fixture(autouse=True)
def _no_fits_yet():
    FITS.clear()


def test_cpu_bf16_mixed_runs_the_demo_unet_in_bfloat16():
    model = SegmentationModule(filters=4)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = model(torch.zeros(1, 1, 32, 32))
    assert logits.dtype == torch.bfloat16


def test_precision_sweep_is_exact_alternated_warmed_up_and_written(tmp_path):
    result = precision_sweep(
        lambda: PrecisionWeighted(filters=4),
        _data,
        repeats=2,
        max_epochs=2,
        cooldown_s=0,
        **_kwargs(tmp_path),
    )
    # one short warm-up per precision, then ABBA
    assert FITS == [
        ("32-true", 1, 5),
        ("bf16-mixed", 1, 5),
        ("32-true", 2, 1.0),
        ("bf16-mixed", 2, 1.0),
        ("bf16-mixed", 2, 1.0),
        ("32-true", 2, 1.0),
    ]
    assert [(r.precision, r.repeat) for r in result.runs] == [
        ("32-true", 0),
        ("bf16-mixed", 0),
        ("bf16-mixed", 1),
        ("32-true", 1),
    ]
    full, half = result.row("32-true"), result.row("bf16-mixed")
    assert full.runs == half.runs == 2
    full_kWh = 2 * _epoch_J(2) / KWH
    assert full.energy_kWh == Spread(full_kWh, 0.0, full_kWh, full_kWh, full_kWh, 2)
    assert half.energy_kWh.mean == pytest.approx(2 * _epoch_J(1) / KWH)
    assert half.gco2e.mean == pytest.approx(_g(2 * _epoch_J(1)))
    assert half.energy_saving == pytest.approx(1 - 63 / 113)
    assert half.gco2e_saving == pytest.approx(1 - 63 / 113)
    assert full.energy_saving is None and full.gco2e_saving is None
    assert result.sweep_gco2e == pytest.approx(_g(2 * (113 + 63) + 56.5 + 31.5))

    for run in result.runs:
        assert run.samples == 16  # 2 epochs x 8 training images
        assert run.time_s > 0 and run.samples_per_s == pytest.approx(16 / run.time_s)
        assert run.provenance == "estimated"  # step_sensors' CPU and DRAM are estimates
    # same seed, same data: each precision reproduces its Dice exactly
    for row in (full, half):
        assert 0 <= row.val_dice.min == row.val_dice.max <= 1 and row.val_dice.std == 0.0

    files = result.files
    assert sorted(files) == ["csv", "json", "md"]
    with open(files["csv"]) as stream:
        lines = list(csv.DictReader(stream))
    assert [line["precision"] for line in lines] == ["32-true", "bf16-mixed"]
    assert float(lines[1]["energy_kWh_mean"]) == pytest.approx(63 / KWH)
    assert float(lines[1]["energy_saving"]) == pytest.approx(1 - 63 / 113)
    assert lines[0]["energy_saving"] == ""
    document = json.loads(files["json"].read_text())
    assert document["baseline"] == "32-true" and len(document["warmup_runs"]) == 2
    assert [r["precision"] for r in document["runs"]] == [r.precision for r in result.runs]
    assert document["rows"][1]["gco2e"]["mean"] == pytest.approx(_g(63))
    markdown = files["md"].read_text()
    assert markdown == result.to_markdown() + "\n"
    assert "| bf16-mixed | 2 | 0.0175 ± 0 | 0.0175 |" in markdown  # 63 J = 0.0175 Wh
    assert "| 44.2 % less |" in markdown and "| baseline |" in markdown
    assert "| gCO2e at 100 g/kWh (USER) |" in markdown  # the intensity the table used
    assert document["intensity"]["gco2_per_kWh"] == INTENSITY
    assert all(r.intensity["gco2_per_kWh"] == INTENSITY for r in result.runs)
    # the scripted energies repeat exactly: no spread, so the saving is conclusive
    assert half.inconclusive is False and not any("energy" in f for f in half.outliers)
    for run in result.runs + result.warmup_runs:
        assert (Path(run.directory) / "carbon" / "summary.json").exists()


def test_one_repeat_without_warmup_has_no_spread(tmp_path):
    result = precision_sweep(
        lambda: PrecisionWeighted(filters=4),
        _data,
        precisions=["bf16-mixed"],
        repeats=1,
        warmup=False,
        cooldown_s=0,
        **_kwargs(tmp_path),
    )
    assert FITS == [("bf16-mixed", 1, 1.0)]
    (row,) = result.rows
    kWh = _epoch_J(1) / KWH
    assert row.energy_kWh == Spread(kWh, None, kWh, kWh, kWh, 1)
    assert row.energy_saving is None  # 32-true was not swept: nothing to compare with
    assert "| bf16-mixed | 1 | 0.00875 |" in result.to_markdown()


def test_cooldown_sleeps_between_runs_only_and_progress_tells_each_step(tmp_path, monkeypatch):
    slept, lines = [], []
    monkeypatch.setattr(sweep_runner.time, "sleep", lambda s: (slept.append(s), lines.append("zz")))
    precision_sweep(
        lambda: PrecisionWeighted(filters=4),
        _data,
        repeats=1,
        cooldown_s=0.25,
        progress=lines.append,
        **_kwargs(tmp_path),
    )
    assert len(FITS) == 4 and slept == [0.25] * 3
    # the 32-true warm-up: one epoch of weight 2, 56.5 J
    assert [line.split(":")[0] if "done" in line else line for line in lines] == [
        "run 1/4: 32-true, warm-up (01-32-true-warmup)",
        "run 1/4 done",
        "cooling down 0.25 s before run 2/4",
        "zz",
        "run 2/4: bf16-mixed, warm-up (02-bf16-mixed-warmup)",
        "run 2/4 done",
        "cooling down 0.25 s before run 3/4",
        "zz",
        "run 3/4: 32-true, repeat 0 (03-32-true-r0)",
        "run 3/4 done",
        "cooling down 0.25 s before run 4/4",
        "zz",
        "run 4/4: bf16-mixed, repeat 0 (04-bf16-mixed-r0)",
        "run 4/4 done",
    ]
    assert lines[1].startswith(f"run 1/4 done: {_epoch_J(2) / 3600:.3g} Wh, ")


def test_spread_uses_the_sample_standard_deviation():
    assert Spread.of([2.0, 4.0, 6.0]) == Spread(4.0, 2.0, 4.0, 2.0, 6.0, 3)
    assert Spread.of([5.0]) == Spread(5.0, None, 5.0, 5.0, 5.0, 1)
    assert Spread.of([1.0, 2.0, 30.0]).median == 2.0


def test_supported_precisions_follow_the_device(monkeypatch):
    assert supported_precisions("cpu") == ("32-true", "bf16-mixed")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert supported_precisions("auto") == ("32-true", "16-mixed", "bf16-mixed")
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert supported_precisions("gpu") == ("32-true", "16-mixed")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"precisions": []}, "precisions is empty; cpu can run 32-true, bf16-mixed"),
        (
            {"precisions": ["16-mixed"]},
            "precision '16-mixed' cannot be swept on cpu; it can run 32-true, bf16-mixed",
        ),
        ({"precisions": ["fp8"]}, "precision 'fp8' cannot be swept on cpu"),
        ({"precisions": ["32-true", "32-true"]}, r"precisions has repeats: \['32-true'"),
        ({"accelerator": "tpu"}, "accelerator must be 'auto', 'cpu', 'cuda' or 'gpu', got 'tpu'"),
        ({"repeats": 0}, "repeats must be an int >= 1, got 0"),
        ({"max_epochs": 1.5}, "max_epochs must be an int >= 1, got 1.5"),
        ({"seed": -1}, "seed must be an int >= 0, got -1"),
        ({"cooldown_s": -1.0}, r"cooldown_s must be a finite number >= 0, got -1.0"),
        (
            {"trainer_kwargs": {"precision": "64-true", "devices": 2}},
            r"trainer_kwargs must not set \['devices', 'precision'\]",
        ),
        ({"callback_kwargs": {"output_dir": "x"}}, "callback_kwargs must not set output_dir"),
    ],
)
def test_bad_precision_sweep_arguments_are_clear_errors(tmp_path, kwargs, match):
    arguments = {"accelerator": "cpu", "output_dir": tmp_path, **kwargs}
    with pytest.raises(ValueError, match=match):
        precision_sweep(lambda: PrecisionWeighted(filters=4), _data, **arguments)
    assert FITS == []


def test_cuda_asked_for_without_a_gpu_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="accelerator 'cuda' asked for, but torch sees no CUDA"):
        supported_precisions("cuda")


def test_width_sweep_front_pick_table_and_plot(tmp_path):
    result = width_sweep(
        (4, 8, 12, 16),
        model_factory=lambda f: WidthWeighted(filters=f),
        datamodule_factory=_data,
        tolerance=0.01,
        **_kwargs(tmp_path),
    )
    assert [row.filters for row in result.rows] == [4, 8, 12, 16]
    assert [row.gco2e for row in result.rows] == pytest.approx(
        [_g(_epoch_J(w)) for w in (1, 2, 3, 4)]
    )
    assert [row.val_dice for row in result.rows] == pytest.approx([0.80, 0.85, 0.84, 0.855])
    assert [row.parameters for row in result.rows] == [
        SegmentationModule(filters=f).num_parameters for f in (4, 8, 12, 16)
    ]
    assert [row.filters for row in result.front] == [4, 8, 16]  # F=12 is dominated by F=8
    assert result.pick.filters == 8  # within 0.01 of 0.855 and cheaper than F=16
    assert "Pick: F=8 (Dice 0.850," in result.to_markdown()
    assert "the best overall is F=16 (Dice 0.855," in result.pick_sentence()

    assert sorted(result.files) == ["csv", "json", "md", "png"]
    with open(result.files["csv"]) as stream:
        lines = list(csv.DictReader(stream))
    assert [(line["filters"], line["pareto"], line["pick"]) for line in lines] == [
        ("4", "True", "False"),
        ("8", "True", "True"),
        ("12", "False", "False"),
        ("16", "True", "False"),
    ]
    document = json.loads(result.files["json"].read_text())
    assert document["pareto_front"] == [4, 8, 16] and document["pick"] == 8
    png = result.files["png"].read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10_000


def test_width_sweep_pick_respects_the_budget(tmp_path):
    result = width_sweep(
        (4, 8),
        model_factory=lambda f: WidthWeighted(filters=f),
        datamodule_factory=_data,
        warmup=False,
        plot=False,
        budget_gco2e=_g(40.0),
        **_kwargs(tmp_path),
    )
    assert result.pick.filters == 4  # F=4 costs 31.5 J, F=8 56.5 J: only F=4 fits 40 J
    assert "png" not in result.files
    assert "within the budget of" in result.pick_sentence()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"filters": ()}, "filters is empty"),
        ({"filters": (4, 0)}, "each width F must be an int >= 1, got 0"),
        ({"filters": (4, 4)}, r"filters has repeated widths: \[4, 4\]"),
        ({"precision": "16-mixed"}, "precision '16-mixed' cannot be swept on cpu"),
        ({"tolerance": 1.0}, r"tolerance must be a number in \[0, 1\), got 1.0"),
        ({"budget_gco2e": 0}, "budget_gco2e must be a finite number > 0, got 0"),
    ],
)
def test_bad_width_sweep_arguments_fail_before_any_training(tmp_path, kwargs, match):
    def never(filters):
        raise AssertionError("no model should be built")

    arguments = {
        "filters": (4, 8),
        "model_factory": never,
        "datamodule_factory": _data,
        "accelerator": "cpu",
        "output_dir": tmp_path,
        **kwargs,
    }
    with pytest.raises(ValueError, match=match):
        width_sweep(**arguments)


def test_a_model_without_val_dice_is_a_clear_width_sweep_error(tmp_path):
    class NoDice(WidthWeighted):
        def validation_step(self, batch, batch_idx):
            STEP_COUNTS["val"] += 1

    with pytest.raises(ValueError, match="F=4 logged no 'val_dice'"):
        width_sweep(
            (4,),
            model_factory=lambda f: NoDice(filters=f),
            datamodule_factory=_data,
            warmup=False,
            plot=False,
            **_kwargs(tmp_path),
        )


# -- command line ------------------------------------------------------------------------


def _parser():
    parser = argparse.ArgumentParser(prog="lightning-carbon")
    sweep.register_cli(parser.add_subparsers(dest="command"))
    return parser


TINY = [
    "--images",
    "10",
    "--size",
    "32",
    "--batch-size",
    "4",
    "--accelerator",
    "cpu",
    "--carbon-intensity",
    "100",
    "--no-warmup",
]


def test_cli_options_reach_the_sweeps():
    args = _parser().parse_args(
        [
            "sweep",
            "width",
            "--filters",
            "4,8",
            "--tolerance",
            "0.02",
            "--budget-gco2e",
            "3",
            "--out",
            "w",
        ]
    )
    assert args.func is sweep_command._width_command
    assert (args.filters, args.tolerance, args.budget_gco2e, args.out) == ([4, 8], 0.02, 3.0, "w")
    args = _parser().parse_args(
        [
            "sweep",
            "precision",
            "--precision",
            "32-true,bf16-mixed",
            "--repeats",
            "3",
            "--epochs",
            "2",
            "--cooldown-s",
            "0",
        ]
    )
    assert args.func is sweep_command._precision_command
    assert (args.precision, args.repeats, args.epochs, args.filters, args.out) == (
        ["32-true", "bf16-mixed"],
        3,
        2,
        8,
        "sweeps/precision",
    )
    with pytest.raises(SystemExit):
        _parser().parse_args(["sweep", "width", "--filters", "4,eight"])


def test_cli_sweep_without_a_kind_prints_help_and_returns_2(capsys):
    args = _parser().parse_args(["sweep"])
    assert args.func(args) == 2
    assert "precision" in capsys.readouterr().out


def test_cli_precision_sweep_prints_the_table_and_writes_files(tmp_path, capsys):
    out = tmp_path / "precision"
    args = _parser().parse_args(
        [
            "sweep",
            "precision",
            "--filters",
            "4",
            "--repeats",
            "1",
            "--cooldown-s",
            "0",
            "--out",
            str(out),
            *TINY,
        ]
    )
    assert args.func(args) == 0
    printed = capsys.readouterr().out
    assert "| 32-true | 1 |" in printed and "| bf16-mixed | 1 |" in printed
    assert (out / "precision_sweep.md").read_text().strip() in printed
    rows = json.loads((out / "precision_sweep.json").read_text())["rows"]
    assert all(row["energy_kWh"]["mean"] > 0 for row in rows)


def test_cli_width_sweep_prints_front_and_pick_and_writes_the_plot(tmp_path, capsys):
    out = tmp_path / "width"
    args = _parser().parse_args(["sweep", "width", "--filters", "4,8", "--out", str(out), *TINY])
    assert args.func(args) == 0
    printed = capsys.readouterr().out
    assert "Pareto front (cheapest first): F=" in printed and "Pick: F=" in printed
    assert (out / "width_sweep.png").read_bytes().startswith(b"\x89PNG")


def test_importing_the_sweep_module_stays_light():
    code = (
        "import sys, lightning_carbon.sweep, lightning_carbon.selection; "
        "print(sorted(m for m in ('torch', 'pytorch_lightning', 'monai', 'optuna', 'matplotlib')"
        " if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).parents[1],
    )
    assert done.stdout.strip() == "[]"
