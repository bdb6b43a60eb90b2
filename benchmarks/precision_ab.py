"""Precision A/B on the demo workload: energy, gCO2e, time and Dice of each precision.

Trains the demo U-Net (synthetic nuclei) under every precision the machine can run (CPU:
``32-true``, ``bf16-mixed``; NVIDIA GPU: also ``16-mixed``, and ``bf16-mixed`` where supported),
with the same seed, a warm-up run per precision, the order alternated between repeats and a
cool-down between runs, then prints the table and each precision's ratios against ``32-true``.
On a GPU the energy is measured by NVML; on a CPU without readable RAPL it is an estimate
(TDP x utilisation), and the table says so. The defaults take about a minute or two on a
laptop-class CPU; on a GPU, give it more work (``--filters 32 --images 2048 --epochs 5``).

Run from the repository root with the package and its ``demo`` extra installed::

    python benchmarks/precision_ab.py
    python benchmarks/precision_ab.py --repeats 4 --cooldown-s 30 --country DEU
"""

from __future__ import annotations

import argparse
import logging
import platform
import sys
from collections.abc import Sequence

import torch

from lightning_carbon.demo import SegmentationModule, demo_datamodule
from lightning_carbon.sweep import BASELINE, PrecisionSweepResult, precision_sweep


def _machine(accelerator: str) -> str:
    if accelerator == "cuda" or (accelerator == "auto" and torch.cuda.is_available()):
        return f"GPU {torch.cuda.get_device_name()}"
    from lightning_carbon.sensors.machine import read_cpu_name

    return f"CPU {read_cpu_name() or platform.processor()} ({torch.get_num_threads()} threads)"


def _ratios(result: PrecisionSweepResult) -> list[str]:
    """One line per precision: its means as multiples of 32-true's, and the Dice difference."""
    base = result.row(BASELINE)
    lines = []
    for row in result.rows:
        if row is base:
            continue
        dice = (
            f", Dice {row.val_dice.mean - base.val_dice.mean:+.4f}"
            if row.val_dice and base.val_dice
            else ""
        )
        lines.append(
            f"{row.precision} / {BASELINE}: "
            f"energy x{row.energy_kWh.mean / base.energy_kWh.mean:.3f}"
            f", gCO2e x{row.gco2e.mean / base.gco2e.mean:.3f}"
            f", time x{row.time_s.mean / base.time_s.mean:.3f}"
            f", throughput x{row.samples_per_s.mean / base.samples_per_s.mean:.3f}{dice}"
        )
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--filters", type=int, default=16, help="U-Net width F (default: 16)")
    parser.add_argument("--images", type=int, default=512, help="synthetic images (default: 512)")
    parser.add_argument("--size", type=int, default=64, help="image side in px (default: 64)")
    parser.add_argument("--batch-size", type=int, default=16, help="batch size (default: 16)")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per run (default: 3)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per precision (default: 3)")
    parser.add_argument(
        "--cooldown-s", type=float, default=5.0, help="pause between runs in s (default: 5)"
    )
    parser.add_argument("--accelerator", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--country", default="WORLD", help="grid intensity (default: WORLD)")
    parser.add_argument(
        "--out", default="benchmarks/out/precision_ab", help="where the tables and run records go"
    )
    args = parser.parse_args(argv)

    for name in ("pytorch_lightning", "lightning_fabric"):
        logging.getLogger(name).setLevel(logging.WARNING)
    print(
        f"precision A/B: demo U-Net F={args.filters}, {args.images} images of {args.size} px, "
        f"{args.epochs} epoch(s), {args.repeats} repeat(s), on {_machine(args.accelerator)}, "
        f"torch {torch.__version__}",
        flush=True,
    )
    result = precision_sweep(
        lambda: SegmentationModule(filters=args.filters),
        lambda: demo_datamodule(n_images=args.images, size=args.size, batch_size=args.batch_size),
        repeats=args.repeats,
        max_epochs=args.epochs,
        cooldown_s=args.cooldown_s,
        accelerator=args.accelerator,
        output_dir=args.out,
        callback_kwargs={"country": args.country},
        progress=lambda line: print(f"  {line}", file=sys.stderr, flush=True),
    )
    print()
    print(result.to_markdown())
    print()
    print("\n".join(_ratios(result)))
    print(f"\nTables and run records: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
