"""NVML GPU sensor and CUDA -> NVML device mapping, against the scripted fake NVML."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest

from lightning_carbon.sensors import nvml as nvml_module
from lightning_carbon.sensors.base import SensorUnavailable
from lightning_carbon.sensors.nvml import (
    NvmlGpuSensor,
    discover_nvml,
    resolve_visible_devices,
)
from tests.fake_nvml import (
    FakeGpu,
    FakeNvml,
    NVMLError_DriverNotLoaded,
    NVMLError_GpuIsLost,
    NVMLError_LibraryNotFound,
    NVMLError_NotSupported,
    fake_gpu,
    fake_mig,
)
from tests.fakes import FakeClock


def no_torch(index: int) -> None:
    return None


def discover(nvml: FakeNvml, visible: str | None = None, indices=None, cuda_uuid=no_torch):
    sensors, choices = discover_nvml(
        indices, nvml=nvml, visible_devices=visible, clock=nvml.clock, cuda_uuid=cuda_uuid
    )
    _check_choices(sensors, choices)
    return sensors, choices


def _check_choices(sensors, choices) -> None:
    """What every discovery holds: each choice is a GPU's (or all GPUs', ``gpu``), its line
    starts with its label, and its provenance is its sensor's (``None`` without one)."""
    by_device = {sensor.device: sensor for sensor in sensors}
    for choice in choices:
        assert choice.component == "gpu" and re.fullmatch(r"gpu(:\d+)?", choice.device)
        assert choice.line.startswith((f"{choice.device}:", f"{choice.device} "))
        sensor = by_device.get(choice.device)
        assert choice.provenance == (None if sensor is None else sensor.provenance)
        assert choice.model is None
    assert list(by_device) == [c.device for c in choices if c.provenance is not None]


def lines(choices) -> list[str]:
    return [c.line for c in choices]


@pytest.fixture(autouse=True)
def _pci_order_unset(monkeypatch):
    monkeypatch.delenv("CUDA_DEVICE_ORDER", raising=False)


# --- energy -------------------------------------------------------------------------------


def test_counter_gives_exact_joules_without_polling():
    clock = FakeClock(0.0)
    gpu = fake_gpu(0, counter_mJ=lambda t: 1000 + int(250_000 * t), power_mW=lambda t: 1)
    nvml = FakeNvml([gpu], clock)
    sensors, choices = discover(nvml)
    (sensor,) = sensors
    sensor.start()
    clock.advance(1.0)
    assert sensor.energy_J() == 250.0
    clock.advance(1.0)
    assert sensor.energy_J() == 500.0
    assert (sensor.component, sensor.device, sensor.provenance) == ("gpu", "gpu:0", "measured")
    assert sensor.poll_interval_s is None
    assert lines(choices) == ["gpu:0 NVIDIA H100 80GB HBM3: NVML energy counter (measured)"]
    assert choices[0].provenance == "measured"


def test_polled_power_is_integrated_with_the_trapezoid_rule_on_real_timestamps():
    clock = FakeClock(0.0)
    power_mW = {0.0: 100_000, 0.25: 200_000, 0.5: 200_000, 1.0: 0}
    nvml = FakeNvml([fake_gpu(0, power_mW=power_mW.__getitem__)], clock)
    (sensor,), choices = discover(nvml)
    sensor.start()
    for t in (0.25, 0.5):
        clock.now_s = t
        sensor.poll()
    clock.now_s = 1.0
    # 0.25 s x 150 W + 0.25 s x 200 W + 0.5 s x 100 W; energy_J takes the sample at 1.0 s itself
    assert sensor.energy_J() == 137.5
    assert sensor.energy_J() == 137.5  # a second sample at the same instant adds nothing
    assert (sensor.provenance, sensor.poll_interval_s) == ("polled", 0.1)
    assert lines(choices) == [
        "gpu:0 NVIDIA H100 80GB HBM3: NVML power polled every 100 ms (polled)"
    ]


def test_polled_sensor_restarts_from_zero():
    clock = FakeClock(0.0)
    nvml = FakeNvml([fake_gpu(0, power_mW=lambda t: 50_000)], clock)
    (sensor,), _ = discover(nvml)
    sensor.start()
    clock.advance(2.0)
    assert sensor.energy_J() == 100.0
    sensor.start()
    clock.advance(0.5)
    assert sensor.energy_J() == 25.0


def test_device_without_counter_or_power_is_unavailable_never_zero(monkeypatch):
    monkeypatch.setenv("CUDA_DEVICE_ORDER", "PCI_BUS_ID")  # no mixed-models caveat
    nvml = FakeNvml([fake_gpu(0, name="Tesla K80"), fake_gpu(1, counter_mJ=lambda t: 0)])
    sensors, choices = discover(nvml)
    assert [s.device for s in sensors] == ["gpu:1"]
    assert choices[0].provenance is None
    assert choices[0].line == (
        "gpu:0 Tesla K80: no NVML energy counter (Not Supported) and no power reading "
        "(Not Supported); not metered"
    )


def test_a_mig_slice_is_charged_its_share_of_the_board_as_an_estimate():
    # NVML reads the whole board, other tenants included: a slice gets its compute share
    clock = FakeClock(0.0)
    one = fake_mig(0, gi=1, ci=0, power_mW=lambda t: 30_000, compute_slices=1)
    three = fake_mig(0, gi=2, ci=0, compute_slices=3)
    gpu = fake_gpu(0, counter_mJ=lambda t: 700_000 * int(t), mig=[one, three])
    nvml = FakeNvml([gpu], clock)
    sensors, choices = discover(nvml, visible=f"{one.uuid},{three.uuid}")
    assert [(s.device, s.provenance, s.share) for s in sensors] == [
        ("gpu:0", "estimated", 1 / 7),
        ("gpu:1", "estimated", 3 / 7),
    ]
    assert [s.poll_interval_s for s in sensors] == [None, None]  # the board's counter is read
    for sensor in sensors:
        sensor.start()
    clock.advance(10.0)  # the board used 7000 J
    assert [s.energy_J() for s in sensors] == [7000 * (1 / 7), 7000 * (3 / 7)]
    assert lines(choices) == [
        "gpu:0 NVIDIA A100-SXM4-40GB MIG 1g.5gb: 1/7 (its compute slices: 1 of 7) of the whole "
        "GPU's NVML energy counter (estimated)",
        "gpu:1 NVIDIA A100-SXM4-40GB MIG 1g.5gb: 3/7 (its compute slices: 3 of 7) of the whole "
        "GPU's NVML energy counter (estimated)",
    ]


def test_a_mig_slice_on_a_board_with_power_only_is_a_polled_share():
    clock = FakeClock(0.0)
    slice_ = fake_mig(0, gi=1, ci=0, compute_slices=2)
    gpu = fake_gpu(0, power_mW=lambda t: 350_000, mig=[slice_])
    (sensor,), choices = discover(FakeNvml([gpu], clock), visible=slice_.uuid)
    sensor.start()
    clock.advance(1.0)
    assert sensor.energy_J() == 350.0 * 2 / 7
    assert (sensor.provenance, sensor.poll_interval_s) == ("estimated", 0.1)
    assert choices[0].line.endswith(
        ": 2/7 (its compute slices: 2 of 7) of the whole GPU's NVML power polled every 100 ms "
        "(estimated)"
    )


def test_a_mig_slice_whose_share_is_unknown_is_not_metered_with_the_reason():
    slice_ = fake_mig(0, gi=1, ci=0, compute_slices=None)
    gpu = fake_gpu(0, counter_mJ=lambda t: 10**9, mig=[slice_])
    sensors, choices = discover(FakeNvml([gpu]), visible=slice_.uuid)
    assert sensors == [] and choices[0].provenance is None
    assert choices[0].line == (
        "gpu:0 NVIDIA A100-SXM4-40GB MIG 1g.5gb: MIG slice; NVML reports the whole GPU's energy "
        "and the slice's share of it is unknown (Not Supported); not metered"
    )


def test_another_process_on_the_gpu_labels_it_shared_at_discovery():
    gpu = fake_gpu(0, counter_mJ=lambda t: 0, pids=[os.getpid(), 4242, 4343])
    (sensor,), choices = discover(FakeNvml([gpu]))
    assert sensor.device_pids() == {os.getpid(), 4242, 4343}
    reason = "also used by 2 other process(es) (PIDs 4242, 4343)"
    assert choices[0].shared == reason
    assert choices[0].line == (
        f"gpu:0 NVIDIA H100 80GB HBM3: NVML energy counter (measured) [shared: {reason}]"
    )


@pytest.mark.parametrize(
    ("pids", "shared"),
    [
        ([], None),  # nothing on it yet
        ([os.getpid()], None),  # only this process
        ([12], None),  # one process from another PID namespace: this one, in a container
        (
            [12, 13],
            "2 processes on it, none with this job's PIDs (another PID namespace, e.g. a "
            "container): treated as shared",
        ),
        (None, None),  # NVML cannot list processes
    ],
)
def test_gpu_sharing_at_discovery(pids, shared):
    _, choices = discover(FakeNvml([fake_gpu(0, counter_mJ=lambda t: 0, pids=pids)]))
    assert choices[0].shared == shared


@pytest.mark.parametrize("counter", [True, False], ids=["counter", "polled"])
def test_reading_that_fails_mid_run_raises_sensor_unavailable(counter):
    clock = FakeClock(0.0)
    reading = {"counter_mJ" if counter else "power_mW": lambda t: 1000}
    nvml = FakeNvml([fake_gpu(0, fail_after_s=5.0, **reading)], clock)
    (sensor,), _ = discover(nvml)
    sensor.start()
    clock.advance(4.0)
    sensor.energy_J()
    clock.advance(1.0)
    what = "energy counter" if counter else "power reading"
    with pytest.raises(SensorUnavailable, match=f"gpu:0: NVML {what} failed \\(GPU is lost\\)"):
        sensor.energy_J()
    if not counter:
        with pytest.raises(SensorUnavailable):
            sensor.poll()


def test_counter_going_backwards_is_unavailable():
    clock = FakeClock(0.0)
    nvml = FakeNvml([fake_gpu(0, counter_mJ=lambda t: 5000 if t < 1 else 200)], clock)
    (sensor,), _ = discover(nvml)
    sensor.start()
    clock.advance(1.0)
    with pytest.raises(SensorUnavailable, match=r"went backwards \(5000 -> 200 mJ"):
        sensor.energy_J()


def test_reading_before_start_is_a_programming_error():
    nvml = FakeNvml([fake_gpu(0, counter_mJ=lambda t: 0), fake_gpu(1, power_mW=lambda t: 0)])
    sensors, _ = discover(nvml)
    for sensor in sensors:
        with pytest.raises(RuntimeError, match=f"{sensor.device}: call start"):
            sensor.energy_J()


def test_each_sensor_holds_one_nvml_reference_until_closed():
    nvml = FakeNvml([fake_gpu(0, counter_mJ=lambda t: 0), fake_gpu(1, power_mW=lambda t: 0)])
    sensors, _ = discover(nvml)
    assert nvml.init_count == 2  # discovery released its own
    sensors[0].close()
    sensors[0].close()
    assert nvml.init_count == 1
    sensors[1].close()
    assert nvml.init_count == 0


def test_sensor_built_directly_from_a_handle():
    nvml = FakeNvml([fake_gpu(0, counter_mJ=lambda t: 0)])
    nvml.nvmlInit()
    sensor = NvmlGpuSensor(3, nvml.nvmlDeviceGetHandleByIndex(0), nvml=nvml, clock=nvml.clock)
    nvml.nvmlShutdown()
    assert sensor.description == "gpu:3 NVIDIA H100 80GB HBM3: NVML energy counter (measured)"
    sensor.start()
    assert sensor.energy_J() == 0.0
    sensor.close()
    assert nvml.init_count == 0


# --- discovery lines ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "line"),
    [
        (
            NVMLError_LibraryNotFound,
            "gpu: NVML not available (libnvidia-ml.so.1 not found: no NVIDIA driver)",
        ),
        (NVMLError_DriverNotLoaded, "gpu: NVML not available (Driver Not Loaded)"),
    ],
)
def test_nvml_that_cannot_start_gives_one_readable_line(error, line):
    sensors, choices = discover(FakeNvml([fake_gpu(0)], init_error=error))
    assert sensors == []
    assert [(c.device, c.provenance, c.line) for c in choices] == [("gpu", None, line)]


def test_missing_nvidia_ml_py_gives_one_readable_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)  # makes `import pynvml` fail
    sensors, choices = discover_nvml(visible_devices=None)
    assert sensors == []
    assert lines(choices) == ["gpu: nvidia-ml-py is not installed (pip install nvidia-ml-py)"]


def test_empty_visible_devices_means_no_gpu():
    nvml = FakeNvml([fake_gpu(0, counter_mJ=lambda t: 0)])
    sensors, choices = discover(nvml, visible="")
    assert sensors == []
    assert lines(choices) == ["gpu: no GPU visible (CUDA_VISIBLE_DEVICES='')"]
    assert nvml.init_count == 0


def energies_after_1_s(sensors, clock: FakeClock) -> list[tuple[str, float]]:
    for sensor in sensors:
        sensor.start()
    clock.advance(1.0)
    return [(s.device, s.energy_J()) for s in sensors]


def gpus_drawing_k_plus_1_watts(n: int, **kwargs) -> list[FakeGpu]:
    """GPU k draws (k + 1) W, so 1 s of energy tells which NVML device a sensor reads."""
    return [
        fake_gpu(k, counter_mJ=lambda t, k=k: int(1000 * (k + 1) * t), **kwargs) for k in range(n)
    ]


def test_visible_devices_defaults_to_the_environment(monkeypatch):
    nvml = FakeNvml(gpus_drawing_k_plus_1_watts(2))
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    sensors, _ = discover_nvml(nvml=nvml, clock=nvml.clock, cuda_uuid=no_torch)
    assert energies_after_1_s(sensors, nvml.clock) == [("gpu:0", 2.0)]


def test_requested_index_beyond_the_visible_devices_is_explained():
    nvml = FakeNvml(gpus_drawing_k_plus_1_watts(2))
    sensors, choices = discover(nvml, visible="1", indices=[0, 1])
    assert [s.device for s in sensors] == ["gpu:0"]
    assert choices[1].line == (
        "gpu:1: not visible to this process (1 visible, CUDA_VISIBLE_DEVICES='1')"
    )


def test_cuda_index_follows_visible_devices_not_nvml_index():
    nvml = FakeNvml(gpus_drawing_k_plus_1_watts(3))
    sensors, _ = discover(nvml, visible="2,0")
    assert energies_after_1_s(sensors, nvml.clock) == [("gpu:0", 3.0), ("gpu:1", 1.0)]


def test_torch_uuid_maps_exactly_and_overrides_visible_devices():
    mig = fake_mig(7, gi=1, ci=0, power_mW=lambda t: 9000)
    board = fake_gpu(2, counter_mJ=lambda t: int(63_000 * t), mig=[mig])  # 63 W, 9 W a slice
    gpus = gpus_drawing_k_plus_1_watts(2) + [board]
    nvml = FakeNvml(gpus)
    # torch prints UUIDs without the GPU-/MIG- prefix
    torch_uuids = {0: gpus[1].uuid.removeprefix("GPU-"), 1: mig.uuid.removeprefix("MIG-")}
    sensors, choices = discover(nvml, visible="0,2", cuda_uuid=torch_uuids.get)
    assert energies_after_1_s(sensors, nvml.clock) == [("gpu:0", 2.0), ("gpu:1", 9.0)]
    assert choices[1].line == (
        "gpu:1 NVIDIA A100-SXM4-40GB MIG 1g.5gb: 1/7 (its compute slices: 1 of 7) of the whole "
        "GPU's NVML energy counter (estimated)"
    )


def test_mixed_models_with_integer_indices_carry_an_order_caveat(monkeypatch):
    gpus = [
        fake_gpu(0, counter_mJ=lambda t: 0),
        fake_gpu(1, name="NVIDIA T400", counter_mJ=lambda t: 0),
    ]
    _, choices = discover(FakeNvml(gpus), visible=None)
    assert choices[1].line == (
        "gpu:1 NVIDIA T400: NVML energy counter (measured) [mixed GPU models: CUDA numbers them "
        "fastest first, NVML by PCI bus; set CUDA_DEVICE_ORDER=PCI_BUS_ID to be sure of the "
        "mapping]"
    )
    _, by_uuid = discover(FakeNvml(gpus), visible=gpus[1].uuid)
    assert by_uuid[0].line == "gpu:0 NVIDIA T400: NVML energy counter (measured)"
    monkeypatch.setenv("CUDA_DEVICE_ORDER", "PCI_BUS_ID")
    _, pci_order = discover(FakeNvml(gpus), visible="1")
    assert pci_order[0].line == "gpu:0 NVIDIA T400: NVML energy counter (measured)"


# --- CUDA_VISIBLE_DEVICES mapping ---------------------------------------------------------


def _three_gpus_one_with_mig() -> tuple[FakeNvml, list[FakeGpu]]:
    gpus = [fake_gpu(k) for k in range(3)]
    gpus[2].mig.extend([fake_mig(5, gi=1, ci=0), fake_mig(6, gi=2, ci=0)])
    nvml = FakeNvml(gpus)
    nvml.nvmlInit()
    return nvml, gpus


def _resolved(visible: str | None) -> list[FakeGpu]:
    nvml, _ = _three_gpus_one_with_mig()
    return resolve_visible_devices(visible, nvml)


@pytest.mark.parametrize(
    ("visible", "expected"),
    [
        (None, ["G0", "G1", "G2"]),
        ("", []),
        ("2,0", ["G2", "G0"]),
        (" 1 , 2 ", ["G1", "G2"]),
        ("1gpu,0", ["G1", "G0"]),  # CUDA reads leading digits, like strtoul
        (
            "GPU-20000000-aaaa-bbbb-cccc-000000000002,GPU-00000000-aaaa-bbbb-cccc-000000000000",
            ["G2", "G0"],
        ),
        ("GPU-1,GPU-0", ["G1", "G0"]),  # unique UUID prefixes
        ("MIG-60000000-dddd-eeee-ffff-000002000000", ["M6"]),
        ("MIG-5", ["M5"]),
        ("MIG-GPU-20000000-aaaa-bbbb-cccc-000000000002/2/0", ["M6"]),
        ("MIG-GPU-2/1/0,0", ["M5", "G0"]),
        # the first invalid entry hides every device after it
        ("1,7,0", ["G1"]),
        ("0,1,2,3", ["G0", "G1", "G2"]),  # 3 on 3 GPUs: one past the last
        ("3,0", []),
        ("0,foo,1", ["G0"]),
        ("-1,0", []),
        ("GPU-,1", []),  # ambiguous prefix
        ("GPU-9,1", []),
        ("MIG-GPU-2/3/0,1", []),
        ("MIG-GPU-2,1", []),
        # a repeated device makes every device invisible
        ("0,1,0", []),
        ("0,GPU-0", []),
    ],
)
def test_resolve_visible_devices(visible, expected):
    names = {f"GPU-{k}": f"G{k}" for k in range(3)} | {"MIG-5": "M5", "MIG-6": "M6"}
    assert [names[h.uuid[:5]] for h in _resolved(visible)] == expected


def test_mig_with_integers_maps_to_the_whole_gpu():
    nvml, gpus = _three_gpus_one_with_mig()
    assert resolve_visible_devices("2", nvml) == [gpus[2]]


# --- fidelity of the fake and import hygiene ----------------------------------------------


def test_fake_mirrors_the_real_pynvml_names():
    pynvml = pytest.importorskip("pynvml")
    names = [n for n in vars(FakeNvml) if n.startswith(("nvml", "NVML"))]
    assert len(names) > 20
    assert [n for n in names if not hasattr(pynvml, n)] == []
    assert FakeNvml.NVML_ERROR_NOT_SUPPORTED == pynvml.NVML_ERROR_NOT_SUPPORTED
    for name in [n for n in names if n.startswith("NVMLError_")]:
        real, fake = getattr(pynvml, name)(), getattr(FakeNvml, name)()
        assert (fake.value, str(fake)) == (real.value, str(real))
    assert isinstance(
        FakeNvml.NVMLError(FakeNvml.NVML_ERROR_NOT_FOUND), FakeNvml.NVMLError_NotFound
    )


def test_importing_the_module_loads_neither_pynvml_nor_torch():
    code = (
        "import sys, lightning_carbon.sensors.base\n"
        "before = set(sys.modules)\n"
        "import lightning_carbon.sensors.nvml\n"
        "print(sorted({'pynvml', 'torch'} & (set(sys.modules) - before)))\n"
    )
    repo_root = Path(__file__).resolve().parents[1]
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=repo_root
    )
    assert (result.returncode, result.stdout.strip()) == (0, "[]"), result.stderr


# --- real hardware ------------------------------------------------------------------------


@pytest.mark.gpu
def test_real_gpu_reports_positive_energy_after_a_busy_matmul():
    torch = pytest.importorskip("torch")
    pynvml = pytest.importorskip("pynvml")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU")
    a = torch.randn(4096, 4096, device="cuda")  # initialises CUDA: mapping through torch's UUID
    sensors, choices = discover_nvml([0])
    assert len(sensors) == 1, lines(choices)
    sensor = sensors[0]
    by_env, _ = discover_nvml([0], cuda_uuid=no_torch)  # the CUDA_VISIBLE_DEVICES path agrees
    assert pynvml.nvmlDeviceGetUUID(by_env[0]._handle) == pynvml.nvmlDeviceGetUUID(sensor._handle)
    by_env[0].close()
    sensor.start()
    deadline_s = time.monotonic() + 2.0  # several NVML counter updates (~10-100 ms each)
    while time.monotonic() < deadline_s:
        for _ in range(20):
            a = (a @ a).clamp_(-1, 1)
        torch.cuda.synchronize()
        sensor.poll()
    energy_J = sensor.energy_J()
    sensor.close()
    assert energy_J > 0, choices[0].line


# --- CUDA's own UUIDs, edges of a MIG share, and NVML that misbehaves ----------------------------

CAVEAT = (
    " [mixed GPU models: CUDA numbers them fastest first, NVML by PCI bus; set "
    "CUDA_DEVICE_ORDER=PCI_BUS_ID to be sure of the mapping]"
)


class _Cuda:
    def __init__(self, initialized: bool, uuids: list[str]) -> None:
        self.initialized, self.uuids = initialized, uuids

    def is_initialized(self) -> bool:
        return self.initialized

    def get_device_properties(self, index: int):
        if index >= len(self.uuids):
            raise AssertionError("Invalid device id")
        return types.SimpleNamespace(uuid=self.uuids[index])


def test_torch_gives_uuids_only_once_it_initialised_cuda(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", types.SimpleNamespace(cuda=_Cuda(True, ["5f2c"])))
    assert (nvml_module._torch_uuid(0), nvml_module._torch_uuid(1)) == ("5f2c", None)
    monkeypatch.setitem(sys.modules, "torch", types.SimpleNamespace(cuda=_Cuda(False, ["5f2c"])))
    assert nvml_module._torch_uuid(0) is None
    monkeypatch.delitem(sys.modules, "torch")
    assert nvml_module._torch_uuid(0) is None


def test_uuids_with_their_prefix_map_too_and_a_polled_gpu_keeps_the_clock():
    mig = fake_mig(7, gi=1, ci=0)
    board = fake_gpu(2, counter_mJ=lambda t: int(63_000 * t), mig=[mig])
    polled = fake_gpu(1, power_mW=lambda t: 5_000)
    nvml = FakeNvml([fake_gpu(0, counter_mJ=lambda t: 0), polled, board])
    uuids = {0: polled.uuid, 1: mig.uuid}  # "GPU-..." and "MIG-..." as given
    sensors, _ = discover(nvml, visible="0", indices=[0, 1], cuda_uuid=uuids.get)
    assert energies_after_1_s(sensors, nvml.clock) == [("gpu:0", 5.0), ("gpu:1", 9.0)]


def test_the_order_caveat_reads_the_first_character_of_each_entry():
    gpus = [fake_gpu(0, counter_mJ=lambda t: 0), fake_gpu(1, name="T400", counter_mJ=lambda t: 0)]
    _, choices = discover(FakeNvml(gpus), visible="1gpu")
    assert choices[0].line == f"gpu:0 T400: NVML energy counter (measured){CAVEAT}"
    _, choices = discover(FakeNvml(gpus), visible=f"{gpus[0].uuid},1")
    assert choices[1].line.endswith(CAVEAT)


@pytest.mark.parametrize(
    ("slices", "line"),
    [
        (7, ": 1 (its compute slices: 7 of 7) of the whole GPU's NVML energy counter (estimated)"),
        (0, ": MIG slice with 0 of 7 compute slices; not metered"),
    ],
)
def test_a_slice_of_all_or_none_of_the_board(slices, line):
    slice_ = fake_mig(0, gi=1, ci=0, compute_slices=slices)
    gpu = fake_gpu(0, counter_mJ=lambda t: 0, mig=[slice_])
    _, choices = discover(FakeNvml([gpu]), visible=slice_.uuid)
    assert choices[0].line == f"gpu:0 NVIDIA A100-SXM4-40GB MIG 1g.5gb{line}"


def test_an_nvml_that_cannot_count_its_gpus_says_so():
    class _Lost(FakeNvml):
        def nvmlDeviceGetCount(self):
            raise NVMLError_GpuIsLost()

    sensors, choices = discover(_Lost([fake_gpu(0)]))
    assert (sensors, lines(choices)) == ([], ["gpu: NVML could not list the GPUs (GPU is lost)"])


def test_a_driver_without_mig_queries_meters_whole_gpus():
    class _Old(FakeNvml):
        def nvmlDeviceIsMigDeviceHandle(self, handle):
            raise NVMLError_NotSupported()

    (sensor,), _ = discover(_Old([fake_gpu(0, counter_mJ=lambda t: 0)]))
    assert (sensor.share, sensor.provenance) == (1.0, "measured")


def test_closing_after_nvml_was_shut_down_is_quiet():
    nvml = FakeNvml([fake_gpu(0, counter_mJ=lambda t: 0)])
    (sensor,), _ = discover(nvml)
    while nvml.init_count > 0:
        nvml.nvmlShutdown()
    sensor.close()


def test_a_gpu_that_nvml_loses_while_it_is_described_is_not_metered(monkeypatch):
    monkeypatch.setenv("CUDA_DEVICE_ORDER", "PCI_BUS_ID")  # no caveat: names not compared

    class _Flaky(FakeNvml):
        def nvmlDeviceGetName(self, handle):
            if handle is self.gpus[1]:
                raise NVMLError_GpuIsLost()
            return super().nvmlDeviceGetName(handle)

    gpus = [fake_gpu(0, counter_mJ=lambda t: 0), fake_gpu(1, counter_mJ=lambda t: 0)]
    sensors, choices = discover(_Flaky(gpus))
    assert [s.device for s in sensors] == ["gpu:0"]
    assert (choices[1].device, choices[1].line) == ("gpu:1", "gpu:1: NVML error (GPU is lost)")
