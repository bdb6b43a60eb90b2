"""A CPU's microarchitecture and its watts per hardware thread (vCPU), at idle and at full load.

The coefficients are Cloud Carbon Footprint's (``data/cpu_power_per_vcpu.csv``): SPECpower
"active idle" and "100 %" wall power of whole servers divided by their hardware threads,
averaged per microarchitecture. The microarchitecture is found, in order, from:

1. a model number in the CPU's name, looked up in CCF's CPU lists
   (``data/cpu_model_architecture.csv``: ``EPYC 7763``, ``Platinum 8259CL``, ``E5-2686 v4``);
2. a code name in the name, as hypervisors write it ("Intel Xeon Processor (Cascadelake)",
   "AMD EPYC-Milan Processor");
3. the x86 vendor, family and model (and for Intel family 6 model 0x55 the stepping), when the
   name is generic ("AMD EPYC"): AMD by Zen generation, as the Linux kernel's
   ``arch/x86/kernel/cpu/amd.c`` assigns them (family 0x17 models 0x00-0x2f, 0x50-0x5f Zen 1 =
   EPYC 1st Gen; the other 0x17 server/desktop ranges Zen 2 = EPYC 2nd Gen; family 0x19 models
   0x00-0x0f, 0x20-0x5f Zen 3 = EPYC 3rd Gen; 0x10-0x1f, 0x60-0xaf Zen 4 = EPYC 4th Gen;
   family 0x1a Zen 5 = EPYC 5th Gen), Intel server models as named in the kernel's
   ``arch/x86/include/asm/intel-family.h`` (0x2d Sandy Bridge-X, 0x3e Ivy Bridge-X, 0x3f
   Haswell-X, 0x4f/0x56 Broadwell-X/D, 0x55 Skylake-X: steppings 0-4 Skylake, 5 and up
   Cascade Lake (Cooper Lake, steppings 10-11, has no row of its own), 0x6a/0x6c Ice Lake-X/D,
   0x8f Sapphire Rapids-X, 0xcf Emerald Rapids-X, 0xad/0xae Granite Rapids-X/D);
4. an ARM Neoverse core (``CPU part`` in ``arch/arm64/include/asm/cputype.h``: 0xd0c N1,
   0xd40 V1, 0xd4f V2), as in AWS Graviton2, 3 and 4.

Example::

    >>> from lightning_carbon.sensors.machine import CpuInfo
    >>> arch = find_architecture(CpuInfo("AMD EPYC", "AuthenticAMD", 25, 1))
    >>> arch.name, arch.min_W_per_cpu, arch.max_W_per_cpu
    ('EPYC 3rd Gen', 0.4556, 1.9573)
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from lightning_carbon.data import read_csv_rows
from lightning_carbon.sensors.machine import CpuInfo
from lightning_carbon.sensors.tdp import model_numbers, normalise_cpu_name, words_in_order

CCF_SOURCE = (
    "Cloud Carbon Footprint per-vCPU coefficients (ccf-coefficients "
    "output/coefficients-aws-use.csv @b0032d9, from SPECpower_ssj2008 results)"
)
FALLBACK_MIN_W_PER_CPU = 0.74
FALLBACK_MAX_W_PER_CPU = 3.5
FALLBACK_SOURCE = (
    "Cloud Carbon Footprint methodology: average min and max watts per vCPU over the "
    "microarchitectures AWS uses, for an unknown microarchitecture"
)
OUTLIER = "EPYC 5th Gen"
OUTLIER_CAVEAT = (
    "CCF's EPYC 5th Gen row (3.68-8.96 W per vCPU) is far above its neighbours (EPYC 4th Gen "
    "0.74-2.28) and looks like an outlier in their SPECpower sample: this estimate is likely high"
)
GRAVITON_CAVEAT = "CCF gives Graviton the same coefficients as EPYC 2nd Gen"

_AMD_ZEN = {  # family -> ((first model, last model, architecture), ...): Linux amd.c
    0x17: (
        (0x00, 0x2F, "EPYC 1st Gen"),
        (0x50, 0x5F, "EPYC 1st Gen"),
        (0x30, 0x4F, "EPYC 2nd Gen"),
        (0x60, 0x7F, "EPYC 2nd Gen"),
        (0x90, 0x91, "EPYC 2nd Gen"),
        (0xA0, 0xAF, "EPYC 2nd Gen"),
    ),
    0x19: (
        (0x00, 0x0F, "EPYC 3rd Gen"),
        (0x20, 0x5F, "EPYC 3rd Gen"),
        (0x10, 0x1F, "EPYC 4th Gen"),
        (0x60, 0xAF, "EPYC 4th Gen"),
    ),
    0x1A: (
        (0x00, 0x2F, "EPYC 5th Gen"),
        (0x40, 0x4F, "EPYC 5th Gen"),
        (0x70, 0x7F, "EPYC 5th Gen"),
    ),
}
_ZEN_BY_ARCH = {
    "EPYC 1st Gen": "Zen 1",
    "EPYC 2nd Gen": "Zen 2",
    "EPYC 3rd Gen": "Zen 3",
    "EPYC 4th Gen": "Zen 4",
    "EPYC 5th Gen": "Zen 5",
}
_INTEL_FAMILY_6 = {  # model -> architecture: Linux intel-family.h (server parts)
    0x2D: "Sandy Bridge",
    0x3E: "Ivy Bridge",
    0x3F: "Haswell",
    0x4F: "Broadwell",
    0x56: "Broadwell",
    0x6A: "Ice Lake",
    0x6C: "Ice Lake",
    0x8F: "Sapphire Rapids",
    0xCF: "Emerald Rapids",
    0xAD: "Granite Rapids",
    0xAE: "Granite Rapids",
}
_SKYLAKE_X = 0x55
_FIRST_CASCADE_LAKE_STEPPING = 5
_ARM_LTD = 0x41
_NEOVERSE = {
    0xD0C: ("Graviton2", "Neoverse N1"),
    0xD40: ("Graviton3", "Neoverse V1"),
    0xD4F: ("Graviton4", "Neoverse V2"),
}
_CODE_NAMES = {  # code name in a hypervisor's CPU name (spaces and hyphens removed)
    "sandybridge": "Sandy Bridge",
    "ivybridge": "Ivy Bridge",
    "haswell": "Haswell",
    "broadwell": "Broadwell",
    "skylake": "Skylake",
    "cascadelake": "Cascade Lake",
    "cooperlake": "Cascade Lake",
    "icelake": "Ice Lake",
    "sapphirerapids": "Sapphire Rapids",
    "emeraldrapids": "Emerald Rapids",
    "graniterapids": "Granite Rapids",
    "naples": "EPYC 1st Gen",
    "rome": "EPYC 2nd Gen",
    "milan": "EPYC 3rd Gen",
    "genoa": "EPYC 4th Gen",
    "bergamo": "EPYC 4th Gen",
    "turin": "EPYC 5th Gen",
}


@dataclass(frozen=True)
class Architecture:
    """A microarchitecture's CCF coefficients, and how it was found for this CPU.

    ``min_W_per_cpu``/``max_W_per_cpu``: W per hardware thread at active idle and 100 % load;
    ``how``: one phrase saying what identified it; ``caveats``: warnings about the row.
    """

    name: str
    min_W_per_cpu: float
    max_W_per_cpu: float
    how: str
    caveats: tuple[str, ...] = ()


def find_architecture(cpu: CpuInfo) -> Architecture | None:
    """The microarchitecture of ``cpu`` with its coefficients, or ``None`` if unknown."""
    found = (
        _from_model_number(cpu.model_name)
        or _from_code_name(cpu.model_name)
        or _from_x86_ids(cpu)
        or _from_arm_part(cpu)
    )
    if found is None:
        return None
    name, how = found
    min_W, max_W = coefficients()[name]
    caveats = []
    if name == OUTLIER:
        caveats.append(OUTLIER_CAVEAT)
    if name.startswith("Graviton"):
        caveats.append(GRAVITON_CAVEAT)
    return Architecture(name, min_W, max_W, how, tuple(caveats))


@functools.cache
def coefficients() -> dict[str, tuple[float, float]]:
    """CCF's ``(min, max)`` W per vCPU by microarchitecture name."""
    return {
        row["architecture"]: (float(row["min_w_per_vcpu"]), float(row["max_w_per_vcpu"]))
        for row in read_csv_rows("cpu_power_per_vcpu.csv")
    }


@functools.cache
def _from_model_number(name: str) -> tuple[str, str] | None:
    tokens = tuple(normalise_cpu_name(name).split())
    numbers = model_numbers(tokens)
    if not numbers:
        return None
    index = _model_index()
    best: tuple[tuple[str, ...], str, str, str] | None = None
    for number in numbers:
        for model_tokens, model, architecture, listed_in in index.get(number, ()):
            if (best is None or len(model_tokens) > len(best[0])) and words_in_order(
                model_tokens, tokens
            ):
                best = (model_tokens, model, architecture, listed_in)
    if best is None:
        return None
    return best[2], f"model {best[1]!r} in CCF's list {best[3]}"


@functools.cache
def _model_index() -> dict[str, list[tuple[tuple[str, ...], str, str, str]]]:
    """Model number -> ``(normalised words, model, architecture, CCF list)`` of the table."""
    index: dict[str, list[tuple[tuple[str, ...], str, str, str]]] = {}
    for row in read_csv_rows("cpu_model_architecture.csv"):
        tokens = tuple(normalise_cpu_name(row["model"]).split())
        for number in model_numbers(tokens):
            index.setdefault(number, []).append(
                (tokens, row["model"], row["architecture"], row["list"])
            )
    return index


def _from_code_name(name: str) -> tuple[str, str] | None:
    squashed = name.casefold().replace(" ", "").replace("-", "").replace("_", "")
    for code, architecture in _CODE_NAMES.items():
        if code in squashed:
            return architecture, f"code name {code!r} in the CPU name"
    return None


def _from_x86_ids(cpu: CpuInfo) -> tuple[str, str] | None:
    if cpu.family is None or cpu.model is None:
        return None
    ids = f"{cpu.vendor} family {cpu.family} model {cpu.model}"
    if cpu.vendor == "AuthenticAMD":
        for first, last, architecture in _AMD_ZEN.get(cpu.family, ()):
            if first <= cpu.model <= last:
                zen = _ZEN_BY_ARCH[architecture]
                return architecture, f"{ids}: {zen} (Linux arch/x86/kernel/cpu/amd.c)"
    if cpu.vendor == "GenuineIntel" and cpu.family == 6:
        if cpu.model == _SKYLAKE_X and cpu.stepping is not None:
            cascade = cpu.stepping >= _FIRST_CASCADE_LAKE_STEPPING
            architecture = "Cascade Lake" if cascade else "Skylake"
            return architecture, (
                f"{ids} stepping {cpu.stepping}: {architecture} "
                "(Linux intel-family.h SKYLAKE_X; steppings 5 and up are Cascade Lake)"
            )
        if cpu.model in _INTEL_FAMILY_6:
            architecture = _INTEL_FAMILY_6[cpu.model]
            return architecture, f"{ids} ({cpu.model:#x}): {architecture} (Linux intel-family.h)"
    return None


def _from_arm_part(cpu: CpuInfo) -> tuple[str, str] | None:
    if cpu.arm_implementer != _ARM_LTD or cpu.arm_part not in _NEOVERSE:
        return None
    architecture, core = _NEOVERSE[cpu.arm_part]
    return architecture, f"ARM part {cpu.arm_part:#x}: {core} (Linux arm64 cputype.h)"
