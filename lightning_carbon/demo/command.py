"""``lightning-carbon demo``: a short CPU training of the demo U-Net under CarbonCallback.

It trains the MONAI U-Net on the synthetic nuclei for a few epochs, prints the carbon statement
and says where the records, the CSV metrics and the statement went. Needs the ``demo`` extra.

Example::

    $ lightning-carbon demo --epochs 3 --country DNK --out demo_output
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lightning_carbon.units import format_energy

DEFAULT_OUTPUT_DIR = "demo_output"


@dataclass(frozen=True)
class DemoResult:
    """Where a demo run left its files, its summary and its statement."""

    carbon_dir: Path
    metrics_csv: Path
    summary: dict[str, Any]
    statement: str
    val_dice: float


def run_demo(
    epochs: int = 5,
    filters: int = 8,
    images: int = 96,
    size: int = 64,
    output_dir: str | Path = DEFAULT_OUTPUT_DIR,
    country: str | None = None,
    accelerator: str = "cpu",
    seed: int = 0,
) -> DemoResult:
    """Train the demo U-Net of width ``filters`` for ``epochs`` epochs under CarbonCallback.

    Example::

        result = run_demo(epochs=1, images=16, output_dir="/tmp/demo")
        print(result.statement)
    """
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be an int >= 1, got {epochs!r}")
    import pytorch_lightning as pl
    from pytorch_lightning.loggers import CSVLogger

    from lightning_carbon import CarbonCallback
    from lightning_carbon.demo import SegmentationModule, demo_datamodule

    pl.seed_everything(seed, verbose=False)
    callback = CarbonCallback(country=country, monitor_epochs=1)
    logger = CSVLogger(output_dir, name="demo")
    trainer = pl.Trainer(
        max_epochs=epochs,
        accelerator=accelerator,
        devices=1,
        logger=logger,
        callbacks=[callback],
        enable_checkpointing=False,
        enable_model_summary=False,
        enable_progress_bar=False,
        log_every_n_steps=1,
        num_sanity_val_steps=0,
    )
    model = SegmentationModule(filters=filters, lr=1e-2)
    trainer.fit(model, demo_datamodule(n_images=images, size=size, seed=seed))
    carbon_dir = Path(logger.log_dir) / "carbon"
    return DemoResult(
        carbon_dir=carbon_dir,
        metrics_csv=Path(logger.log_dir) / "metrics.csv",
        summary=json.loads((carbon_dir / "summary.json").read_text()),
        statement=(carbon_dir / "statement.md").read_text(),
        val_dice=float(trainer.callback_metrics["val_dice"]),
    )


def _demo(args: argparse.Namespace) -> int:
    result = run_demo(
        epochs=args.epochs,
        filters=args.filters,
        images=args.images,
        size=args.size,
        output_dir=args.out,
        country=args.country,
        accelerator=args.accelerator,
        seed=args.seed,
    )
    print()
    forecast = result.summary.get("forecast")
    if forecast and forecast.get("relative_error") is not None:
        print(
            f"Forecast after epoch {forecast['after_epochs']}: "
            f"{format_energy(forecast['energy_kWh'])} for the run, "
            f"{forecast['relative_error']:+.0%} against what it used"
        )
    print()
    print(result.statement.rstrip())
    print(f"\nValidation Dice after {args.epochs} epoch(s): {result.val_dice:.3f}")
    print(f"Per-epoch records and summary: {result.carbon_dir}")
    print(f"Every logged metric (CSVLogger): {result.metrics_csv}")
    print(f"Report with plots: lightning-carbon report {result.carbon_dir.parent}")
    return 0


def register_cli(subparsers: argparse._SubParsersAction) -> None:
    """Add ``demo``."""
    parser = subparsers.add_parser(
        "demo", help="train the demo U-Net briefly under CarbonCallback and print its statement"
    )
    parser.add_argument("--epochs", type=int, default=5, help="epochs (default: 5)")
    parser.add_argument("--filters", type=int, default=8, help="U-Net width F (default: 8)")
    parser.add_argument("--images", type=int, default=96, help="synthetic images (default: 96)")
    parser.add_argument("--size", type=int, default=64, help="image side in px (default: 64)")
    parser.add_argument(
        "--country",
        default=None,
        help="where the machine runs (default: $LIGHTNING_CARBON_COUNTRY)",
    )
    parser.add_argument("--accelerator", default="cpu", help="cpu, cuda or auto (default: cpu)")
    parser.add_argument("--seed", type=int, default=0, help="seed (default: 0)")
    parser.add_argument(
        "--out", default=DEFAULT_OUTPUT_DIR, help=f"output folder (default: {DEFAULT_OUTPUT_DIR})"
    )
    parser.set_defaults(func=_demo)
