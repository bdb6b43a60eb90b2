"""``lightning-carbon demo``: a short training of the demo U-Net under CarbonCallback.

It trains the MONAI U-Net on the synthetic nuclei (or the user's own data: ``--data
folder:PATH`` or ``--data decathlon:PATH``) for a few epochs, prints the carbon statement and
says where the records, the CSV metrics and the statement went. Needs the ``demo`` extra.

Example::

    $ lightning-carbon demo --epochs 3 --country DNK --out demo_output
    $ lightning-carbon demo --data folder:monuseg --size 128 --precision bf16-mixed --pue 1.2
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lightning_carbon.demo import options
from lightning_carbon.units import format_energy

if TYPE_CHECKING:
    import pytorch_lightning as pl

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
    *,
    precision: str = "32-true",
    datamodule: Callable[[], pl.LightningDataModule] | None = None,
    callback_kwargs: Mapping[str, Any] | None = None,
) -> DemoResult:
    """Train the demo U-Net of width ``filters`` for ``epochs`` epochs under CarbonCallback.

    ``datamodule`` makes the data (default: ``images`` synthetic nuclei of ``size`` px);
    ``callback_kwargs`` go to :class:`~lightning_carbon.CarbonCallback` beside ``country``.

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
    # the first forecast after the second epoch: its rate leaves the slow first epoch out
    monitor = {"monitor_epochs": min(2, epochs), "country": country}
    callback = CarbonCallback(**{**monitor, **(callback_kwargs or {})})
    logger = CSVLogger(output_dir, name="demo")
    trainer = pl.Trainer(
        max_epochs=epochs,
        accelerator=accelerator,
        devices=1,
        precision=precision,
        logger=logger,
        callbacks=[callback],
        enable_checkpointing=False,
        enable_model_summary=False,
        enable_progress_bar=False,
        log_every_n_steps=1,
        num_sanity_val_steps=0,
    )
    model = SegmentationModule(filters=filters, lr=1e-2)
    data = datamodule() if datamodule else demo_datamodule(n_images=images, size=size, seed=seed)
    trainer.fit(model, data)
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
        output_dir=args.out,
        accelerator=args.accelerator,
        seed=args.seed,
        precision=args.precision,
        datamodule=options.datamodule_factory(args),
        callback_kwargs=options.callback_kwargs(args),
    )
    if args.json:
        print(json.dumps({**result.summary, "val_dice": result.val_dice}, indent=2))
        return 0
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
    print(f"\nData: {args.data.describe()}, {args.precision}")
    print(f"Validation Dice after {args.epochs} epoch(s): {result.val_dice:.3f}")
    print(f"Per-epoch records and summary: {result.carbon_dir}")
    print(f"Every logged metric (CSVLogger): {result.metrics_csv}")
    print(f"Report with figures: lightning-carbon report {result.carbon_dir.parent}")
    return 0


def register_cli(subparsers: argparse._SubParsersAction) -> None:
    """Add ``demo``."""
    parser = subparsers.add_parser(
        "demo",
        parents=[options.workload_parent(epochs=5, out=DEFAULT_OUTPUT_DIR)],
        help="train the demo U-Net briefly under CarbonCallback and print its statement",
        description="Train the demo MONAI U-Net for a few epochs under CarbonCallback, on "
        "synthetic nuclei or your own images, and print its carbon statement and where its "
        "records and metrics went.",
    )
    parser.add_argument("--filters", type=int, default=8, help="U-Net width F (default: 8)")
    parser.set_defaults(func=_demo, images=96, accelerator="cpu")
