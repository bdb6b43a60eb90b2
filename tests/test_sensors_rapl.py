"""RAPL sensors against a fake powercap tree: exact joules, wraps, resets, zone selection."""

from __future__ import annotations

import errno
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from lightning_carbon.sensors import rapl
from lightning_carbon.sensors.base import SensorUnavailable
from lightning_carbon.sensors.discovery import VM_RAPL, discover
from lightning_carbon.sensors.rapl import MAX_ZONE_POWER_W, RaplSensor, discover_rapl
from tests.fake_machine import FakeMachine
from tests.fake_powercap import FakePowercap, INTEL_RANGE_uJ
from tests.fakes import FakeClock

PACKAGE = "intel-rapl:0"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(100.0)


@pytest.fixture
def tree(tmp_path: Path) -> FakePowercap:
    return FakePowercap(tmp_path)


def package_sensor(
    tree: FakePowercap, clock: FakeClock, energy_uJ: int, max_range_uJ: int = INTEL_RANGE_uJ
) -> RaplSensor:
    """A started sensor on a tree with a single package zone."""
    tree.add_zone(PACKAGE, "package-0", energy_uJ=energy_uJ, max_range_uJ=max_range_uJ)
    (sensor,) = discover_rapl(tree.root, clock=clock).sensors
    sensor.start()
    return sensor


def poll_at(tree: FakePowercap, clock: FakeClock, sensor, energy_uJ: int, after_s=1.0) -> None:
    clock.advance(after_s)
    tree.set_energy(PACKAGE, energy_uJ)
    sensor.poll()


def deny(monkeypatch, denied: Callable[[Path], bool]) -> None:
    """Reading a file for which ``denied(path)`` holds raises PermissionError, as for non-root."""
    real_read_text = Path.read_text

    def read_text(path: Path, *args, **kwargs) -> str:
        if denied(path):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_read_text(path, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", read_text)


def energy_of(zone: str) -> Callable[[Path], bool]:
    """Only that zone's ``energy_uj`` (names and ranges stay world-readable, as in sysfs)."""
    return lambda path: path.name == "energy_uj" and path.parent.name == zone


def devices(found) -> list[str]:
    return [sensor.device for sensor in found.sensors]


# --- energy ---------------------------------------------------------------------------------


def test_joules_are_the_counter_difference_in_microjoules(tree, clock):
    sensor = package_sensor(tree, clock, energy_uJ=5_000_000)
    poll_at(tree, clock, sensor, 7_500_000)
    clock.advance(1.0)
    tree.set_energy(PACKAGE, 12_000_123)
    assert sensor.energy_J() == 7.000123
    assert sensor.energy_J() == 7.000123  # reading again adds nothing
    assert (sensor.component, sensor.device, sensor.provenance) == (
        "cpu",
        "cpu:package-0",
        "measured",
    )
    assert sensor.description == "cpu:package-0: RAPL package counter (measured)"
    assert sensor.poll_interval_s == rapl.POLL_INTERVAL_S <= 1.0


def test_a_window_spanning_three_wraps_is_exact_when_polled_once_per_wrap(tree, clock):
    sensor = package_sensor(tree, clock, energy_uJ=600_000, max_range_uJ=1_000_000)
    poll_at(tree, clock, sensor, 900_000)
    window_begin_J = sensor.energy_J()  # 0.3 J
    for counter_uJ in (200_000, 700_000, 100_000, 950_000, 50_000):  # wraps 1, 2 and 3
        poll_at(tree, clock, sensor, counter_uJ)
    clock.advance(1.0)
    tree.set_energy(PACKAGE, 300_000)
    window_end_J = sensor.energy_J()
    # 300k + 500k + 400k + 850k + 100k + 250k uJ
    assert window_end_J - window_begin_J == pytest.approx(2.4, abs=1e-12)
    assert window_end_J == 2.7


def test_a_wrap_near_the_top_of_a_large_range_is_a_wrap(tree, clock):
    sensor = package_sensor(tree, clock, energy_uJ=INTEL_RANGE_uJ - 200_000_000)
    poll_at(tree, clock, sensor, 100_000_000)  # 300 J in 1 s: plausible
    assert sensor.energy_J() == 300.0


def test_a_counter_restarted_from_zero_counts_its_new_value(tree, clock):
    sensor = package_sensor(tree, clock, energy_uJ=100_000_000_000)
    # a wrap would mean 162 kJ in 1 s; 150 J since a restart from 0 is plausible
    poll_at(tree, clock, sensor, 150_000_000)
    poll_at(tree, clock, sensor, 400_000_000)
    assert sensor.energy_J() == 400.0


def test_a_backward_step_that_nothing_explains_counts_nothing_and_reading_resumes(tree, clock):
    sensor = package_sensor(tree, clock, energy_uJ=100_000_000_000)
    poll_at(tree, clock, sensor, 99_000_000_000)  # neither a wrap nor a restart within 1 s
    poll_at(tree, clock, sensor, 99_000_250_000)
    assert sensor.energy_J() == 0.25


@pytest.mark.parametrize(("gap_s", "expected_J"), [(1.0, 0.0), (300.0, 172_143.32885)])
def test_the_wrap_ceiling_grows_with_the_time_between_reads(tree, clock, gap_s, expected_J):
    sensor = package_sensor(tree, clock, energy_uJ=100_000_000_000)
    poll_at(tree, clock, sensor, 10_000_000_000, after_s=gap_s)
    wrapped_J = (INTEL_RANGE_uJ - 100_000_000_000 + 10_000_000_000) / 1e6
    assert (wrapped_J <= MAX_ZONE_POWER_W * gap_s) == (expected_J > 0)
    assert sensor.energy_J() == expected_J


class OverlapClock(FakeClock):
    """A fake clock that lingers in each call and records how many threads were inside at once."""

    def __init__(self) -> None:
        super().__init__(100.0)
        self.inside = self.most_inside = 0
        self._count = threading.Lock()

    def __call__(self) -> float:
        with self._count:
            self.inside += 1
            self.most_inside = max(self.most_inside, self.inside)
        time.sleep(0.002)  # let other threads run: without the sensor's lock they would enter
        with self._count:
            self.inside -= 1
        return self.now_s


def test_concurrent_polls_and_reads_are_serialised_and_count_once(tree):
    clock = OverlapClock()
    sensor = package_sensor(tree, clock, energy_uJ=0)
    tree.set_energy(PACKAGE, 1_000_000)
    clock.advance(1.0)
    threads = [threading.Thread(target=sensor.poll) for _ in range(10)]
    threads += [threading.Thread(target=sensor.energy_J) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert clock.most_inside == 1
    assert sensor.energy_J() == 1.0


def test_reading_before_start_is_an_error(tree, clock):
    tree.add_zone(PACKAGE, "package-0")
    (sensor,) = discover_rapl(tree.root, clock=clock).sensors
    with pytest.raises(RuntimeError, match="call start"):
        sensor.energy_J()


def test_a_counter_that_disappears_mid_run_makes_the_sensor_unavailable(tree, clock):
    sensor = package_sensor(tree, clock, energy_uJ=0)
    tree.path(PACKAGE, "energy_uj").unlink()
    clock.advance(1.0)
    with pytest.raises(SensorUnavailable, match=r"cannot read .*energy_uj: No such file"):
        sensor.poll()


def test_component_must_be_cpu_or_dram(tree):
    zone_dir = tree.add_zone(PACKAGE, "package-0")
    with pytest.raises(ValueError, match="'gpu'"):
        RaplSensor(zone_dir, component="gpu", package="package-0")


# --- which zones count ----------------------------------------------------------------------


def test_package_and_dram_are_counted_core_and_uncore_are_not(tree, clock):
    tree.add_zone(PACKAGE, "package-0", energy_uJ=1_000_000)
    tree.add_zone("intel-rapl:0:0", "core", energy_uJ=7_000_000)
    tree.add_zone("intel-rapl:0:1", "uncore", energy_uJ=8_000_000)
    tree.add_zone("intel-rapl:0:2", "dram", energy_uJ=2_000_000)
    found = discover_rapl(tree.root, clock=clock)
    assert devices(found) == ["cpu:package-0", "dram:package-0"]
    assert [choice.line for choice in found.choices] == [
        "cpu:package-0: RAPL package counter (measured)",
        "dram:package-0: RAPL dram counter (measured)",
    ]
    assert [c.provenance for c in found.choices] == ["measured", "measured"]
    assert found.components == {"cpu", "dram"} and found.reason is None
    package, dram = found.sensors
    for sensor in found.sensors:
        sensor.start()
    clock.advance(1.0)
    for zone, counter_uJ in [
        (PACKAGE, 41_000_000),
        ("intel-rapl:0:0", 37_000_000),
        ("intel-rapl:0:2", 7_000_000),
    ]:
        tree.set_energy(zone, counter_uJ)
    assert (package.energy_J(), dram.energy_J()) == (40.0, 5.0)
    assert dram.component == "dram"


def test_psys_and_the_mmio_copy_of_the_package_are_not_counted(tree, clock):
    tree.add_zone(PACKAGE, "package-0")
    tree.add_zone("intel-rapl:1", "psys")
    tree.add_zone("intel-rapl-mmio:0", "package-0")
    found = discover_rapl(tree.root, clock=clock)
    assert devices(found) == ["cpu:package-0"]
    assert found.components == {"cpu"} and found.reason is None


def test_every_socket_gets_its_package_and_dram_sensor(tree, clock):
    for socket in (0, 1):
        tree.add_zone(f"intel-rapl:{socket}", f"package-{socket}", energy_uJ=0)
        tree.add_zone(f"intel-rapl:{socket}:0", "core")
        tree.add_zone(f"intel-rapl:{socket}:1", "dram", energy_uJ=0)
    found = discover_rapl(tree.root, clock=clock)
    assert devices(found) == ["cpu:package-0", "dram:package-0", "cpu:package-1", "dram:package-1"]
    for sensor in found.sensors:
        sensor.start()
    clock.advance(1.0)
    for zone, counter_uJ in [
        ("intel-rapl:0", 1),
        ("intel-rapl:0:1", 2),
        ("intel-rapl:1", 3),
        ("intel-rapl:1:1", 4),
    ]:
        tree.set_energy(zone, counter_uJ * 1_000_000)
    assert [sensor.energy_J() for sensor in found.sensors] == [1.0, 2.0, 3.0, 4.0]


def test_zones_are_ordered_by_number_and_dies_are_their_own_devices(tree, clock):
    for index in (10, 2):
        tree.add_zone(f"intel-rapl:{index}", f"package-0-die-{index}")
    assert devices(discover_rapl(tree.root, clock=clock)) == [
        "cpu:package-0-die-2",
        "cpu:package-0-die-10",
    ]


def test_an_amd_package_without_dram_covers_the_cpu_only(tree, clock):
    tree.add_zone(PACKAGE, "package-0", max_range_uJ=65_532_610_987)
    tree.add_zone("intel-rapl:0:0", "core")
    found = discover_rapl(tree.root, clock=clock)
    assert devices(found) == ["cpu:package-0"]
    assert found.components == {"cpu"} and found.reason is None


# --- not available ----------------------------------------------------------------------------


def test_permission_denied_leaves_rapl_unavailable_with_the_reason(tree, clock, monkeypatch):
    tree.add_zone(PACKAGE, "package-0")
    tree.add_zone("intel-rapl:0:0", "dram")
    deny(monkeypatch, lambda path: path.name == "energy_uj")
    found = discover_rapl(tree.root, clock=clock)
    assert (found.sensors, found.choices, found.components) == ([], [], frozenset())
    package_counter = tree.root / PACKAGE / "energy_uj"
    dram_counter = tree.root / PACKAGE / "intel-rapl:0:0" / "energy_uj"
    assert found.reason == (
        f"permission denied reading {package_counter}, root-only since Linux 5.10; "
        f"permission denied reading {dram_counter}, root-only since Linux 5.10"
    )


def test_an_unreadable_dram_zone_leaves_the_packages_measured(tree, clock, monkeypatch):
    tree.add_zone(PACKAGE, "package-0")
    tree.add_zone("intel-rapl:0:0", "dram")
    deny(monkeypatch, energy_of("intel-rapl:0:0"))
    found = discover_rapl(tree.root, clock=clock)
    assert devices(found) == ["cpu:package-0"]
    assert found.components == {"cpu"}
    dram_counter = tree.root / PACKAGE / "intel-rapl:0:0" / "energy_uj"
    assert found.reason == f"permission denied reading {dram_counter}, root-only since Linux 5.10"


def test_one_unreadable_socket_leaves_the_whole_cpu_to_the_estimate(tree, clock, monkeypatch):
    for socket in (0, 1):
        tree.add_zone(f"intel-rapl:{socket}", f"package-{socket}")
        tree.add_zone(f"intel-rapl:{socket}:0", "dram")
    deny(monkeypatch, energy_of("intel-rapl:1"))
    found = discover_rapl(tree.root, clock=clock)
    assert devices(found) == ["dram:package-0", "dram:package-1"]
    assert found.components == {"dram"}
    socket_1_counter = tree.root / "intel-rapl:1" / "energy_uj"
    assert found.reason == (
        f"permission denied reading {socket_1_counter}, root-only since Linux 5.10"
    )


def test_a_counter_that_is_not_a_number_is_a_reason(tree, clock):
    tree.add_zone(PACKAGE, "package-0")
    tree.path(PACKAGE, "energy_uj").write_text("n/a\n")
    found = discover_rapl(tree.root, clock=clock)
    assert found.sensors == [] and found.components == frozenset()
    assert found.reason == f"{tree.root / PACKAGE / 'energy_uj'} holds 'n/a', not an integer"


def test_an_empty_tree_has_no_rapl(tree, clock):
    tree.add_zone("intel-rapl:0", "psys")
    found = discover_rapl(tree.root, clock=clock)
    assert (found.sensors, found.components) == ([], frozenset())
    assert found.reason == f"no RAPL package zone in {tree.root}"


def test_no_tree_at_the_default_root_means_unavailable(tmp_path, monkeypatch):
    absent = tmp_path / "sys" / "class" / "powercap"
    monkeypatch.setattr(rapl, "DEFAULT_ROOT", str(absent))
    found = discover_rapl()
    assert (found.sensors, found.choices, found.components) == ([], [], frozenset())
    assert found.reason == f"no powercap tree at {absent}: not Linux, or hidden in a container"


@pytest.mark.parametrize("make", [lambda p: p / "absent", lambda p: p / "file"])
def test_an_explicit_root_that_is_not_a_directory_is_a_value_error(tmp_path, make):
    (tmp_path / "file").write_text("")
    bad = make(tmp_path)
    with pytest.raises(ValueError, match=re.escape(repr(str(bad)))):
        discover_rapl(bad)


def test_discovery_falls_back_to_estimates_and_quotes_the_reason(tree, monkeypatch, tmp_path):
    vm = FakeMachine(tmp_path / "machine", name="AMD EPYC", family=25, model=1, cpus=2)
    tree.add_zone(PACKAGE, "package-0")
    deny(monkeypatch, lambda path: path.name == "energy_uj")
    found = discover(gpu_indices=[], powercap_root=str(tree.root), machine=vm.machine())
    assert [s.provenance for s in found.sensors] == ["estimated", "estimated"]
    cpu_line, dram_line = (c.line for c in found.choices)
    assert cpu_line.startswith(
        f"cpu: RAPL unreadable (permission denied reading {tree.root / PACKAGE / 'energy_uj'}, "
        "root-only since Linux 5.10) -> W = 2 vCPUs x (min + u x (max - min))"
    )
    assert dram_line.startswith("dram: RAPL unreadable (permission denied")
    assert found.scope.detail == "all 2 CPUs"


@pytest.mark.parametrize("in_vm", [True, False])
def test_a_rapl_counter_seen_in_a_vm_is_the_hosts(tree, tmp_path, in_vm):
    machine = FakeMachine(tmp_path / "machine", hypervisor=in_vm, cpus=4)
    tree.add_zone(PACKAGE, "package-0")
    tree.add_zone("intel-rapl:0:0", "dram")
    found = discover(gpu_indices=[], powercap_root=str(tree.root), machine=machine.machine())
    assert [(s.device, s.node_wide) for s in found.sensors] == [
        ("cpu:package-0", True),
        ("dram:package-0", True),
    ]
    note = VM_RAPL if in_vm else None
    assert [s.shared for s in found.sensors] == [note, note]
    assert [c.shared for c in found.choices] == [note, note]
    suffix = f" [{VM_RAPL}]" if in_vm else ""
    assert found.choices[0].line == f"cpu:package-0: RAPL package counter (measured){suffix}"
    assert VM_RAPL == (
        "seen inside a VM (hypervisor CPU flag): this RAPL counter is the host's, "
        "shared with every VM on it"
    )
    # RAPL covers every CPU of the machine: attribution splits by the whole machine's busy time
    assert (found.scope.n_cpus, found.scope.cpus, found.scope.detail) == (4, None, "all 4 CPUs")


# --- edges of the rules, and what discovery hands on ------------------------------------------


@pytest.mark.parametrize(
    ("last_uJ", "now_uJ", "ceiling_uJ", "counted_uJ"),
    [
        (5, 5, 1_000, 0),  # no change is no energy, not a whole wrap
        (90, 10, 20, 20),  # a wrap of exactly the ceiling is still a wrap
        (90, 50, 50, 50),  # a restart to exactly the ceiling is still a restart
        (90, 51, 50, 0),
    ],
)
def test_the_wrap_and_restart_rules_at_their_edges(last_uJ, now_uJ, ceiling_uJ, counted_uJ):
    assert rapl._energy_since_uJ(last_uJ, now_uJ, 100, ceiling_uJ) == counted_uJ


@pytest.mark.parametrize("max_range_uJ", [0, -5])
def test_a_zone_without_a_positive_range_is_unavailable(tree, clock, max_range_uJ):
    tree.add_zone(PACKAGE, "package-0", max_range_uJ=max_range_uJ)
    found = discover_rapl(tree.root, clock=clock)
    range_path = tree.root / PACKAGE / "max_energy_range_uj"
    assert found.reason == f"{range_path} holds {max_range_uJ}, not a range > 0"
    assert discover_rapl(tree.root, clock=clock).sensors == []


def test_a_range_of_one_microjoule_is_a_range(tree, clock):
    sensor = package_sensor(tree, clock, energy_uJ=0, max_range_uJ=1)
    assert (sensor.max_range_uJ, sensor.energy_J()) == (1, 0.0)


def test_a_tree_that_cannot_be_listed_is_the_reason(tree, clock, monkeypatch):
    real_iterdir = Path.iterdir

    def iterdir(path):
        if path == tree.root:
            raise OSError(errno.EIO, "Input/output error")
        return real_iterdir(path)

    monkeypatch.setattr(Path, "iterdir", iterdir)
    found = discover_rapl(tree.root, clock=clock)
    assert found.reason == f"cannot read {tree.root}: Input/output error"


def test_only_the_counter_file_is_root_only():
    denied = PermissionError(errno.EACCES, "Permission denied")
    assert rapl._unreadable(Path("/z/name"), denied) == "permission denied reading /z/name"


def test_a_zone_name_that_is_not_utf8_is_read_with_replacements(tree, clock):
    zone = tree.add_zone(PACKAGE, "package-0")
    (zone / "name").write_bytes(b"package-\xff\n")
    tree.add_zone("intel-rapl:1", "package-1")
    assert devices(discover_rapl(tree.root, clock=clock)) == ["cpu:package-1"]


def test_discovered_counters_and_estimates_run_on_the_machines_clock(tree, tmp_path):
    node = FakeMachine(tmp_path / "node", cpus=2, memory_GB=10.0)
    tree.add_zone(PACKAGE, "package-0", energy_uJ=100_000_000_000)
    found = discover(gpu_indices=[], powercap_root=str(tree.root), machine=node.machine())
    package, dram = found.sensors
    assert found.choices[1].line.startswith("dram: no RAPL dram counter -> estimate 10 GB")
    for sensor in found.sensors:
        sensor.start()
    node.clock.advance(2.0)
    tree.set_energy(PACKAGE, 150_000_000)  # a restart: plausible in 2 s of the machine's clock
    assert package.energy_J() == 150.0
    assert dram.energy_J() == pytest.approx(10.0 * 0.392 * 2.0)


def test_without_a_package_zone_the_cpu_is_estimated_and_says_so(tree, tmp_path):
    node = FakeMachine(tmp_path / "node", cpus=2)
    tree.add_zone(PACKAGE, "psys")
    found = discover(gpu_indices=[], powercap_root=str(tree.root), machine=node.machine())
    assert [c.line.split(" -> ")[0] for c in found.choices] == [
        f"cpu: RAPL unreadable (no RAPL package zone in {tree.root})",
        f"dram: RAPL unreadable (no RAPL package zone in {tree.root})",
    ]


def test_a_wrap_one_microjoule_above_the_ceiling_is_not_a_wrap(tree, clock):
    # 1000 W for 1 s allows 1e9 uJ: a wrap of 1e9 + 1 uJ is taken for a restart (5 uJ)
    sensor = package_sensor(tree, clock, energy_uJ=INTEL_RANGE_uJ - 1_000_000_000 + 4)
    poll_at(tree, clock, sensor, 5)
    assert sensor.energy_J() == 5e-6


def test_rapl_choices_name_each_counter(tree, clock):
    tree.add_zone(PACKAGE, "package-0")
    tree.add_zone("intel-rapl:0:0", "dram")
    found = discover_rapl(tree.root, clock=clock)
    assert [(c.component, c.device, c.provenance, c.line) for c in found.choices] == [
        ("cpu", "cpu:package-0", "measured", "cpu:package-0: RAPL package counter (measured)"),
        ("dram", "dram:package-0", "measured", "dram:package-0: RAPL dram counter (measured)"),
    ]
