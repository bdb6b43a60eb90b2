"""``lightning-carbon report``: a paper-ready carbon report over one run or many.

Reads the records a metered run left in its ``carbon/`` folder (``summary.json``, else the
totals rebuilt from ``epochs.jsonl``) and the CSV logger's ``metrics.csv`` beside it, sums the
runs, prices the same energy on other grids, and writes ``report.md`` with figures one column
wide. An input that cannot be read is named and left out (exit status 1); the others are still
reported. The package is split by job:

- :mod:`~lightning_carbon.report.validate`: whether a summary or record is usable, and why not
- :mod:`~lightning_carbon.report.runs`: reading one run; :mod:`~.labels`: naming it
- :mod:`~lightning_carbon.report.combine`: runs summed; :mod:`~.groups`: runs by region
- :mod:`~lightning_carbon.report.tables`, :mod:`~.figures`: text and figures
- :mod:`~lightning_carbon.report.guidelines`: "How to cut this footprint"
- :mod:`~lightning_carbon.report.build`: all of it; :mod:`~.command`: the command line

Importing it does not import matplotlib.

Example::

    $ lightning-carbon report lightning_logs/version_0 lightning_logs/version_1 \\
          --regions DNK,gcp:europe-north1,US-CA --format png,pdf --out carbon-report
    $ lightning-carbon report lightning_logs/version_0 --json > report.json
"""

from lightning_carbon.report.build import (
    DEFAULT_METRIC,
    DEFAULT_OUT,
    REPORT_SCHEMA,
    Report,
    build_report,
)
from lightning_carbon.report.combine import combined_summary
from lightning_carbon.report.command import register_cli
from lightning_carbon.report.runs import RunReport, UnusableRun, load_run

__all__ = [
    "DEFAULT_METRIC",
    "DEFAULT_OUT",
    "REPORT_SCHEMA",
    "Report",
    "RunReport",
    "UnusableRun",
    "build_report",
    "combined_summary",
    "load_run",
    "register_cli",
]
