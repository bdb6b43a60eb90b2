"""The six parts of the GPU check: each takes a :class:`Context` and returns a :class:`PartResult`.

1. ``lightning-carbon sensors`` and the devices as NVML sees them (name, driver, MIG mode).
2. The GPU-marked tests (``pytest -m gpu``).
3. NVML's energy counter against 100 ms polled power, both from the package's NVML sensor, on
   one steady load; the counter's update period; what windows under 1 s read.
4. One burst of kernels metered with and without ``synchronize()`` at the window edges.
5. ``CarbonCallback`` on the demo U-Net: GPU energy per epoch and its share of the epoch.
6. The precision A/B (``lightning_carbon.sweep.precision_sweep``) on the demo U-Net.

Torch, Lightning and the demo are imported inside the parts, so importing this module touches
neither CUDA nor NVML (``gpu_check.py`` forks one process per part).

Example::

    result = counter_against_power(Context(FakeRig(), DRY_SIZES, out, root, env, 60.0))
    print(result.table)
"""

from __future__ import annotations

import csv
import itertools
import json
import os
import statistics
import subprocess
import sys
import time
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gpu_check_rigs import CudaRig, FakeRig, PowerOnly, dry_sensor_factory

from lightning_carbon.meter import EnergyMeter
from lightning_carbon.reading import EnergyReading
from lightning_carbon.sensors.base import Sensor, SensorChoice
from lightning_carbon.units import J_PER_KWH

COUNTRY = "WORLD"
"""Grid intensity for the training parts: only their gCO2e depends on it."""


@dataclass(frozen=True)
class Sizes:
    """How long (s) and how big each part runs."""

    warm_s: float = 3.0
    period_s: float = 2.0
    short_windows_s: tuple[float, ...] = (0.05, 0.1, 0.25, 0.5)
    short_repeats: int = 5
    load_s: float = 60.0
    burst_s: float = 1.5
    burst_repeats: int = 3
    idle_s: float = 0.5
    filters: int = 32
    images: int = 2048
    size: int = 128
    batch_size: int = 32
    workers: int = 6
    epochs: int = 3
    ab_epochs: int = 3
    ab_repeats: int = 2
    ab_warmup: bool = True
    cooldown_s: float = 3.0


GPU_SIZES = Sizes()
DRY_SIZES = Sizes(
    warm_s=0.25,
    period_s=1.0,
    short_windows_s=(1 / 32, 1 / 8, 1 / 4, 1 / 2),
    short_repeats=4,
    load_s=2.0,
    burst_s=0.5,
    burst_repeats=2,
    idle_s=0.25,
    filters=4,
    images=16,
    size=32,
    batch_size=8,
    workers=0,
    ab_epochs=1,
    ab_repeats=1,
    ab_warmup=False,
    cooldown_s=0.0,
)
"""Fake-clock seconds are binary fractions, so the dry figures come out exact."""


@dataclass
class Context:
    """What a part runs on: the rig, the sizes, the output folder, the checkout, the
    environment for subprocesses, and the part's time limit in seconds."""

    rig: CudaRig | FakeRig
    sizes: Sizes
    out: Path
    root: Path
    env: dict[str, str]
    limit_s: float

    @property
    def dry(self) -> bool:
        return self.rig.dry


@dataclass
class PartResult:
    """A Markdown table, sentences under it, the raw figures, and ``ok`` or ``failed`` (the
    part ran and found a fault)."""

    table: str
    notes: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    status: str = "ok"


class PartSkipped(Exception):
    """The part cannot run here (no energy counter, no MONAI); ``str()`` says why."""


def markdown_table(headers: list[str], rows: list[list[Any]]) -> str:
    """A GitHub Markdown table.

    Example::

        >>> print(markdown_table(["a", "b"], [[1, 2]]))
        | a | b |
        |---|---|
        | 1 | 2 |
    """
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


# -- 1. sensors and device ---------------------------------------------------------------------


def sensors_and_device(ctx: Context) -> PartResult:
    """``lightning-carbon sensors`` as a user runs it, and each NVML device's facts."""
    cli = subprocess.run(
        [sys.executable, "-m", "lightning_carbon.cli", "sensors"],
        cwd=ctx.root,
        env=ctx.env,
        capture_output=True,
        text=True,
        timeout=max(ctx.limit_s - 10, 5),
    )
    devices, driver = _nvml_devices(ctx.rig.nvml)
    table = markdown_table(
        ["NVML index", "Name", "Driver", "MIG mode", "Energy counter (J)", "Power now (W)"],
        [
            [d["index"], d["name"], driver, d["mig_mode"], d["energy_counter_J"], d["power_W"]]
            for d in devices
        ],
    )
    try:
        _, choices = ctx.rig.discover([0])
        sensor_lines = [choice.line for choice in choices]
    except Exception as error:  # still report the rest
        sensor_lines = [f"discovery of CUDA device 0 failed: {error!r}"]
    torch_facts = _torch_facts()
    notes = [
        f"`lightning-carbon sensors` (exit code {cli.returncode}):\n\n```\n"
        f"{(cli.stdout + cli.stderr).strip()}\n```",
        "CUDA device 0 through the package's NVML discovery"
        + (" (the fake NVML of the dry run)" if ctx.dry else "")
        + ": "
        + "; ".join(sensor_lines),
        "torch: " + ", ".join(f"{key} {value}" for key, value in torch_facts.items()),
    ]
    return PartResult(
        table,
        notes,
        {
            "cli_exit_code": cli.returncode,
            "cli_output": cli.stdout,
            "cli_stderr": cli.stderr,
            "driver": driver,
            "devices": devices,
            "sensor_lines": sensor_lines,
            "torch": torch_facts,
        },
        "ok" if cli.returncode == 0 and devices else "failed",
    )


def _nvml_devices(nvml: Any) -> tuple[list[dict[str, Any]], str]:
    nvml.nvmlInit()
    try:
        driver = _ask(nvml, nvml.nvmlSystemGetDriverVersion)
        devices = []
        for index in range(nvml.nvmlDeviceGetCount()):
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            counter_mJ = _ask(nvml, nvml.nvmlDeviceGetTotalEnergyConsumption, handle)
            power_mW = _ask(nvml, nvml.nvmlDeviceGetPowerUsage, handle)
            devices.append(
                {
                    "index": index,
                    "name": nvml.nvmlDeviceGetName(handle),
                    "uuid": nvml.nvmlDeviceGetUUID(handle),
                    "mig_mode": _mig_mode(nvml, handle),
                    "energy_counter_J": _scaled(counter_mJ, 1e-3),
                    "power_W": _scaled(power_mW, 1e-3),
                }
            )
        return devices, driver
    finally:
        nvml.nvmlShutdown()


def _mig_mode(nvml: Any, handle: Any) -> str:
    modes = _ask(nvml, nvml.nvmlDeviceGetMigMode, handle)
    if isinstance(modes, str):
        return modes
    current, pending = ("enabled" if mode else "disabled" for mode in modes)
    return current if pending == current else f"{current} (pending: {pending})"


def _ask(nvml: Any, call: Any, *args: Any) -> Any:
    """The answer, or ``'not available (<NVML error>)'``."""
    try:
        return call(*args)
    except nvml.NVMLError as error:
        return f"not available ({error})"


def _scaled(value: Any, factor: float) -> Any:
    return round(value * factor, 3) if isinstance(value, (int, float)) else value


def _torch_facts() -> dict[str, Any]:
    import torch

    facts: dict[str, Any] = {"version": torch.__version__, "CUDA": torch.version.cuda}
    if not torch.cuda.is_available():
        facts["device"] = "none (torch sees no CUDA GPU)"
        return facts
    properties = torch.cuda.get_device_properties(0)
    facts["device"] = properties.name
    facts["capability"] = f"{properties.major}.{properties.minor}"
    facts["memory_GiB"] = round(properties.total_memory / 2**30, 1)
    facts["bf16"] = torch.cuda.is_bf16_supported()
    return facts


# -- 2. GPU-marked tests -----------------------------------------------------------------------


def gpu_tests(ctx: Context) -> PartResult:
    """``pytest -m gpu`` over the test files that hold GPU-marked tests, in a subprocess."""
    files = sorted(
        str(path.relative_to(ctx.root))
        for path in (ctx.root / "tests").glob("test_*.py")
        if "pytest.mark.gpu" in path.read_text()
    )
    if not files:
        raise PartSkipped("no test file in tests/ marks a test with pytest.mark.gpu")
    junit = ctx.out / "part2_junit.xml"
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-m",
        "gpu",
        "-q",
        "-p",
        "no:cacheprovider",
        "--continue-on-collection-errors",
        f"--junitxml={junit}",
        *files,
    ]
    try:
        run = subprocess.run(
            command,
            cwd=ctx.root,
            env=ctx.env,
            capture_output=True,
            text=True,
            timeout=max(ctx.limit_s - 10, 5),
        )
    except subprocess.TimeoutExpired as error:
        raise RuntimeError(f"pytest ran past {error.timeout:.0f} s") from error
    if not junit.exists():
        raise RuntimeError(f"pytest wrote no report (exit code {run.returncode}): {run.stderr}")
    cases = _junit_cases(junit)
    table = markdown_table(
        ["Test", "Outcome", "Time (s)", "Message"],
        [[c["test"], c["outcome"], f"{c['time_s']:.2f}", c["message"]] for c in cases],
    )
    counts = {o: sum(c["outcome"] == o for c in cases) for o in ("passed", "skipped", "failed")}
    summary = (run.stdout.strip().splitlines() or ["(no output)"])[-1]
    return PartResult(
        table,
        [f"`pytest -m gpu {' '.join(files)}`: {summary} (exit code {run.returncode})"],
        {"command": command, "exit_code": run.returncode, "cases": cases, "counts": counts},
        "ok" if run.returncode == 0 and counts["failed"] == 0 else "failed",
    )


def _junit_cases(path: Path) -> list[dict[str, Any]]:
    cases = []
    for case in ElementTree.parse(path).getroot().iter("testcase"):
        outcome, message = "passed", ""
        for child, name in (("failure", "failed"), ("error", "failed"), ("skipped", "skipped")):
            found = case.find(child)
            if found is not None:
                outcome, message = name, (found.get("message") or "").replace("|", "/")
                break
        cases.append(
            {
                "test": f"{case.get('classname')}::{case.get('name')}",
                "outcome": outcome,
                "time_s": float(case.get("time") or 0.0),
                "message": message[:200],
            }
        )
    return cases


# -- 3. counter against power ------------------------------------------------------------------


def counter_against_power(ctx: Context) -> PartResult:
    """One steady load metered by the counter and by polled power at once; the counter's
    update period; short windows of the counter against the steady mean power."""
    rig, sizes = ctx.rig, ctx.sizes
    counter = _one_sensor(rig.discover([0]))
    if counter.provenance != "measured":
        raise PartSkipped(f"{counter.description}: no energy counter to compare against power")
    power_only = PowerOnly(rig.nvml)
    polled = _one_sensor(rig.discover([0], nvml=power_only))
    counter_meter = EnergyMeter([counter], clock=rig.clock, synchronize=_nothing)
    polled_meter = EnergyMeter([polled], clock=rig.clock, synchronize=_nothing)
    try:
        with rig.steady_load():
            counter_meter.start()
            polled_meter.start()  # its poller thread reads the power every 100 ms
            rig.wait(sizes.warm_s)
            period = _update_period(counter, rig, sizes.period_s)
            short = {
                length: [_window(counter_meter, rig, length) for _ in range(sizes.short_repeats)]
                for length in sizes.short_windows_s
            }
            reads_before = power_only.power_reads
            counter_meter.begin("steady")
            polled_meter.begin("steady")
            rig.wait(sizes.load_s)
            steady = counter_meter.end("steady")
            steady_polled = polled_meter.end("steady")
            power_reads = power_only.power_reads - reads_before
    finally:
        counter_meter.close()
        polled_meter.close()
    agreement = _deviation(steady.energy_J, steady_polled.energy_J)
    mean_W = steady.energy_J / steady.duration_s
    rows = [
        [
            f"steady load: counter against polled power ({power_reads} reads)",
            f"{steady.duration_s:.2f}",
            1,
            f"{steady.energy_J:.2f}",
            f"{steady_polled.energy_J:.2f}",
            _percent(agreement, 2),
        ]
    ]
    short_data = []
    for length, readings in short.items():
        energies = [r.energy_J for r in readings]
        references = [mean_W * r.duration_s for r in readings]
        deviations = [_deviation(e, ref) for e, ref in zip(energies, references, strict=True)]
        rows.append(
            [
                "short: counter against steady mean power x length",
                f"{length:.3f}",
                len(readings),
                f"{min(energies):.2f} … {max(energies):.2f}",
                f"{statistics.fmean(references):.2f}",
                _percent_range(deviations, 1),
            ]
        )
        short_data.append(
            {
                "length_s": length,
                "durations_s": [r.duration_s for r in readings],
                "energies_J": energies,
                "references_J": references,
                "notes": sorted({note for r in readings for note in r.notes}),
            }
        )
    table = markdown_table(
        ["Window", "Length (s)", "Windows", "Counter (J)", "Reference (J)", "Counter vs reference"],
        rows,
    )
    notes = [
        f"Load: {rig.describe_load()}. Counter {counter.description}; power {polled.description}.",
        f"Steady mean power by the counter: {mean_W:.2f} W; the counter reads "
        f"{_percent(agreement, 2)} against polled power integrated over time.",
        _period_sentence(period, sizes.period_s),
    ]
    notes += [f"Short windows are flagged: {n}" for n in short_data[0]["notes"][:1]]
    return PartResult(
        table,
        notes,
        {
            "load": rig.describe_load(),
            "steady": {
                "duration_s": steady.duration_s,
                "counter_J": steady.energy_J,
                "polled_J": steady_polled.energy_J,
                "agreement": agreement,
                "mean_power_W": mean_W,
                "power_reads": power_reads,
            },
            "update_period": period,
            "short_windows": short_data,
        },
        "ok" if agreement is not None and mean_W > 0 else "failed",
    )


def _update_period(sensor: Sensor, rig: CudaRig | FakeRig, duration_s: float) -> dict[str, Any]:
    """Read the counter back to back for ``duration_s``; the gaps between its changes."""
    changes: list[float] = []
    last_J = sensor.energy_J()
    end_s = rig.clock() + duration_s
    reads = 1
    while rig.clock() < end_s:
        rig.tick()
        now_J = sensor.energy_J()
        reads += 1
        if now_J != last_J:
            changes.append(rig.clock())
            last_J = now_J
    gaps = [later - earlier for earlier, later in itertools.pairwise(changes)]
    return {
        "reads": reads,
        "changes": len(changes),
        "median_s": statistics.median(gaps) if gaps else None,
        "min_s": min(gaps) if gaps else None,
        "max_s": max(gaps) if gaps else None,
    }


def _period_sentence(period: dict[str, Any], duration_s: float) -> str:
    if period["median_s"] is None:
        return (
            f"The counter changed {period['changes']} time(s) in {duration_s:g} s of "
            f"{period['reads']} reads under load: no update period to show."
        )
    return (
        f"Counter update period observed under load: {period['median_s'] * 1000:.1f} ms "
        f"(median of {period['changes'] - 1} gaps between changes, "
        f"{period['min_s'] * 1000:.1f} … {period['max_s'] * 1000:.1f} ms; "
        f"{period['reads']} reads in {duration_s:g} s)."
    )


def _window(meter: EnergyMeter, rig: CudaRig | FakeRig, length_s: float) -> EnergyReading:
    meter.begin("short")
    rig.wait(length_s)
    return meter.end("short")


# -- 4. synchronisation ------------------------------------------------------------------------

SYNCED, UNSYNCED = "synchronize()", "no synchronize"


def synchronisation(ctx: Context) -> PartResult:
    """The same burst of kernels metered by a window whose edges synchronise and by one whose
    edges do not, alternating (ABBA) over the repeats, the GPU idle before each burst."""
    rig, sizes = ctx.rig, ctx.sizes
    meters = {
        SYNCED: EnergyMeter(
            [_one_sensor(rig.discover([0]))], clock=rig.clock, synchronize=rig.synchronize
        ),
        UNSYNCED: EnergyMeter(
            [_one_sensor(rig.discover([0]))], clock=rig.clock, synchronize=_nothing
        ),
    }
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in meters}
    try:
        for meter in meters.values():
            meter.start()
        for repeat in range(sizes.burst_repeats):
            for name in (SYNCED, UNSYNCED) if repeat % 2 == 0 else (UNSYNCED, SYNCED):
                rig.synchronize()
                rig.wait(sizes.idle_s)
                meters[name].begin("burst")
                kernels_s = rig.burst(sizes.burst_s)
                reading = meters[name].end("burst")
                rig.synchronize()
                runs[name].append(
                    {
                        "window_s": reading.duration_s,
                        "kernels_s": kernels_s(),
                        "energy_J": reading.energy_J,
                        "notes": list(reading.notes),
                    }
                )
    finally:
        for meter in meters.values():
            meter.close()
    synced_J = statistics.fmean(run["energy_J"] for run in runs[SYNCED])
    rows = []
    for name, variant in runs.items():
        energy_J = statistics.fmean(run["energy_J"] for run in variant)
        rows.append(
            [
                name,
                len(variant),
                f"{statistics.fmean(run['window_s'] for run in variant):.3f}",
                f"{statistics.fmean(run['kernels_s'] for run in variant):.3f}",
                f"{energy_J:.2f}",
                f"{energy_J / synced_J * 100:.1f} %" if synced_J > 0 else "-",
            ]
        )
    table = markdown_table(
        [
            "Window edges",
            "Runs",
            "Window (s)",
            "Kernels (s)",
            "Energy (J)",
            "Share of the synchronised energy",
        ],
        rows,
    )
    notes = [
        f"Burst: about {sizes.burst_s:g} s of {rig.describe_load()}, after {sizes.idle_s:g} s "
        "idle; means over the runs. Without synchronize() the window closes when the kernels "
        "are queued, not when they have run, and misses their energy."
    ]
    return PartResult(table, notes, {"burst_s": sizes.burst_s, "runs": runs})


# -- 5. the callback on the demo U-Net ---------------------------------------------------------


def callback_epochs(ctx: Context) -> PartResult:
    """``CarbonCallback`` on the demo U-Net: each epoch's GPU energy, power and share."""
    segmentation_module, demo_datamodule = _demo_workload()
    import pytorch_lightning as pl
    from pytorch_lightning.callbacks import LambdaCallback
    from pytorch_lightning.loggers import CSVLogger

    from lightning_carbon import CarbonCallback

    sizes = ctx.sizes
    pl.seed_everything(0, verbose=False)
    starts: list[float] = []
    ends: list[float] = []
    timer = LambdaCallback(
        on_train_epoch_start=lambda *_: starts.append(time.perf_counter()),
        on_train_epoch_end=lambda *_: ends.append(time.perf_counter()),
    )
    logger = CSVLogger(ctx.out / "part5_runs", name="demo")
    trainer = pl.Trainer(
        max_epochs=sizes.epochs,
        accelerator="cpu" if ctx.dry else "cuda",
        devices=1,
        logger=logger,
        callbacks=[CarbonCallback(country=COUNTRY, sensors=_sensors(ctx)), timer],
        enable_checkpointing=False,
        enable_model_summary=False,
        enable_progress_bar=False,
        num_sanity_val_steps=0,
    )
    trainer.fit(segmentation_module(filters=sizes.filters), _data(demo_datamodule, sizes))
    with open(Path(logger.log_dir) / "metrics.csv") as handle:
        logged = list(csv.DictReader(handle))
    epochs = [row for row in logged if row.get("energy/epoch_kWh")]
    if not epochs or not epochs[0].get("energy/gpu_kWh"):
        raise RuntimeError(f"no GPU energy was logged (metrics.csv of {logger.log_dir})")
    records = []
    for row, start_s, end_s in zip(epochs, starts, ends, strict=True):
        gpu_J = float(row["energy/gpu_kWh"]) * J_PER_KWH
        epoch_J = float(row["energy/epoch_kWh"]) * J_PER_KWH
        records.append(
            {
                "epoch": int(row["epoch"]),
                "time_s": end_s - start_s,
                "gpu_J": gpu_J,
                "gpu_W": float(row["power/gpu_W"]),
                "epoch_J": epoch_J,
                "gpu_share": gpu_J / epoch_J,
            }
        )
    gpu_J = sum(r["gpu_J"] for r in records)
    epoch_J = sum(r["epoch_J"] for r in records)
    rows = [
        [
            r["epoch"],
            f"{r['time_s']:.2f}",
            f"{r['gpu_J']:.1f}",
            f"{r['gpu_W']:.2f}",
            f"{r['epoch_J']:.1f}",
            f"{r['gpu_share'] * 100:.1f} %",
        ]
        for r in records
    ]
    rows.append(
        [
            f"all {len(records)}",
            f"{sum(r['time_s'] for r in records):.2f}",
            f"{gpu_J:.1f}",
            "",
            f"{epoch_J:.1f}",
            f"{gpu_J / epoch_J * 100:.1f} %",
        ]
    )
    table = markdown_table(
        ["Epoch", "Time (s)", "GPU (J)", "GPU power (W)", "Epoch total (J)", "GPU share"], rows
    )
    data: dict[str, Any] = {"workload": _workload(sizes, sizes.epochs), "epochs": records}
    notes = [
        f"{_workload(sizes, sizes.epochs)}. Epoch time: training and its validation, timed "
        "here; energies as the callback logged them (`energy/gpu_kWh`, `power/gpu_W`, "
        "`energy/epoch_kWh`: GPU + CPU + DRAM)."
    ]
    run = next((row for row in logged if row.get("energy/run_total_kWh")), None)
    if run is not None:
        data["run_total_J"] = float(run["energy/run_total_kWh"]) * J_PER_KWH
        data["run_total_s"] = float(run["time/run_total_s"])
        notes.append(
            f"The callback's run total (`energy/run_total_kWh`, `time/run_total_s`): "
            f"{data['run_total_J']:.1f} J over {data['run_total_s']:.2f} s; the epochs make "
            f"{epoch_J / data['run_total_J'] * 100:.1f} % of it."
        )
    data["sensor_lines"] = _metered_by(Path(logger.log_dir) / "carbon" / "summary.json")
    notes.append("Metered by: " + "; ".join(data["sensor_lines"]))
    dice = trainer.callback_metrics.get("val_dice")
    if dice is not None:
        data["val_dice"] = float(dice)
        notes.append(f"Validation Dice after {sizes.epochs} epochs: {float(dice):.3f}.")
    return PartResult(table, notes, data)


def _metered_by(summary_json: Path) -> list[str]:
    """The sensor lines of the run's records, or why there are none."""
    try:
        summary = json.loads(summary_json.read_text())
        return [sensor["line"] for sensor in summary["hardware"]["sensors"]]
    except (OSError, ValueError, KeyError, TypeError) as error:
        return [f"(no sensor lines in {summary_json}: {error!r})"]


# -- 6. precision A/B --------------------------------------------------------------------------


def precision_ab(ctx: Context) -> PartResult:
    """``precision_sweep`` over every precision the device runs, on the demo U-Net."""
    segmentation_module, demo_datamodule = _demo_workload()
    from lightning_carbon.sweep import precision_sweep

    sizes = ctx.sizes
    callback_kwargs: dict[str, Any] = {"country": COUNTRY}
    if ctx.dry:
        callback_kwargs["sensors"] = dry_sensor_factory()
    result = precision_sweep(
        lambda: segmentation_module(filters=sizes.filters),
        lambda: _data(demo_datamodule, sizes),
        repeats=sizes.ab_repeats,
        max_epochs=sizes.ab_epochs,
        warmup=sizes.ab_warmup,
        cooldown_s=sizes.cooldown_s,
        accelerator="cpu" if ctx.dry else "cuda",
        output_dir=ctx.out / "part6_runs",
        callback_kwargs=callback_kwargs,
        progress=lambda line: print(line, flush=True),
    )
    notes = [
        f"{_workload(sizes, sizes.ab_epochs)}, {sizes.ab_repeats} repeat(s), "
        f"{sizes.cooldown_s:g} s cool-downs; energy is GPU + CPU + DRAM."
    ]
    return PartResult(result.to_markdown(), notes, result.to_dict())


# -- shared ------------------------------------------------------------------------------------


def _deviation(value: float, reference: float) -> float | None:
    """``value / reference - 1``; ``None`` without a reference (0 J)."""
    return value / reference - 1 if reference > 0 else None


def _percent(fraction: float | None, digits: int) -> str:
    """``+2.00 %``, never ``-0.0 %``; ``-`` for ``None``."""
    if fraction is None:
        return "-"
    return f"{round(fraction * 100, digits) + 0.0:+.{digits}f} %"


def _percent_range(fractions: list[float | None], digits: int) -> str:
    """``-100.0 % … +100.0 %``; ``-`` if one of them is ``None``."""
    if any(f is None for f in fractions):
        return "-"
    return f"{_percent(min(fractions), digits)} … {_percent(max(fractions), digits)}"


def _one_sensor(found: tuple[list[Sensor], list[SensorChoice]]) -> Sensor:
    sensors, choices = found
    if not sensors:
        raise RuntimeError("; ".join(choice.line for choice in choices))
    return sensors[0]


def _nothing() -> None:
    """A window edge that does not synchronise."""


def _demo_workload() -> tuple[Any, Any]:
    try:
        from lightning_carbon.demo import SegmentationModule, demo_datamodule
    except ModuleNotFoundError as error:
        raise PartSkipped(
            f"the demo U-Net needs {error.name!r}, which this Python lacks: pass --wheels DIR "
            "with its wheel (benchmarks/README.md says how to download it)"
        ) from error
    return SegmentationModule, demo_datamodule


def _sensors(ctx: Context) -> Any:
    """The callback's sensors: discovered as for any user, or the dry run's fake GPU."""
    return dry_sensor_factory() if ctx.dry else None


def _data(demo_datamodule: Any, sizes: Sizes) -> Any:
    return demo_datamodule(
        n_images=sizes.images,
        size=sizes.size,
        batch_size=sizes.batch_size,
        num_workers=min(sizes.workers, os.cpu_count() or 1),
    )


def _workload(sizes: Sizes, epochs: int) -> str:
    return (
        f"Demo U-Net F={sizes.filters}, {sizes.images} synthetic images of {sizes.size} px, "
        f"batch {sizes.batch_size}, {epochs} epoch(s)"
    )
