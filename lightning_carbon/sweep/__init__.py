"""Sweeps of one workload under CarbonCallback: numeric precision, and network width.

:func:`precision_sweep` trains the same model, data and seed under each precision the
accelerator can run, repeated with the order alternated, and tabulates energy, emissions, time,
throughput and Dice with their spread, median and the saving against ``32-true``, flagging
outlier runs and savings smaller than the spread. :func:`width_sweep` trains the demo U-Net at
several widths F and picks the cheapest one whose Dice is within a tolerance of the best
(:mod:`lightning_carbon.selection`). The package is split by job: :mod:`~.results` (what was
measured, and the arithmetic), :mod:`~.runner` (one metered fit), :mod:`~.precision` and
:mod:`~.width` (the sweeps), :mod:`~.tables` (Markdown, CSV, JSON), :mod:`~.command` (CLI).

Lightning, the demo workload and matplotlib are imported on first use, so importing this
package (the CLI does, to register ``sweep``) costs nothing.

Example::

    from lightning_carbon.demo import SegmentationModule, demo_datamodule
    from lightning_carbon.sweep import precision_sweep, width_sweep

    result = precision_sweep(lambda: SegmentationModule(filters=8), demo_datamodule,
                             repeats=2, output_dir="sweeps/precision")
    print(result.to_markdown())          # also in sweeps/precision/precision_sweep.{csv,json,md}
    widths = width_sweep((4, 8, 16), output_dir="sweeps/width")
    print(widths.pick.filters)           # sweeps/width/width_sweep.png: Dice against gCO2e
"""

from lightning_carbon.spread import Spread
from lightning_carbon.sweep.command import register_cli
from lightning_carbon.sweep.precision import DEFAULT_COOLDOWN_S, precision_sweep
from lightning_carbon.sweep.results import (
    BASELINE,
    METRIC,
    OUTLIER_RATIO,
    PrecisionRow,
    PrecisionSweepResult,
    SweepRun,
    WidthRow,
    WidthSweepResult,
    outliers,
    precision_rows,
)
from lightning_carbon.sweep.runner import CPU_PRECISIONS, CUDA_PRECISIONS, supported_precisions
from lightning_carbon.sweep.width import width_sweep

__all__ = [
    "BASELINE",
    "CPU_PRECISIONS",
    "CUDA_PRECISIONS",
    "DEFAULT_COOLDOWN_S",
    "METRIC",
    "OUTLIER_RATIO",
    "PrecisionRow",
    "PrecisionSweepResult",
    "Spread",
    "SweepRun",
    "WidthRow",
    "WidthSweepResult",
    "outliers",
    "precision_rows",
    "precision_sweep",
    "register_cli",
    "supported_precisions",
    "width_sweep",
]
