"""``lightning-carbon report``: the command line over :func:`build_report`.

Exit status: 0 when every input was reported, 1 when some input was left out (the others are
still reported, each left-out input named) or none could be read, 2 for a usage error.

Example::

    $ lightning-carbon report runs/f8-* --group-by 're:(f\\d+)' --metric val_dice \\
          --format png,pdf --dpi 300 --sweep sweeps/precision --out carbon-report
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable

from lightning_carbon.checks import comma_names
from lightning_carbon.report.build import DEFAULT_METRIC, DEFAULT_OUT, build_report

_PROG = "lightning-carbon report"


def _regions_arg(text: str) -> list[str]:
    from lightning_carbon.regions import resolve_region

    names = comma_names(text)
    for name in names:
        try:
            resolve_region(name)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None
    return names


def _formats_arg(text: str) -> tuple[str, ...]:
    from lightning_carbon.plots import check_formats

    try:
        return check_formats(comma_names(text))
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _dpi_arg(text: str) -> float:
    from lightning_carbon.plots import check_dpi

    try:
        return check_dpi(float(text))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"dpi must be a number in (0, 10000), got {text!r}"
        ) from None


def _say(kind: str) -> Callable[[str], None]:
    def say(message: str) -> None:
        print(f"{_PROG}: {kind}: {message}", file=sys.stderr)

    return say


def _report(args: argparse.Namespace) -> int:
    report = build_report(
        args.run_dirs,
        args.out,
        args.regions,
        _say("warning"),
        error=_say("error"),
        labels=args.label,
        metric=args.metric,
        group_by=args.group_by,
        formats=args.format,
        dpi=args.dpi,
        sweep=args.sweep,
    )
    print(json.dumps(report.to_dict(), indent=2) if args.json else report.text())
    return report.exit_code


def register_cli(subparsers: argparse._SubParsersAction) -> None:
    """Add ``report``."""
    description = (
        "Read the carbon records of one or many runs and write a report for a paper: the "
        "carbon statement, a table of runs with their metric, the same energy on other grids, "
        "runs (or groups of runs) by region in gCO2e and km by car, figures one column wide, "
        "and what the data says about cutting the footprint."
    )
    parser = subparsers.add_parser(
        "report",
        help="a paper-ready carbon report over one or many runs",
        description=description,
    )
    parser.add_argument(
        "run_dirs",
        nargs="+",
        metavar="RUN_DIR",
        help="a run folder holding carbon/ (and the CSV logger's metrics.csv), or that carbon/",
    )
    parser.add_argument(
        "--out", default=DEFAULT_OUT, help=f"where report.md and the figures go ({DEFAULT_OUT})"
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument(
        "--regions",
        type=_regions_arg,
        default=None,
        help="comma-separated regions to compare (default: DNK,EST,EU27,USA,WORLD)",
    )
    parser.add_argument(
        "--label",
        action="append",
        default=None,
        help="a run's label, once per RUN_DIR in order; or once, a template such as "
        "'{precision} F{filters}' filled from each run's fields (summary, hparams.yaml). "
        "Default: the run's recorded name, else its folder relative to the common parent",
    )
    parser.add_argument(
        "--metric",
        default=DEFAULT_METRIC,
        help=f"the quality metric to compare runs by (default: {DEFAULT_METRIC}), from the "
        "summary's metrics or the last value in metrics.csv",
    )
    parser.add_argument(
        "--group-by",
        default=None,
        metavar="FIELD|re:PATTERN",
        help="rows of the runs-by-region table: a field of the runs (precision, a "
        "hyperparameter) or re:PATTERN on the labels (its first group, else the match); "
        "mean ± std over each group's runs",
    )
    parser.add_argument(
        "--format",
        type=_formats_arg,
        default=("png",),
        help="comma-separated figure formats among png, pdf, svg (default: png)",
    )
    parser.add_argument(
        "--dpi", type=_dpi_arg, default=300.0, help="resolution of PNG figures (default: 300)"
    )
    parser.add_argument(
        "--sweep",
        default=None,
        metavar="PATH",
        help="a precision_sweep.json (or its folder): its measured saving goes into the advice",
    )
    parser.set_defaults(func=_report)
