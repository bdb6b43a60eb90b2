"""Short, stable names for runs, used in tables, plot legends and file names.

In order of precedence: the labels given on the command line (one per run, or one template
such as ``"{precision} F{filters}"`` filled from each run's fields), the ``run_name`` the
records carry (the logger's name and version), else the run folder relative to the common
parent of all the runs. Absolute paths never become labels.

Example::

    >>> slug("unet F8 / 32-true", set())
    'unet-f8-32-true'
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lightning_carbon.report.runs import RunReport


def label_runs(runs: Sequence[RunReport], given: Sequence[str] | None = None) -> None:
    """Set each run's ``label``; repeated labels get `` (2)``, `` (3)``...

    ``given`` is one label per run in order, or a single template with ``{field}``
    placeholders (see :func:`field_value`). Raises ``ValueError`` when the count does not
    match or a template names a field a run does not have.
    """
    if given:
        labels = _given(runs, given)
    else:
        relative = _relative_names([run.directory for run in runs])
        labels = [_run_name(run) or name for run, name in zip(runs, relative, strict=True)]
    seen: dict[str, int] = {}
    for run, label in zip(runs, labels, strict=True):
        seen[label] = seen.get(label, 0) + 1
        run.label = label if seen[label] == 1 else f"{label} ({seen[label]})"


def field_value(run: RunReport, name: str) -> Any:
    """The value of ``name`` among the run's fields (:meth:`RunReport.fields`).

    Raises ``ValueError`` naming the run and the fields it has when it has no ``name``.
    """
    fields = run.fields()
    if name not in fields:
        raise ValueError(
            f"run {run.directory} has no field {name!r}; it has: {', '.join(sorted(fields))}"
        )
    return fields[name]


def slug(label: str, taken: set[str]) -> str:
    """A file-name-safe form of ``label``, unique among ``taken`` (which it joins)."""
    base = re.sub(r"[^A-Za-z0-9]+", "-", label).strip("-").lower() or "run"
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base}-{n}"
    taken.add(name)
    return name


def _given(runs: Sequence[RunReport], given: Sequence[str]) -> list[str]:
    if len(given) == 1 and "{" in given[0]:
        return [_fill(given[0], run) for run in runs]
    if len(given) != len(runs):
        raise ValueError(
            f"{len(given)} label(s) for {len(runs)} readable run(s): give one --label per run, "
            f"or one template such as '{{precision}} F{{filters}}' (got {list(given)!r})"
        )
    return list(given)


def _fill(template: str, run: RunReport) -> str:
    names = re.findall(r"{([^{}:!]*)", template)
    values = {name: field_value(run, name) for name in names}
    try:
        return template.format_map(values)
    except (ValueError, IndexError) as error:
        raise ValueError(f"label template {template!r} is malformed: {error}") from None


def _run_name(run: RunReport) -> str | None:
    name = run.summary.get("run_name")
    return name.strip() if isinstance(name, str) and name.strip() else None


def _relative_names(directories: Sequence[Path]) -> list[str]:
    """Each folder relative to the common parent of all (its own name where that is empty)."""
    resolved = [d.resolve() for d in directories]
    if not resolved:
        return []
    parent = Path(os.path.commonpath(resolved))
    names = []
    for directory in resolved:
        relative = directory.relative_to(parent).as_posix()
        names.append(directory.name if relative == "." else relative)
    return names
