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
11 minutes with 2 workers on a 2-core CPU. A MISS still exits 0; a crash does not.

Example::

    python benchmarks/mutation.py                    # every area
    python benchmarks/mutation.py --area predict     # one area while iterating
    python benchmarks/mutation.py --quick            # the smallest area only, a smoke run
    python benchmarks/mutation.py --report-only      # the last run's results again
"""

from __future__ import annotations

import argparse
import ast
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
PYTEST_ARGS = ["-p", "no:cacheprovider", "-m", "not slow and not gpu", "--timeout=10"]
"""Added to every pytest run: no cache, no Lightning fits or GPU tests, and a hang fails."""


@dataclass(frozen=True)
class Area:
    """Files to mutate (globs from the repository root) and the tests that judge them."""

    files: tuple[str, ...]
    tests: tuple[str, ...]


_RUN_TESTS = (
    "tests/test_run.py",
    "tests/test_run_state.py",
    "tests/test_run_records.py",
    "tests/test_run_totals.py",
)
AREAS: dict[str, Area] = {
    "sensors": Area(
        ("lightning_carbon/sensors/*.py",),
        (
            "tests/test_sensors_attribution.py",
            "tests/test_sensors_cgroup.py",
            "tests/test_sensors_estimate.py",
            "tests/test_sensors_machine.py",
            "tests/test_sensors_nvml.py",
            "tests/test_sensors_rapl.py",
            "tests/test_meter.py",
            "lightning_carbon/sensors",
        ),
    ),
    "meter": Area(
        ("lightning_carbon/meter.py",),
        (
            "tests/test_meter.py",
            "tests/test_sensors_attribution.py",
            "tests/test_run.py",
            "lightning_carbon/meter.py",
        ),
    ),
    "reading": Area(
        ("lightning_carbon/reading.py",),
        (
            "tests/test_reading.py",
            "tests/test_meter.py",
            "tests/test_run_totals.py",
            "tests/test_sensors_attribution.py",
            "lightning_carbon/reading.py",
        ),
    ),
    "run": Area(("lightning_carbon/run.py",), (*_RUN_TESTS, "lightning_carbon/run.py")),
    "run_totals": Area(
        ("lightning_carbon/run_totals.py",), (*_RUN_TESTS, "lightning_carbon/run_totals.py")
    ),
    "predict": Area(
        ("lightning_carbon/predict.py",),
        ("tests/test_predict.py", *_RUN_TESTS, "lightning_carbon/predict.py"),
    ),
    "records": Area(
        ("lightning_carbon/records.py",),
        ("tests/test_records.py", *_RUN_TESTS, "lightning_carbon/records.py"),
    ),
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


LIFTED = ("_guarded", "contextmanager", "property", "functools.cache")
"""Decorators moved below their function in the copy. mutmut leaves decorated functions alone
(a decorator may have side effects when it runs twice); these are plain wrappers, so the copy
applies them after the class (or at the end of the module) instead, and their functions'
bodies are mutated too: the run's guarded methods, the readings' properties, cached look-ups."""


@dataclass(frozen=True)
class Explained:
    """Survivors no test should kill: where they are, the mutated lines as the diff shows
    them (each stripped; a mutant of several lines joined by `` / ``; for one that only takes
    something out, ``removed:`` and what it takes out), and why."""

    path: str
    function: str
    mutated: tuple[str, ...]
    why: str

    def matches(self, mutant: Mutant) -> bool:
        same_place = (self.path, self.function) == (mutant.path, mutant.function)
        return same_place and mutant.mutated in self.mutated


EQUIVALENT = "equivalent"
STACKLEVEL = (
    "out of reach: a warning's stacklevel picks the caller line it names; mutmut's trampolines "
    "add frames in the mutated copy, so no test can pin it there"
)
SIGN_ONLY = (
    f"{EQUIVALENT}: sums and differences of readings pass sign +1 (plus) or -1 (minus), and "
    "only the sign is looked at"
)
UTF8_LOCALE = (
    f"{EQUIVALENT} here: Python's text encoding is UTF-8 on this machine (and in the C locale "
    "since PEP 538/540), and 'UTF-8' is the same codec; the explicit utf-8 is for other "
    "locales, which a test process cannot switch to"
)
SENSORS = "lightning_carbon/sensors/"
STARTED = f"{EQUIVALENT}: start() sets it before anything reads it (reading first is an error)"
TIE = (
    "out of reach: a tie needs one CPU name holding every word of two table rows of the same "
    "length (say 'AMD Opteron 4310 EE' and 'Intel Xeon Silver 4310'); no real name does"
)
ON_THIS_MACHINE = "out of reach here: this machine gives the same answer either way"
EXPLAINED: tuple[Explained, ...] = (
    Explained(
        f"{SENSORS}architecture.py",
        "_from_model_number",
        ("if (best is None or len(model_tokens) >= len(best[0])) and words_in_order(",),
        TIE,
    ),
    Explained(
        f"{SENSORS}tdp.py",
        "_match_in_table",
        ("longer = best is None or len(row[1]) >= len(best[1])",),
        TIE,
    ),
    Explained(
        f"{SENSORS}tdp.py",
        "_table",
        (
            'text = resources.files("lightning_carbon.data").joinpath("cpu_tdp.csv").read_text("UTF-8")',  # noqa: E501
            'text = resources.files("lightning_carbon.data").joinpath("cpu_tdp.csv").read_text(None)',  # noqa: E501
            "for name, tdp in list(csv.reader(io.StringIO(text, newline=None)))[1:]:",
            "for name, tdp in list(csv.reader(io.StringIO(text, )))[1:]:",
        ),
        f"{UTF8_LOCALE}; the shipped table has no line breaks inside a field, so newline "
        "handling does not change a row",
    ),
    Explained(
        f"{SENSORS}cgroup.py",
        "_read",
        (
            "with open(path, encoding=None) as file:",
            "with open(path, ) as file:",
            'with open(path, encoding="UTF-8") as file:',
        ),
        UTF8_LOCALE,
    ),
    Explained(
        f"{SENSORS}cgroup.py",
        "_read_v1",
        (
            'detail = ""',
            "if limit is None or period is None or int(limit) <= 0:",
            "if limit is None or period is None or int(limit) < 1:",
        ),
        f"{EQUIVALENT}: the kernel refuses a CFS quota under 1000 us, so a quota of 0 never "
        "reaches the file; the detail is set with the quota, never without it",
    ),
    Explained(
        f"{SENSORS}cgroup.py",
        "_read_v2",
        ('limit, _, period = text.rpartition(" ")', 'detail = ""'),
        f"{EQUIVALENT}: cpu.max holds exactly two fields; the detail is set with the quota",
    ),
    Explained(
        f"{SENSORS}cgroup.py",
        "CgroupLimits.usage_s",
        ('key, _, value = line.rpartition(" ")',),
        f"{EQUIVALENT}: each cpu.stat line holds exactly two fields",
    ),
    Explained(
        f"{SENSORS}cgroup.py",
        "read_cgroup",
        ('for controller in controllers.split(",") if (controllers) or True else [""]:',),
        f"{EQUIVALENT}: splitting the empty v2 controller list gives [''] too",
    ),
    Explained(
        f"{SENSORS}cpu_power.py",
        "choose_cpu_model",
        (
            'given = TdpMatch(cpu.model_name, None, check_tdp(tdp_override_W), "XXoverrideXX", "user-given")',  # noqa: E501
            'given = TdpMatch(cpu.model_name, None, check_tdp(tdp_override_W), "OVERRIDE", "user-given")',  # noqa: E501
            'given = TdpMatch(cpu.model_name, None, check_tdp(tdp_override_W), None, "user-given")',
            'given = TdpMatch(None, None, check_tdp(tdp_override_W), "override", "user-given")',
        ),
        f"{EQUIVALENT}: the model reads only the user's TDP and its detail from that match",
    ),
    Explained(
        f"{SENSORS}cpu_power.py",
        "_per_cpu_model_or_fallback",
        ("return _per_cpu_model(name, unit, kind, None, scope, architecture)",),
        f"{EQUIVALENT}: a per-CPU model does not read the CPU (its architecture says it all)",
    ),
    Explained(
        f"{SENSORS}cputime.py",
        "busy_cpu_s",
        (
            'return busy_ticks(text[: text.rindex(b"\\n")]) / machine.ticks_per_s',
            "ticks = sum(busy_ticks(line) for line in lines[1:] if line.split(maxsplit=2)[0] in wanted)",  # noqa: E501
        ),
        f"{EQUIVALENT}: only the first fields of the first line are summed, and the first word "
        "of a line is the same whatever the split's limit",
    ),
    Explained(
        f"{SENSORS}cputime.py",
        "ProcessTreeTime._read",
        ("self._read_paths.add(None)",),
        f"{EQUIVALENT} in the results: only which files stay open between reads changes",
    ),
    Explained(
        f"{SENSORS}discovery.py",
        "_node_sensors",
        (
            "ccf_cpu = None",
            'estimates.append((CpuEstimateSensor(model, scope=scope), "XXpackageXX"))',
            'estimates.append((CpuEstimateSensor(model, scope=scope), "PACKAGE"))',
            "how = sensor.description.split(None, 1)[-1]",
            'how = sensor.description.split(": ", 1)[+1]',
            "for sensor, choice in zip(rapl.sensors, rapl.choices, strict=None):",
            "for sensor, choice in zip(rapl.sensors, rapl.choices, ):",
            "for sensor, choice in zip(rapl.sensors, rapl.choices, strict=False):",
        ),
        f"{EQUIVALENT}: the flag is only tested for truth; 'no RAPL package counter' cannot be "
        "said (without a package zone RAPL gives a reason, which is said instead); a "
        "description's label is one word followed by ': '; RAPL discovery makes one choice "
        "per sensor it keeps, so the lists are never of different lengths",
    ),
    Explained(
        f"{SENSORS}discovery.py",
        "discover",
        ("sensors = gpu_sensors", "choices = gpu_choices"),
        f"{EQUIVALENT}: the lists are still empty when the GPUs are added",
    ),
    Explained(
        f"{SENSORS}estimate.py",
        "CpuEstimateSensor.__init__",
        (
            "self._last: tuple[float, float] = None  # (time_s, busy counter) of the last read",
            "self._last: tuple[float, float] = (1.0, 0.0)  # (time_s, busy counter) of the last read",  # noqa: E501
            "self._last: tuple[float, float] = (0.0, 1.0)  # (time_s, busy counter) of the last read",  # noqa: E501
            "self.busy_s = None",
            "self.busy_s = 1.0",
            "self._last_J = None",
            "self._last_J = 1.0",
        ),
        STARTED,
    ),
    Explained(
        f"{SENSORS}machine.py",
        "_affinity",
        ("return os.sched_getaffinity(1)",),
        f"{ON_THIS_MACHINE} (PID 1 may run on the same CPUs as this process)",
    ),
    Explained(
        f"{SENSORS}machine.py",
        "_ticks_per_s",
        ('return os.sysconf("XXSC_CLK_TCKXX")', 'return os.sysconf("sc_clk_tck")'),
        f"{ON_THIS_MACHINE} (USER_HZ is 100, the fallback's value)",
    ),
    Explained(
        f"{SENSORS}machine.py",
        "read_cpuinfo",
        (
            "found = CpuInfo(None, logical_cpus=os.cpu_count() or 1)",
            'with open(machine.cpuinfo_path, encoding=None, errors="replace") as cpuinfo:',
            'with open(machine.cpuinfo_path, errors="replace") as cpuinfo:',
            'with open(machine.cpuinfo_path, encoding="UTF-8", errors="replace") as cpuinfo:',
        ),
        f"{UTF8_LOCALE}; a missing name is replaced by the platform's either way",
    ),
    Explained(
        f"{SENSORS}machine.py",
        "OpenFiles.__del__",
        ("with contextlib.suppress(None):", "os.close(None)"),
        "out of reach: a destructor's clean-up, when the garbage collector runs it",
    ),
    Explained(
        f"{SENSORS}machine.py",
        "OpenFiles._close",
        ("with contextlib.suppress(None):",),
        "out of reach: closing a descriptor the kernel already closed",
    ),
    Explained(
        f"{SENSORS}machine.py",
        "OpenFiles.read",
        ("self._close(None)",),
        "out of reach: an open /proc file whose process vanished fails to read; a regular "
        "file that is still open can always be read",
    ),
    Explained(
        f"{SENSORS}nvml.py",
        "_by_uuid",
        ("return nvml.nvmlDeviceGetHandleByUUID(None)",),
        f"{EQUIVALENT}: a whole UUID is also the only device it is a prefix of",
    ),
    Explained(
        f"{SENSORS}nvml.py",
        "NvmlGpuSensor.__init__",
        (
            'method = f"NVML power polled every {POLL_INTERVAL_S * 1001:.0f} ms"',
            "self._integral_mJ = None",
            "self._integral_mJ = 1.0",
            "self._closed = None",
        ),
        f"{EQUIVALENT}: 100.1 ms prints as 100 ms; start() zeroes the integral; the flag is "
        "only tested for truth",
    ),
    Explained(
        f"{SENSORS}poller.py",
        "Poller._run",
        ("self._stop.wait(max(wait_s, 1.0))",),
        "out of reach: how long the thread sleeps when a poll is overdue shows only in wall "
        "time, which tests do not assert",
    ),
    Explained(
        f"{SENSORS}poller.py",
        "Poller.close",
        ("thread.join(timeout=None)", "thread.join(timeout=6.0)"),
        "out of reach: the time limit matters only for a thread that never stops",
    ),
    Explained(
        f"{SENSORS}poller.py",
        "Poller.start",
        ("if self._thread is not None or not self._sensors and self._stop.is_set():",),
        "out of reach: a thread started after close() ends at once; whether it ever ran is a "
        "race no test can pin",
    ),
    Explained(
        f"{SENSORS}rapl.py",
        "_read_text",
        (
            'return path.read_text(encoding=None, errors="replace").strip()',
            'return path.read_text(errors="replace").strip()',
            'return path.read_text(encoding="UTF-8", errors="replace").strip()',
        ),
        UTF8_LOCALE,
    ),
    Explained(
        f"{SENSORS}rapl.py",
        "RaplSensor.__init__",
        ("self._total_uJ = None", "self._total_uJ = 1"),
        STARTED,
    ),
    Explained(
        "lightning_carbon/run.py",
        "_print_info",
        (
            "print(message, file=sys.stderr, flush=None)",
            "print(message, file=sys.stderr, )",
            "print(message, file=sys.stderr, flush=False)",
        ),
        "out of reach: whether standard error is flushed at once cannot be seen from inside "
        "the process (the message itself is tested)",
    ),
    Explained(
        "lightning_carbon/run.py",
        "CarbonRun._start",
        ("self.should_stop = None",),
        f"{EQUIVALENT}: the flag is only tested for truth",
    ),
    Explained(
        "lightning_carbon/run.py",
        "CarbonRun._warn_once",
        (
            'warnings.warn(f"lightning-carbon: {message}", CarbonBudgetWarning, stacklevel=4)',
            'warnings.warn(f"lightning-carbon: {message}", CarbonBudgetWarning, )',
        ),
        STACKLEVEL,
    ),
    Explained(
        "lightning_carbon/run_totals.py",
        "RunTotals.__init__",
        (
            'self._segment_epochs: EnergyReading | None = ""',
            'self._outside_index: int | None = ""',
            "self._priced_until_utc = None",
            'self._priced_until_utc = "XXXX"',
            "self._outside_duration_added = None",
            "self._outside_duration_added = 1.0",
            'self.latest_forecast: Forecast | None = ""',
            "self.run_done = None",
        ),
        f"{EQUIVALENT}: begin_segment() sets the segment's state before any epoch is added "
        "(a fit always begins one); the forecast and the flag are only tested for truth",
    ),
    Explained(
        "lightning_carbon/run_totals.py",
        "RunTotals.begin_segment",
        ("self.run_done = None", "self._priced_until_utc = None"),
        f"{EQUIVALENT}: the flag and the time priced until are only tested for truth",
    ),
    *(
        Explained(
            "lightning_carbon/run_totals.py",
            function,
            tuple(line.replace("NAME", name) for name in names for line in lines),
            f"{EQUIVALENT}: the name of an internal sum of readings is never read",
        )
        for function, lines, names in (
            (
                "_sum_readings",
                ("total = EnergyReading(None, 0.0, {}, {}, {})",),
                ("",),
            ),
            (
                "RunTotals._section",
                (
                    'reading = _sum_readings([EnergyReading.from_dict(r["reading"]) for r in '
                    "records], NAME)",
                ),
                ('"PART"', "None", '"XXpartXX"'),
            ),
            (
                "RunTotals.running",
                ("since = fit_so_far.minus(_sum_readings(counted, NAME))",),
                ("None", '"XXcountedXX"', '"COUNTED"'),
            ),
            (
                "RunTotals.summary",
                (
                    'every = _sum_readings([EnergyReading.from_dict(r["reading"]) for r in '
                    "self.records], NAME)",
                ),
                ("None", '"XXallXX"', '"ALL"'),
            ),
        )
    ),
    Explained(
        "lightning_carbon/run_totals.py",
        "RunTotals._update_outside",
        (
            '"reading": EnergyReading(None, 0.0, {}, {}, {}).to_dict(),',
            '"reading": EnergyReading(OUTSIDE_EPOCHS, 0.0, {}, None, {}).to_dict(),',
            '"reading": EnergyReading(OUTSIDE_EPOCHS, 1.0, {}, {}, {}).to_dict(),',
        ),
        f"{EQUIVALENT}: the new record's empty reading is replaced at once; its duration only "
        "reaches the first epoch of a segment, whose cost leaves the gap out",
    ),
    Explained(
        "lightning_carbon/run_totals.py",
        "RunTotals._training_section",
        (
            'if not fit and "XXfitXX" not in self.stages:',
            'if not fit and "FIT" not in self.stages:',
        ),
        f"{EQUIVALENT}: a finished fit always has its outside-epochs record, so 'no fit "
        "records' implies 'fit' is not among the stages",
    ),
    Explained(
        "lightning_carbon/run_totals.py",
        "_qualified",
        (
            'attribution["devices"] = [f"node{node}/{d}" for d in attribution.get("devices", None)]',  # noqa: E501
            'attribution["devices"] = [f"node{node}/{d}" for d in attribution.get("devices", )]',
        ),
        "out of reach: every attribution record has its devices (attribution_record writes "
        "them, and an empty attribution is left as it is); the default guards hand-made ones",
    ),
    Explained(
        "lightning_carbon/footprint.py",
        "_Comparison.at",
        (
            'unit, value = next(((u, count * per) for u, per in self.units if count * per >= 1), ("XXXX", 0))',  # noqa: E501
        ),
        f"{EQUIVALENT}: the unit of a count of 0 is never shown (below 1 of the smallest unit)",
    ),
    Explained(
        "lightning_carbon/records.py",
        "RunRecords._write_atomically",
        (
            'partial = path.with_suffix(path.suffix + "XX.tmpXX")',
            'partial = path.with_suffix(path.suffix + ".TMP")',
        ),
        f"{EQUIVALENT}: the temporary file is renamed over the record at once; its name is "
        "never seen (the tests check that none is left)",
    ),
    Explained(
        "lightning_carbon/records.py",
        "RunRecords._write_atomically",
        (
            'text if not text or text.endswith("\\n") else text + "\\n", encoding=None',
            'text if not text or text.endswith("\\n") else text + "\\n", )',
            'text if not text or text.endswith("\\n") else text + "\\n", encoding="UTF-8"',
        ),
        UTF8_LOCALE,
    ),
    Explained(
        "lightning_carbon/records.py",
        "RunRecords.append_epoch",
        (
            'with self.epochs_path.open("a", encoding=None) as stream:',
            'with self.epochs_path.open("a", ) as stream:',
            'with self.epochs_path.open("a", encoding="UTF-8") as stream:',
        ),
        UTF8_LOCALE,
    ),
    Explained(
        "lightning_carbon/records.py",
        "RunRecords.read_epochs",
        (
            "for line in self.epochs_path.read_text(encoding=None).splitlines():",
            'for line in self.epochs_path.read_text(encoding="UTF-8").splitlines():',
        ),
        UTF8_LOCALE,
    ),
    Explained(
        "lightning_carbon/meter.py",
        "EnergyMeter.__init__",
        (
            'self._next_sharing_check_s = float("-INF")',
            "self._next_sharing_check_s = None",
            "self._started = None",
            "self._closed = None",
        ),
        f"{EQUIVALENT}: float('-INF') is -inf; start() checks sharing, which sets the next "
        "check, before any window can end; the flags are only tested for truth",
    ),
    Explained(
        "lightning_carbon/meter.py",
        "EnergyMeter._attributed",
        ('method = "machine" if (split) and False else self._attribution.method',),
        f"{EQUIVALENT}: node-wide devices go unsplit only when the method is 'machine' or CPU "
        "times failed, which sets the method to 'machine' (tested)",
    ),
    Explained(
        "lightning_carbon/meter.py",
        "EnergyMeter._check_sharing",
        ('pids = ""',),
        f"{EQUIVALENT}: no PIDs, like unknown ones, make no device shared",
    ),
    Explained(
        "lightning_carbon/meter.py",
        "EnergyMeter._reading",
        (
            "d: max(end.energy_J_by_device[d] - begin.energy_J_by_device.get(d, None), 0.0)",
            "d: max(end.energy_J_by_device[d] - begin.energy_J_by_device.get(d, ), 0.0)",
            "d: max(end.energy_J_by_device[d] - begin.energy_J_by_device.get(d, 1.0), 0.0)",
        ),
        f"{EQUIVALENT}: only devices in the window's first snapshot are read, so the default "
        "is never used",
    ),
    *(
        Explained(
            "lightning_carbon/meter.py",
            function,
            (f"stacklevel={level + 1},", f"removed: stacklevel={level},"),
            STACKLEVEL,
        )
        for function, level in (
            ("EnergyMeter._check_sharing", 3),
            ("EnergyMeter._cpu_times", 4),
            ("EnergyMeter._drop", 2),
            ("EnergyMeter._synchronize_or_stop", 3),
        )
    ),
    Explained(
        "lightning_carbon/reading.py",
        "_added",
        (
            "first: dict[str, float], second: dict[str, float], sign: float = 2.0",
            "if sign <= 0:",
            "if sign < 1:",
        ),
        SIGN_ONLY,
    ),
    Explained(
        "lightning_carbon/reading.py",
        "EnergyReading.minus",
        (
            "machine = _added(self.machine_energy_J_by_device, other.machine_energy_J_by_device, -2.0)",  # noqa: E501
            "energy = _added(self.energy_J_by_device, other.energy_J_by_device, sign=-2.0)",
        ),
        SIGN_ONLY,
    ),
    Explained(
        "lightning_carbon/reading.py",
        "_added_attribution",
        (
            "return dict(first if sign <= 0 else (first or second))",
            "return dict(first if sign < 1 else (first or second))",
        ),
        SIGN_ONLY,
    ),
    Explained(
        "lightning_carbon/reading.py",
        "_added_attribution",
        (
            "sum(energy.get(d, None) for d in devices) / machine_J",
            "sum(energy.get(d, ) for d in devices) / machine_J",
            "sum(energy.get(d, 1.0) for d in devices) / machine_J",
            "machine_J = sum(machine.get(d, None) for d in devices)",
            "machine_J = sum(machine.get(d, ) for d in devices)",
            "machine_J = sum(machine.get(d, 1.0) for d in devices)",
            'job_cpu_s = max(first.get("job_cpu_s", 1.0) + sign * second.get("job_cpu_s", 0.0), 0.0)',  # noqa: E501
            'job_cpu_s = max(first.get("job_cpu_s", 0.0) + sign * second.get("job_cpu_s", 1.0), 0.0)',  # noqa: E501
            'first.get("node_busy_cpu_s", 1.0) + sign * second.get("node_busy_cpu_s", 0.0), 0.0',
            'first.get("node_busy_cpu_s", 0.0) + sign * second.get("node_busy_cpu_s", 1.0), 0.0',
        ),
        "out of reach: defaults of hand-made records only. A split device is always in the "
        "reading's energy (the meter reads every device in every snapshot), and a record that "
        "splits devices always has its CPU seconds (attribution_record writes them); one that "
        "splits none (tested) never shows them",
    ),
    Explained(
        "lightning_carbon/predict.py",
        "forecast",
        ("steady = list(epochs[1:]) if len(epochs) >= 2 else list(epochs[:2])",),
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


def _lift_decorators(path: Path) -> list[str]:
    """Apply the ``LIFTED`` decorators of ``path``'s functions and methods after their
    definition instead of above it (same objects once the module is imported); returns the
    names of the cached ones (``functools.cache``). A getter whose name other decorators use
    (``x.setter``) stays as it is."""
    source = path.read_text()
    lines = source.splitlines(keepends=True)
    dropped: set[int] = set()
    rebinds: list[str] = []
    cached: list[str] = []

    def visit(body: list[ast.stmt], owner: str | None) -> None:
        used = {ast.unparse(d) for n in body for d in getattr(n, "decorator_list", [])}
        for node in body:
            if isinstance(node, ast.ClassDef) and owner is None:
                visit(node.body, node.name)
            if not isinstance(node, ast.FunctionDef) or not node.decorator_list:
                continue
            names = [ast.unparse(d) for d in node.decorator_list]
            if any(n not in LIFTED for n in names) or any(
                u.startswith(f"{node.name}.") for u in used
            ):
                continue
            for decorator in node.decorator_list:
                dropped.update(range(decorator.lineno, decorator.end_lineno + 1))
            target = f"{owner}.{node.name}" if owner else node.name
            value = f"{owner}.__dict__[{node.name!r}]" if owner else node.name
            for name in reversed(names):
                value = f"{name}({value})"
            rebinds.append(f"{target} = {value}\n")
            if "functools.cache" in names:
                cached.append(target)

    visit(ast.parse(source).body, None)
    if rebinds:
        kept = [line for number, line in enumerate(lines, 1) if number not in dropped]
        path.write_text(
            "".join(kept) + "\n\n# decorators applied here for mutmut\n" + "".join(rebinds)
        )
    return cached


def _clear_caches_before_each_test(conftest: Path, cached: dict[str, list[str]]) -> None:
    """mutmut forks each mutant's process from the one that ran the tests unmutated: a cache
    filled there would hand the mutant the original's results. The copy's tests empty the
    caches of the mutated modules first."""
    if not any(cached.values()):
        return
    body = [
        f"    importlib.import_module({module!r}).{name}.cache_clear()"
        for module, names in cached.items()
        for name in names
    ]
    fixture = [
        "",
        "",
        "@pytest.fixture(autouse=True)",
        "def _mutmut_empty_caches():  # added by benchmarks/mutation.py",
        "    import importlib",
        "",
        *body,
        "",
    ]
    conftest.write_text(conftest.read_text() + "\n".join(fixture))


def _prepare(area: Area, work: Path) -> list[str]:
    """A fresh copy of the package and the tests in ``work``; returns the files to mutate."""
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for folder in ("lightning_carbon", "tests"):
        shutil.copytree(ROOT / folder, work / folder, ignore=ignore)
    files = _files(area)
    cached = {path[:-3].replace("/", "."): _lift_decorators(work / path) for path in files}
    _clear_caches_before_each_test(work / "tests" / "conftest.py", cached)
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
    """The lines a mutant put in, stripped and joined by `` / ``; for a mutant that only took
    something out, ``removed:`` and the lines it took out."""

    def changed(sign: str) -> list[str]:
        return [
            line[1:].strip()
            for line in diff.splitlines()
            if line.startswith(sign) and not line.startswith(sign * 3)
        ]

    added = changed("+")
    if any(re.search(r"\w", line) for line in added):
        return " / ".join(added)
    return "removed: " + " / ".join(line for line in changed("-") if re.search(r"\w", line))


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
                    mutant.explained = next((e for e in EXPLAINED if e.matches(mutant)), None)
                mutants.append(mutant)
    return mutants


def _files(area: Area) -> list[str]:
    return sorted(str(p.relative_to(ROOT)) for pattern in area.files for p in ROOT.glob(pattern))


def report_area(name: str, out: Path) -> Score:
    """The results of the last run of one area, read again from its copy in ``out``."""
    score = Score(name)
    if not (out / name / "mutants").is_dir():
        score.crashed = f"no earlier run in {out / name}"
        return score
    score.mutants = _collect(name, out / name, _files(AREAS[name]))
    return score


def run_area(name: str, out: Path, workers: int) -> Score:
    """Run mutmut over one area in a fresh copy; its log goes to ``out/<area>.log``."""
    area = AREAS[name]
    work = out / name
    files = _prepare(area, work)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    # each mutant runs in a process forked from one that ran the tests: OpenMP's threads do
    # not survive a fork, and torch's next parallel loop would spin until the CPU limit
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
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
    seen: set[tuple[int, str]] = set()
    for s in scores:
        if s.crashed:
            parts.append(f"\n### {s.area}: crashed\n\n{s.crashed}")
            continue
        open_ = [m for m in s.not_killed if m.explained is None]
        explained = [m for m in s.not_killed if m.explained is not None]
        parts.append(f"\n### {s.area}: {len(open_)} unexplained, {len(explained)} explained")
        for m in open_:
            parts.append(f"\n{m.status}: {m.function}  ({m.name})\n{m.diff}")
        for e in dict.fromkeys(m.explained for m in explained):
            mine = [m for m in explained if m.explained is e]
            parts.append(f"- {e.path} {e.function}, {len(mine)} mutant(s): {e.why}")
            parts.extend(f"    `{m.mutated}`" for m in mine)
            seen.update((id(e), m.mutated) for m in mine)
    ran = {path for s in scores if not s.crashed for path in _files(AREAS[s.area])}
    stale = [
        (e, line)
        for e in EXPLAINED
        if e.path in ran
        for line in e.mutated
        if (id(e), line) not in seen
    ]
    if stale:
        parts.append("\n### Stale explanations (no survivor matches them any more)")
        parts.extend(f"- {e.path} {e.function}: `{line}`" for e, line in stale)
    return "\n".join(parts)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--area", action="append", choices=sorted(AREAS), help="repeatable")
    parser.add_argument("--workers", type=int, default=2, help="mutants judged at once")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out" / "mutation")
    parser.add_argument("--quick", action="store_true", help="only the smallest area (predict)")
    parser.add_argument(
        "--report-only", action="store_true", help="print the last run's results again"
    )
    args = parser.parse_args(argv)
    names = ["predict"] if args.quick else args.area or list(AREAS)
    args.out.mkdir(parents=True, exist_ok=True)

    scores = []
    for name in names:
        if args.report_only:
            scores.append(report_area(name, args.out))
            continue
        print(f"== {name}: mutating {', '.join(AREAS[name].files)}", flush=True)
        score = run_area(name, args.out, args.workers)
        print(
            f"   {len(score.mutants)} mutants, {score.killed} killed in {score.seconds:.0f} s",
            flush=True,
        )
        scores.append(score)

    table, report = _table(scores), _report(scores)
    (args.out / "mutation.md").write_text(f"{table}\n{report}\n")
    print("\n## Mutation score (mutmut; killed / all mutants)\n")
    print(table)
    print(report)
    return 1 if any(s.crashed for s in scores) else 0


if __name__ == "__main__":
    sys.exit(main())
