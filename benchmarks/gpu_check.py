"""GPU truth kit: one command that checks in a few minutes what lightning-carbon does on a GPU.

Runs six parts on the first NVIDIA GPU (see ``gpu_check_parts.py``): the sensors and the device,
the GPU-marked tests, NVML's energy counter against polled power, window edges with and without
``synchronize()``, ``CarbonCallback`` on the demo U-Net, and the precision A/B. Each part runs
in its own forked process with its own time limit (all of them together fit in 8 minutes), so
a part that fails, hangs or crashes does not stop the others. Each part prints one Markdown
table and writes it with its figures as ``partN_<name>.md`` and ``.json`` into ``--out``, with
its log; ``gpu_check.md`` and ``gpu_check.json`` gather them all.

Needs nothing but the checkout, the machine's Python (torch, pytorch-lightning, torchmetrics,
nvidia-ml-py, psutil, numpy, pytest) and, for the demo U-Net of parts 5 and 6, MONAI's wheel in
the folder given to ``--wheels`` (installed into a temporary folder, never the network).
``--dry-run`` runs every part on the CPU against the test suite's fake NVML, at tiny sizes, in
seconds. Exit code 1 if a part failed or ran out of time, else 0.

Example::

    PYTHONPATH=. python3 benchmarks/gpu_check.py --wheels .whl --out /tmp/gpu_check
    PYTHONPATH=. python3 benchmarks/gpu_check.py --dry-run --parts 3,4
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import gpu_check_parts as parts  # noqa: E402  (a sibling: benchmarks/ is sys.path[0])
from gpu_check_rigs import CudaRig, FakeRig  # noqa: E402

BUDGET_S = 480.0
"""All parts together, in seconds: the sum of their limits."""


@dataclass(frozen=True)
class Part:
    number: int
    name: str
    title: str
    limit_s: float
    run: Callable[[parts.Context], parts.PartResult]


PARTS = (
    Part(1, "sensors", "Sensors and device", 30, parts.sensors_and_device),
    Part(2, "gpu_tests", "GPU-marked tests", 60, parts.gpu_tests),
    Part(3, "counter_vs_power", "NVML energy counter against polled power", 100,
         parts.counter_against_power),
    Part(4, "synchronisation", "Window edges with and without synchronize()", 40,
         parts.synchronisation),
    Part(5, "callback_epochs", "CarbonCallback on the demo U-Net", 70, parts.callback_epochs),
    Part(6, "precision_ab", "Precision A/B on the demo U-Net", 180, parts.precision_ab),
)  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--out", default="benchmarks/out/gpu_check", help="folder for tables, figures and logs"
    )
    parser.add_argument(
        "--parts", default="1,2,3,4,5,6", help="which parts, e.g. 3,4 (default: all six)"
    )
    parser.add_argument("--wheels", default=None, help="folder of wheels to add (MONAI)")
    parser.add_argument(
        "--dry-run", action="store_true", help="fake NVML on the CPU, tiny sizes, seconds"
    )
    parser.add_argument(
        "--budget-s", type=float, default=BUDGET_S, help=f"all parts, s (default: {BUDGET_S:g})"
    )
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    chosen = _chosen_parts(args.parts)
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="gpu_check_wheels_") as site:
        wheels = _add_wheels(args.wheels, Path(site)) if args.wheels else {}
        env = _subprocess_env(Path(site) if wheels.get("installed") else None)
        if args.dry_run:
            _preload()
        header = _header(args.dry_run, wheels)
        print(header["line"], flush=True)
        deadline_s = time.monotonic() + args.budget_s
        records = []
        for part in chosen:
            limit_s = min(part.limit_s, max(deadline_s - time.monotonic(), 1.0))
            record = _run_part(part, args.dry_run, out, env, limit_s)
            records.append(record)
            print(f"\n{record['markdown']}", flush=True)
    summary = _summary(records)
    print(f"\n{summary}\n\nTables, figures and logs: {out}", flush=True)
    document = {"schema": "lightning-carbon/gpu-check/1", **header, "parts": records}
    (out / "gpu_check.json").write_text(json.dumps(document, indent=2, default=str) + "\n")
    markdown = "\n\n".join(
        [f"# GPU check\n\n{header['line']}", summary] + [r["markdown"] for r in records]
    )
    (out / "gpu_check.md").write_text(markdown + "\n")
    return 0 if all(r["status"] in ("ok", "skipped") for r in records) else 1


# -- running one part --------------------------------------------------------------------------


def _run_part(part: Part, dry: bool, out: Path, env: dict[str, str], limit_s: float) -> dict:
    stem = out / f"part{part.number}_{part.name}"
    stem.with_suffix(".json").unlink(missing_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    started_s = time.monotonic()
    pid = os.fork()
    if pid == 0:  # the part's own process
        _child(part, dry, out, env, limit_s, stem)
    with contextlib.suppress(OSError):  # as the child does: no race with a kill
        os.setpgid(pid, pid)
    exit_code = _wait(pid, limit_s)
    seconds = time.monotonic() - started_s
    record = {"part": part.number, "name": part.name, "title": part.title}
    try:
        record.update(json.loads(stem.with_suffix(".json").read_text()))
    except (OSError, ValueError):
        record.update(
            status="failed", reason=f"its process ended without a result (exit code {exit_code})"
        )
    if exit_code is None:
        record.update(status="timed out", reason=f"ran past its limit of {limit_s:.0f} s")
    record.update(seconds=round(seconds, 2), limit_s=round(limit_s, 2), log=f"{stem}.log")
    record["markdown"] = _part_markdown(record, Path(f"{stem}.log"))
    stem.with_suffix(".json").write_text(json.dumps(record, indent=2, default=str) + "\n")
    stem.with_suffix(".md").write_text(record["markdown"] + "\n")
    return record


def _child(
    part: Part, dry: bool, out: Path, env: dict[str, str], limit_s: float, stem: Path
) -> None:
    """Run the part with its output in its log, write what it found, and never return."""
    code = 1
    record: dict[str, Any] = {"status": "failed", "reason": "did not finish"}
    try:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.setpgid(0, 0)  # its own process group: a timeout ends it with its children
        log = os.open(f"{stem}.log", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(log, 1)
        os.dup2(log, 2)
        sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__  # on those descriptors
        rig = FakeRig() if dry else CudaRig()
        result = part.run(parts.Context(rig, _sizes(dry), out, ROOT, env, limit_s))
        record = {"status": result.status, **asdict(result)}
        code = 0
    except parts.PartSkipped as skipped:
        record = {"status": "skipped", "reason": str(skipped)}
        code = 0
    except BaseException as error:
        traceback.print_exc()
        record = {"status": "failed", "reason": f"{type(error).__name__}: {error}"}
    finally:
        with contextlib.suppress(BaseException):
            stem.with_suffix(".json").write_text(json.dumps(record, default=str))
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def _wait(pid: int, limit_s: float) -> int | None:
    """The child's exit code, or ``None`` if it ran past ``limit_s`` and was killed."""
    deadline_s = time.monotonic() + limit_s
    try:
        while time.monotonic() < deadline_s:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                return os.waitstatus_to_exitcode(status)
            time.sleep(0.05)
        _kill_group(pid)
        os.waitpid(pid, 0)
        return None
    finally:  # also on Ctrl-C or SIGTERM; and its leftovers: loader workers, a pytest run
        _kill_group(pid)


def _exit_on_sigterm(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)  # unwinds through _wait, which ends the running part


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _part_markdown(record: dict[str, Any], log: Path) -> str:
    head = (
        f"## Part {record['part']}: {record['title']} "
        f"({record['status']}, {record['seconds']:.1f} s)"
    )
    if record.get("table") is not None:
        return "\n\n".join([head, record["table"], *record.get("notes", [])])
    tail = log.read_text(errors="replace").strip().splitlines()[-15:] if log.exists() else []
    lines = [head, f"{record['status'].capitalize()}: {record.get('reason', '')}"]
    if record["status"] != "skipped" and tail:
        lines.append("Last lines of its log:\n\n```\n" + "\n".join(tail) + "\n```")
    return "\n\n".join(lines)


def _summary(records: list[dict[str, Any]]) -> str:
    return parts.markdown_table(
        ["Part", "Status", "Time (s)", "Limit (s)"],
        [
            [
                f"{r['part']}. {r['title']}",
                r["status"],
                f"{r['seconds']:.1f}",
                f"{r['limit_s']:.0f}",
            ]
            for r in records
        ],
    )


# -- setting up --------------------------------------------------------------------------------


def _chosen_parts(text: str) -> list[Part]:
    by_number = {part.number: part for part in PARTS}
    try:
        numbers = [int(item) for item in text.split(",") if item.strip()]
    except ValueError:
        numbers = []
    if not numbers or any(n not in by_number for n in numbers):
        raise SystemExit(f"--parts must list numbers from 1 to {len(PARTS)}, got {text!r}")
    return [by_number[n] for n in sorted(set(numbers))]


def _sizes(dry: bool) -> parts.Sizes:
    return parts.DRY_SIZES if dry else parts.GPU_SIZES


def _add_wheels(folder: str, site: Path) -> dict[str, Any]:
    """Install every wheel of ``folder`` into ``site`` (no index, no dependencies) and put it
    on ``sys.path`` after the machine's own packages; say what happened."""
    wheels = sorted(Path(folder).glob("*.whl"))
    found: dict[str, Any] = {
        "folder": str(Path(folder).resolve()),
        "wheels": [w.name for w in wheels],
    }
    if not wheels:
        found["error"] = f"no .whl file in {folder!r}"
        return found
    command = [
        sys.executable, "-m", "pip", "install", "--no-index", "--no-deps", "--no-compile",
        "--no-cache-dir", "--disable-pip-version-check", "--quiet", "--target", str(site),
        *map(str, wheels),
    ]  # fmt: skip
    run = subprocess.run(command, capture_output=True, text=True)
    if run.returncode != 0:
        found["error"] = f"pip could not install them: {run.stderr.strip()[-500:]}"
        return found
    sys.path.append(str(site))
    found["installed"] = True
    return found


def _subprocess_env(site: Path | None) -> dict[str, str]:
    """This environment with the checkout (and the wheels) on ``PYTHONPATH``."""
    env = dict(os.environ)
    paths = [str(ROOT), env.get("PYTHONPATH", ""), str(site) if site else ""]
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    return env


def _preload() -> None:
    """Dry run only: import the heavy modules once, before the parts fork. On a GPU each part
    imports its own, so that nothing touches CUDA before a part's process exists."""
    import pytorch_lightning  # noqa: F401
    import torch  # noqa: F401

    from tests import fake_nvml  # noqa: F401

    with contextlib.suppress(ModuleNotFoundError):
        import lightning_carbon.demo.module  # noqa: F401


def _header(dry: bool, wheels: dict[str, Any]) -> dict[str, Any]:
    versions = {name: _version(name) for name in ("torch", "pytorch-lightning", "monai")}
    mode = "dry run: fake NVML on the CPU, tiny sizes" if dry else "on the first NVIDIA GPU"
    found = ", ".join(f"{name} {version or 'missing'}" for name, version in versions.items())
    line = f"lightning-carbon GPU check, {mode}; Python {platform.python_version()}, {found}"
    if wheels.get("error"):
        line += f"; wheels: {wheels['error']}"
    return {
        "line": line,
        "dry_run": dry,
        "started_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "versions": versions,
        "wheels": wheels,
    }


def _version(distribution: str) -> str | None:
    with contextlib.suppress(importlib.metadata.PackageNotFoundError):
        return importlib.metadata.version(distribution)
    return None


if __name__ == "__main__":
    sys.exit(main())
