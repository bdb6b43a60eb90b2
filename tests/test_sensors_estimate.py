"""CPU and DRAM estimates: names, TDP rows, microarchitectures, the model chosen by what the
machine is, and exact joules from scripted machines (never the real one)."""

from __future__ import annotations

import csv
import json
from dataclasses import asdict, replace
from pathlib import Path

import pytest

import lightning_carbon
from lightning_carbon.sensors import machine as machine_module
from lightning_carbon.sensors.architecture import (
    CCF_SOURCE,
    FALLBACK_SOURCE,
    OUTLIER_CAVEAT,
    coefficients,
    find_architecture,
)
from lightning_carbon.sensors.base import SensorUnavailable
from lightning_carbon.sensors.cpu_power import TDP_SOURCE
from lightning_carbon.sensors.discovery import CCF_MEMORY_CAVEAT, VM_RAPL, Discovery, discover
from lightning_carbon.sensors.estimate import (
    DRAM_W_PER_GB,
    DRAM_W_PER_GB_SOURCE,
    CpuEstimateSensor,
    DramSensor,
)
from lightning_carbon.sensors.machine import CpuInfo, parse_cpuinfo, read_cpu_name
from lightning_carbon.sensors.tdp import (
    check_tdp,
    match_cpu_tdp,
    model_numbers,
    normalise_cpu_name,
)
from tests.fake_machine import FakeMachine
from tests.fakes import FakeClock

EPYC_3RD_GEN = (0.4556, 1.9573)  # CCF W per vCPU, data/cpu_power_per_vcpu.csv


def _vm(tmp_path, **kwargs) -> FakeMachine:
    return FakeMachine(tmp_path, **{"name": "AMD EPYC", "family": 25, "model": 1, **kwargs})


def _xeon_6248r(tmp_path, **kwargs) -> FakeMachine:
    return FakeMachine(
        tmp_path,
        name="Intel(R) Xeon(R) Gold 6248R CPU @ 3.00GHz",
        vendor="GenuineIntel",
        family=6,
        model=0x55,
        stepping=7,
        hypervisor=False,
        **kwargs,
    )


# --- names and cpuinfo ----------------------------------------------------------------------


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


def test_cpuinfo_of_a_two_socket_server_counts_sockets_and_cpus(tmp_path):
    server = _xeon_6248r(tmp_path, cpus=8, sockets=2)
    cpu = parse_cpuinfo((tmp_path / "cpuinfo").read_text())
    assert (cpu.vendor, cpu.family, cpu.model, cpu.stepping) == ("GenuineIntel", 6, 0x55, 7)
    assert (cpu.sockets, cpu.logical_cpus, cpu.hypervisor) == (2, 8, False)
    assert server.machine().cpuinfo_path.endswith("cpuinfo")


def test_cpuinfo_of_an_arm_server_reads_hex_ids():
    cpu = parse_cpuinfo(
        "processor\t: 0\nFeatures\t: fp asimd\nCPU implementer\t: 0x41\n"
        "CPU part\t: 0xd0c\n\nprocessor\t: 1\n"
    )
    assert (cpu.arm_implementer, cpu.arm_part, cpu.logical_cpus) == (0x41, 0xD0C, 2)
    assert cpu.describe() == "unnamed CPU (ARM implementer 0x41 part 0xd0c)"


def test_read_cpu_name_takes_the_first_model_name(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(
        "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7232P 8-Core Processor\n"
        "\nprocessor\t: 1\nmodel name\t: something else\n"
    )
    assert read_cpu_name(str(cpuinfo)) == "AMD EPYC 7232P 8-Core Processor"


def test_read_cpu_name_falls_back_to_platform(tmp_path, monkeypatch):
    monkeypatch.setattr(machine_module.platform, "processor", lambda: " arm \n")
    no_model = tmp_path / "cpuinfo"
    no_model.write_text("processor\t: 0\nCPU part\t: 0xd0c\n")
    assert read_cpu_name(str(no_model)) == "arm"
    assert read_cpu_name(str(tmp_path / "missing")) == "arm"


# --- TDP rows -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cpu", "row", "tdp_W"),
    [
        ("Intel(R) Xeon(R) Gold 6248R CPU @ 3.00GHz", "Intel Xeon Gold 6248R", 205.0),
        ("AMD EPYC 7232P 8-Core Processor", "AMD EPYC 7232P", 120.0),
        ("AMD Ryzen 9 5950X 16-Core Processor", "AMD Ryzen 9 5950X", 105.0),
        ("Intel(R) Core(TM)2 Duo CPU     E8400  @ 3.00GHz", "Intel Core 2 Duo E8400", 65.0),
    ],
)
def test_exact_tdp_match(cpu, row, tdp_W):
    match = match_cpu_tdp(cpu)
    assert (match.cpu_name, match.row_name, match.tdp_W, match.quality) == (
        cpu,
        row,
        tdp_W,
        "exact",
    )
    assert match.detail == f"exact match with table row {row!r}"


def test_partial_tdp_match_takes_the_row_contained_in_the_name():
    match = match_cpu_tdp("12th Gen Intel(R) Core(TM) i7-12700K")
    assert (match.row_name, match.tdp_W, match.quality) == (
        "Intel Core i7-12700K",
        190.0,
        "partial",
    )
    assert match.detail == "partial match with table row 'Intel Core i7-12700K'"
    assert match.cpu_name == "12th Gen Intel(R) Core(TM) i7-12700K"


@pytest.mark.parametrize(
    "cpu",
    [
        "AMD EPYC",  # what many VMs report: a family says nothing about one chip's power
        "Intel Xeon Processor (Skylake, IBRS)",
        "AMD EPYC 9999Z 64-Core Processor",  # a model number the table does not have
        "QEMU Virtual CPU version 2.5+",
        "",
        "Intel Foo 7763",  # a table row's model number without the row's other words
        "Intel Quark Microcontroller D1000",  # a row with a TDP of 0 W: left out
    ],
)
def test_a_name_without_a_known_model_number_has_no_tdp(cpu):
    assert match_cpu_tdp(cpu) is None


def test_the_first_rows_and_tdps_under_a_watt_are_in_the_table():
    assert match_cpu_tdp("1075T").tdp_W == 95.0  # the table's first row
    assert match_cpu_tdp("Intel Atom Z500").tdp_W == 0.65
    assert check_tdp(0.5) == 0.5
    assert model_numbers(("i3", "a12")) == ("a12",)  # three characters with a digit


@pytest.mark.parametrize("bad", [0, -5.0, float("nan"), float("inf"), "95", True])
def test_bad_tdp_override_is_refused_with_its_value(bad, tmp_path):
    with pytest.raises(ValueError, match="cpu_tdp_w") as error:
        CpuEstimateSensor(cpu_tdp_w=bad, machine=_vm(tmp_path, cpus=2).machine())
    assert repr(bad) in str(error.value)


# --- microarchitectures ---------------------------------------------------------------------


def _shipped(name: str) -> list[dict[str, str]]:
    path = Path(lightning_carbon.__file__).parent / "data" / name
    with open(path, newline="", encoding="utf-8") as table:
        return list(csv.DictReader(table))


def test_coefficients_are_the_shipped_ccf_rows():
    rows = _shipped("cpu_power_per_vcpu.csv")
    assert len(coefficients()) == len(rows) == 20
    for row in rows:
        assert coefficients()[row["architecture"]] == (
            float(row["min_w_per_vcpu"]),
            float(row["max_w_per_vcpu"]),
        )
    assert coefficients()["EPYC 3rd Gen"] == EPYC_3RD_GEN


AMD, INTEL = "AuthenticAMD", "GenuineIntel"


@pytest.mark.parametrize(
    ("cpu", "architecture", "how"),
    [
        (
            CpuInfo("AMD EPYC 7763 64-Core Processor", AMD, 25, 1),
            "EPYC 3rd Gen",
            "model 'EPYC 7763' in CCF's list amd-epyc-gen3.csv",
        ),
        (
            CpuInfo("Intel(R) Xeon(R) Platinum 8259CL CPU @ 2.50GHz", INTEL, 6, 0x55, 7),
            "Cascade Lake",
            "model '8259CL' in CCF's list intel-cascadelake.csv",
        ),
        (
            CpuInfo("Intel(R) Xeon(R) CPU E5-2686 v4 @ 2.30GHz", INTEL, 6, 0x4F),
            "Broadwell",
            "model 'E5-2686 v4' in CCF's list intel-broadwell.csv",
        ),
        (
            # QEMU's named models carry a code name and their own family/model numbers
            CpuInfo("Intel Xeon Processor (Icelake)", INTEL, 6, 134),
            "Ice Lake",
            "code name 'icelake' in the CPU name",
        ),
        (
            CpuInfo("AMD EPYC-Milan Processor", AMD, 25, 1),
            "EPYC 3rd Gen",
            "code name 'milan' in the CPU name",
        ),
        (
            CpuInfo("AMD EPYC", AMD, 25, 1),
            "EPYC 3rd Gen",
            "AuthenticAMD family 25 model 1: Zen 3 (Linux arch/x86/kernel/cpu/amd.c)",
        ),
        (
            CpuInfo("AMD EPYC", AMD, 23, 1),
            "EPYC 1st Gen",
            "AuthenticAMD family 23 model 1: Zen 1 (Linux arch/x86/kernel/cpu/amd.c)",
        ),
        (
            CpuInfo("AMD EPYC", AMD, 23, 0x31),
            "EPYC 2nd Gen",
            "AuthenticAMD family 23 model 49: Zen 2 (Linux arch/x86/kernel/cpu/amd.c)",
        ),
        (
            CpuInfo("AMD EPYC", AMD, 25, 0x11),
            "EPYC 4th Gen",
            "AuthenticAMD family 25 model 17: Zen 4 (Linux arch/x86/kernel/cpu/amd.c)",
        ),
        (
            CpuInfo("AMD EPYC", AMD, 26, 2),
            "EPYC 5th Gen",
            "AuthenticAMD family 26 model 2: Zen 5 (Linux arch/x86/kernel/cpu/amd.c)",
        ),
        (
            CpuInfo("Intel Xeon Processor", INTEL, 6, 0x55, 4),
            "Skylake",
            "GenuineIntel family 6 model 85 stepping 4: Skylake (Linux intel-family.h "
            "SKYLAKE_X; steppings 5 and up are Cascade Lake)",
        ),
        (
            CpuInfo("Intel Xeon Processor", INTEL, 6, 0x55, 5),
            "Cascade Lake",
            "GenuineIntel family 6 model 85 stepping 5: Cascade Lake (Linux intel-family.h "
            "SKYLAKE_X; steppings 5 and up are Cascade Lake)",
        ),
        (
            CpuInfo("Intel Xeon Processor", INTEL, 6, 0x6A),
            "Ice Lake",
            "GenuineIntel family 6 model 106 (0x6a): Ice Lake (Linux intel-family.h)",
        ),
        (
            CpuInfo("Intel Xeon Processor", INTEL, 6, 0x8F),
            "Sapphire Rapids",
            "GenuineIntel family 6 model 143 (0x8f): Sapphire Rapids (Linux intel-family.h)",
        ),
        (
            CpuInfo("Intel Xeon Processor", INTEL, 6, 0xCF),
            "Emerald Rapids",
            "GenuineIntel family 6 model 207 (0xcf): Emerald Rapids (Linux intel-family.h)",
        ),
        (
            CpuInfo("", arm_implementer=0x41, arm_part=0xD0C),
            "Graviton2",
            "ARM part 0xd0c: Neoverse N1 (Linux arm64 cputype.h)",
        ),
        # code names are found whatever separates their words
        *(
            (
                CpuInfo(f"Intel Xeon Processor ({name})"),
                architecture,
                f"code name {code!r} in the CPU name",
            )
            for name, architecture, code in (
                ("Cascade Lake", "Cascade Lake", "cascadelake"),
                ("Sapphire-Rapids", "Sapphire Rapids", "sapphirerapids"),
                ("Ivy_Bridge", "Ivy Bridge", "ivybridge"),
            )
        ),
        # the row with the most of the CPU's words wins, and all of its words must be there
        (
            CpuInfo("Intel(R) Xeon(R) CPU E5-2620 v2 @ 2.10GHz"),
            "Ivy Bridge",
            "model 'E5-2620 v2' in CCF's list intel-ivybridge.csv",
        ),
        (
            CpuInfo("Intel(R) Xeon(R) CPU E5-2620 0 @ 2.00GHz"),
            "Sandy Bridge",
            "model 'E5-2620' in CCF's list intel-sandybridge.csv",
        ),
        # the first and the last model of a range
        *(
            (
                CpuInfo("AMD EPYC", AMD, 25, model),
                "EPYC 3rd Gen",
                f"AuthenticAMD family 25 model {model}: Zen 3 (Linux arch/x86/kernel/cpu/amd.c)",
            )
            for model in (0x20, 0x5F)
        ),
    ],
)
def test_architecture_from_name_code_name_or_ids(cpu, architecture, how):
    found = find_architecture(cpu)
    assert (found.name, found.how) == (architecture, how)
    assert (found.min_W_per_cpu, found.max_W_per_cpu) == coefficients()[architecture]


@pytest.mark.parametrize(
    "cpu",
    [
        CpuInfo("QEMU Virtual CPU version 2.5+", INTEL, 6, 6),
        CpuInfo("AMD EPYC", AMD, 0x15, 1),  # Bulldozer-era family: no CCF row
        CpuInfo("", arm_implementer=0x61, arm_part=0x22),  # not an ARM Ltd core
        CpuInfo("", arm_implementer=0x50, arm_part=0xD0C),  # a Neoverse part number, not ARM's
        CpuInfo("", arm_implementer=0x41, arm_part=0xD03),  # an ARM core CCF has no row for
        CpuInfo("AMD EPYC", AMD, 25, None),  # a family without a model
        CpuInfo("AMD Athlon", AMD, 6, 0x3F),  # family 6 is Intel's numbering only for Intel
        CpuInfo("Intel Foo 7763"),  # a known model number without its other words
    ],
)
def test_unknown_architecture(cpu):
    assert find_architecture(cpu) is None


def test_the_epyc_5th_gen_outlier_and_graviton_rows_are_flagged():
    assert find_architecture(CpuInfo("AMD EPYC", AMD, 26, 2)).caveats == (OUTLIER_CAVEAT,)
    graviton = find_architecture(CpuInfo("", arm_implementer=0x41, arm_part=0xD40))
    assert graviton.caveats == ("CCF gives Graviton the same coefficients as EPYC 2nd Gen",)


# --- the CPU model and sensor, by kind of machine -------------------------------------------


def test_fully_busy_2_vcpu_epyc_vm_draws_twice_the_epyc_3rd_gen_maximum(tmp_path):
    vm = _vm(tmp_path, cpus=2)
    sensor = CpuEstimateSensor(machine=vm.machine())
    sensor.start()
    vm.run(10.0, busy=1.0)
    assert sensor.energy_J() == pytest.approx(2 * 1.9573 * 10.0, rel=1e-12)
    assert sensor.busy_s == 20.0
    model = sensor.power_model
    assert (model.name, model.n_cpus, model.idle_W, model.max_W) == (
        "vm-per-vcpu",
        2,
        2 * 0.4556,
        2 * 1.9573,
    )
    assert sensor.model["coefficients"] == {
        "cpus": 2,
        "min_W_per_cpu": 0.4556,
        "max_W_per_cpu": 1.9573,
        "architecture": "EPYC 3rd Gen",
    }
    assert sensor.description == (
        "cpu: W = 2 vCPUs x (min + u x (max - min)) = 0.911-3.91 W [VM (hypervisor CPU flag); "
        "EPYC 3rd Gen from AuthenticAMD family 25 model 1: Zen 3 (Linux "
        "arch/x86/kernel/cpu/amd.c); all 2 CPUs; Cloud Carbon Footprint per-vCPU coefficients "
        "(ccf-coefficients output/coefficients-aws-use.csv @b0032d9, from SPECpower_ssj2008 "
        "results)] (estimated)"
    )
    assert (sensor.component, sensor.device, sensor.provenance, sensor.node_wide) == (
        "cpu",
        "cpu",
        "estimated",
        True,
    )


def test_energy_is_the_idle_floor_over_time_plus_the_dynamic_part_per_busy_second(tmp_path):
    vm = _vm(tmp_path, cpus=4)
    sensor = CpuEstimateSensor(machine=vm.machine())
    sensor.start()
    vm.run(10.0, busy=0.25)  # 10 busy CPU seconds of 40
    low, high = EPYC_3RD_GEN
    assert sensor.energy_J() == pytest.approx(4 * low * 10 + (high - low) * 10, rel=1e-12)
    vm.run(5.0, busy=1.0, cpus={0})  # 5 more busy CPU seconds
    assert sensor.energy_J() == pytest.approx(4 * low * 15 + (high - low) * 15, rel=1e-12)


def test_a_steal_only_interval_is_idle_floor_only(tmp_path):
    # steal time is the hypervisor running someone else: no busy time of ours
    vm = _vm(tmp_path, cpus=2)
    sensor = CpuEstimateSensor(machine=vm.machine())
    sensor.start()
    vm.run(10.0, steal=1.0)
    assert sensor.busy_s == 0.0
    assert sensor.energy_J() == pytest.approx(2 * 0.4556 * 10.0, rel=1e-12)


def test_busy_time_above_full_load_is_capped_and_energy_never_decreases(tmp_path):
    vm = _vm(tmp_path, cpus=2)
    sensor = CpuEstimateSensor(machine=vm.machine())
    sensor.start()
    for ticks in vm.ticks.values():
        ticks["user"] += 1000  # 10 busy seconds per CPU appear without time passing
    vm.run(0.5, busy=1.0)
    first = sensor.energy_J()
    assert sensor.busy_s == 1.0  # at most 2 CPUs x 0.5 s
    for ticks in vm.ticks.values():
        ticks["user"] -= 5000  # the counter steps back
    vm.run(0.0)
    assert sensor.energy_J() == first


def test_container_cpu_max_400000_100000_counts_4_cpus_and_its_own_usage(tmp_path):
    host = _vm(tmp_path, cpus=64)
    host.set_cgroup_v2(cpu_max="400000 100000", usage_s=100.0, path="/kubepods/pod1")
    sensor = CpuEstimateSensor(machine=host.machine())
    assert sensor.scope.n_cpus == 4.0
    assert sensor.scope.detail == ("cgroup v2 cpu.max '400000 100000': 4 of 64 CPUs (its usage)")
    sensor.start()
    host.run(10.0, busy=1.0)  # the whole host is busy, other containers included
    host.set_cgroup_usage(100.0 + 20.0, path="/kubepods/pod1")  # the group used 2 CPUs
    low, high = EPYC_3RD_GEN
    assert sensor.energy_J() == pytest.approx(4 * low * 10 + (high - low) * 20, rel=1e-12)
    assert sensor.power_model.formula.startswith("W = 4 vCPUs x (min + u x (max - min))")


def test_an_ancestor_quota_and_v1_quotas_count(tmp_path):
    host = _vm(tmp_path / "v2", cpus=16)
    host.set_cgroup_v2(cpu_max="800000 100000", path="/kubepods")
    host.set_cgroup_v2(cpu_max="max 100000", path="/kubepods/pod1")
    assert CpuEstimateSensor(machine=host.machine()).scope.n_cpus == 8.0
    v1 = _vm(tmp_path / "v1", cpus=16)
    v1.set_cgroup_v1(quota_us=150000, period_us=100000)
    scope = CpuEstimateSensor(machine=v1.machine()).scope
    assert (scope.n_cpus, scope.busy_from_cgroup) == (1.5, True)
    assert scope.detail == (
        "cgroup v1 cpu.cfs_quota_us 150000 / cpu.cfs_period_us 100000: 1.5 of 16 CPUs (its usage)"
    )


def test_cpuset_and_affinity_count_only_the_allowed_cpus(tmp_path):
    host = _vm(tmp_path, cpus=16, affinity=set(range(8)))
    host.set_cgroup_v2(cpuset="2-5")
    sensor = CpuEstimateSensor(machine=host.machine())
    assert (sensor.scope.n_cpus, sensor.scope.cpus) == (4, frozenset({2, 3, 4, 5}))
    assert sensor.scope.detail == "the 4 of 16 CPUs this process may run on"
    sensor.start()
    host.run(10.0, busy=1.0, cpus=set(range(8, 16)))  # others' CPUs busy: not ours
    host.run(10.0, busy=0.5, cpus={2})
    low, high = EPYC_3RD_GEN
    assert sensor.energy_J() == pytest.approx(4 * low * 20 + (high - low) * 5, rel=1e-12)


def test_two_socket_bare_metal_at_full_load_draws_every_sockets_tdp(tmp_path):
    server = _xeon_6248r(tmp_path, cpus=96, sockets=2)
    sensor = CpuEstimateSensor(machine=server.machine())
    sensor.start()
    server.run(10.0, busy=1.0)
    assert sensor.energy_J() == pytest.approx(2 * 205.0 * 10.0, rel=1e-12)
    server.run(10.0)
    assert sensor.energy_J() == pytest.approx(2 * 205.0 * (10.0 + 0.12 * 10.0), rel=1e-12)
    model = sensor.power_model
    assert (model.name, model.coefficients["sockets"], model.source) == (
        "sockets-tdp",
        2,
        TDP_SOURCE,
    )
    assert model.formula == (
        "W = 2 socket(s) x 205 W TDP x (0.12 + u x 0.88); u = busy share of those CPUs, "
        "steal excluded"
    )


def test_a_container_on_bare_metal_gets_its_cpus_share_of_the_sockets(tmp_path):
    server = _xeon_6248r(tmp_path, cpus=96, sockets=2)
    server.set_cgroup_v2(cpu_max="1200000 100000")
    sensor = CpuEstimateSensor(machine=server.machine())
    sensor.start()
    server.run(10.0, busy=1.0)
    server.set_cgroup_usage(120.0)
    assert sensor.energy_J() == pytest.approx(2 * 205.0 * 12 / 96 * 10.0, rel=1e-12)
    assert "x 12/96 CPUs" in sensor.power_model.formula


def test_bare_metal_without_a_tdp_row_uses_the_per_thread_coefficients(tmp_path):
    server = FakeMachine(tmp_path, name="AMD EPYC", family=25, model=1, hypervisor=False)
    model = CpuEstimateSensor(machine=server.machine()).power_model
    assert (model.name, (model.min_W_per_cpu, model.max_W_per_cpu)) == ("per-thread", EPYC_3RD_GEN)
    assert model.basis.startswith("bare metal (no hypervisor flag), CPU not in the TDP table")


def test_an_unknown_cpu_says_which_fallback_it_used(tmp_path):
    vm = FakeMachine(
        tmp_path, name="QEMU Virtual CPU version 2.5+", vendor=INTEL, family=6, model=6, cpus=2
    )
    sensor = CpuEstimateSensor(machine=vm.machine())
    model = sensor.power_model
    assert (model.name, model.min_W_per_cpu, model.max_W_per_cpu) == ("fallback", 0.74, 3.5)
    assert (
        model.source
        == FALLBACK_SOURCE
        == (
            "Cloud Carbon Footprint methodology: average min and max watts per vCPU over the "
            "microarchitectures AWS uses, for an unknown microarchitecture"
        )
    )
    assert model.caveats == ("fallback coefficients: the CPU's microarchitecture is not known",)
    assert (
        "microarchitecture unknown for QEMU Virtual CPU version 2.5+ (GenuineIntel family 6 "
        "model 6)" in sensor.description
    )
    sensor.start()
    vm.run(10.0, busy=1.0)
    assert sensor.energy_J() == pytest.approx(2 * 3.5 * 10.0, rel=1e-12)


def test_the_epyc_5th_gen_outlier_is_flagged_in_the_line(tmp_path):
    sensor = CpuEstimateSensor(machine=_vm(tmp_path, family=26, model=2).machine())
    assert sensor.description.endswith(f"; caution: {OUTLIER_CAVEAT} (estimated)")


def test_a_user_tdp_replaces_the_model(tmp_path):
    vm = _vm(tmp_path, cpus=2)
    sensor = CpuEstimateSensor(cpu_tdp_w=50.0, machine=vm.machine())
    assert (sensor.power_model.name, sensor.power_model.max_W, sensor.power_model.source) == (
        "user-tdp",
        50.0,
        "TDP given by the user (cpu_tdp_w)",
    )
    with pytest.raises(ValueError, match="cpu_tdp_w.*0"):
        CpuEstimateSensor(cpu_tdp_w=0, machine=vm.machine())


def test_cpu_sensor_must_start_and_fails_when_the_group_usage_vanishes(tmp_path):
    host = _vm(tmp_path, cpus=8)
    host.set_cgroup_v2(cpu_max="200000 100000")
    sensor = CpuEstimateSensor(machine=host.machine())
    with pytest.raises(RuntimeError, match=r"^cpu: call start\(\) before energy_J\(\)$"):
        sensor.energy_J()
    sensor.start()
    (tmp_path / "cgroup" / "cpu.stat").unlink()
    with pytest.raises(SensorUnavailable, match="cpu.stat"):
        sensor.energy_J()


# --- DRAM -----------------------------------------------------------------------------------


def test_dram_energy_is_watts_per_GB_times_elapsed_seconds():
    clock = FakeClock(100.0)
    sensor = DramSensor(memory_GB=64.0, clock=clock)
    assert sensor.power_W == 64.0 * 0.392
    sensor.start()
    clock.advance(10.0)
    assert sensor.energy_J() == pytest.approx(64.0 * 0.392 * 10.0, rel=1e-12)


def test_dram_sensor_labels_description_and_source():
    sensor = DramSensor(memory_GB=64.0, clock=FakeClock())
    assert (sensor.component, sensor.device, sensor.provenance, sensor.node_wide) == (
        "dram",
        "dram",
        "estimated",
        True,
    )
    assert sensor.description == (
        "dram: estimate 64 GB (memory given) x 0.392 W/GB = 25.1 W [Cloud Carbon Footprint "
        "memory coefficient] (estimated)"
    )
    assert DRAM_W_PER_GB == 0.392
    assert "Crucial" in DRAM_W_PER_GB_SOURCE and "TN-40-07" in DRAM_W_PER_GB_SOURCE
    assert sensor.model["source"] == DRAM_W_PER_GB_SOURCE


@pytest.mark.parametrize(
    ("cgroup", "memory_GB", "basis"),
    [
        ({}, 256.0, "256 GB installed"),
        ({"memory_max": str(4 * 2**30)}, 4.0, "cgroup memory limit of 4 GB"),
        ({"memory_max": str(256 * 2**30)}, 256.0, "256 GB installed"),  # a limit of it all
        (
            {"cpu_max": "400000 100000"},
            256.0 * 4 / 64,
            "4 of 64 CPUs' share of the machine's 256 GB",
        ),
    ],
)
def test_dram_counts_the_scopes_memory(tmp_path, cgroup, memory_GB, basis):
    host = _vm(tmp_path, cpus=64, memory_GB=256.0)
    if cgroup:
        host.set_cgroup_v2(**cgroup)
    scope = CpuEstimateSensor(machine=host.machine()).scope
    sensor = DramSensor(scope=scope, clock=host.clock)
    assert sensor.power_W == pytest.approx(memory_GB * 0.392, rel=1e-12)
    assert sensor.model["basis"] == basis


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf")])
def test_dram_sensor_refuses_bad_memory(bad):
    with pytest.raises(ValueError, match="memory_GB") as error:
        DramSensor(memory_GB=bad)
    assert repr(bad) in str(error.value)


def test_dram_sensor_must_start_before_reading():
    with pytest.raises(RuntimeError, match="start"):
        DramSensor(memory_GB=1.0, clock=FakeClock()).energy_J()


# --- discovery on a scripted machine --------------------------------------------------------


def test_discovery_on_a_vm_without_rapl_reports_the_models_as_data(tmp_path):
    vm = _vm(tmp_path, cpus=2, memory_GB=8.0)
    (tmp_path / "powercap").mkdir()
    found = discover(gpu_indices=[], powercap_root=str(tmp_path / "powercap"), machine=vm.machine())
    cpu, dram = found.choices
    why = f"RAPL unreadable (no RAPL package zone in {tmp_path / 'powercap'})"
    assert cpu.line.startswith(f"cpu: {why} -> W = 2 vCPUs x (min + u x (max - min)) = 0.911")
    assert cpu.model["name"] == "vm-per-vcpu" and cpu.model["max_W"] == 2 * 1.9573
    assert dram.line == (
        f"dram: {why} -> estimate 8 GB (8 GB installed) x 0.392 W/GB = 3.14 W [Cloud Carbon "
        f"Footprint memory coefficient]; caution: {CCF_MEMORY_CAVEAT} (estimated)"
    )
    assert dram.model["coefficients"] == {"memory_GB": 8.0, "W_per_GB": 0.392}
    assert found.scope.n_cpus == 2 and found.scope.detail == "all 2 CPUs"


def test_the_sensors_command_prints_each_choice_and_the_attribution(tmp_path, monkeypatch, capsys):
    import functools

    from lightning_carbon.cli import main
    from lightning_carbon.sensors import discovery

    vm = _vm(tmp_path, cpus=64)
    vm.set_cgroup_v2(cpu_max="400000 100000")
    monkeypatch.setattr(discovery, "discover", functools.partial(discover, machine=vm.machine()))
    (tmp_path / "powercap").mkdir()
    assert main(["sensors", "--powercap-root", str(tmp_path / "powercap")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-3].startswith("cpu: RAPL unreadable") and "W = 4 vCPUs x" in lines[-3]
    assert lines[-2].startswith("dram: RAPL unreadable")
    assert lines[-1] == (
        "attribution: cpu and dram are the machine's; a run is charged its share of the busy "
        "CPU time of cgroup v2 cpu.max '400000 100000': 4 of 64 CPUs (its usage) "
        "(attribution='process', the default; 'machine' reports the whole machine)"
    )
    assert main(["sensors", "--json", "--powercap-root", str(tmp_path / "powercap")]) == 0
    choices = json.loads(capsys.readouterr().out)
    assert [c["model"]["name"] for c in choices if c["component"] != "gpu"] == [
        "vm-per-vcpu",
        "dram-per-GB",
    ]


# --- every field of what discovery decides, per kind of machine -----------------------------

CCF_DRAM = "[Cloud Carbon Footprint memory coefficient]"


def _dram(why: str, memory_GB: float, caveats: tuple[str, ...] = ()) -> dict:
    caution = "".join(f"; caution: {c}" for c in caveats)
    return {
        "component": "dram",
        "device": "dram",
        "provenance": "estimated",
        "line": f"dram: {why} -> estimate {memory_GB:g} GB ({memory_GB:g} GB installed) x 0.392 "
        f"W/GB = {memory_GB * 0.392:.3g} W {CCF_DRAM}{caution} (estimated)",
        "model": {
            "name": "dram-per-GB",
            "formula": f"W = {memory_GB:g} GB x 0.392 W/GB",
            "coefficients": {"memory_GB": memory_GB, "W_per_GB": 0.392},
            "source": DRAM_W_PER_GB_SOURCE,
            "basis": f"{memory_GB:g} GB installed",
            "caveats": list(caveats),
        },
        "shared": None,
    }


def _cpu(why: str, model: dict, range_W: str) -> dict:
    caveats = "".join(f"; caution: {c}" for c in model["caveats"])
    formula = model["formula"].split(";")[0]
    return {
        "component": "cpu",
        "device": "cpu",
        "provenance": "estimated",
        "line": f"cpu: {why} -> {formula} = {range_W} W [{model['basis']}; {model['source']}]"
        f"{caveats} (estimated)",
        "model": model,
        "shared": None,
    }


XEON = "Intel(R) Xeon(R) Gold 6248R CPU @ 3.00GHz (GenuineIntel family 6 model 85)"
LINEAR = "u = busy share of those CPUs, steal excluded"


def _tdp(name, tdp_W, source, detail):
    return {
        "name": name,
        "formula": f"W = 2 socket(s) x {tdp_W:g} W TDP x (0.12 + u x 0.88); {LINEAR}",
        "coefficients": {
            "sockets": 2,
            "tdp_W": tdp_W,
            "idle_share_of_tdp": 0.12,
            "cpus": 4,
            "machine_cpus": 4,
        },
        "source": source,
        "basis": f"{XEON}: {detail}; all 4 CPUs",
        "caveats": [],
        "idle_W": pytest.approx(0.12 * 2 * tdp_W),
        "max_W": 2 * tdp_W,
    }


def _per_cpu(name, kind, coefficients, source, caveats=()):
    return {
        "name": name,
        "formula": f"W = 2 CPUs x (min + u x (max - min)); {LINEAR}",
        "coefficients": {"cpus": 2, **coefficients},
        "source": source,
        "basis": kind,
        "caveats": list(caveats),
        "idle_W": pytest.approx(2 * coefficients["min_W_per_cpu"]),
        "max_W": pytest.approx(2 * coefficients["max_W_per_cpu"]),
    }


EPYC_BASIS = (
    "EPYC 3rd Gen from AuthenticAMD family 25 model 1: Zen 3 (Linux arch/x86/kernel/cpu/amd.c)"
)
BARE = "bare metal (no hypervisor flag), CPU not in the TDP table"
QEMU = "QEMU Virtual CPU version 2.5+ (GenuineIntel family 6 model 6)"
UNKNOWN = "fallback coefficients: the CPU's microarchitecture is not known"


@pytest.mark.parametrize(
    ("machine", "tdp_W", "cpu", "range_W", "dram_caveats"),
    [
        (
            {"name": XEON.split(" (")[0], "vendor": "GenuineIntel", "model": 85, "sockets": 2},
            None,
            _tdp(
                "sockets-tdp",
                205.0,
                TDP_SOURCE,
                "exact match with table row 'Intel Xeon Gold 6248R'",
            ),
            "49.2-410",
            (),
        ),
        (
            {"name": XEON.split(" (")[0], "vendor": "GenuineIntel", "model": 85, "sockets": 2},
            100.0,
            _tdp("user-tdp", 100.0, "TDP given by the user (cpu_tdp_w)", "user-given"),
            "24-200",
            (),
        ),
        (
            {"name": "AMD EPYC", "vendor": "AuthenticAMD", "family": 25, "model": 1, "cpus": 2},
            None,
            _per_cpu(
                "per-thread",
                f"{BARE}; {EPYC_BASIS}; all 2 CPUs",
                {"min_W_per_cpu": 0.4556, "max_W_per_cpu": 1.9573, "architecture": "EPYC 3rd Gen"},
                CCF_SOURCE,
            ),
            "0.911-3.91",
            (CCF_MEMORY_CAVEAT,),
        ),
        (
            {"name": "QEMU Virtual CPU version 2.5+", "model": 6, "cpus": 2, "hypervisor": True},
            None,
            _per_cpu(
                "fallback",
                f"VM (hypervisor CPU flag); microarchitecture unknown for {QEMU}; all 2 CPUs",
                {"min_W_per_cpu": 0.74, "max_W_per_cpu": 3.5},
                FALLBACK_SOURCE,
                (UNKNOWN,),
            ),
            "1.48-7",
            (CCF_MEMORY_CAVEAT,),
        ),
        (
            {"name": "Mystery CPU 9", "model": 6, "cpus": 2},
            None,
            _per_cpu(
                "fallback",
                f"{BARE}; microarchitecture unknown for Mystery CPU 9 (GenuineIntel family 6 "
                "model 6); all 2 CPUs",
                {"min_W_per_cpu": 0.74, "max_W_per_cpu": 3.5},
                FALLBACK_SOURCE,
                (UNKNOWN,),
            ),
            "1.48-7",
            (CCF_MEMORY_CAVEAT,),
        ),
    ],
)
def test_discovery_states_every_field_of_each_model(
    tmp_path, machine, tdp_W, cpu, range_W, dram_caveats
):
    settings = {"vendor": "GenuineIntel", "family": 6, "hypervisor": False, "cpus": 4, **machine}
    node = FakeMachine(tmp_path / "node", memory_GB=2.0, **settings)
    (tmp_path / "powercap").mkdir()
    found = discover(
        gpu_indices=[],
        cpu_tdp_w=tdp_W,
        powercap_root=str(tmp_path / "powercap"),
        machine=node.machine(),
    )
    why = f"RAPL unreadable (no RAPL package zone in {tmp_path / 'powercap'})"
    assert [asdict(choice) for choice in found.choices] == [
        _cpu(why, cpu, range_W),
        _dram(why, 2.0, dram_caveats),
    ]
    assert [(s.device, s.component, s.provenance) for s in found.sensors] == [
        ("cpu", "cpu", "estimated"),
        ("dram", "dram", "estimated"),
    ]
    assert found.sensors[0].model == found.choices[0].model
    assert (found.scope.n_cpus, found.scope.detail) == (
        settings["cpus"],
        f"all {settings['cpus']} CPUs",
    )


def test_a_measured_package_on_a_vm_is_the_hosts_and_dram_is_estimated_without_caveat(tmp_path):
    from tests.fake_powercap import FakePowercap

    tree = FakePowercap(tmp_path / "rapl")
    tree.add_zone("intel-rapl:0", "package-0", energy_uJ=5)
    vm = _vm(tmp_path / "vm", cpus=2, memory_GB=2.0)
    found = discover(gpu_indices=[], powercap_root=str(tree.root), machine=vm.machine())
    assert [asdict(choice) for choice in found.choices] == [
        {
            "component": "cpu",
            "device": "cpu:package-0",
            "provenance": "measured",
            "line": f"cpu:package-0: RAPL package counter (measured) [{VM_RAPL}]",
            "model": None,
            "shared": VM_RAPL,
        },
        _dram("no RAPL dram counter", 2.0),
    ]
    assert [s.shared for s in found.sensors] == [VM_RAPL, None]
    assert found.scope.detail == "all 2 CPUs" and found.scope.cgroup is None


def test_a_process_that_does_not_meter_the_node_discovers_nothing_for_it(tmp_path):
    assert discover(gpu_indices=[], node_level=False) == Discovery([], [], None)


def test_a_given_model_or_scope_is_kept_and_the_other_one_read(tmp_path):
    vm = _vm(tmp_path, cpus=2)
    machine = vm.machine()
    chosen = CpuEstimateSensor(machine=machine)
    other = _vm(tmp_path / "other", cpus=4)
    given_scope = CpuEstimateSensor(machine=other.machine()).scope
    user = CpuEstimateSensor(cpu_tdp_w=50.0, machine=machine).power_model
    with_model = CpuEstimateSensor(user, machine=machine)
    assert (with_model.power_model, with_model.scope.n_cpus) == (user, 2)
    with_scope = CpuEstimateSensor(scope=given_scope, machine=machine)
    assert (with_scope.scope, with_scope.power_model.n_cpus) == (given_scope, 4)
    both = CpuEstimateSensor(user, scope=given_scope)
    assert (both.power_model, both.scope) == (user, given_scope)
    assert chosen.power_model.name == "vm-per-vcpu"


def test_cautions_are_each_appended_to_the_line(tmp_path):
    dram = DramSensor(memory_GB=2.0, caveats=("one", "two"))
    assert dram.description.endswith("coefficient]; caution: one; caution: two (estimated)")
    model = CpuEstimateSensor(machine=_vm(tmp_path, family=26, model=2).machine()).power_model
    doubled = replace(model, caveats=("one", "two"))
    assert doubled.summary().endswith("]; caution: one; caution: two")


def test_a_dram_sensor_without_a_scope_reads_this_machine():
    from lightning_carbon.sensors.machine import read_cpuinfo
    from lightning_carbon.sensors.scope import cpu_scope

    assert DramSensor().model == DramSensor(scope=cpu_scope(read_cpuinfo())).model
    with pytest.raises(RuntimeError, match=r"^dram: call start\(\) before energy_J\(\)$"):
        DramSensor().energy_J()


def test_cpu_names_carry_the_ids_that_place_them():
    assert CpuInfo("X", family=6, model=85).describe() == "X (vendor? family 6 model 85)"
    assert CpuInfo("").describe() == "unnamed CPU"
    both = CpuInfo("Y", AMD, 25, 1, arm_implementer=0x41, arm_part=0xD0C)
    assert both.describe() == (
        "Y (AuthenticAMD family 25 model 1, ARM implementer 0x41 part 0xd0c)"
    )


def test_without_cpuinfo_or_a_cpu_count_there_is_one_cpu(tmp_path, monkeypatch):
    from lightning_carbon.sensors.machine import Machine, read_cpuinfo

    monkeypatch.setattr(machine_module.os, "cpu_count", lambda: None)
    assert read_cpuinfo(Machine(cpuinfo_path=str(tmp_path / "none"))).logical_cpus == 1


# --- the scope: which CPUs and how much memory the node-level sensors count --------------------


def test_the_cpuset_counts_only_within_the_affinity(tmp_path):
    host = _vm(tmp_path, cpus=16, affinity=set(range(8)))
    host.set_cgroup_v2(cpuset="6-9")
    scope = CpuEstimateSensor(machine=host.machine()).scope
    assert (scope.n_cpus, scope.cpus) == (2, frozenset({6, 7}))


def test_a_quota_of_every_allowed_cpu_is_no_limit(tmp_path):
    host = _vm(tmp_path, cpus=2)
    host.set_cgroup_v2(cpu_max="200000 100000")
    scope = CpuEstimateSensor(machine=host.machine()).scope
    assert (scope.n_cpus, scope.detail, scope.busy_from_cgroup) == (2, "all 2 CPUs", False)


def test_a_quota_within_a_cpuset_with_its_usage_unreadable(tmp_path):
    host = _vm(tmp_path, cpus=16)
    host.set_cgroup_v2(cpu_max="200000 100000", cpuset="0-7")
    (tmp_path / "cgroup" / "cpu.stat").unlink()
    scope = CpuEstimateSensor(machine=host.machine()).scope
    assert (scope.n_cpus, scope.machine_cpus, scope.cpus) == (2.0, 16, frozenset(range(8)))
    assert scope.detail == (
        "cgroup v2 cpu.max '200000 100000': 2 of 16 CPUs (usage unreadable: the allowed CPUs' "
        "busy time)"
    )
    assert scope.busy_from_cgroup is False


def test_a_machine_without_cgroups_counts_its_cpus_and_installed_memory(tmp_path):
    host = _vm(tmp_path, cpus=4, memory_GB=8.0)
    (tmp_path / "proc" / "self" / "cgroup").unlink()
    machine = host.machine()
    scope = CpuEstimateSensor(machine=machine).scope
    assert (scope.n_cpus, scope.detail, scope.cgroup) == (4, "all 4 CPUs", None)
    assert DramSensor(scope=scope).model["basis"] == "8 GB installed"


def test_rapl_covers_the_whole_machine(tmp_path):
    from tests.fake_powercap import FakePowercap

    tree = FakePowercap(tmp_path / "rapl")
    tree.add_zone("intel-rapl:0", "package-0")
    node = _vm(tmp_path / "vm", cpus=4)
    node.set_cgroup_v2(cpu_max="100000 100000")  # RAPL still counts every CPU
    machine = node.machine()
    scope = discover(gpu_indices=[], powercap_root=str(tree.root), machine=machine).scope
    assert (scope.n_cpus, scope.machine_cpus, scope.cpus, scope.cgroup) == (4, 4, None, None)
    assert scope.machine is machine


def test_discovery_meters_the_asked_gpus_before_the_node(tmp_path, monkeypatch):
    from tests.fake_nvml import FakeNvml, fake_gpu

    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setenv("CUDA_DEVICE_ORDER", "PCI_BUS_ID")
    nvml = FakeNvml([fake_gpu(k, counter_mJ=lambda t: 0) for k in range(2)])
    vm = _vm(tmp_path / "vm", cpus=2)
    (tmp_path / "p").mkdir()
    found = discover([1], nvml=nvml, powercap_root=str(tmp_path / "p"), machine=vm.machine())
    assert [c.device for c in found.choices] == ["gpu:1", "cpu", "dram"]
    assert [s.device for s in found.sensors] == ["gpu:1", "cpu", "dram"]
    assert found.lines().split("\n") == [c.line for c in found.choices]
    assert found.choices[0].line.startswith("gpu:1 NVIDIA H100 80GB HBM3: NVML energy counter")
    every = discover(nvml=nvml, node_level=False)
    assert [c.device for c in every.choices] == ["gpu:0", "gpu:1"]
    for sensor in found.sensors + every.sensors:
        sensor.close()
