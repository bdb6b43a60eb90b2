"""The ``lightning-carbon`` console: one exit-status rule, errors as JSON under ``--json``,
help that describes each subcommand and hides test-only options."""

from __future__ import annotations

import json

import pytest

from lightning_carbon import __version__, cli
from lightning_carbon.cli import main
from tests.test_report import write_run

SUBCOMMANDS = ["sensors", "demo", "report", "sweep", "when"]


@pytest.mark.parametrize("command", SUBCOMMANDS + ["sweep precision", "sweep width"])
def test_each_subcommand_help_starts_with_a_description(command, capsys):
    assert main([*command.split(), "--help"]) == 0
    usage, description = capsys.readouterr().out.split("\n\n")[:2]
    assert usage.startswith(f"usage: lightning-carbon {command}")
    assert description[0].isupper() and description.rstrip().endswith(".")
    assert len(description.split()) >= 5


def test_the_top_level_help_lists_every_subcommand(capsys):
    assert main(["--help"]) == 0
    printed = capsys.readouterr().out
    assert all(f"    {name}" in printed for name in SUBCOMMANDS)


def test_test_only_options_are_hidden_but_still_work(capsys, tmp_path):
    assert main(["sensors", "--help"]) == 0
    assert "--powercap-root" not in capsys.readouterr().out
    args = cli.build_parser().parse_args(["sensors", "--powercap-root", str(tmp_path)])
    assert args.powercap_root == str(tmp_path)


def test_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"lightning-carbon {__version__}"


def test_no_command_is_a_usage_error(capsys):
    assert main([]) == 2
    assert "usage: lightning-carbon" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["report"], "the following arguments are required: RUN_DIR"),
        (["report", "x", "--dpi", "many"], "argument --dpi: dpi must be a number"),
        (["sweep", "width", "--filters", "4,eight"], "expected integers like 4,8,16"),
        (["no-such-command"], "invalid choice: 'no-such-command'"),
    ],
)
def test_usage_errors_exit_2_with_usage_and_the_message(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: lightning-carbon")
    assert message in err and ": error: " in err


def test_a_usage_error_with_json_is_json_on_stdout(capsys):
    assert main(["report", "x", "--regions", "atlantis", "--json"]) == 2
    captured = capsys.readouterr()
    error = json.loads(captured.out)
    assert error["schema"] == "lightning-carbon/error/1" and error["exit"] == 2
    assert error["command"] == "lightning-carbon report"
    assert "argument --regions:" in error["error"] and "'atlantis'" in error["error"]
    assert captured.err == ""


def test_a_runtime_failure_exits_1_and_a_bad_value_exits_2(tmp_path, capsys):
    write_run(tmp_path / "run")
    # a run folder that is not there: the command ran and failed
    assert main(["report", str(tmp_path / "gone"), "--out", str(tmp_path / "o")]) == 1
    assert "lightning-carbon report: error: no valid run records" in capsys.readouterr().err
    # a value the library refuses (a ValueError quoting it): a usage error
    bad = ["report", str(tmp_path / "run"), "--label", "a", "--label", "b"]
    assert main(bad) == 2
    assert "2 label(s) for 1 readable run(s)" in capsys.readouterr().err


def test_a_runtime_failure_with_json_is_json(tmp_path, capsys):
    assert main(["report", str(tmp_path / "gone"), "--json"]) == 1
    error = json.loads(capsys.readouterr().out)
    assert error["exit"] == 1 and "no such directory" in error["error"]


def test_sweep_without_a_kind_prints_its_help_and_exits_2(capsys):
    assert main(["sweep"]) == 2
    assert "precision" in capsys.readouterr().out
