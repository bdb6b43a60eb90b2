"""The CPU power model, chosen by what the machine is; each states its formula and source.

All models are linear in the utilisation ``u`` (the busy share of the counted CPUs, steal
excluded) between a per-CPU idle and full-load power::

    W = n x (min + u x (max - min))

so that over a window ``energy = n x min x seconds + (max - min) x busy CPU seconds``.

- **VM** (the ``hypervisor`` CPU flag), known microarchitecture: ``n`` vCPUs, ``min``/``max``
  Cloud Carbon Footprint's W per vCPU (:mod:`~lightning_carbon.sensors.architecture`).
- **Bare metal**, CPU model in the TDP table: every socket's TDP, shared by the logical CPUs,
  ``max = sockets x TDP / logical CPUs``, with an idle floor ``min = 12 % of max`` (the idle
  point of Teads' measured power curve); at full load the node draws ``sockets x TDP``.
- **Bare metal**, known microarchitecture but no TDP: CCF's W per hardware thread.
- **User-given TDP** (``cpu_tdp_w``): as bare metal, with that TDP per socket.
- **Unknown**: CCF's published average over microarchitectures (0.74 and 3.5 W per vCPU).

``n`` is the scope's CPUs (:mod:`~lightning_carbon.sensors.scope`): a container's quota or
affinity, not the host's CPUs.

Example::

    >>> from lightning_carbon.sensors.machine import CpuInfo
    >>> from lightning_carbon.sensors.scope import CpuScope
    >>> vm = CpuInfo("AMD EPYC", "AuthenticAMD", 25, 1, flags=frozenset({"hypervisor"}),
    ...              logical_cpus=2)
    >>> model = choose_cpu_model(vm, CpuScope(2, 2, None, "all 2 CPUs"))
    >>> model.name, model.power_W(1.0) == 2 * 1.9573
    ('vm-per-vcpu', True)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lightning_carbon.sensors.architecture import (
    CCF_SOURCE,
    FALLBACK_MAX_W_PER_CPU,
    FALLBACK_MIN_W_PER_CPU,
    FALLBACK_SOURCE,
    Architecture,
    find_architecture,
)
from lightning_carbon.sensors.machine import CpuInfo
from lightning_carbon.sensors.scope import CpuScope
from lightning_carbon.sensors.tdp import TdpMatch, check_tdp, match_cpu_tdp

IDLE_SHARE_OF_TDP = 0.12
TDP_SOURCE = (
    "TDP from the shipped CPU table, linear from an idle floor of 12 % of TDP (the idle point "
    "of Teads' measured CPU power curve: B. Davy, 'Building an AWS EC2 Carbon Emissions "
    "Dataset', Teads Engineering, 2021) to TDP at full load"
)
LINEAR_FORMULA = "W = {n} x (min + u x (max - min)); u = busy share of those CPUs, steal excluded"


@dataclass(frozen=True)
class CpuPowerModel:
    """A linear CPU power model over ``n_cpus`` CPUs, with what it rests on.

    ``name``: ``"vm-per-vcpu"``, ``"sockets-tdp"``, ``"per-thread"``, ``"user-tdp"`` or
    ``"fallback"``; ``coefficients``: the numbers in the formula; ``source``: where they come
    from; ``basis``: how this machine was placed (VM or not, architecture, TDP row, scope);
    ``caveats``: what to be careful about.
    """

    name: str
    n_cpus: float
    min_W_per_cpu: float
    max_W_per_cpu: float
    formula: str
    coefficients: dict[str, Any]
    source: str
    basis: str
    caveats: tuple[str, ...] = field(default=())

    @property
    def idle_W(self) -> float:
        """Power of the counted CPUs when idle, W."""
        return self.n_cpus * self.min_W_per_cpu

    @property
    def max_W(self) -> float:
        """Power of the counted CPUs fully busy, W."""
        return self.n_cpus * self.max_W_per_cpu

    def power_W(self, utilisation: float) -> float:
        """Power at a utilisation between 0 and 1, W."""
        return self.n_cpus * (
            self.min_W_per_cpu + utilisation * (self.max_W_per_cpu - self.min_W_per_cpu)
        )

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: name, formula, coefficients, source, basis, caveats, the W range."""
        return {
            "name": self.name,
            "formula": self.formula,
            "coefficients": dict(self.coefficients),
            "source": self.source,
            "basis": self.basis,
            "caveats": list(self.caveats),
            "idle_W": self.idle_W,
            "max_W": self.max_W,
        }

    def summary(self) -> str:
        """One line: the model, its range, its basis and source, its caveats."""
        caveats = "".join(f"; caution: {c}" for c in self.caveats)
        return (
            f"{self.formula.split(';')[0]} = {self.idle_W:.3g}-{self.max_W:.3g} W "
            f"[{self.basis}; {self.source}]{caveats}"
        )


def choose_cpu_model(
    cpu: CpuInfo, scope: CpuScope, *, tdp_override_W: float | None = None
) -> CpuPowerModel:
    """The model for ``cpu`` over the CPUs of ``scope`` (see the module docstring)."""
    if tdp_override_W is not None:
        given = TdpMatch(cpu.model_name, None, check_tdp(tdp_override_W), "override", "user-given")
        return _tdp_model("user-tdp", cpu, scope, given)
    if cpu.hypervisor:
        return _per_cpu_model_or_fallback(
            "vm-per-vcpu", "vCPUs", "VM (hypervisor CPU flag)", cpu, scope
        )
    match = match_cpu_tdp(cpu.model_name)
    if match is not None:
        return _tdp_model("sockets-tdp", cpu, scope, match)
    kind = "bare metal (no hypervisor flag), CPU not in the TDP table"
    return _per_cpu_model_or_fallback("per-thread", "CPUs", kind, cpu, scope)


def _per_cpu_model_or_fallback(
    name: str, unit: str, kind: str, cpu: CpuInfo, scope: CpuScope
) -> CpuPowerModel:
    """The per-CPU model of ``cpu``'s microarchitecture, or the fallback when it is unknown
    (looked up only here: a CPU in the TDP table never needs it)."""
    architecture = find_architecture(cpu)
    if architecture is None:
        return _fallback(cpu, scope, kind)
    return _per_cpu_model(name, unit, kind, cpu, scope, architecture)


def _per_cpu_model(
    name: str, unit: str, kind: str, cpu: CpuInfo, scope: CpuScope, architecture: Architecture
) -> CpuPowerModel:
    n = f"{scope.n_cpus:g} {unit}"
    return CpuPowerModel(
        name=name,
        n_cpus=scope.n_cpus,
        min_W_per_cpu=architecture.min_W_per_cpu,
        max_W_per_cpu=architecture.max_W_per_cpu,
        formula=LINEAR_FORMULA.format(n=n),
        coefficients={
            "cpus": scope.n_cpus,
            "min_W_per_cpu": architecture.min_W_per_cpu,
            "max_W_per_cpu": architecture.max_W_per_cpu,
            "architecture": architecture.name,
        },
        source=CCF_SOURCE,
        basis=f"{kind}; {architecture.name} from {architecture.how}; {scope.detail}",
        caveats=architecture.caveats,
    )


def _tdp_model(name: str, cpu: CpuInfo, scope: CpuScope, match: TdpMatch) -> CpuPowerModel:
    max_W_per_cpu = cpu.sockets * match.tdp_W / scope.machine_cpus
    share = "" if not scope.limited else f" x {scope.n_cpus:g}/{scope.machine_cpus} CPUs"
    return CpuPowerModel(
        name=name,
        n_cpus=scope.n_cpus,
        min_W_per_cpu=IDLE_SHARE_OF_TDP * max_W_per_cpu,
        max_W_per_cpu=max_W_per_cpu,
        formula=(
            f"W = {cpu.sockets} socket(s) x {match.tdp_W:g} W TDP{share} x "
            f"({IDLE_SHARE_OF_TDP:g} + u x {1 - IDLE_SHARE_OF_TDP:g}); "
            "u = busy share of those CPUs, steal excluded"
        ),
        coefficients={
            "sockets": cpu.sockets,
            "tdp_W": match.tdp_W,
            "idle_share_of_tdp": IDLE_SHARE_OF_TDP,
            "cpus": scope.n_cpus,
            "machine_cpus": scope.machine_cpus,
        },
        source=TDP_SOURCE if name == "sockets-tdp" else "TDP given by the user (cpu_tdp_w)",
        basis=f"{cpu.describe()}: {match.detail}; {scope.detail}",
    )


def _fallback(cpu: CpuInfo, scope: CpuScope, kind: str) -> CpuPowerModel:
    n = f"{scope.n_cpus:g} CPUs"
    return CpuPowerModel(
        name="fallback",
        n_cpus=scope.n_cpus,
        min_W_per_cpu=FALLBACK_MIN_W_PER_CPU,
        max_W_per_cpu=FALLBACK_MAX_W_PER_CPU,
        formula=LINEAR_FORMULA.format(n=n),
        coefficients={
            "cpus": scope.n_cpus,
            "min_W_per_cpu": FALLBACK_MIN_W_PER_CPU,
            "max_W_per_cpu": FALLBACK_MAX_W_PER_CPU,
        },
        source=FALLBACK_SOURCE,
        basis=f"{kind}; microarchitecture unknown for {cpu.describe()}; {scope.detail}",
        caveats=("fallback coefficients: the CPU's microarchitecture is not known",),
    )
