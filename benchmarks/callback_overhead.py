"""Training-time overhead of CarbonCallback, beside CodeCarbon and Carbontracker.

Trains the demo U-Net on synthetic nuclei on the CPU, the same seed every run, without any
metering (baseline) and under each tool: ``CarbonCallback(country="DNK")``, CodeCarbon's
``OfflineEmissionsTracker`` started and stopped around ``fit``, and Carbontracker's
``epoch_start``/``epoch_end`` called from a small Lightning callback. Every repeat runs all of
them, in alternating order (A B C D, D C B A, ...), after one warm-up run. A tool's wall ratio
is the median over repeats of its wall time over the baseline's in the same repeat; its CPU
ratio, the same with the process's CPU time (all threads), which other processes on the
machine disturb less. A run's time covers what the user pays: building the tool, the Trainer
and the model, and ``fit``. "In tool" is the time on the training thread inside the tool (its
hooks, its start and stop); its background threads are not in it, but are in the run times.

Targets: CarbonCallback's ratio <= 1.01 (goal <= 1.005); its construction + ``setup`` (sensor
discovery, intensity table, records folder; no network) < 50 ms. CodeCarbon and Carbontracker
(the ``bench`` extra) are shown for comparison; Carbontracker always asks ipinfo.io for the
location (no argument turns that off) and, offline, falls back to the world average.

Then one more run is metered by an ``EnergyMeter`` and CodeCarbon at once, to compare the CPU
figures of the same training: our mean CPU power and energy (this job's share and the whole
machine's), CodeCarbon's, and the band of our CPU model (its idle and full-load power).
Targets where the CPU is estimated: the machine's CPU power within that band, and within 2x
of CodeCarbon's.

Run from the repository root with the package and its ``demo`` and ``bench`` extras::

    python benchmarks/callback_overhead.py            # about 20 s per run, 3 repeats: ~5 min
    python benchmarks/callback_overhead.py --quick    # about 3 s per run, 1 repeat
"""

from __future__ import annotations

import argparse
import functools
import logging
import os
import platform
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback

from lightning_carbon import CarbonCallback, EnergyMeter
from lightning_carbon.demo import SegmentationModule, demo_datamodule
from lightning_carbon.sensors.machine import read_cpu_name

RATIO_TARGET = 1.01
RATIO_GOAL = 1.005
SETUP_TARGET_MS = 50.0
CODECARBON_FACTOR = 2.0
COUNTRY = "DNK"
BENCH_EXTRA = "skipped (install lightning-carbon[bench])"

_SIZES = {
    "images": (768, 256, "synthetic images"),
    "epochs": (10, 4, "epochs per run"),
    "repeats": (3, 1, "runs per tool"),
    "setups": (10, 3, "CarbonCallback setups timed"),
}
"""Option: (default, default with --quick, help)."""

Fit = Callable[[list[Callback]], None]


class _Skipped(Exception):
    """A tool that cannot run here; ``str()`` says why."""


class _Stopwatch:
    """Adds up the seconds spent in ``with`` blocks and in the hooks of wrapped callbacks."""

    def __init__(self) -> None:
        self.total_s = 0.0
        self._start_s = 0.0

    def __enter__(self) -> _Stopwatch:
        self._start_s = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.total_s += time.perf_counter() - self._start_s

    def wrap(self, callback: Callback) -> Callback:
        """Time every Lightning hook the callback's class defines."""
        for name, method in vars(type(callback)).items():
            if callable(method) and not name.startswith("_") and hasattr(Callback, name):
                setattr(callback, name, self._timed(getattr(callback, name)))
        return callback

    def _timed(self, hook: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(hook)
        def timed(*args: Any, **kwargs: Any) -> Any:
            with self:
                return hook(*args, **kwargs)

        return timed


# -- the tools: each runs ``fit`` under its metering and times its own work ----------------


def _baseline(fit: Fit, epochs: int, clock: _Stopwatch, tmp: str) -> None:
    fit([])


def _carbon_callback(fit: Fit, epochs: int, clock: _Stopwatch, tmp: str) -> None:
    with clock:
        callback = CarbonCallback(country=COUNTRY, output_dir=tmp)
    fit([clock.wrap(callback)])


def _codecarbon(fit: Fit, epochs: int, clock: _Stopwatch, tmp: str) -> None:
    try:
        from codecarbon import OfflineEmissionsTracker
    except ImportError:
        raise _Skipped(BENCH_EXTRA) from None
    with clock:
        tracker = OfflineEmissionsTracker(
            country_iso_code=COUNTRY, log_level="error", save_to_file=False
        )
        tracker.start()
    try:
        fit([])
    finally:
        with clock:
            tracker.stop()


class _CarbontrackerHooks(Callback):
    def __init__(self, tracker: Any) -> None:
        self.tracker = tracker

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.tracker.epoch_start()

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.tracker.epoch_end()

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.tracker.stop()


def _carbontracker(fit: Fit, epochs: int, clock: _Stopwatch, tmp: str) -> None:
    try:
        from carbontracker.tracker import CarbonTracker
    except ImportError:
        raise _Skipped(BENCH_EXTRA) from None
    with clock:
        # ignore_errors: on a failure it stops metering instead of calling sys.exit(70)
        tracker = CarbonTracker(
            epochs=epochs, monitor_epochs=-1, verbose=0, log_dir=tmp, ignore_errors=True
        )
    if tracker.deleted:
        raise _Skipped("skipped: Carbontracker could not start here (its error is printed above)")
    fit([clock.wrap(_CarbontrackerHooks(tracker))])


TOOLS = {
    "baseline": _baseline,
    "CarbonCallback": _carbon_callback,
    "CodeCarbon": _codecarbon,
    "Carbontracker": _carbontracker,
}


# -- the workload ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Workload:
    filters: int
    images: int
    size: int
    batch_size: int
    epochs: int

    def describe(self) -> str:
        return (
            f"demo U-Net F={self.filters}, {self.images} images of {self.size} px, "
            f"batch {self.batch_size}, {self.epochs} epoch(s) per run"
        )

    def data(self) -> pl.LightningDataModule:
        return demo_datamodule(n_images=self.images, size=self.size, batch_size=self.batch_size)

    def fit(self, callbacks: list[Callback], data: pl.LightningDataModule, root_dir: str) -> None:
        pl.seed_everything(0, verbose=False)
        trainer = pl.Trainer(
            max_epochs=self.epochs,
            accelerator="cpu",
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            default_root_dir=root_dir,
            callbacks=callbacks,
        )
        trainer.fit(SegmentationModule(filters=self.filters), data)


@dataclass
class _Runs:
    """One tool's runs: wall seconds, process CPU seconds (all threads), seconds inside it."""

    wall_s: list[float] = field(default_factory=list)
    cpu_s: list[float] = field(default_factory=list)
    inside_s: list[float] = field(default_factory=list)
    skipped: str | None = None

    def ratios(self, baseline: _Runs, times: str) -> list[float]:
        """Each repeat's ``times`` ("wall_s" or "cpu_s") over the baseline's of that repeat."""
        pairs = zip(getattr(self, times), getattr(baseline, times), strict=True)
        return [mine / base for mine, base in pairs]


def _run(workload: _Workload, data: pl.LightningDataModule, tool: str, runs: _Runs) -> None:
    """One run under ``tool``, added to ``runs``."""
    clock = _Stopwatch()
    with tempfile.TemporaryDirectory() as tmp:
        start_s, start_cpu_s = time.perf_counter(), time.process_time()
        TOOLS[tool](
            lambda callbacks: workload.fit(callbacks, data, tmp), workload.epochs, clock, tmp
        )
        runs.wall_s.append(time.perf_counter() - start_s)
        runs.cpu_s.append(time.process_time() - start_cpu_s)
        runs.inside_s.append(clock.total_s)


# -- the measurements ------------------------------------------------------------------------


def _setup_times_ms(count: int) -> list[float]:
    """Construction + ``setup`` of CarbonCallback, in ms; the first is the cold one."""
    model = SegmentationModule(filters=8)
    times_ms = []
    for _ in range(count):
        with tempfile.TemporaryDirectory() as tmp:
            trainer = pl.Trainer(
                accelerator="cpu", logger=False, default_root_dir=tmp, enable_progress_bar=False
            )
            start_s = time.perf_counter()
            callback = CarbonCallback(country=COUNTRY)
            callback.setup(trainer, model, "fit")
            times_ms.append((time.perf_counter() - start_s) * 1000)
            callback.teardown(trainer, model, "fit")
    return times_ms


def _cpu_comparison(workload: _Workload, data: pl.LightningDataModule) -> list[str]:
    """One run metered by an EnergyMeter and CodeCarbon at once: their CPU figures."""
    tracker = None
    try:
        from codecarbon import OfflineEmissionsTracker

        tracker = OfflineEmissionsTracker(
            country_iso_code=COUNTRY, log_level="error", save_to_file=False
        )
    except ImportError:
        pass
    with tempfile.TemporaryDirectory() as tmp, EnergyMeter(gpu_indices=[]) as meter:
        if tracker is not None:
            tracker.start()
        try:
            workload.fit([], data, tmp)
        finally:
            if tracker is not None:
                tracker.stop()
    reading = meter.result
    cpu = next(c for c in meter.choices if c.component == "cpu")
    seconds = reading.duration_s
    ours_J = reading.energy_J_by_component.get("cpu", 0.0)
    machine_J = reading.machine_energy_J_by_component.get("cpu", 0.0)
    lines = [
        f"  lightning-carbon ({cpu.provenance}): {ours_J / seconds:.3g} W and "
        f"{ours_J / 3.6e6:.3g} kWh for this job; {machine_J / seconds:.3g} W and "
        f"{machine_J / 3.6e6:.3g} kWh for the machine ({reading.duration_s:.1f} s)",
        f"    {reading.attribution.get('description', '')}",
    ]
    if cpu.model is None:
        lines.append(f"    CPU measured: {cpu.line}")
    else:
        low_W, high_W = cpu.model["idle_W"], cpu.model["max_W"]
        in_band = low_W <= machine_J / seconds <= high_W
        lines += [
            f"    model {cpu.model['name']}: {cpu.model['formula']}; "
            f"coefficients {cpu.model['coefficients']}",
            f"    band {low_W:.3g}-{high_W:.3g} W [{cpu.model['basis']}; {cpu.model['source']}]: "
            f"machine's CPU power within it: {_verdict(in_band)}",
        ]
    if tracker is None:
        lines.append(f"  CodeCarbon: {BENCH_EXTRA}")
        return lines
    theirs = tracker.final_emissions_data
    ratio = (machine_J / seconds) / theirs.cpu_power if theirs.cpu_power else float("inf")
    lines.append(
        f"  CodeCarbon {_version('codecarbon')}: {theirs.cpu_power:.3g} W and "
        f"{theirs.cpu_energy:.3g} kWh for the CPU ({theirs.duration:.1f} s); ours (machine) / "
        f"theirs = {ratio:.2f}, within {CODECARBON_FACTOR:g}x: "
        f"{_verdict(1 / CODECARBON_FACTOR <= ratio <= CODECARBON_FACTOR)}"
    )
    return lines


def _version(package: str) -> str:
    from importlib.metadata import version

    return version(package)


def _load(start: tuple[float, float, float]) -> str:
    """The machine's load around the benchmark, to judge how far other work disturbed it."""
    return (
        f"load average (1 min) at the start {start[0]:.2f}, at the end {os.getloadavg()[0]:.2f}, "
        f"on {os.cpu_count()} logical CPUs; the training itself adds about "
        f"{torch.get_num_threads()}: more means other processes competed, and the ratios are "
        "noisier"
    )


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def _interleaved(workload: _Workload, repeats: int) -> dict[str, _Runs]:
    """Every tool once per repeat, in alternating order, after a warm-up run."""
    runs = {tool: _Runs() for tool in TOOLS}
    data = workload.data()
    print("warm-up run (baseline, not counted)", flush=True)
    _run(workload, data, "baseline", _Runs())
    for repeat in range(repeats):
        for tool in list(TOOLS) if repeat % 2 == 0 else list(reversed(TOOLS)):
            if runs[tool].skipped is not None:
                continue
            try:
                _run(workload, data, tool, runs[tool])
            except _Skipped as why:
                runs[tool].skipped = str(why)
                print(f"  repeat {repeat + 1}: {tool} {why}", flush=True)
                continue
            print(
                f"  repeat {repeat + 1}: {tool:<15} {runs[tool].wall_s[-1]:7.2f} s wall, "
                f"{runs[tool].cpu_s[-1]:7.2f} s CPU",
                flush=True,
            )
    return runs


def _target(tool: str, ratio: float) -> str:
    if tool == "baseline":
        return ""
    if tool != "CarbonCallback":
        return "(for comparison)"
    return (
        f"<= {RATIO_TARGET:g} {_verdict(ratio <= RATIO_TARGET)}, "
        f"goal <= {RATIO_GOAL:g} {_verdict(ratio <= RATIO_GOAL)}"
    )


def _table(runs: dict[str, _Runs]) -> list[str]:
    base = runs["baseline"]
    heads = " ".join(f"{f'run {i + 1} s':>9}" for i in range(len(base.wall_s)))
    lines = [
        f"  {'tool':<15} {heads} {'wall ratio':>10} {'range':>13} {'CPU ratio':>10} "
        f"{'in tool':>9} {'in tool %':>9}   target (wall ratio)"
    ]
    for tool, mine in runs.items():
        if mine.skipped is not None:
            lines.append(f"  {tool:<15} {mine.skipped}")
            continue
        wall = mine.ratios(base, "wall_s")
        ratio = statistics.median(wall)
        inside_s, base_s = statistics.median(mine.inside_s), statistics.median(base.wall_s)
        lines.append(
            f"  {tool:<15} {' '.join(f'{s:>9.2f}' for s in mine.wall_s)} {ratio:>10.4f} "
            f"{f'{min(wall):.3f}-{max(wall):.3f}':>13} "
            f"{statistics.median(mine.ratios(base, 'cpu_s')):>10.4f} "
            f"{inside_s * 1000:>6.0f} ms {100 * inside_s / base_s:>8.2f}%   "
            f"{_target(tool, ratio)}"
        )
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for option, (full, quick, what) in _SIZES.items():
        parser.add_argument(
            f"--{option}", type=int, help=f"{what} (default: {full}; with --quick: {quick})"
        )
    parser.add_argument("--filters", type=int, default=16, help="U-Net width F (default: 16)")
    parser.add_argument("--size", type=int, default=64, help="image side in px (default: 64)")
    parser.add_argument("--batch-size", type=int, default=16, help="batch size (default: 16)")
    parser.add_argument(
        "--threads", type=int, help="torch CPU threads (default: torch's, one per core)"
    )
    parser.add_argument("--quick", action="store_true", help="a smoke run of about a minute")
    args = parser.parse_args(argv)
    for option, (full, quick, _) in _SIZES.items():
        if getattr(args, option) is None:
            setattr(args, option, quick if args.quick else full)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    workload = _Workload(args.filters, args.images, args.size, args.batch_size, args.epochs)

    for name in ("pytorch_lightning", "lightning_fabric"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    print(
        f"callback overhead: {workload.describe()}, {args.repeats} repeat(s), on CPU "
        f"{read_cpu_name() or platform.processor()} ({torch.get_num_threads()} threads), "
        f"torch {torch.__version__}",
        flush=True,
    )
    start_load = os.getloadavg()
    setup_ms = _setup_times_ms(args.setups)
    runs = _interleaved(workload, args.repeats)
    print("CPU energy comparison run (EnergyMeter and CodeCarbon together)", flush=True)
    comparison = _cpu_comparison(workload, workload.data())

    warm = f", then median {statistics.median(setup_ms[1:]):.1f} ms" if len(setup_ms) > 1 else ""
    print(
        f"\nCarbonCallback construction + setup (no network): first {setup_ms[0]:.1f} ms{warm}; "
        f"target < {SETUP_TARGET_MS:g} ms: {_verdict(setup_ms[0] < SETUP_TARGET_MS)}"
    )
    print(
        "\nWall time per run; wall ratio = run / baseline of the same repeat (median, range); "
        "CPU ratio: the same with the process's CPU time (all threads); in tool: median time "
        "on the training thread inside the tool, and as % of the baseline's median run (the "
        "least noisy estimate of a tool's cost, background threads aside):"
    )
    print("\n".join(_table(runs)))
    print("\nCPU of one more run, metered by lightning-carbon and CodeCarbon at once:")
    print("\n".join(comparison))
    print(f"\n{_load(start_load)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
