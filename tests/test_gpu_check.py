"""The GPU check kit (benchmarks/gpu_check.py), dry-run on the CPU against the fake NVML.

The dry run's fake GPU (benchmarks/gpu_check_rigs.py) reads 256 W of power while its energy
counter runs at 261.12 W in steps of 1/16 s, on a clock only the kit moves in binary fractions
of a second. So every figure of parts 3 and 4 is known exactly: a 2 s steady window reads
2 x 261.12 = 522.24 J on the counter and 2 x 256 = 512 J from polled power, +2.00 %; the counter
updates every 62.5 ms; a 1/32 s window reads 0 or one step (16.32 J) for 8.16 J of energy.
Every interpreter the kit starts refuses network connections here and records any attempt.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import psutil
import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"
PART_FILES = {
    1: "part1_sensors",
    2: "part2_gpu_tests",
    3: "part3_counter_vs_power",
    4: "part4_synchronisation",
    5: "part5_callback_epochs",
    6: "part6_precision_ab",
}

NO_NETWORK = """
import os, socket
_connect = socket.socket.connect
def _refuse(self, address, *args):
    if self.family in (socket.AF_INET, socket.AF_INET6):
        with open(os.environ["GPU_CHECK_NETWORK_LOG"], "a") as log:
            log.write(f"{os.getpid()} {address!r}\\n")
        raise OSError(f"no network in this test: {address!r}")
    return _connect(self, address, *args)
socket.socket.connect = _refuse
"""


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory):
    """One dry run of all six parts; its exit code, printed output and output folder."""
    base = tmp_path_factory.mktemp("gpu_check")
    (base / "site").mkdir()
    (base / "site" / "sitecustomize.py").write_text(NO_NETWORK)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(base / "site"), str(ROOT)])
    env["GPU_CHECK_NETWORK_LOG"] = str(base / "network.log")
    out = base / "out"
    run = subprocess.run(
        [sys.executable, str(BENCHMARKS / "gpu_check.py"), "--dry-run", "--out", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    return run, out, base / "network.log"


def part(out: Path, number: int) -> dict:
    return json.loads((out / f"{PART_FILES[number]}.json").read_text())


def table_rows(markdown: str) -> list[list[str]]:
    """The cells of the first Markdown table in ``markdown``, header first, no rule line."""
    lines = [line for line in markdown.splitlines() if line.startswith("|")]
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines]
    return [row for row in rows if not set("".join(row)) <= {"-"}]


@pytest.mark.slow
def test_dry_run_runs_every_part_and_writes_a_table_and_json_for_each(dry_run):
    run, out, network_log = dry_run
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    summary = json.loads((out / "gpu_check.json").read_text())
    assert summary["dry_run"] is True
    assert [(p["part"], p["status"]) for p in summary["parts"]] == [(n, "ok") for n in range(1, 7)]
    combined = (out / "gpu_check.md").read_text()
    for number, stem in PART_FILES.items():
        record = part(out, number)
        markdown = (out / f"{stem}.md").read_text().strip()
        assert markdown.startswith(f"## Part {number}: {record['title']} (ok, ")
        assert record["table"] in markdown
        assert markdown in run.stdout
        assert markdown in combined
        assert (out / f"{stem}.log").exists()
    assert not network_log.exists(), network_log.read_text()


@pytest.mark.slow
def test_part_1_shows_the_cli_and_the_fake_device(dry_run):
    _, out, _ = dry_run
    record = part(out, 1)
    assert table_rows(record["table"]) == [
        ["NVML index", "Name", "Driver", "MIG mode", "Energy counter (J)", "Power now (W)"],
        ["0", "NVIDIA H100 80GB HBM3 (fake)", "000.00.00 (fake)", "disabled", "0.0", "256.0"],
    ]
    data = record["data"]
    assert data["cli_exit_code"] == 0
    assert any(line.startswith("cpu: ") for line in data["cli_output"].splitlines())
    assert data["sensor_lines"] == [
        "gpu:0 NVIDIA H100 80GB HBM3 (fake): NVML energy counter (measured)"
    ]


@pytest.mark.slow
def test_part_2_runs_the_gpu_marked_tests(dry_run):
    _, out, _ = dry_run
    record = part(out, 2)
    rows = table_rows(record["table"])
    assert rows[0] == ["Test", "Outcome", "Time (s)", "Message"]
    assert [row[0] for row in rows[1:]] == [
        "tests.test_sensors_nvml::test_real_gpu_reports_positive_energy_after_a_busy_matmul"
    ]
    assert rows[1][1] == "skipped" and rows[1][3] == "no CUDA GPU"
    assert record["data"]["counts"] == {"passed": 0, "skipped": 1, "failed": 0}
    assert record["data"]["exit_code"] == 0


@pytest.mark.slow
def test_part_3_counter_against_polled_power_reads_what_the_fake_implies(dry_run):
    _, out, _ = dry_run
    record = part(out, 3)
    steady = record["data"]["steady"]
    assert steady["duration_s"] == 2.0
    assert steady["counter_J"] == pytest.approx(522.24, abs=1e-9)
    assert steady["polled_J"] == pytest.approx(512.0, abs=1e-9)
    assert steady["agreement"] == pytest.approx(0.02, abs=1e-12)
    assert steady["mean_power_W"] == pytest.approx(261.12, abs=1e-9)
    period = record["data"]["update_period"]
    assert (period["median_s"], period["min_s"], period["max_s"]) == (0.0625, 0.0625, 0.0625)
    assert period["changes"] == 16  # 1 s of reads, one step every 1/16 s
    short = {w["length_s"]: w for w in record["data"]["short_windows"]}
    assert list(short) == [1 / 32, 1 / 8, 1 / 4, 1 / 2]
    assert short[1 / 32]["energies_J"] == pytest.approx([0.0, 16.32, 0.0, 16.32], abs=1e-9)
    assert short[1 / 32]["references_J"] == pytest.approx([8.16] * 4, abs=1e-9)
    assert short[1 / 2]["energies_J"] == pytest.approx([130.56] * 4, abs=1e-9)
    assert "shorter than 1 s" in short[1 / 2]["notes"][0]
    rows = table_rows(record["table"])
    assert rows[0] == [
        "Window",
        "Length (s)",
        "Windows",
        "Counter (J)",
        "Reference (J)",
        "Counter vs reference",
    ]
    assert rows[1][1:] == ["2.00", "1", "522.24", "512.00", "+2.00 %"]
    assert rows[2][1:] == ["0.031", "4", "0.00 … 16.32", "8.16", "-100.0 % … +100.0 %"]
    assert rows[5][1:] == ["0.500", "4", "130.56 … 130.56", "130.56", "+0.0 % … +0.0 %"]
    assert "Counter update period observed under load: 62.5 ms" in " ".join(record["notes"])


@pytest.mark.slow
def test_part_4_without_synchronize_the_window_misses_the_burst(dry_run):
    _, out, _ = dry_run
    record = part(out, 4)
    runs = record["data"]["runs"]
    synced, unsynced = runs["synchronize()"], runs["no synchronize"]
    assert [(r["window_s"], r["kernels_s"]) for r in synced] == [(0.5, 0.5)] * 2
    assert [r["energy_J"] for r in synced] == pytest.approx([130.56] * 2, abs=1e-9)
    assert [(r["window_s"], r["kernels_s"], r["energy_J"]) for r in unsynced] == [
        (0.0, 0.5, 0.0)
    ] * 2
    assert table_rows(record["table"]) == [
        [
            "Window edges",
            "Runs",
            "Window (s)",
            "Kernels (s)",
            "Energy (J)",
            "Share of the synchronised energy",
        ],
        ["synchronize()", "2", "0.500", "0.500", "130.56", "100.0 %"],
        ["no synchronize", "2", "0.000", "0.500", "0.00", "0.0 %"],
    ]


@pytest.mark.slow
def test_part_5_logs_the_fake_gpu_power_for_every_epoch(dry_run):
    _, out, _ = dry_run
    record = part(out, 5)
    epochs = record["data"]["epochs"]
    assert [e["epoch"] for e in epochs] == [0, 1, 2]
    for epoch in epochs:
        # The dry callback's fake counter runs at 261.12 W of real time, read a moment before
        # the meter reads its clock: the moments differ by well under 1 % of an epoch.
        assert epoch["gpu_W"] == pytest.approx(261.12, rel=0.01)
        assert 0 < epoch["gpu_J"] < epoch["epoch_J"]
        assert epoch["gpu_share"] == pytest.approx(epoch["gpu_J"] / epoch["epoch_J"])
    rows = table_rows(record["table"])
    assert rows[0] == [
        "Epoch",
        "Time (s)",
        "GPU (J)",
        "GPU power (W)",
        "Epoch total (J)",
        "GPU share",
    ]
    assert [row[0] for row in rows[1:]] == ["0", "1", "2", "all 3"]
    total_gpu_J = sum(e["gpu_J"] for e in epochs)
    assert rows[4][2] == f"{total_gpu_J:.1f}"
    assert record["data"]["sensor_lines"][0] == (
        "gpu:0 NVIDIA H100 80GB HBM3 (fake): NVML energy counter (measured)"
    )


@pytest.mark.slow
def test_part_6_compares_the_precisions_the_cpu_runs(dry_run):
    _, out, _ = dry_run
    record = part(out, 6)
    rows = table_rows(record["table"])
    assert rows[0][:4] == ["Precision", "Runs", "Energy (Wh)", "Median (Wh)"]
    assert rows[0][4].startswith("gCO2e at ")
    assert rows[0][5:] == ["Time (s)", "Samples/s", "Dice", "Energy vs 32-true (median)"]
    assert [(row[0], row[1]) for row in rows[1:]] == [("32-true", "1"), ("bf16-mixed", "1")]
    assert rows[1][8] == "baseline"
    data = record["data"]
    assert [row["precision"] for row in data["rows"]] == ["32-true", "bf16-mixed"]
    assert all(run["energy_kWh"] > 0 for run in data["runs"])


# -- the runner: isolation, time limits, wheels ------------------------------------------------


@pytest.fixture
def kit(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    return importlib.import_module("gpu_check")


def run_alone(kit, tmp_path, run, limit_s=30.0):
    return kit._run_part(kit.Part(9, "probe", "Probe", limit_s, run), True, tmp_path, {}, limit_s)


def test_a_part_past_its_limit_is_ended_with_its_children(kit, tmp_path):
    pid_file = tmp_path / "sleeper.pid"

    def hang(ctx):
        sleeper = subprocess.Popen(["sleep", "60"])
        pid_file.write_text(str(sleeper.pid))
        time.sleep(60)

    record = run_alone(kit, tmp_path, hang, limit_s=2.0)
    assert (record["status"], record["reason"]) == ("timed out", "ran past its limit of 2 s")
    sleeper = int(pid_file.read_text())
    assert not psutil.pid_exists(sleeper) or psutil.Process(sleeper).status() == "zombie"
    assert "## Part 9: Probe (timed out, " in record["markdown"]


def test_a_failing_part_is_reported_with_its_log(kit, tmp_path):
    def fail(ctx):
        print("about to fail")
        raise ValueError("no such thing")

    record = run_alone(kit, tmp_path, fail)
    assert (record["status"], record["reason"]) == ("failed", "ValueError: no such thing")
    assert "about to fail" in record["markdown"]
    assert json.loads((tmp_path / "part9_probe.json").read_text())["status"] == "failed"


def test_a_part_killed_outright_is_a_failure(kit, tmp_path):
    record = run_alone(kit, tmp_path, lambda ctx: os.kill(os.getpid(), signal.SIGKILL))
    assert (record["status"], record["reason"]) == (
        "failed",
        "its process ended without a result (exit code -9)",
    )


def test_a_part_that_cannot_run_here_is_skipped_with_why(kit, tmp_path):
    def no_monai(ctx):
        raise kit.parts.PartSkipped("no MONAI here")

    record = run_alone(kit, tmp_path, no_monai)
    assert (record["status"], record["reason"]) == ("skipped", "no MONAI here")
    assert record["markdown"].endswith("Skipped: no MONAI here")


def test_parts_option(kit):
    assert [p.number for p in kit._chosen_parts("4,1,4")] == [1, 4]
    for bad in ("7", "0", "a", ""):
        with pytest.raises(SystemExit, match=f"from 1 to 6, got {bad!r}"):
            kit._chosen_parts(bad)


@pytest.mark.slow
def test_wheels_are_installed_into_a_folder_of_their_own_and_importable(kit, tmp_path, monkeypatch):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    with zipfile.ZipFile(wheels / "gpu_check_probe-1.0-py3-none-any.whl", "w") as wheel:
        wheel.writestr("gpu_check_probe/__init__.py", "ANSWER = 42\n")
        info = "gpu_check_probe-1.0.dist-info"
        wheel.writestr(
            f"{info}/METADATA", "Metadata-Version: 2.1\nName: gpu-check-probe\nVersion: 1.0\n"
        )
        wheel.writestr(
            f"{info}/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        )
        wheel.writestr(f"{info}/RECORD", "")
    monkeypatch.setattr(sys, "path", list(sys.path))
    site = tmp_path / "site"
    found = kit._add_wheels(str(wheels), site)
    assert found == {
        "folder": str(wheels),
        "wheels": ["gpu_check_probe-1.0-py3-none-any.whl"],
        "installed": True,
    }
    assert sys.path[-1] == str(site)
    assert importlib.import_module("gpu_check_probe").ANSWER == 42
    monkeypatch.delitem(sys.modules, "gpu_check_probe")
    assert kit._add_wheels(str(tmp_path), site)["error"] == f"no .whl file in {str(tmp_path)!r}"
