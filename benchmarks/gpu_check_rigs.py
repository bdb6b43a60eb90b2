"""Where the GPU check's loads run: the first CUDA device, or a scripted stand-in for --dry-run.

A rig gives the parts of ``gpu_check.py`` an NVML module, a clock, and a way to keep the GPU
busy (:meth:`steady_load`), to queue a burst of kernels (:meth:`burst`), to wait for them
(:meth:`synchronize`) and to let time pass (:meth:`wait`, :meth:`tick`). :class:`CudaRig` does
this with fp32 matrix multiplies on ``cuda:0`` and the real ``pynvml``; :class:`FakeRig` with the
test suite's fake NVML (``tests/fake_nvml.py``) on a clock that only the rig moves, so every
figure of a dry run is exact: queued kernels "run" when the rig synchronises.

The fake GPU's energy counter runs 2 % above its power reading (261.12 W against 256 W) and
steps every 1/16 s, so a dry run must print a counter-against-power agreement of +2.00 % and an
update period of 62.5 ms.

Example::

    rig = FakeRig()
    sensors, choices = rig.discover([0])        # the package's NVML discovery, on the fake
    with rig.steady_load():
        rig.wait(0.5)                           # the fake clock moves 0.5 s
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from lightning_carbon.sensors.base import Sensor, SensorChoice
from lightning_carbon.sensors.nvml import discover_nvml

DRY_GPU_NAME = "NVIDIA H100 80GB HBM3 (fake)"
DRY_DRIVER = "000.00.00 (fake)"
DRY_POWER_W = 256.0
"""What the fake GPU's power reading says, always."""
DRY_COUNTER_W = 261.12
"""How fast the fake GPU's energy counter runs: 2 % above its power reading."""
DRY_COUNTER_PERIOD_S = 1 / 16
"""The fake counter steps every 62.5 ms (real ones: every 10-100 ms)."""
DRY_WAIT_STEP_S = 1 / 64
DRY_TICK_S = 1 / 1024
"""Binary fractions of a second: sums of them stay exact, so the dry figures are exact."""


class CudaRig:
    """``cuda:0`` under fp32 matrix multiplies of side ``matrix_side``, read through pynvml.

    Nothing touches the GPU until a load or a burst is asked for, so a machine whose torch sees
    no GPU can still build the rig (and the parts that only ask NVML still run).
    """

    dry = False

    def __init__(self, matrix_side: int = 8192) -> None:
        import pynvml
        import torch

        self.nvml = pynvml
        self.clock: Callable[[], float] = time.monotonic
        self._torch = torch
        self._side = matrix_side
        self._matrices: tuple[Any, Any, Any] | None = None
        self._matmul_s = math.nan

    def discover(
        self, cuda_indices: Sequence[int] | None, nvml: Any = None
    ) -> tuple[list[Sensor], list[SensorChoice]]:
        """The package's NVML sensors for these CUDA indices (CUDA initialised first)."""
        self._operands()
        return discover_nvml(cuda_indices, nvml=nvml or self.nvml)

    def wait(self, seconds: float) -> None:
        time.sleep(seconds)

    def tick(self) -> None:
        """A short pause between two raw counter reads (about 0.5 ms)."""
        time.sleep(0.0005)

    def synchronize(self) -> None:
        self._torch.cuda.synchronize()

    @contextlib.contextmanager
    def steady_load(self) -> Iterator[None]:
        """Multiply matrices back to back on a side stream of a background thread."""
        torch = self._torch
        a, b, c = self._operands()
        stop = threading.Event()
        errors: list[BaseException] = []

        def run() -> None:
            try:
                stream = torch.cuda.Stream()
                with torch.cuda.stream(stream):
                    while not stop.is_set():
                        for _ in range(4):
                            torch.matmul(a, b, out=c)
                        stream.synchronize()
            except BaseException as error:  # reported by the main thread
                errors.append(error)

        thread = threading.Thread(target=run, name="gpu-check-load", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()
        if errors:
            raise RuntimeError(f"the load thread failed: {errors[0]!r}") from errors[0]

    def burst(self, seconds: float) -> Callable[[], float]:
        """Queue about ``seconds`` of multiplies; the returned function gives their GPU time in
        seconds (from CUDA events) once the rig has synchronised."""
        torch = self._torch
        a, b, c = self._operands()
        count = max(1, round(seconds / self._matmul_s))
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(count):
            torch.matmul(a, b, out=c)
        end.record()
        return lambda: start.elapsed_time(end) / 1000

    def describe_load(self) -> str:
        self._operands()
        return (
            f"fp32 matrix multiply {self._side}x{self._side} on cuda:0 "
            f"({self._torch.cuda.get_device_name(0)}), {self._matmul_s * 1000:.1f} ms each"
        )

    def _operands(self) -> tuple[Any, Any, Any]:
        torch = self._torch
        if self._matrices is None:
            if not torch.cuda.is_available():
                raise RuntimeError(
                    f"torch {torch.__version__} (CUDA {torch.version.cuda}) sees no CUDA GPU"
                )
            generator = torch.Generator(device="cuda").manual_seed(0)
            a, b = (
                torch.randn(self._side, self._side, device="cuda", generator=generator)
                for _ in range(2)
            )
            c = torch.empty_like(a)
            for _ in range(3):  # warm-up: kernel selection, clocks
                torch.matmul(a, b, out=c)
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            for _ in range(10):
                torch.matmul(a, b, out=c)
            end.record()
            torch.cuda.synchronize()
            self._matmul_s = start.elapsed_time(end) / 1000 / 10
            self._matrices = (a, b, c)
        return self._matrices


class FakeRig:
    """The test suite's fake NVML with one fake GPU, on a clock that only this rig moves.

    :meth:`burst` queues fake seconds of work; :meth:`synchronize` runs them (moves the clock).
    """

    dry = True

    def __init__(self) -> None:
        from tests.fake_nvml import FakeNvml, fake_gpu
        from tests.fakes import FakeClock

        self.clock = FakeClock(0.0)
        counter_mJ_per_step = round(DRY_COUNTER_W * 1000 * DRY_COUNTER_PERIOD_S)
        gpu = fake_gpu(
            0,
            name=DRY_GPU_NAME,
            counter_mJ=lambda t: counter_mJ_per_step * math.floor(t / DRY_COUNTER_PERIOD_S),
            power_mW=lambda t: round(DRY_POWER_W * 1000),
            mig_mode=0,
        )
        self.nvml = FakeNvml([gpu], self.clock, driver_version=DRY_DRIVER)
        self._queued_s = 0.0

    def discover(
        self, cuda_indices: Sequence[int] | None, nvml: Any = None
    ) -> tuple[list[Sensor], list[SensorChoice]]:
        """The package's NVML sensors for these CUDA indices, on the fake (every GPU visible)."""
        return discover_nvml(
            cuda_indices, nvml=nvml or self.nvml, visible_devices=None, clock=self.clock
        )

    def wait(self, seconds: float) -> None:
        """Move the clock in 1/64 s steps, letting the poller thread run in between."""
        for _ in range(_steps(seconds, DRY_WAIT_STEP_S)):
            self.clock.advance(DRY_WAIT_STEP_S)
            time.sleep(0.0001)

    def tick(self) -> None:
        self.clock.advance(DRY_TICK_S)

    def synchronize(self) -> None:
        queued_s, self._queued_s = self._queued_s, 0.0
        self.wait(queued_s)

    @contextlib.contextmanager
    def steady_load(self) -> Iterator[None]:
        yield  # the fake GPU draws the same power whatever it does

    def burst(self, seconds: float) -> Callable[[], float]:
        _steps(seconds, DRY_WAIT_STEP_S)
        self._queued_s += seconds
        return lambda: seconds

    def describe_load(self) -> str:
        return (
            f"fake GPU: energy counter {DRY_COUNTER_W:g} W in {DRY_COUNTER_PERIOD_S * 1000:g} ms "
            f"steps, power reading {DRY_POWER_W:g} W"
        )


def dry_sensor_factory() -> Callable[[list[int], bool], list[Sensor]]:
    """A ``CarbonCallback(sensors=...)`` factory for dry runs: a fake ``gpu:0`` whose counter
    runs at 261.12 W of real time (no steps), and this machine's own CPU and DRAM sensors."""
    from lightning_carbon.sensors.discovery import discover
    from tests.fake_nvml import FakeNvml, fake_gpu

    milliwatts = DRY_COUNTER_W * 1000
    nvml = FakeNvml(
        [fake_gpu(0, name=DRY_GPU_NAME, counter_mJ=lambda t: int(milliwatts * t))],
        clock=time.monotonic,
        driver_version=DRY_DRIVER,
    )

    def sensors(gpu_indices: list[int], node_level: bool) -> list[Sensor]:
        gpu, choices = discover_nvml([0], nvml=nvml, visible_devices=None)
        if not gpu:
            raise RuntimeError(choices[0].line)
        return [*gpu, *discover(gpu_indices=[], node_level=node_level).sensors]

    return sensors


class PowerOnly:
    """An NVML module whose devices have no energy counter, so the package's NVML sensor
    falls back to polling power: both of its ways of metering, on the same GPU at once.
    Counts the power reads.

    Example::

        polled, _ = rig.discover([0], nvml=PowerOnly(rig.nvml))   # provenance "polled"
    """

    def __init__(self, nvml: Any) -> None:
        self._nvml = nvml
        self.power_reads = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._nvml, name)

    def nvmlDeviceGetTotalEnergyConsumption(self, handle: Any) -> int:
        raise self._nvml.NVMLError(self._nvml.NVML_ERROR_NOT_SUPPORTED)

    def nvmlDeviceGetPowerUsage(self, handle: Any) -> int:
        self.power_reads += 1
        return self._nvml.nvmlDeviceGetPowerUsage(handle)


def _steps(seconds: float, step_s: float) -> int:
    count = round(seconds / step_s)
    if count < 0 or count * step_s != seconds:
        raise ValueError(f"a dry-run wait must be a multiple of {step_s} s, got {seconds!r}")
    return count
