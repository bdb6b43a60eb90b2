"""Run every benchmark in turn, each in its own process, and say which ones crashed.

The benchmarks report their figures against their targets and exit 0 on a MISS; this script
exits 1 only if one of them crashed (a non-zero exit). ``--quick`` is passed on, for a smoke
run of a few minutes; the precision A/B gets smaller settings than its own defaults either way.
The repository root is put first on ``PYTHONPATH``, so the benchmarks also run from a checkout
where the package is not installed. ``make bench`` calls this script.

Example::

    python benchmarks/run_all.py            # about 10-15 minutes on a 2-core CPU
    python benchmarks/run_all.py --quick    # a few minutes
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent

BENCHMARKS: dict[str, tuple[list[str], list[str]]] = {
    "precision_ab.py": (
        ["--repeats", "2", "--cooldown-s", "2"],
        ["--images", "64", "--epochs", "1", "--repeats", "1", "--cooldown-s", "0"],
    ),
    "meter_overhead.py": ([], ["--quick"]),
    "callback_overhead.py": ([], ["--quick"]),
    "epoch_end_cost.py": ([], ["--quick"]),
    "optuna_budget_check.py": ([], ["--quick"]),
}
"""Script: (arguments of a full run, arguments of a --quick run)."""


def _run(script: str, arguments: list[str]) -> tuple[int, float]:
    """Exit code and wall seconds of one benchmark; its output goes straight to ours."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE.parent), env.get("PYTHONPATH")]))
    command = [sys.executable, str(HERE / script), *arguments]
    print(f"\n===== {' '.join([script, *arguments])} =====", flush=True)
    start_s = time.perf_counter()
    code = subprocess.run(command, cwd=HERE.parent, env=env, check=False).returncode
    return code, time.perf_counter() - start_s


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke runs of every benchmark")
    args = parser.parse_args(argv)

    results = {
        script: _run(script, quick if args.quick else full)
        for script, (full, quick) in BENCHMARKS.items()
    }
    print("\n===== summary =====")
    for script, (code, seconds) in results.items():
        status = "ran" if code == 0 else f"CRASHED (exit code {code})"
        print(f"  {script:<24} {status}, {seconds:.0f} s")
    return 0 if all(code == 0 for code, _ in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
