"""Metering overhead: the cost of a window's edges and of the poller thread.

(a) One ``EnergyMeter.begin(name)`` + ``end(name)`` pair, in microseconds (median and p95 over
many windows); target: under 1 ms (judged on the pair's p95, so each edge is well under).
(b) The poller thread's CPU time while the main thread sleeps, as % of one core (per-thread
CPU clock, nanosecond resolution); target: under 0.5 %.

Each is measured with the sensors discovered on this machine and with two sensors that poll,
built from the library's real sensor classes over stand-ins for the hardware: a GPU without an
energy counter (``NvmlGpuSensor`` over an in-memory NVML whose calls return at once, power
polled every 100 ms) and RAPL package + dram counters (a powercap tree of plain files in a
temporary folder, read every 1 s). A real NVML call or sysfs read costs more than the stand-in.

Run from the repository root with the package installed::

    python benchmarks/meter_overhead.py            # 2000 windows, 10 s of polling per case
    python benchmarks/meter_overhead.py --quick    # 200 windows, 2 s
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from lightning_carbon.meter import EnergyMeter
from lightning_carbon.sensors.discovery import discover
from lightning_carbon.sensors.nvml import NvmlGpuSensor

EDGES_TARGET_US = 1000.0
POLLER_TARGET_PERCENT = 0.5
_POLLER_THREAD = "lightning-carbon-poller"


class _InstantNvml:
    """The few NVML calls a power-polled GPU sensor makes, answered at once (250 W)."""

    class NVMLError(Exception):
        pass

    def nvmlInit(self) -> None:
        pass

    def nvmlShutdown(self) -> None:
        pass

    def nvmlDeviceGetName(self, handle: object) -> str:
        return "stand-in GPU without energy counter"

    def nvmlDeviceGetTotalEnergyConsumption(self, handle: object) -> int:
        raise self.NVMLError("Not Supported")

    def nvmlDeviceGetPowerUsage(self, handle: object) -> int:
        return 250_000

    def nvmlDeviceIsMigDeviceHandle(self, handle: object) -> bool:
        return False

    def nvmlDeviceGetComputeRunningProcesses(self, handle: object) -> list[object]:
        return []


def _powercap_tree(root: Path) -> Path:
    """A RAPL package-0 zone with its dram subzone, as plain files under ``root``."""
    for zone, name in (("intel-rapl:0", "package-0"), ("intel-rapl:0/intel-rapl:0:0", "dram")):
        (root / zone).mkdir(parents=True)
        (root / zone / "name").write_text(f"{name}\n")
        (root / zone / "energy_uj").write_text("123456789\n")
        (root / zone / "max_energy_range_uj").write_text("262143328850\n")
    return root


def _meters(powercap_root: Path) -> list[tuple[str, Callable[[], EnergyMeter]]]:
    """(label, meter factory) of each case; a factory builds an unstarted meter."""
    return [
        ("this machine", EnergyMeter),
        (
            "this machine + polled GPU",
            lambda: EnergyMeter(
                [NvmlGpuSensor(0, "gpu0", nvml=_InstantNvml()), *discover(gpu_indices=[]).sensors]
            ),
        ),
        (
            "RAPL package + dram",
            lambda: EnergyMeter(gpu_indices=[], powercap_root=str(powercap_root)),
        ),
    ]


def _poll_interval_s(meter: EnergyMeter) -> float | None:
    """How often the poller wakes up (its most frequent sensor); ``None`` if nothing polls."""
    return min((s.poll_interval_s for s in meter.sensors if s.poll_interval_s), default=None)


def _sensors(meter: EnergyMeter) -> str:
    def every(interval_s: float | None) -> str:
        return "" if interval_s is None else f"; poller every {interval_s * 1000:g} ms"

    return ", ".join(
        f"{s.device} ({s.provenance}{every(s.poll_interval_s)})" for s in meter.sensors
    )


def _pair_times_us(meter: EnergyMeter, windows: int) -> list[float]:
    """Wall time of each begin+end pair in microseconds, after a short warm-up."""
    for _ in range(min(windows, 50)):
        meter.begin("warm-up")
        meter.end("warm-up")
    times_us = []
    for _ in range(windows):
        start_s = time.perf_counter()
        meter.begin("train_epoch")
        meter.end("train_epoch")
        times_us.append((time.perf_counter() - start_s) * 1e6)
    return times_us


def _poller_cpu_s(duration_s: float) -> float | None:
    """CPU seconds the poller thread uses while this thread sleeps; ``None`` if no poller runs."""
    poller = next((t for t in threading.enumerate() if t.name == _POLLER_THREAD), None)
    if poller is None or poller.ident is None:
        return None
    clock = time.pthread_getcpuclockid(poller.ident)
    start_s = time.clock_gettime(clock)
    time.sleep(duration_s)
    return time.clock_gettime(clock) - start_s


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def _p95(values: Sequence[float]) -> float:
    return statistics.quantiles(values, n=20)[-1]


def _measure(label: str, meter: EnergyMeter, windows: int, poll_s: float) -> tuple[str, str]:
    """This case's row of table (a) and of table (b); the poller runs during both."""
    times_us = _pair_times_us(meter, windows)
    median_us, p95_us = statistics.median(times_us), _p95(times_us)
    edges = f"  {label:<27} {median_us:>9.1f} {p95_us:>9.1f}   {_verdict(p95_us < EDGES_TARGET_US)}"
    cpu_s, interval_s = _poller_cpu_s(poll_s), _poll_interval_s(meter)
    if cpu_s is None or interval_s is None:
        return edges, f"  {label:<27} {'no sensor polls: no thread':>43}   PASS"
    percent = 100 * cpu_s / poll_s
    per_wake_us = cpu_s * 1e6 * interval_s / poll_s
    poller = (
        f"  {label:<27} {cpu_s * 1000:>9.2f}  {per_wake_us:>14.0f}  {percent:>12.4f} %   "
        f"{_verdict(percent < POLLER_TARGET_PERCENT)}"
    )
    return edges, poller


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--windows", type=int, default=2000, help="window pairs (default: 2000)")
    parser.add_argument(
        "--poll-s", type=float, default=10.0, help="seconds of polling per case (default: 10)"
    )
    parser.add_argument("--quick", action="store_true", help="200 windows, 2 s of polling")
    args = parser.parse_args(argv)
    windows, poll_s = (200, 2.0) if args.quick else (args.windows, args.poll_s)

    edge_rows, poller_rows = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for label, make in _meters(_powercap_tree(Path(tmp) / "powercap")):
            meter = make().start()
            try:
                print(f"{label}: {_sensors(meter)}", flush=True)
                edges, poller = _measure(label, meter, windows, poll_s)
            finally:
                meter.close()
            edge_rows.append(edges)
            poller_rows.append(poller)

    print(f"\n(a) one begin()+end() pair, {windows} windows; target: p95 < {EDGES_TARGET_US:g} us")
    print(f"  {'case':<27} {'median us':>9} {'p95 us':>9}   verdict")
    print("\n".join(edge_rows))
    print(
        f"\n(b) poller thread while the main thread sleeps {poll_s:g} s; "
        f"target: < {POLLER_TARGET_PERCENT:g} % of one core"
    )
    print(f"  {'case':<27} {'CPU ms':>9}  {'us per wake-up':>14}  {'of one core':>14}   verdict")
    print("\n".join(poller_rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
