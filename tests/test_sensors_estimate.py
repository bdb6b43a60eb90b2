"""CPU (TDP x utilisation) and DRAM estimates: name matching, exact joules from scripted inputs."""

from __future__ import annotations

import csv
import statistics
from collections import namedtuple
from pathlib import Path

import pytest

import lightning_carbon
from lightning_carbon.sensors import estimate
from lightning_carbon.sensors.base import SensorUnavailable
from lightning_carbon.sensors.estimate import (
    DRAM_W_PER_GB,
    DRAM_W_PER_GB_SOURCE,
    CpuTdpSensor,
    DramSensor,
    installed_memory_GB,
    match_cpu_tdp,
    normalise_cpu_name,
    read_cpu_name,
)
from tests.fakes import FakeClock

LinuxTimes = namedtuple(
    "LinuxTimes",
    "user nice system idle iowait irq softirq steal guest guest_nice",
)
MacTimes = namedtuple("MacTimes", "user nice system idle")


class ScriptedTimes:
    """``cpu_times`` that returns the next scripted value on each call."""

    def __init__(self, *values) -> None:
        self._values = list(values)

    def __call__(self):
        return self._values.pop(0)


def _linux(**seconds: float) -> LinuxTimes:
    return LinuxTimes(**{field: seconds.get(field, 0.0) for field in LinuxTimes._fields})


# --- names ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("Intel(R) Xeon(R) Gold 6248R CPU @ 3.00GHz", "intel xeon gold 6248r"),
        ("AMD EPYC 7232P 8-Core Processor", "amd epyc 7232p"),
        ("AMD Ryzen 9 5950X 16-Core Processor", "amd ryzen 9 5950x"),
        ("AMD EPYC", "amd epyc"),
        ("AMD Ryzen 7 5800H with Radeon Graphics", "amd ryzen 7 5800h"),
        ("AMD Ryzen 5 3500U w/ Radeon Vega Mobile Gfx", "amd ryzen 5 3500u"),
        ("Intel(R) Core(TM)2 Duo CPU     E8400  @ 3.00GHz", "intel core 2 duo e8400"),
        ("Intel(TM) Pentium(tm) Dual-Core Processor @ 800 MHz", "intel pentium"),
        ("", ""),
    ],
)
def test_normalise_cpu_name(raw, normalised):
    assert normalise_cpu_name(raw) == normalised


def test_read_cpu_name_takes_the_first_model_name(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(
        "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7232P 8-Core Processor\n"
        "\nprocessor\t: 1\nmodel name\t: something else\n"
    )
    assert read_cpu_name(str(cpuinfo)) == "AMD EPYC 7232P 8-Core Processor"


def test_read_cpu_name_falls_back_to_platform(tmp_path, monkeypatch):
    monkeypatch.setattr(estimate.platform, "processor", lambda: " arm \n")
    no_model = tmp_path / "cpuinfo"
    no_model.write_text("processor\t: 0\nCPU part\t: 0xd0c\n")
    assert read_cpu_name(str(no_model)) == "arm"
    assert read_cpu_name(str(tmp_path / "missing")) == "arm"


# --- TDP matching ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cpu", "row", "tdp_W"),
    [
        ("Intel(R) Xeon(R) Gold 6248R CPU @ 3.00GHz", "Intel Xeon Gold 6248R", 205.0),
        ("AMD EPYC 7232P 8-Core Processor", "AMD EPYC 7232P", 120.0),
        ("AMD Ryzen 9 5950X 16-Core Processor", "AMD Ryzen 9 5950X", 105.0),
        ("Intel(R) Core(TM)2 Duo CPU     E8400  @ 3.00GHz", "Intel Core 2 Duo E8400", 65.0),
    ],
)
def test_exact_match(cpu, row, tdp_W):
    match = match_cpu_tdp(cpu)
    assert (match.cpu_name, match.row_name, match.tdp_W, match.quality) == (
        cpu,
        row,
        tdp_W,
        "exact",
    )
    assert match.detail == f"exact match with table row {row!r}"


def test_partial_match_takes_the_row_contained_in_the_name():
    match = match_cpu_tdp("12th Gen Intel(R) Core(TM) i7-12700K")
    assert (match.row_name, match.tdp_W, match.quality) == (
        "Intel Core i7-12700K",
        190.0,
        "partial",
    )
    assert match.detail == "partial match with table row 'Intel Core i7-12700K'"


def _shipped_tdp_rows() -> list[dict[str, str]]:
    path = Path(lightning_carbon.__file__).parent / "data" / "cpu_tdp.csv"
    with open(path, newline="", encoding="utf-8") as table:
        return list(csv.DictReader(table))


def test_bare_family_name_takes_the_median_of_the_family():
    family = [float(r["TDP"]) for r in _shipped_tdp_rows() if r["Name"].startswith("AMD EPYC ")]
    match = match_cpu_tdp("AMD EPYC")
    assert (match.row_name, match.quality) == (None, "family")
    assert match.tdp_W == statistics.median(family) == 200.0
    assert match.detail == "family match: median of 148 rows starting with 'AMD EPYC'"


def test_a_name_without_model_number_is_a_family_not_a_partial_match():
    match = match_cpu_tdp("Intel Xeon Processor (Skylake, IBRS)")
    assert match.quality == "family"
    assert match.detail.endswith("rows starting with 'Intel Xeon'")


def test_unknown_family_with_a_model_number_uses_the_family_median():
    match = match_cpu_tdp("AMD EPYC 9999Z 64-Core Processor")
    assert (match.quality, match.tdp_W) == ("family", 200.0)


@pytest.mark.parametrize("cpu", ["QEMU Virtual CPU version 2.5+", "Intel", ""])
def test_no_match_uses_the_median_of_the_table(cpu):
    match = match_cpu_tdp(cpu)
    assert (match.row_name, match.tdp_W, match.quality) == (None, 65.0, "none")
    assert match.detail == "no match in the TDP table: median of all 4898 rows"


def test_override_replaces_the_table():
    match = match_cpu_tdp("AMD EPYC", override_W=95)
    assert (match.row_name, match.tdp_W, match.quality, match.detail) == (
        None,
        95.0,
        "override",
        "user-given TDP",
    )


@pytest.mark.parametrize("bad", [0, -5.0, float("nan"), float("inf"), "95", True])
def test_bad_override_is_refused_with_its_value(bad):
    with pytest.raises(ValueError, match="cpu_tdp_w") as error:
        match_cpu_tdp("AMD EPYC", override_W=bad)
    assert repr(bad) in str(error.value)


# --- CPU sensor -----------------------------------------------------------------------------


def test_cpu_energy_is_tdp_times_busy_seconds_per_cpu():
    times = ScriptedTimes(
        _linux(user=10.0, system=5.0, idle=100.0),
        # +2 user (0.5 of it guest, already in user), +1 system, +0.5 steal, +0.25 irq,
        # +0.25 softirq = 4 s busy; idle and iowait do not count
        _linux(
            user=12.0,
            system=6.0,
            idle=105.0,
            iowait=1.0,
            steal=0.5,
            irq=0.25,
            softirq=0.25,
            guest=0.5,
        ),
        _linux(
            user=16.0,
            system=6.0,
            idle=105.0,
            iowait=1.0,
            steal=0.5,
            irq=0.25,
            softirq=0.25,
            guest=0.5,
        ),
    )
    sensor = CpuTdpSensor(cpu_name="AMD EPYC 7232P 8-Core Processor", cpu_times=times, n_cpus=4)
    sensor.start()
    assert sensor.energy_J() == 120.0 * 4.0 / 4
    assert sensor.energy_J() == 120.0 * 8.0 / 4


def test_cpu_energy_with_the_fields_of_other_systems():
    times = ScriptedTimes(MacTimes(1.0, 0.0, 1.0, 10.0), MacTimes(3.0, 1.0, 2.0, 20.0))
    sensor = CpuTdpSensor(cpu_tdp_w=50.0, cpu_name="", cpu_times=times, n_cpus=2)
    sensor.start()
    assert sensor.energy_J() == 50.0 * 4.0 / 2


def test_cpu_energy_never_decreases_when_counters_step_back():
    times = ScriptedTimes(_linux(user=10.0), _linux(user=12.0), _linux(user=11.5))
    sensor = CpuTdpSensor(cpu_tdp_w=10.0, cpu_name="x", cpu_times=times, n_cpus=1)
    sensor.start()
    assert sensor.energy_J() == 20.0
    assert sensor.energy_J() == 20.0


def test_cpu_sensor_labels_and_description():
    sensor = CpuTdpSensor(
        cpu_name="AMD EPYC 7232P 8-Core Processor", cpu_times=ScriptedTimes(), n_cpus=8
    )
    assert (sensor.component, sensor.device, sensor.provenance) == ("cpu", "cpu", "estimated")
    assert sensor.poll_interval_s is None
    assert sensor.description == (
        "cpu: TDP estimate 120 W x utilisation, AMD EPYC 7232P 8-Core Processor, "
        "exact match with table row 'AMD EPYC 7232P' (estimated)"
    )
    assert sensor.match.quality == "exact"


def test_cpu_sensor_reads_the_name_when_not_given(monkeypatch):
    monkeypatch.setattr(estimate, "read_cpu_name", lambda: "AMD EPYC")
    sensor = CpuTdpSensor(cpu_times=ScriptedTimes(), n_cpus=1)
    assert sensor.description == (
        "cpu: TDP estimate 200 W x utilisation, AMD EPYC, family match: median of 148 rows "
        "starting with 'AMD EPYC' (estimated)"
    )


def test_cpu_sensor_failing_times_are_unavailable():
    def broken():
        raise PermissionError("no /proc/stat")

    sensor = CpuTdpSensor(cpu_tdp_w=10.0, cpu_name="x", cpu_times=broken, n_cpus=1)
    with pytest.raises(SensorUnavailable, match="no /proc/stat"):
        sensor.start()


def test_cpu_sensor_must_start_before_reading():
    sensor = CpuTdpSensor(cpu_tdp_w=10.0, cpu_name="x", cpu_times=ScriptedTimes(), n_cpus=1)
    with pytest.raises(RuntimeError, match="start"):
        sensor.energy_J()


def test_cpu_sensor_refuses_bad_arguments():
    with pytest.raises(ValueError, match="cpu_tdp_w.*0"):
        CpuTdpSensor(cpu_tdp_w=0, cpu_name="x", cpu_times=ScriptedTimes(), n_cpus=1)
    with pytest.raises(ValueError, match="n_cpus.*0"):
        CpuTdpSensor(cpu_tdp_w=10.0, cpu_name="x", cpu_times=ScriptedTimes(), n_cpus=0)


# --- DRAM sensor ----------------------------------------------------------------------------


def test_dram_energy_is_watts_per_GB_times_elapsed_seconds():
    clock = FakeClock(100.0)
    sensor = DramSensor(memory_GB=64.0, clock=clock)
    assert sensor.power_W == pytest.approx(23.84)
    sensor.start()
    clock.advance(10.0)
    assert sensor.energy_J() == pytest.approx(238.4)
    clock.advance(5.0)
    assert sensor.energy_J() == pytest.approx(64.0 * 0.3725 * 15.0)


def test_dram_sensor_labels_description_and_source():
    sensor = DramSensor(memory_GB=64.0, clock=FakeClock())
    assert (sensor.component, sensor.device, sensor.provenance) == ("dram", "dram", "estimated")
    assert sensor.description == "dram: estimate 64 GB x 0.3725 W/GB = 23.8 W (estimated)"
    assert DRAM_W_PER_GB == 0.3725
    assert "Karyakin & Salem" in DRAM_W_PER_GB_SOURCE and "DaMoN 2017" in DRAM_W_PER_GB_SOURCE


def test_dram_sensor_defaults_to_installed_memory(monkeypatch):
    memory = namedtuple("svmem", "total available")
    monkeypatch.setattr(estimate.psutil, "virtual_memory", lambda: memory(16 * 2**30, 0))
    assert installed_memory_GB() == 16.0
    assert DramSensor(clock=FakeClock()).power_W == pytest.approx(16 * 0.3725)


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf")])
def test_dram_sensor_refuses_bad_memory(bad):
    with pytest.raises(ValueError, match="memory_GB") as error:
        DramSensor(memory_GB=bad)
    assert repr(bad) in str(error.value)


def test_dram_sensor_must_start_before_reading():
    with pytest.raises(RuntimeError, match="start"):
        DramSensor(memory_GB=1.0, clock=FakeClock()).energy_J()
