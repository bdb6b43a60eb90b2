"""``lightning-carbon sweep precision`` and ``sweep width``: the sweeps on the demo U-Net, on
synthetic nuclei or the user's own data (``--data folder:PATH``, ``--data decathlon:PATH``).

Progress (each run starting and ending, each cool-down) goes to standard error; the table, or
with ``--json`` the result, to standard output.

Example::

    $ lightning-carbon sweep precision --data folder:monuseg --size 128 --repeats 3
    $ lightning-carbon sweep width --filters 4,8,16 --data decathlon:Task02_Heart --json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
from collections.abc import Iterator
from typing import Any

from lightning_carbon.demo.options import callback_kwargs, datamodule_factory, workload_parent
from lightning_carbon.sweep.precision import DEFAULT_COOLDOWN_S, precision_sweep
from lightning_carbon.sweep.width import width_sweep


def _common(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "max_epochs": args.epochs,
        "seed": args.seed,
        "accelerator": args.accelerator,
        "warmup": not args.no_warmup,
        "output_dir": args.out,
        "progress": _progress,
        "callback_kwargs": callback_kwargs(args),
    }


def _precision_command(args: argparse.Namespace) -> int:
    from lightning_carbon.demo import SegmentationModule

    data = datamodule_factory(args)
    _progress(f"precision sweep on {args.data.describe()}")
    with _lightning_quiet():
        result = precision_sweep(
            lambda: SegmentationModule(filters=args.filters),
            data,
            precisions=args.precision,
            repeats=args.repeats,
            cooldown_s=args.cooldown_s,
            **_common(args),
        )
    _print(args, result.to_dict(), result.to_markdown(), result.files)
    return 0


def _width_command(args: argparse.Namespace) -> int:
    data = datamodule_factory(args)
    _progress(f"width sweep on {args.data.describe()}")
    with _lightning_quiet():
        result = width_sweep(
            args.filters,
            datamodule_factory=data,
            precision=args.precision,
            tolerance=args.tolerance,
            budget_gco2e=args.budget_gco2e,
            **_common(args),
        )
    _print(args, result.to_dict(), result.to_markdown(), result.files)
    return 0


def _print(args: argparse.Namespace, document: dict[str, Any], markdown: str, files: Any) -> None:
    if args.json:
        print(json.dumps({**document, "files": {k: str(p) for k, p in files.items()}}, indent=2))
    else:
        print(markdown)
        print(f"\nWritten: {', '.join(str(p) for p in files.values())}")


@contextlib.contextmanager
def _lightning_quiet() -> Iterator[None]:
    """Lightning's and the callback's per-run info lines off; warnings still show."""
    loggers = [logging.getLogger(name) for name in ("pytorch_lightning", "lightning_fabric")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def _progress(line: str) -> None:
    print(f"lightning-carbon sweep: {line}", file=sys.stderr, flush=True)


def _int_list(text: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected integers like 4,8,16, got {text!r}") from None


def register_cli(subparsers: argparse._SubParsersAction) -> None:
    """Add ``sweep precision`` and ``sweep width``."""
    sweep = subparsers.add_parser(
        "sweep",
        help="precision or width sweeps of the demo U-Net, on synthetic or your own data",
        description="Train the demo U-Net several times under CarbonCallback and compare: "
        "numeric precisions (energy saved by mixed precision) or widths (Dice against carbon).",
    )
    sweep.set_defaults(func=lambda args: sweep.print_help() or 2)
    kinds = sweep.add_subparsers(dest="sweep", metavar="KIND")

    precision = kinds.add_parser(
        "precision",
        parents=[workload_parent(epochs=1, out="sweeps/precision", many_precisions=True)],
        help="energy, gCO2e, time and Dice of each precision, with savings",
        description="Train the same model, data and seed under each precision, repeated in "
        "alternating order with cool-downs; report energy, gCO2e, time, throughput and Dice "
        "with the saving against 32-true, flagging outlier runs and inconclusive savings.",
    )
    precision.add_argument("--filters", type=int, default=8, help="U-Net width F (default: 8)")
    precision.add_argument("--repeats", type=int, default=2, help="runs per precision (default: 2)")
    precision.add_argument(
        "--cooldown-s",
        type=float,
        default=DEFAULT_COOLDOWN_S,
        help=f"pause between runs in s (default: {DEFAULT_COOLDOWN_S:g})",
    )
    precision.add_argument("--no-warmup", action="store_true", help="skip the warm-up runs")
    precision.set_defaults(func=_precision_command)

    width = kinds.add_parser(
        "width",
        parents=[workload_parent(epochs=1, out="sweeps/width")],
        help="Dice against gCO2e for U-Net widths F, the Pareto front and a pick",
        description="Train the demo U-Net at several widths F on the same data and seed; "
        "tabulate Dice against gCO2e, draw the Pareto front and pick the cheapest width whose "
        "Dice is within a tolerance of the best.",
    )
    width.add_argument(
        "--filters",
        type=_int_list,
        default=[4, 8, 16],
        help="comma-separated widths F (default: 4,8,16)",
    )
    width.add_argument(
        "--tolerance",
        type=float,
        default=0.01,
        help="Dice below the best still acceptable (default: 0.01)",
    )
    width.add_argument(
        "--budget-gco2e",
        type=float,
        default=None,
        help="pick only widths whose training emitted at most this",
    )
    width.add_argument("--no-warmup", action="store_true", help="skip the warm-up run")
    width.set_defaults(func=_width_command)
