"""Mutation score of the core and the run's bookkeeping: do the tests fail when the code is wrong?

mutmut (3.x, the ``bench`` extra) makes small changes to the code, one at a time (``<`` for
``<=``, ``None`` for an argument, ``+ 1`` on a number, a string changed), and runs the unit
tests that reach the changed function against each. A mutant is *killed* when a test fails
(or hangs past its time limit); one that *survives* is a change no test notices. Each area
runs in its own copy of the repository under ``--out`` with a fast test selection (unit tests
and the area's doctests, no Lightning fits), so every mutant is judged in about a second.

The score of an area is killed / all mutants (a mutant that no selected test reaches counts
as not killed). Target: at least 90 % in each area. Every survivor is printed with its diff,
unless ``EXPLAINED`` below says why no test should kill it (equivalent, or out of reach); an
explanation is keyed by file, function and the mutated line, never by mutmut's number, and one
that no longer matches a survivor is printed as stale. Not run in CI: a full run takes about
10-15 minutes with 2 workers on a 2-core CPU. A MISS still exits 0; a crash does not.

Example::

    python benchmarks/mutation.py                    # every area
    python benchmarks/mutation.py --area predict     # one area while iterating
    python benchmarks/mutation.py --quick            # the smallest area only, a smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = 0.90
PYTEST_ARGS = ["-p", "no:cacheprovider", "-m", "not slow and not gpu", "--timeout=30"]
"""Added to every pytest run: no cache, no Lightning fits or GPU tests, and a hang fails."""


@dataclass(frozen=True)
class Area:
    """Files to mutate (globs from the repository root) and the tests that judge them."""

    files: tuple[str, ...]
    tests: tuple[str, ...]


_RUN_TESTS = ("tests/test_run.py", "tests/test_run_records.py", "tests/test_run_totals.py")
AREAS: dict[str, Area] = {
    "sensors": Area(
        ("lightning_carbon/sensors/*.py",),
        (
            "tests/test_sensors_attribution.py",
            "tests/test_sensors_estimate.py",
            "tests/test_sensors_nvml.py",
            "tests/test_sensors_rapl.py",
            "tests/test_meter.py",
            "lightning_carbon/sensors",
        ),
    ),
    "meter": Area(
        ("lightning_carbon/meter.py",), ("tests/test_meter.py", "lightning_carbon/meter.py")
    ),
    "reading": Area(
        ("lightning_carbon/reading.py",),
        ("tests/test_meter.py", "tests/test_run_totals.py", "lightning_carbon/reading.py"),
    ),
    "run": Area(("lightning_carbon/run.py",), (*_RUN_TESTS, "lightning_carbon/run.py")),
    "run_totals": Area(
        ("lightning_carbon/run_totals.py",), (*_RUN_TESTS, "lightning_carbon/run_totals.py")
    ),
    "predict": Area(
        ("lightning_carbon/predict.py",),
        ("tests/test_predict.py", *_RUN_TESTS, "lightning_carbon/predict.py"),
    ),
    "records": Area(("lightning_carbon/records.py",), (*_RUN_TESTS, "lightning_carbon/records.py")),
    "footprint": Area(
        ("lightning_carbon/footprint.py",),
        (
            "tests/test_footprint.py",
            "tests/test_intensity_table.py",
            "lightning_carbon/footprint.py",
        ),
    ),
}
"""Area: what it mutates and its test selection (test files, and folders or modules whose
doctests run)."""


@dataclass(frozen=True)
class Explained:
    """A survivor no test should kill: where it is, the mutated line as the diff shows it
    (stripped; several lines joined by `` / ``), and why."""

    path: str
    function: str
    mutated: str
    why: str


EQUIVALENT = "equivalent"
EXPLAINED: tuple[Explained, ...] = (
    Explained(
        "lightning_carbon/predict.py",
        "forecast",
        "steady = list(epochs[1:]) if len(epochs) >= 2 else list(epochs[:2])",
        f"{EQUIVALENT}: the branch runs with fewer than 2 epochs, where [:1] and [:2] are equal",
    ),
)
"""Survivors explained, by file, function and mutated line."""


@dataclass
class Mutant:
    name: str
    path: str
    function: str
    status: str
    diff: str = ""
    mutated: str = ""
    explained: Explained | None = None


@dataclass
class Score:
    area: str
    mutants: list[Mutant] = field(default_factory=list)
    seconds: float = 0.0
    crashed: str = ""

    def count(self, *statuses: str) -> int:
        return sum(m.status in statuses for m in self.mutants)

    @property
    def killed(self) -> int:
        return self.count("killed", "timeout", "segfault")

    @property
    def ratio(self) -> float:
        return self.killed / len(self.mutants) if self.mutants else 0.0

    @property
    def not_killed(self) -> list[Mutant]:
        return [m for m in self.mutants if m.status not in ("killed", "timeout", "segfault")]


_STATUS = {1: "killed", 3: "killed", 0: "survived", 5: "no tests", 33: "no tests"}
_STATUS.update({36: "timeout", -24: "timeout", 24: "timeout", 152: "timeout", 255: "timeout"})
_STATUS.update({-11: "segfault", -9: "segfault", None: "not checked"})


def _status(exit_code: int | None) -> str:
    return _STATUS.get(exit_code, "suspicious")


def _function(mutant_name: str, module: str) -> str:
    """``lightning_carbon.run.xǁCarbonRunǁstart__mutmut_3`` -> ``CarbonRun.start``."""
    local = re.sub(r"__mutmut_\d+$", "", mutant_name[len(module) + 1 :])
    if local.startswith("xǁ"):
        return ".".join(local[2:].split("ǁ"))
    return local.removeprefix("x_")


def _pyproject(area: Area, files: list[str]) -> str:
    """The copy's pyproject.toml: the project's own (its pytest settings), and mutmut's."""
    mutmut = [
        "",
        "[tool.mutmut]",
        'source_paths = ["lightning_carbon"]',
        f"only_mutate = {json.dumps(files)}",
        f"pytest_add_cli_args_test_selection = {json.dumps(list(area.tests))}",
        f"pytest_add_cli_args = {json.dumps(PYTEST_ARGS)}",
        "use_git_change_detection = false",
    ]
    return (ROOT / "pyproject.toml").read_text() + "\n".join(mutmut) + "\n"


def _prepare(area: Area, work: Path) -> list[str]:
    """A fresh copy of the package and the tests in ``work``; returns the files to mutate."""
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for folder in ("lightning_carbon", "tests"):
        shutil.copytree(ROOT / folder, work / folder, ignore=ignore)
    files = sorted(
        str(path.relative_to(ROOT)) for pattern in area.files for path in ROOT.glob(pattern)
    )
    (work / "pyproject.toml").write_text(_pyproject(area, files))
    return files


@contextmanager
def _inside(folder: Path) -> Iterator[None]:
    before = Path.cwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(before)


def _mutated_lines(diff: str) -> str:
    return " / ".join(
        line[1:].strip()
        for line in diff.splitlines()
        if line.startswith("+") and not line.startswith("+++")
    )


def _collect(name: str, work: Path, files: list[str]) -> list[Mutant]:
    """Every mutant of the area with its status, and the diff of each that was not killed."""
    from mutmut.configuration import reset_config
    from mutmut.mutation.diff_apply import get_diff_for_mutant

    mutants = []
    with _inside(work):
        reset_config()
        for path in files:
            meta = json.loads(Path("mutants", path + ".meta").read_text())
            module = path.removesuffix(".py").replace("/", ".")
            for key, code in sorted(meta["exit_code_by_key"].items()):
                mutant = Mutant(key, path, _function(key, module), _status(code))
                if mutant.status not in ("killed", "timeout", "segfault"):
                    mutant.diff = get_diff_for_mutant(key, path=path)
                    mutant.mutated = _mutated_lines(mutant.diff)
                    mutant.explained = next(
                        (
                            e
                            for e in EXPLAINED
                            if (e.path, e.function, e.mutated)
                            == (path, mutant.function, mutant.mutated)
                        ),
                        None,
                    )
                mutants.append(mutant)
    return mutants


def run_area(name: str, out: Path, workers: int) -> Score:
    """Run mutmut over one area in a fresh copy; its log goes to ``out/<area>.log``."""
    area = AREAS[name]
    work = out / name
    files = _prepare(area, work)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    log = out / f"{name}.log"
    start_s = time.perf_counter()
    with log.open("w") as stream:
        code = subprocess.run(
            [sys.executable, "-m", "mutmut", "run", "--max-children", str(workers)],
            cwd=work,
            env=env,
            stdout=stream,
            stderr=subprocess.STDOUT,
            check=False,
        ).returncode
    score = Score(name, seconds=time.perf_counter() - start_s)
    if code != 0:
        tail = log.read_text(errors="replace")[-3000:]
        score.crashed = f"mutmut exited {code}; the end of {log}:\n{tail}"
        return score
    score.mutants = _collect(name, work, files)
    return score


def _table(scores: list[Score]) -> str:
    rows = [
        "| Area | Mutants | Killed | Survived | No tests | Timeout | Explained | Score | Target |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for s in scores:
        if s.crashed:
            rows.append(f"| {s.area} | crashed | | | | | | | MISS |")
            continue
        explained = sum(m.explained is not None for m in s.not_killed)
        verdict = "PASS" if s.ratio >= TARGET else "MISS"
        rows.append(
            f"| {s.area} | {len(s.mutants)} | {s.killed} | {s.count('survived')} | "
            f"{s.count('no tests')} | {s.count('timeout')} | {explained} | "
            f"{100 * s.ratio:.1f} % | {verdict} (>= {100 * TARGET:.0f} %) |"
        )
    mutants = sum(len(s.mutants) for s in scores)
    killed = sum(s.killed for s in scores)
    if mutants:
        rows.append(f"| all | {mutants} | {killed} | | | | | {100 * killed / mutants:.1f} % | |")
    return "\n".join(rows)


def _report(scores: list[Score]) -> str:
    parts = []
    for s in scores:
        if s.crashed:
            parts.append(f"\n### {s.area}: crashed\n\n{s.crashed}")
            continue
        open_ = [m for m in s.not_killed if m.explained is None]
        explained = [m for m in s.not_killed if m.explained is not None]
        parts.append(f"\n### {s.area}: {len(open_)} unexplained, {len(explained)} explained")
        for m in open_:
            parts.append(f"\n{m.status}: {m.function}  ({m.name})\n{m.diff}")
        for m in explained:
            parts.append(f"- {m.path} {m.function}: `{m.mutated}`: {m.explained.why}")
    ran = {s.area for s in scores if not s.crashed}
    matched = {id(m.explained) for s in scores for m in s.mutants if m.explained}
    stale = [
        e for e in EXPLAINED if id(e) not in matched and any(e.path in AREAS_FILES[a] for a in ran)
    ]
    if stale:
        parts.append("\n### Stale explanations (no survivor matches them any more)")
        parts.extend(f"- {e.path} {e.function}: `{e.mutated}`" for e in stale)
    return "\n".join(parts)


AREAS_FILES = {
    name: {str(p.relative_to(ROOT)) for g in area.files for p in ROOT.glob(g)}
    for name, area in AREAS.items()
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--area", action="append", choices=sorted(AREAS), help="repeatable")
    parser.add_argument("--workers", type=int, default=2, help="mutants judged at once")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out" / "mutation")
    parser.add_argument("--quick", action="store_true", help="only the smallest area (predict)")
    args = parser.parse_args(argv)
    names = ["predict"] if args.quick else args.area or list(AREAS)
    args.out.mkdir(parents=True, exist_ok=True)

    scores = []
    for name in names:
        print(f"== {name}: mutating {', '.join(AREAS[name].files)}", flush=True)
        score = run_area(name, args.out, args.workers)
        print(
            f"   {len(score.mutants)} mutants, {score.killed} killed in {score.seconds:.0f} s",
            flush=True,
        )
        scores.append(score)

    table, report = _table(scores), _report(scores)
    print("\n## Mutation score (mutmut; killed / all mutants)\n")
    print(table)
    print(report)
    (args.out / "mutation.md").write_text(f"{table}\n{report}\n")
    return 1 if any(s.crashed for s in scores) else 0


if __name__ == "__main__":
    sys.exit(main())
