"""A fake ``pynvml`` module: scripted GPUs (and MIG slices) whose readings follow a fake clock.

It mirrors the names the real nvidia-ml-py binding exposes (``NVMLError`` with a ``value``,
``NVMLError_NotSupported`` and friends, ``NVML_ERROR_*`` codes, the ``nvmlDevice*`` functions
used by the sensors), so code under test cannot tell it from the real module. Handles are the
:class:`FakeGpu` objects themselves. Unsupported readings raise ``NVMLError_NotSupported``; a
device with ``fail_after_s`` raises ``NVMLError_GpuIsLost`` from then on.

Example::

    clock = FakeClock(0.0)
    nvml = FakeNvml([FakeGpu(counter_mJ=lambda t: 1000 + int(250_000 * t))], clock)
    nvml.nvmlInit()
    handle = nvml.nvmlDeviceGetHandleByIndex(0)
    nvml.nvmlDeviceGetTotalEnergyConsumption(handle)   # 1000
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace

from tests.fakes import FakeClock

NVML_ERROR_UNINITIALIZED = 1
NVML_ERROR_INVALID_ARGUMENT = 2
NVML_ERROR_NOT_SUPPORTED = 3
NVML_ERROR_NOT_FOUND = 6
NVML_ERROR_DRIVER_NOT_LOADED = 9
NVML_ERROR_LIBRARY_NOT_FOUND = 12
NVML_ERROR_GPU_IS_LOST = 15


class NVMLError(Exception):
    """Base NVML error; like pynvml's, ``NVMLError(code)`` builds the matching subclass."""

    _messages = {
        NVML_ERROR_UNINITIALIZED: "Uninitialized",
        NVML_ERROR_INVALID_ARGUMENT: "Invalid Argument",
        NVML_ERROR_NOT_SUPPORTED: "Not Supported",
        NVML_ERROR_NOT_FOUND: "Not Found",
        NVML_ERROR_DRIVER_NOT_LOADED: "Driver Not Loaded",
        NVML_ERROR_LIBRARY_NOT_FOUND: "NVML Shared Library Not Found",
        NVML_ERROR_GPU_IS_LOST: "GPU is lost",
    }
    _by_code: dict[int, type[NVMLError]] = {}

    def __new__(cls, value: int | None = None) -> NVMLError:
        if cls is NVMLError and value in NVMLError._by_code:
            cls = NVMLError._by_code[value]
        error = Exception.__new__(cls)
        error.value = cls.code if value is None else value
        return error

    def __init__(self, value: int | None = None) -> None:
        super().__init__(self.value)

    def __str__(self) -> str:
        return self._messages.get(self.value, f"NVML Error with code {self.value}")


def _error_class(name: str, code: int) -> type[NVMLError]:
    cls = type(name, (NVMLError,), {"code": code})
    NVMLError._by_code[code] = cls
    return cls


NVMLError_Uninitialized = _error_class("NVMLError_Uninitialized", NVML_ERROR_UNINITIALIZED)
NVMLError_InvalidArgument = _error_class("NVMLError_InvalidArgument", NVML_ERROR_INVALID_ARGUMENT)
NVMLError_NotSupported = _error_class("NVMLError_NotSupported", NVML_ERROR_NOT_SUPPORTED)
NVMLError_NotFound = _error_class("NVMLError_NotFound", NVML_ERROR_NOT_FOUND)
NVMLError_DriverNotLoaded = _error_class("NVMLError_DriverNotLoaded", NVML_ERROR_DRIVER_NOT_LOADED)
NVMLError_LibraryNotFound = _error_class("NVMLError_LibraryNotFound", NVML_ERROR_LIBRARY_NOT_FOUND)
NVMLError_GpuIsLost = _error_class("NVMLError_GpuIsLost", NVML_ERROR_GPU_IS_LOST)


@dataclass(eq=False)
class FakeGpu:
    """One device (a whole GPU, or a MIG slice when listed in a parent's ``mig``).

    ``counter_mJ`` / ``power_mW``: reading as a function of the fake clock's time in seconds;
    ``None`` means NotSupported. ``gi``/``ci``: GPU and compute instance ids of a MIG slice;
    ``compute_slices``: its compute instance's slices (``None``: its attributes are
    NotSupported). ``pids``: the compute processes NVML lists on the device (``None``:
    NotSupported). ``mig_mode``: 0 (disabled) or 1 (enabled), current and pending alike;
    ``None``: NotSupported.
    """

    name: str = "NVIDIA H100 80GB HBM3"
    uuid: str = "GPU-00000000-0000-0000-0000-000000000000"
    bus_id: str = "00000000:3B:00.0"
    counter_mJ: Callable[[float], int] | None = None
    power_mW: Callable[[float], int] | None = None
    fail_after_s: float | None = None
    mig: list[FakeGpu] = field(default_factory=list)
    gi: int = 0
    ci: int = 0
    mig_mode: int | None = None
    compute_slices: int | None = 1
    pids: list[int] | None = field(default_factory=list)
    parent: FakeGpu | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        for child in self.mig:
            child.parent = self


def fake_gpu(k: int, **kwargs) -> FakeGpu:
    """GPU number ``k`` with a distinct UUID and PCI bus id, e.g. ``GPU-k0000000-...``."""
    return FakeGpu(
        uuid=f"GPU-{k}0000000-aaaa-bbbb-cccc-{k:012d}", bus_id=f"00000000:{k:02X}:00.0", **kwargs
    )


def fake_mig(k: int, gi: int, ci: int, **kwargs) -> FakeGpu:
    """A MIG slice with a distinct UUID ``MIG-k0000000-...``; list it in its parent's ``mig``."""
    return FakeGpu(
        name="NVIDIA A100-SXM4-40GB MIG 1g.5gb",
        uuid=f"MIG-{k}0000000-dddd-eeee-ffff-{gi:06d}{ci:06d}",
        gi=gi,
        ci=ci,
        **kwargs,
    )


class FakeNvml:
    """The module-like fake: pass it wherever code takes ``nvml=``.

    ``init_error``: an ``NVMLError`` subclass that ``nvmlInit`` raises (no driver, no library).
    ``init_count`` is NVML's reference count: back to 0 once every init was shut down.
    ``clock``: any callable giving seconds (a :class:`FakeClock`, or ``time.monotonic``).
    """

    def __init__(
        self,
        gpus: list[FakeGpu],
        clock: Callable[[], float] | None = None,
        init_error: type[NVMLError] | None = None,
        driver_version: str = "550.54.15",
    ) -> None:
        self.gpus = gpus
        self.clock = clock or FakeClock(0.0)
        self.init_error = init_error
        self.driver_version = driver_version
        self.init_count = 0

    NVMLError = NVMLError
    NVMLError_Uninitialized = NVMLError_Uninitialized
    NVMLError_InvalidArgument = NVMLError_InvalidArgument
    NVMLError_NotSupported = NVMLError_NotSupported
    NVMLError_NotFound = NVMLError_NotFound
    NVMLError_DriverNotLoaded = NVMLError_DriverNotLoaded
    NVMLError_LibraryNotFound = NVMLError_LibraryNotFound
    NVMLError_GpuIsLost = NVMLError_GpuIsLost
    NVML_ERROR_NOT_SUPPORTED = NVML_ERROR_NOT_SUPPORTED
    NVML_ERROR_NOT_FOUND = NVML_ERROR_NOT_FOUND

    def nvmlInit(self) -> None:
        if self.init_error is not None:
            raise self.init_error()
        self.init_count += 1

    def nvmlShutdown(self) -> None:
        self._check()
        self.init_count -= 1

    def nvmlSystemGetDriverVersion(self) -> str:
        self._check()
        return self.driver_version

    def nvmlDeviceGetCount(self) -> int:
        self._check()
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> FakeGpu:
        self._check()
        if not 0 <= index < len(self.gpus):
            raise NVMLError_InvalidArgument()
        return self.gpus[index]

    def nvmlDeviceGetHandleByUUID(self, uuid: str) -> FakeGpu:
        self._check()
        for gpu in self._all_devices():
            if gpu.uuid == uuid:
                return gpu
        raise NVMLError_NotFound()

    def nvmlDeviceGetHandleByPciBusId(self, bus_id: str) -> FakeGpu:
        self._check()
        for gpu in self.gpus:
            if gpu.bus_id.lower() == bus_id.lower():
                return gpu
        raise NVMLError_NotFound()

    def nvmlDeviceGetUUID(self, handle: FakeGpu) -> str:
        self._check()
        return handle.uuid

    def nvmlDeviceGetName(self, handle: FakeGpu) -> str:
        self._check()
        return handle.name

    def nvmlDeviceGetPciInfo(self, handle: FakeGpu) -> SimpleNamespace:
        self._check()
        return SimpleNamespace(busId=(handle.parent or handle).bus_id)

    def nvmlDeviceGetTotalEnergyConsumption(self, handle: FakeGpu) -> int:
        return self._read(handle, handle.counter_mJ)

    def nvmlDeviceGetPowerUsage(self, handle: FakeGpu) -> int:
        return self._read(handle, handle.power_mW)

    def nvmlDeviceGetMigMode(self, handle: FakeGpu) -> list[int]:
        self._check()
        if handle.mig_mode is None:
            raise NVMLError_NotSupported()
        return [handle.mig_mode, handle.mig_mode]

    def nvmlDeviceIsMigDeviceHandle(self, handle: FakeGpu) -> bool:
        self._check()
        return handle.parent is not None

    def nvmlDeviceGetMaxMigDeviceCount(self, handle: FakeGpu) -> int:
        self._check()
        return 7 if handle.mig else 0

    def nvmlDeviceGetMigDeviceHandleByIndex(self, handle: FakeGpu, index: int) -> FakeGpu:
        self._check()
        if not 0 <= index < len(handle.mig):
            raise NVMLError_NotFound()
        return handle.mig[index]

    def nvmlDeviceGetDeviceHandleFromMigDeviceHandle(self, handle: FakeGpu) -> FakeGpu:
        self._check()
        if handle.parent is None:
            raise NVMLError_InvalidArgument()
        return handle.parent

    def nvmlDeviceGetAttributes(self, handle: FakeGpu) -> SimpleNamespace:
        self._check()
        if handle.parent is None or handle.compute_slices is None:
            raise NVMLError_NotSupported()
        return SimpleNamespace(
            computeInstanceSliceCount=handle.compute_slices,
            gpuInstanceSliceCount=handle.compute_slices,
        )

    def nvmlDeviceGetComputeRunningProcesses(self, handle: FakeGpu) -> list[SimpleNamespace]:
        self._check()
        if handle.pids is None:
            raise NVMLError_NotSupported()
        return [SimpleNamespace(pid=pid, usedGpuMemory=None) for pid in handle.pids]

    def nvmlDeviceGetGpuInstanceId(self, handle: FakeGpu) -> int:
        self._check()
        return handle.gi

    def nvmlDeviceGetComputeInstanceId(self, handle: FakeGpu) -> int:
        self._check()
        return handle.ci

    def _all_devices(self) -> list[FakeGpu]:
        return [d for gpu in self.gpus for d in (gpu, *gpu.mig)]

    def _read(self, handle: FakeGpu, reading: Callable[[float], int] | None) -> int:
        self._check()
        now_s = self.clock()
        if reading is None:
            raise NVMLError_NotSupported()
        if handle.fail_after_s is not None and now_s >= handle.fail_after_s:
            raise NVMLError_GpuIsLost()
        return reading(now_s)

    def _check(self) -> None:
        if self.init_count <= 0:
            raise NVMLError_Uninitialized()
