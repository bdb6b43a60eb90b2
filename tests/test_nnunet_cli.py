"""``lightning-carbon nnunet``: nnUNetv2_train's arguments, the carbon options, trainer lookup.

Runs without nnU-Net: the training itself is replaced where the arguments arrive
(``train_fold``); tests/test_nnunet.py trains for real.
"""

import importlib.util

import pytest

from lightning_carbon.cli import main
from lightning_carbon.integrations import nnunet_cli
from lightning_carbon.integrations.nnunet_cli import (
    FoldResult,
    _dataset_id,
    _fold,
    build_trainer,
    trainer_class,
)


@pytest.fixture
def arrived(monkeypatch, tmp_path):
    calls = []

    def fake_train_fold(*args, **kwargs):
        calls.append((args, kwargs))
        return FoldResult(tmp_path / "fold_0", None, None, validated=True)

    monkeypatch.setattr(nnunet_cli, "train_fold", fake_train_fold)
    monkeypatch.setattr(nnunet_cli, "_require_nnunet", lambda: None)
    return calls


def test_train_takes_nnunetv2_train_arguments_and_the_carbon_options(arrived, capsys):
    args = ["nnunet", "train", "Dataset004_Hippocampus", "3d_fullres", "all"]
    args += ["-tr", "my.trainers:Fast", "-p", "nnUNetResEncUNetMPlans", "-device", "cpu"]
    args += ["--c", "--npz", "--disable_checkpointing", "--forecast-after-epochs", "5"]
    args += ["--country", "DNK", "--pue", "1.3", "--budget-gco2e", "500", "--on-budget", "stop"]
    args += ["--attribution", "machine"]
    assert main(args) == 0
    ((positional, options),) = arrived
    assert positional == ("Dataset004_Hippocampus", "3d_fullres", "all")
    assert options == {
        "trainer": "my.trainers:Fast",
        "plans": "nnUNetResEncUNetMPlans",
        "device": "cpu",
        "continue_training": True,
        "forecast_after_epochs": 5,
        "num_epochs": None,
        "iterations_per_epoch": None,
        "val_iterations_per_epoch": None,
        "save_probabilities": True,
        "disable_checkpointing": True,
        "country": "DNK",
        "carbon_intensity": None,
        "live_zone": None,
        "pue": 1.3,
        "budget_kwh": None,
        "budget_gco2e": 500.0,
        "on_budget": "stop",
        "cpu_tdp_w": None,
        "attribution": "machine",
    }
    assert "Carbon records of this fold:" in capsys.readouterr().out


def test_train_defaults_are_nnunet_own(arrived):
    assert main(["nnunet", "train", "4", "2d", "0", "--pue", "hyperscale"]) == 0
    ((_, options),) = arrived
    assert (options["trainer"], options["plans"], options["device"]) == (
        "nnUNetTrainer",
        "nnUNetPlans",
        "cuda",
    )
    assert options["continue_training"] is False and options["forecast_after_epochs"] is None
    assert options["pue"] == "hyperscale"


def test_an_abbreviated_option_is_refused(arrived, capsys):
    assert main(["nnunet", "train", "4", "2d", "0", "--forecast", "3"]) == 2  # a usage error
    assert "unrecognized arguments: --forecast" in capsys.readouterr().err


@pytest.mark.skipif(importlib.util.find_spec("nnunetv2") is not None, reason="nnunetv2 is here")
def test_without_nnunet_the_command_says_what_to_install(capsys):
    assert main(["nnunet", "train", "4", "2d", "0"]) == 2
    assert "nnunetv2 is not installed here (pip install nnunetv2)" in capsys.readouterr().err


def test_nnunet_alone_prints_its_actions(capsys):
    assert main(["nnunet"]) == 2
    printed = capsys.readouterr().out
    assert all(f"\n    {action} " in printed for action in ("train", "table", "demo"))


def test_a_trainer_outside_nnunet_is_named_module_colon_class():
    assert trainer_class("tests.fakes:FakeClock").__name__ == "FakeClock"
    with pytest.raises(ValueError, match="module 'tests.fakes' has no trainer class 'Nope'"):
        trainer_class("tests.fakes:Nope")


def test_dataset_and_fold_read_like_nnunetv2_train():
    assert (
        _dataset_id("4") == 4 and _dataset_id("Dataset004_Hippocampus") == "Dataset004_Hippocampus"
    )
    assert _fold("3") == 3 and _fold("all") == "all"
    with pytest.raises(ValueError, match="DATASET must be a data set id or a name"):
        _dataset_id("Hippocampus")
    with pytest.raises(ValueError, match="FOLD must be an int or 'all', got 'first'"):
        _fold("first")


def test_nnunet_folders_must_be_set(monkeypatch):
    monkeypatch.delenv("nnUNet_preprocessed", raising=False)
    monkeypatch.setenv("nnUNet_results", "/somewhere")
    with pytest.raises(ValueError, match="nnU-Net's folders are not set: nnUNet_preprocessed"):
        build_trainer("4", "2d", 0, device="cpu")
