"""NVIDIA GPUs through NVML (the ``pynvml`` module of the nvidia-ml-py package).

Volta and newer expose a cumulative energy counter (millijoules): read at the window edges,
provenance ``"measured"``. Devices without it (older GPUs, some vGPUs) are sampled for power
(milliwatts) every 100 ms and integrated over real timestamps with the trapezoid rule:
``"polled"``. A device with neither is reported as not metered, never as 0 J.

NVML reports a MIG slice's power and energy for the whole board, other tenants included. A
slice is therefore charged the board's energy times its share of the board's compute slices
(``computeInstanceSliceCount`` of the slice over the board's slices, e.g. 1/7 for a ``1g``
slice of an A100), with provenance ``"estimated"``; when that share is unknown, the slice is
not metered and the line says why. A device on which NVML lists other processes' PIDs is
labelled shared (:meth:`NvmlGpuSensor.device_pids` feeds the meter's check).

CUDA device indices (what this process sees, ``0..n-1``) are mapped to NVML handles by UUID:
through ``torch.cuda`` when torch already initialised CUDA, otherwise through
``CUDA_VISIBLE_DEVICES`` (integers, ``GPU-``/``MIG-`` UUIDs or unique prefixes, the legacy
``MIG-GPU-<uuid>/<gi>/<ci>`` form). Neither ``pynvml`` nor ``torch`` is imported with this
module; every function takes ``nvml=`` (a module-like object, ``None`` = ``import pynvml``).

Example::

    sensors, choices = discover_nvml()        # all GPUs this process sees
    for choice in choices:
        print(choice.line)   # gpu:0 NVIDIA H100 80GB HBM3: NVML energy counter (measured)
"""

from __future__ import annotations

import contextlib
import enum
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from fractions import Fraction
from typing import Any, Literal

from lightning_carbon.sensors.attribution import Attribution
from lightning_carbon.sensors.base import Sensor, SensorChoice, SensorUnavailable

POLL_INTERVAL_S = 0.1

_LEGACY_MIG = re.compile(r"MIG-(GPU-[^/]+)/(\d+)/(\d+)")
_LEADING_INT = re.compile(r"\d+")


class _Env(enum.Enum):
    """Sentinel: read the variable from ``os.environ`` when the function is called."""

    READ = "read os.environ at call"


class NvmlGpuSensor(Sensor):
    """Energy of one NVIDIA device (whole GPU or MIG slice) through NVML.

    NVML must be initialised by the caller while the sensor is built; the sensor then holds
    its own NVML reference (``nvmlInit``) until :meth:`close`. Raises
    :class:`SensorUnavailable` when the device has neither an energy counter nor a power
    reading, or is a MIG slice whose share of the board is unknown. ``share`` is the part of
    the board's energy charged (1 for a whole GPU).

    Example::

        pynvml.nvmlInit()
        sensor = NvmlGpuSensor(0, pynvml.nvmlDeviceGetHandleByIndex(0))
        pynvml.nvmlShutdown()               # the sensor keeps its own reference
        sensor.start(); ...; sensor.energy_J(); sensor.close()
    """

    component = "gpu"

    def __init__(
        self,
        cuda_index: int,
        handle: Any,
        *,
        nvml: Any = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._nvml = _load(nvml)
        self._handle = handle  # whose processes are listed
        self._clock = clock
        self.device = f"gpu:{cuda_index}"
        name = self._nvml.nvmlDeviceGetName(handle)
        label = f"{self.device} {name}"
        self._board, share, share_note = _board_and_share(self._nvml, handle, label)
        self.share = float(share)
        self._counter = _probe(self._nvml, self._board, label)
        if self._counter:
            method = "NVML energy counter"
            self.provenance = "measured"
        else:
            self.poll_interval_s = POLL_INTERVAL_S
            method = f"NVML power polled every {POLL_INTERVAL_S * 1000:.0f} ms"
            self.provenance = "polled"
        if share_note:
            self.provenance = "estimated"
            method = f"{share_note} of the whole GPU's {method}"
        self.description = f"{label}: {method} ({self.provenance})"
        self._lock = threading.Lock()
        self._zero_mJ: int | None = None
        self._last_sample: tuple[float, int] | None = None  # (time_s, power_mW)
        self._integral_mJ = 0.0
        self._closed = False
        self._nvml.nvmlInit()

    def start(self) -> None:
        """Zero the counter, or take the first power sample."""
        with self._lock:
            if self._counter:
                self._zero_mJ = self._read_counter_mJ()
            else:
                self._last_sample = (self._clock(), self._read_power_mW())
                self._integral_mJ = 0.0

    def energy_J(self) -> float:
        """Joules since :meth:`start` (times :attr:`share`); a polled sensor first samples."""
        with self._lock:
            if not self._counter:
                self._sample()
                return self.share * self._integral_mJ / 1000
            if self._zero_mJ is None:
                raise RuntimeError(f"{self.device}: call start() before energy_J()")
            now_mJ = self._read_counter_mJ()
            if now_mJ < self._zero_mJ:
                raise SensorUnavailable(
                    f"{self.device}: NVML energy counter went backwards "
                    f"({self._zero_mJ} -> {now_mJ} mJ; driver reloaded?)"
                )
            return self.share * (now_mJ - self._zero_mJ) / 1000

    def poll(self) -> None:
        """Add one power sample to the integral (polled sensors only)."""
        if not self._counter:
            with self._lock:
                self._sample()

    def device_pids(self) -> set[int] | None:
        """PIDs of the compute processes NVML lists on the device (on a MIG slice: the
        slice's); ``None`` when NVML cannot tell."""
        try:
            processes = self._nvml.nvmlDeviceGetComputeRunningProcesses(self._handle)
        except (self._nvml.NVMLError, AttributeError):
            return None
        return {int(process.pid) for process in processes}

    def close(self) -> None:
        """Release this sensor's NVML reference; a second call does nothing."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        with contextlib.suppress(self._nvml.NVMLError):  # NVML already shut down: nothing held
            self._nvml.nvmlShutdown()

    def _sample(self) -> None:
        if self._last_sample is None:
            raise RuntimeError(f"{self.device}: call start() before sampling")
        power_mW = self._read_power_mW()
        now_s = self._clock()
        last_s, last_mW = self._last_sample
        self._integral_mJ += (last_mW + power_mW) / 2 * (now_s - last_s)
        self._last_sample = (now_s, power_mW)

    def _read_counter_mJ(self) -> int:
        return self._read("energy counter", self._nvml.nvmlDeviceGetTotalEnergyConsumption)

    def _read_power_mW(self) -> int:
        return self._read("power reading", self._nvml.nvmlDeviceGetPowerUsage)

    def _read(self, what: str, read: Callable[[Any], int]) -> int:
        try:
            return read(self._board)
        except self._nvml.NVMLError as error:
            raise SensorUnavailable(f"{self.device}: NVML {what} failed ({error})") from error


def discover_nvml(
    cuda_indices: Sequence[int] | None = None,
    *,
    nvml: Any = None,
    visible_devices: str | None | Literal[_Env.READ] = _Env.READ,
    clock: Callable[[], float] = time.monotonic,
    cuda_uuid: Callable[[int], str | None] | None = None,
) -> tuple[list[Sensor], list[SensorChoice]]:
    """Sensors for the given CUDA device indices (``None``: every visible GPU), and why.

    Returns the sensors and one :class:`SensorChoice` per device; a device that cannot be
    metered gets a choice with provenance ``None`` and no sensor. Without NVML (package,
    library or driver missing) or without a visible GPU, the choices are one such line.
    ``visible_devices`` defaults to ``CUDA_VISIBLE_DEVICES`` at call time. ``cuda_uuid(i)``
    gives CUDA device ``i``'s UUID or ``None``; the default asks torch, only if torch is
    already imported and CUDA initialised. Discovery's own NVML reference is released before
    returning; each sensor holds one until it is closed.

    Example::

        sensors, choices = discover_nvml([0], visible_devices="GPU-5f2c")
        [c.line for c in choices]   # ['gpu:0 NVIDIA A100-SXM4-40GB: NVML energy counter ...']
    """
    if visible_devices is _Env.READ:
        visible_devices = os.environ.get("CUDA_VISIBLE_DEVICES")
    try:
        nvml = _load(nvml)
    except ImportError:
        return [], [_not_metered("nvidia-ml-py is not installed (pip install nvidia-ml-py)")]
    try:
        nvml.nvmlInit()
    except nvml.NVMLError as error:
        return [], [_not_metered(f"NVML not available ({_init_failure(nvml, error)})")]
    try:
        return _discover(cuda_indices, nvml, visible_devices, clock, cuda_uuid or _torch_uuid)
    finally:
        nvml.nvmlShutdown()


def resolve_visible_devices(visible: str | None, nvml: Any = None) -> list[Any]:
    """NVML handles of the CUDA devices this process sees, in CUDA index order.

    ``visible`` is a ``CUDA_VISIBLE_DEVICES`` value: ``None`` (unset) means every device in
    NVML order, ``""`` none. Entries are integers (leading digits count, as CUDA reads them),
    ``GPU-``/``MIG-`` UUIDs or unique prefixes, or ``MIG-GPU-<uuid>/<gi>/<ci>``. As in CUDA,
    the first invalid entry ends the list and a repeated device hides all devices. NVML must
    be initialised. Integers index CUDA's enumeration, which is PCI order only with
    ``CUDA_DEVICE_ORDER=PCI_BUS_ID`` (or identical GPUs).

    Example::

        resolve_visible_devices("2,0", pynvml)   # [handle of NVML device 2, of device 0]
    """
    nvml = _load(nvml)
    if visible is None:
        return [nvml.nvmlDeviceGetHandleByIndex(i) for i in range(nvml.nvmlDeviceGetCount())]
    handles: list[Any] = []
    seen_uuids: set[str] = set()
    for entry in visible.split(","):
        handle = _resolve_entry(entry.strip(), nvml)
        if handle is None:
            break
        uuid = nvml.nvmlDeviceGetUUID(handle)
        if uuid in seen_uuids:
            return []
        seen_uuids.add(uuid)
        handles.append(handle)
    return handles


def _discover(
    cuda_indices: Sequence[int] | None,
    nvml: Any,
    visible: str | None,
    clock: Callable[[], float],
    cuda_uuid: Callable[[int], str | None],
) -> tuple[list[Sensor], list[SensorChoice]]:
    try:
        handles = resolve_visible_devices(visible, nvml)
        caveat = _order_caveat(visible, nvml)
    except nvml.NVMLError as error:
        return [], [_not_metered(f"NVML could not list the GPUs ({error})")]
    if cuda_indices is None:
        if not handles:
            return [], [_not_metered(f"no GPU visible (CUDA_VISIBLE_DEVICES={visible!r})")]
        cuda_indices = range(len(handles))
    sensors: list[Sensor] = []
    choices: list[SensorChoice] = []
    for index in cuda_indices:
        exact = _handle_from_uuid(cuda_uuid(index), nvml)
        if exact is not None:
            sensor, choice = _build(index, exact, nvml, clock, note="")
        elif 0 <= index < len(handles):
            sensor, choice = _build(index, handles[index], nvml, clock, note=caveat)
        else:
            line = (
                f"gpu:{index}: not visible to this process ({len(handles)} visible, "
                f"CUDA_VISIBLE_DEVICES={visible!r})"
            )
            sensor, choice = None, SensorChoice("gpu", f"gpu:{index}", None, line)
        choices.append(choice)
        if sensor is not None:
            sensors.append(sensor)
    return sensors, choices


def _build(
    index: int, handle: Any, nvml: Any, clock: Callable[[], float], note: str
) -> tuple[Sensor | None, SensorChoice]:
    """The sensor for one device and its line (``note`` appended), or why there is none."""
    label = f"gpu:{index}"
    try:
        sensor = NvmlGpuSensor(index, handle, nvml=nvml, clock=clock)
    except SensorUnavailable as error:
        return None, SensorChoice("gpu", label, None, f"{error}{note}")
    except nvml.NVMLError as error:
        return None, SensorChoice("gpu", label, None, f"{label}: NVML error ({error}){note}")
    pids = sensor.device_pids()
    shared = None if pids is None else Attribution().others_on_device(pids)
    line = sensor.description + note + (f" [shared: {shared}]" if shared else "")
    return sensor, SensorChoice("gpu", label, sensor.provenance, line, shared=shared)


def _probe(nvml: Any, handle: Any, label: str) -> bool:
    """``True`` if the energy counter answers, ``False`` if only power does."""
    try:
        nvml.nvmlDeviceGetTotalEnergyConsumption(handle)
        return True
    except nvml.NVMLError as error:
        counter_error = error
    try:
        nvml.nvmlDeviceGetPowerUsage(handle)
        return False
    except nvml.NVMLError as error:
        power_error = error
    raise SensorUnavailable(
        f"{label}: no NVML energy counter ({counter_error}) and no power reading "
        f"({power_error}); not metered"
    )


def _board_and_share(nvml: Any, handle: Any, label: str) -> tuple[Any, Fraction, str]:
    """The handle whose energy is read, the share of it charged, and a note on that share.

    A whole GPU: itself, 1, ``""``. A MIG slice: its board, its compute slices over the
    board's, e.g. ``"1/7 (its compute slices: 1 of 7)"``; raises :class:`SensorUnavailable`
    when the share is unknown.
    """
    if not _is_mig(nvml, handle):
        return handle, Fraction(1), ""
    try:
        board = nvml.nvmlDeviceGetDeviceHandleFromMigDeviceHandle(handle)
        slices = int(nvml.nvmlDeviceGetAttributes(handle).computeInstanceSliceCount)
        total = int(nvml.nvmlDeviceGetMaxMigDeviceCount(board))
    except nvml.NVMLError as error:
        raise SensorUnavailable(
            f"{label}: MIG slice; NVML reports the whole GPU's energy and the slice's share "
            f"of it is unknown ({error}); not metered"
        ) from error
    if not 0 < slices <= total:
        raise SensorUnavailable(
            f"{label}: MIG slice with {slices} of {total} compute slices; not metered"
        )
    share = Fraction(slices, total)
    return board, share, f"{share} (its compute slices: {slices} of {total})"


def _resolve_entry(entry: str, nvml: Any) -> Any | None:
    """The handle one ``CUDA_VISIBLE_DEVICES`` entry names, or ``None`` if it is invalid."""
    if entry.startswith("MIG-GPU-"):
        return _legacy_mig(entry, nvml)
    if entry.startswith(("GPU-", "MIG-")):
        return _by_uuid(entry, nvml)
    digits = _LEADING_INT.match(entry)
    if digits is None or int(digits.group()) >= nvml.nvmlDeviceGetCount():
        return None
    return nvml.nvmlDeviceGetHandleByIndex(int(digits.group()))


def _by_uuid(uuid_or_prefix: str, nvml: Any) -> Any | None:
    """The device with this UUID, or the only device (or MIG slice) whose UUID starts so."""
    try:
        return nvml.nvmlDeviceGetHandleByUUID(uuid_or_prefix)
    except nvml.NVMLError:
        pass
    matches = [h for uuid, h in _all_devices(nvml) if uuid.startswith(uuid_or_prefix)]
    return matches[0] if len(matches) == 1 else None


def _legacy_mig(entry: str, nvml: Any) -> Any | None:
    """``MIG-GPU-<uuid>/<gi>/<ci>``: the slice with these instance ids on that GPU."""
    parts = _LEGACY_MIG.fullmatch(entry)
    if parts is None:
        return None
    parent = _by_uuid(parts.group(1), nvml)
    if parent is None:
        return None
    wanted = (int(parts.group(2)), int(parts.group(3)))
    for child in _mig_slices(parent, nvml):
        ids = (nvml.nvmlDeviceGetGpuInstanceId(child), nvml.nvmlDeviceGetComputeInstanceId(child))
        if ids == wanted:
            return child
    return None


def _all_devices(nvml: Any) -> Iterator[tuple[str, Any]]:
    """``(uuid, handle)`` of every GPU and every MIG slice on it."""
    for index in range(nvml.nvmlDeviceGetCount()):
        gpu = nvml.nvmlDeviceGetHandleByIndex(index)
        for handle in (gpu, *_mig_slices(gpu, nvml)):
            yield nvml.nvmlDeviceGetUUID(handle), handle


def _mig_slices(gpu: Any, nvml: Any) -> list[Any]:
    try:
        slots = nvml.nvmlDeviceGetMaxMigDeviceCount(gpu)
    except nvml.NVMLError:  # no MIG support on this GPU
        return []
    slices = []
    for slot in range(slots):
        with contextlib.suppress(nvml.NVMLError):  # empty slot
            slices.append(nvml.nvmlDeviceGetMigDeviceHandleByIndex(gpu, slot))
    return slices


def _is_mig(nvml: Any, handle: Any) -> bool:
    try:
        return bool(nvml.nvmlDeviceIsMigDeviceHandle(handle))
    except nvml.NVMLError:
        return False


def _handle_from_uuid(uuid: str | None, nvml: Any) -> Any | None:
    """The NVML handle for a CUDA UUID given with or without its ``GPU-``/``MIG-`` prefix."""
    if uuid is None:
        return None
    bare = uuid.removeprefix("GPU-").removeprefix("MIG-")
    for candidate in (f"GPU-{bare}", f"MIG-{bare}"):
        with contextlib.suppress(nvml.NVMLError):
            return nvml.nvmlDeviceGetHandleByUUID(candidate)
    return None


def _torch_uuid(index: int) -> str | None:
    """CUDA device ``index``'s UUID from torch, only if torch already initialised CUDA."""
    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_initialized():
        return None
    try:
        return str(torch.cuda.get_device_properties(index).uuid)
    except (AssertionError, AttributeError, RuntimeError):  # bad index, old torch, no CUDA
        return None


def _order_caveat(visible: str | None, nvml: Any) -> str:
    """A warning when integer CUDA indices may not follow NVML's PCI order."""
    if os.environ.get("CUDA_DEVICE_ORDER") == "PCI_BUS_ID":
        return ""
    if visible is not None and not any(e.strip()[:1].isdigit() for e in visible.split(",")):
        return ""
    count = nvml.nvmlDeviceGetCount()
    models = {nvml.nvmlDeviceGetName(nvml.nvmlDeviceGetHandleByIndex(i)) for i in range(count)}
    if len(models) <= 1:
        return ""
    return (
        " [mixed GPU models: CUDA numbers them fastest first, NVML by PCI bus; "
        "set CUDA_DEVICE_ORDER=PCI_BUS_ID to be sure of the mapping]"
    )


def _init_failure(nvml: Any, error: Exception) -> str:
    if isinstance(error, nvml.NVMLError_LibraryNotFound):
        return "libnvidia-ml.so.1 not found: no NVIDIA driver"
    return str(error)


def _not_metered(reason: str) -> SensorChoice:
    return SensorChoice("gpu", "gpu", None, f"gpu: {reason}")


def _load(nvml: Any) -> Any:
    if nvml is None:
        import pynvml

        nvml = pynvml
    return nvml
