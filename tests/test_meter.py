import os
import threading
import time
import warnings

import pytest
import torch

from lightning_carbon import EnergyMeter
from lightning_carbon.reading import EnergyReading
from lightning_carbon.sensors.base import SensorUnavailable
from tests.fakes import FakeClock, ScriptedSensor


def _meter(clock, *sensors):
    return EnergyMeter(list(sensors), clock=clock, synchronize=lambda: None)


def test_window_gives_exact_joules_per_device_and_component():
    clock = FakeClock()
    meter = _meter(
        clock,
        ScriptedSensor("gpu:0", "gpu", clock, power_W=300.0),
        ScriptedSensor("gpu:1", "gpu", clock, power_W=200.0),
        ScriptedSensor("cpu", "cpu", clock, power_W=50.0, provenance="estimated"),
    ).start()
    meter.begin("epoch")
    clock.advance(10.0)
    reading = meter.end("epoch")
    assert reading.energy_J_by_device == {"gpu:0": 3000.0, "gpu:1": 2000.0, "cpu": 500.0}
    assert reading.energy_J_by_component == {"gpu": 5000.0, "cpu": 500.0}
    assert reading.energy_J == 5500.0
    assert reading.energy_kWh == pytest.approx(5500.0 / 3.6e6)
    assert reading.duration_s == 10.0
    assert reading.mean_power_W == 550.0
    assert reading.power_W_by_component == {"gpu": 500.0, "cpu": 50.0}
    assert reading.provenance_by_component == {"gpu": "measured", "cpu": "estimated"}
    assert reading.provenance == "estimated"
    meter.close()


def test_windows_nest_and_overlap():
    clock = FakeClock()
    meter = _meter(clock, ScriptedSensor("cpu", "cpu", clock, power_W=10.0)).start()
    meter.begin("epoch")
    clock.advance(2.0)
    meter.begin("validation")
    clock.advance(3.0)
    meter.begin("overlap")
    clock.advance(1.0)
    assert meter.end("validation").energy_J == 40.0
    clock.advance(4.0)
    assert meter.end("epoch").energy_J == 100.0
    assert meter.end("overlap").energy_J == 50.0
    meter.close()


def test_window_errors_name_the_window():
    clock = FakeClock()
    meter = _meter(clock, ScriptedSensor("cpu", "cpu", clock, power_W=1.0))
    meter.begin("a")
    with pytest.raises(ValueError, match="'a' is already open"):
        meter.begin("a")
    with pytest.raises(ValueError, match="'b' is not open"):
        meter.end("b")
    meter.close()
    with pytest.raises(RuntimeError, match="closed"):
        meter.begin("c")


def test_duplicate_device_labels_are_refused():
    clock = FakeClock()
    meter = _meter(clock, ScriptedSensor("cpu", "cpu", clock), ScriptedSensor("cpu", "cpu", clock))
    with pytest.raises(ValueError, match="share the device"):
        meter.start()


def test_start_and_close_are_idempotent_and_close_releases_sensors():
    clock = FakeClock()
    sensor = ScriptedSensor("cpu", "cpu", clock, power_W=1.0)
    meter = _meter(clock, sensor)
    assert meter.start() is meter.start()
    meter.close()
    meter.close()
    assert sensor.closed


def test_failing_sensor_is_dropped_with_one_warning_and_others_keep_going():
    clock = FakeClock(0.0)
    flaky = ScriptedSensor("gpu:0", "gpu", clock, power_W=100.0, fail_after_s=5.0)
    steady = ScriptedSensor("cpu", "cpu", clock, power_W=10.0)
    meter = _meter(clock, flaky, steady).start()
    meter.begin("run")
    clock.advance(4.0)
    meter.begin("e1")
    clock.advance(2.0)  # flaky fails from t=5
    with pytest.warns(RuntimeWarning, match="gpu:0 failed") as caught:
        first = meter.end("e1")
    assert len(caught) == 1
    # gpu:0 counted up to its last good reading (t=4): nothing inside e1
    assert first.energy_J_by_device == {"gpu:0": 0.0, "cpu": 20.0}
    assert any("gpu:0 stopped reporting" in note for note in first.notes)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no second warning
        clock.advance(1.0)
        whole = meter.end("run")
    assert whole.energy_J_by_device == {"gpu:0": 400.0, "cpu": 70.0}
    assert meter.sensors == [steady]
    meter.close()


def test_short_gpu_window_is_flagged():
    clock = FakeClock()
    meter = _meter(clock, ScriptedSensor("gpu:0", "gpu", clock, power_W=100.0)).start()
    meter.begin("tiny")
    clock.advance(0.2)
    assert any("shorter than 1 s" in note for note in meter.end("tiny").notes)
    meter.begin("long")
    clock.advance(2.0)
    assert meter.end("long").notes == ()
    meter.close()


def test_energy_never_negative_when_a_counter_goes_back():
    clock = FakeClock(0.0)
    # start, begin a, begin b, end a (counter stepped back), end b
    values = iter([0.0, 0.0, 50.0, 20.0, 60.0])
    sensor = ScriptedSensor("cpu", "cpu", clock, energy_at=lambda t: next(values))
    meter = _meter(clock, sensor).start()
    meter.begin("a")
    meter.begin("b")
    assert meter.end("a").energy_J == 50.0  # the step back is held at the last high value
    assert meter.end("b").energy_J == 10.0


def test_poller_polls_only_sensors_that_ask_and_stops_on_close():
    clock = FakeClock()
    polled = ScriptedSensor("cpu:package-0", "cpu", clock, poll_interval_s=0.01)
    quiet = ScriptedSensor("dram", "dram", clock)
    meter = EnergyMeter([polled, quiet], synchronize=lambda: None).start()
    deadline = time.monotonic() + 5.0
    while polled.polls < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    meter.close()
    assert polled.polls >= 3 and quiet.polls == 0
    assert not any(t.name == "lightning-carbon-poller" for t in threading.enumerate())


class _TickingClock(FakeClock):
    """Moves 1 s each time it is read, and lets the other threads run right after."""

    def __call__(self) -> float:
        self.advance(1.0)
        now_s = self.now_s
        time.sleep(0)  # a switch here splits a snapshot unless the meter holds its lock
        return now_s


def test_concurrent_windows_from_threads_are_consistent():
    # each snapshot reads the sensor (1 tick) then the clock (1 tick): 10 W x its duration is
    # a window's energy exactly when no other thread's reads fall inside one of its snapshots
    clock = _TickingClock()
    meter = _meter(clock, ScriptedSensor("cpu", "cpu", clock, power_W=10.0)).start()
    readings = {}

    def work(i):
        for j in range(50):
            meter.begin(f"w{i}-{j}")
            readings[f"w{i}-{j}"] = meter.end(f"w{i}-{j}")

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    meter.close()
    assert sorted(readings) == sorted(f"w{i}-{j}" for i in range(4) for j in range(50))
    assert [name for name, r in readings.items() if r.name != name] == []
    assert [r.duration_s for r in readings.values() if r.energy_J != 10.0 * r.duration_s] == []
    assert min(r.duration_s for r in readings.values()) >= 2.0  # its own end snapshot


def test_reading_round_trips_through_dict_and_adds():
    reading = EnergyReading(
        "epoch",
        2.0,
        {"gpu:0": 10.0, "cpu": 4.0},
        {"gpu:0": "gpu", "cpu": "cpu"},
        {"gpu:0": "polled", "cpu": "estimated"},
        "2026-01-01T00:00:00+00:00",
        "2026-01-01T00:00:02+00:00",
        ("note",),
    )
    assert EnergyReading.from_dict(reading.to_dict()) == reading
    total = reading.plus(reading)
    assert total.energy_J_by_device == {"gpu:0": 20.0, "cpu": 8.0}
    assert total.duration_s == 4.0 and total.notes == ("note",)


def test_context_manager_meters_a_real_cpu_training_loop(tmp_path):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(32, 64), torch.nn.ReLU(), torch.nn.Linear(64, 1))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    x, y = torch.randn(256, 32), torch.randn(256, 1)
    with EnergyMeter(gpu_indices=[], powercap_root=str(tmp_path)) as meter:
        for _ in range(30):
            optimizer.zero_grad()
            loss = torch.nn.functional.mse_loss(model(x), y)
            loss.backward()
            optimizer.step()
    reading = meter.result
    assert reading.duration_s > 0
    assert set(reading.energy_J_by_component) == {"cpu", "dram"}
    # the machine's DRAM draws installed memory x W/GB whether busy or not; the job gets its
    # share of the busy CPU time (0 when a short window saw no busy tick)
    assert reading.machine_energy_J_by_component["dram"] > 0
    assert reading.energy_J_by_device["dram"] == pytest.approx(
        reading.machine_energy_J_by_device["dram"] * reading.attribution["share"]
    )
    assert reading.provenance == "estimated"  # an empty powercap tree: no RAPL
    assert {c.component for c in meter.choices} >= {"cpu", "dram"}


# --- what the meter passes on, remembers and says ---------------------------------------------


def test_a_discovering_meter_hands_its_arguments_to_discovery(monkeypatch, tmp_path):
    from lightning_carbon.sensors import discovery
    from lightning_carbon.sensors.machine import Machine

    asked = {}
    clock = FakeClock()
    scope_busy_s = lambda: 7.0  # noqa: E731

    class _Scope:
        busy_s = staticmethod(scope_busy_s)

    def _discover(**kwargs):
        asked.update(kwargs)
        return discovery.Discovery([ScriptedSensor("cpu", "cpu", clock)], [], _Scope())

    monkeypatch.setattr(discovery, "discover", _discover)
    machine = Machine(cpuinfo_path=str(tmp_path / "cpuinfo"))
    meter = EnergyMeter(
        gpu_indices=[1],
        node_level=False,
        cpu_tdp_w=95.0,
        powercap_root="/nowhere",
        machine=machine,
        clock=clock,
    ).start()
    assert asked == {
        "gpu_indices": [1],
        "node_level": False,
        "cpu_tdp_w": 95.0,
        "powercap_root": "/nowhere",
        "machine": machine,
    }
    assert meter.attribution.node_busy_s is scope_busy_s
    meter.close()


def test_a_given_busy_time_is_kept_over_the_discovered_scope(monkeypatch):
    from lightning_carbon.sensors import discovery
    from lightning_carbon.sensors.attribution import Attribution

    class _Scope:
        busy_s = staticmethod(lambda: 7.0)

    own = lambda: 3.0  # noqa: E731
    monkeypatch.setattr(discovery, "discover", lambda **_: discovery.Discovery([], [], _Scope()))
    meter = EnergyMeter(attribution=Attribution(node_busy_s=own)).start()
    assert meter.attribution.node_busy_s is own
    monkeypatch.setattr(discovery, "discover", lambda **_: discovery.Discovery([], [], None))
    assert EnergyMeter().start().attribution.node_busy_s is None


def test_node_wide_sensors_split_by_the_machines_busy_time_by_default(tmp_path):
    from tests.fake_machine import FakeMachine

    node = FakeMachine(tmp_path, cpus=2)
    cpu = ScriptedSensor("cpu", "cpu", node.clock, power_W=20.0, provenance="estimated")
    cpu.node_wide = True
    meter = EnergyMeter([cpu], clock=node.clock, synchronize=None, machine=node.machine())
    meter.start()
    before_s = meter.attribution.node_busy_s()
    node.run(10.0, busy=0.25)
    assert meter.attribution.node_busy_s() - before_s == pytest.approx(5.0)  # 2 CPUs x 25 %
    meter.close()


def test_given_sensors_are_described_by_their_own_words():
    clock = FakeClock()
    gpu = ScriptedSensor("gpu:0", "gpu", clock, power_W=100.0)
    bare = ScriptedSensor("dram", "dram", clock, provenance="estimated")
    bare.description = ""
    meter = _meter(clock, gpu, bare)
    assert meter.choices == [] and meter.result is None
    meter.start()
    assert [(c.component, c.device, c.provenance, c.line) for c in meter.choices] == [
        ("gpu", "gpu:0", "measured", "gpu:0: scripted 100 W (measured)"),
        ("dram", "dram", "estimated", "dram"),
    ]
    assert meter.describe() == "gpu:0: scripted 100 W (measured)\ndram"
    meter.close()


def test_a_meter_closed_before_it_started_cannot_start():
    meter = EnergyMeter([])
    meter.close()
    with pytest.raises(RuntimeError, match=r"^this EnergyMeter is closed; create a new one$"):
        meter.start()
    started = EnergyMeter([], synchronize=lambda: None).start()
    started.close()
    with pytest.raises(RuntimeError, match=r"^this EnergyMeter is closed$"):
        started.end("w")


def test_peek_reads_an_open_window_and_names_what_is_open():
    clock = FakeClock()
    meter = _meter(clock, ScriptedSensor("cpu", "cpu", clock, power_W=10.0)).start()
    meter.begin("epoch")
    clock.advance(2.0)
    peeked = meter.peek("epoch")
    assert (peeked.name, peeked.energy_J, meter.is_open("epoch")) == ("epoch", 20.0, True)
    with pytest.raises(ValueError, match=r"^window 'x' is not open \(open: \['epoch'\]\)$"):
        meter.peek("x")
    meter.close()


def test_windows_carry_the_utc_times_of_their_edges(monkeypatch):
    from datetime import datetime

    from lightning_carbon import meter as meter_module

    now = meter_module._utc_now()
    assert datetime.fromisoformat(now).utcoffset().total_seconds() == 0.0
    assert len(now.split("T")[1].split("+")[0]) == len("12:00:00.000")  # milliseconds
    stamps = iter(["t0", "t1"])
    monkeypatch.setattr(meter_module, "_utc_now", lambda: next(stamps))
    clock = FakeClock()
    meter = _meter(clock, ScriptedSensor("cpu", "cpu", clock)).start()
    meter.begin("w")
    reading = meter.end("w")
    assert (reading.start_utc, reading.end_utc) == ("t0", "t1")


def test_a_gpu_meter_synchronises_before_every_read(monkeypatch):
    from lightning_carbon import meter as meter_module

    calls = []
    monkeypatch.setattr(meter_module, "_cuda_synchronize", lambda: calls.append("cuda"))
    clock = FakeClock()
    gpu = EnergyMeter([ScriptedSensor("gpu:0", "gpu", clock)], clock=clock).start()
    gpu.begin("w")
    gpu.end("w")
    assert calls == ["cuda", "cuda"]
    cpu = EnergyMeter([ScriptedSensor("cpu", "cpu", clock)], clock=clock).start()
    cpu.begin("w")
    cpu.end("w")
    assert calls == ["cuda", "cuda"]
    own = EnergyMeter(
        [ScriptedSensor("gpu:0", "gpu", clock)], clock=clock, synchronize=lambda: calls.append(1)
    ).start()
    own.begin("w")
    assert calls == ["cuda", "cuda", 1]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        empty = EnergyMeter([], clock=clock).start()
        empty.begin("w")
        empty.end("w")


def test_a_cuda_that_was_never_initialised_is_not_synchronised(monkeypatch):
    import torch

    from lightning_carbon.meter import _cuda_synchronize

    calls = []
    monkeypatch.setattr(torch.cuda, "synchronize", lambda: calls.append(1))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: False)
    _cuda_synchronize()
    assert calls == []
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: True)
    _cuda_synchronize()
    assert calls == [1]


def test_a_failing_synchronize_is_dropped_with_one_warning():
    clock = FakeClock()
    calls = []

    def _fail():
        calls.append(1)
        raise RuntimeError("no device")

    meter = EnergyMeter([ScriptedSensor("cpu", "cpu", clock)], clock=clock, synchronize=_fail)
    meter.start()
    message = r"^lightning-carbon: device synchronize failed \(no device\); windows are read "
    with pytest.warns(RuntimeWarning, match=message + "without it from now on$") as caught:
        meter.begin("w")
        meter.end("w")
    assert len(caught) == 1 and calls == [1]


def test_a_sensor_that_fails_to_start_or_close_is_dropped_with_its_reason():
    clock = FakeClock()

    class _Broken(ScriptedSensor):
        def start(self):
            raise SensorUnavailable("no counter")

    class _Sticky(ScriptedSensor):
        def close(self):
            raise OSError("busy")

    broken = _Broken("gpu:0", "gpu", clock)
    sticky = _Sticky("cpu", "cpu", clock)
    message = r"^lightning-carbon: sensor gpu:0 failed \(no counter\); it is no longer read, "
    with pytest.warns(RuntimeWarning, match=message + "the other sensors keep going$"):
        meter = _meter(clock, broken, sticky).start()
    assert meter.sensors == [sticky]
    assert meter.dropped == {"gpu:0": "SensorUnavailable: no counter"}
    with pytest.warns(RuntimeWarning, match=r"sensor cpu failed \(busy\)"):
        meter.close()
    assert meter.dropped == {"gpu:0": "SensorUnavailable: no counter", "cpu": "OSError: busy"}


def test_a_sensor_whose_poll_fails_is_dropped():
    clock = FakeClock()

    class _Flaky(ScriptedSensor):
        def poll(self):
            raise OSError("gone")

    flaky = _Flaky("gpu:0", "gpu", clock, poll_interval_s=0.001)
    with pytest.warns(RuntimeWarning, match=r"sensor gpu:0 failed \(gone\)"):
        meter = _meter(clock, flaky).start()
        clock.advance(1.0)  # polls are due on the meter's clock
        deadline = time.monotonic() + 5.0
        while not meter.dropped and time.monotonic() < deadline:
            time.sleep(0.01)
    assert meter.dropped == {"gpu:0": "OSError: gone"}
    meter.close()


def test_the_poller_keeps_the_meters_clock():
    clock = FakeClock()
    polled = ScriptedSensor("cpu:package-0", "cpu", clock, poll_interval_s=0.01)
    meter = _meter(clock, polled).start()
    time.sleep(0.1)
    assert polled.polls == 0  # the meter's clock has not moved: nothing is due
    clock.advance(1.0)
    deadline = time.monotonic() + 5.0
    while polled.polls == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    meter.close()
    assert polled.polls >= 1


def test_the_short_window_note_says_why():
    clock = FakeClock()
    meter = _meter(clock, ScriptedSensor("gpu:0", "gpu", clock, power_W=100.0)).start()
    meter.begin("tiny")
    clock.advance(0.25)
    assert meter.end("tiny").notes == (
        "window of 0.250 s is shorter than 1 s: GPU energy counters update every 10-100 ms, "
        "so treat it as approximate",
    )
    meter.begin("one")
    clock.advance(1.0)
    assert meter.end("one").notes == ()


# --- attribution inside the meter -------------------------------------------------------------


class _Scripted:
    """Job and node CPU seconds to hand out, one pair per snapshot (an ``Exception`` raises)."""

    def __init__(self, *times):
        self.times = list(times)

    def __call__(self):
        value = self.times.pop(0)
        if isinstance(value, Exception):
            raise value
        return value


def _attributed_meter(clock, cpu_times, method="process", shared=None):
    from lightning_carbon.sensors.attribution import Attribution

    cpu = ScriptedSensor("cpu", "cpu", clock, power_W=20.0, provenance="estimated")
    cpu.node_wide = True
    gpu = ScriptedSensor("gpu:0", "gpu", clock, power_W=100.0)
    gpu.shared = shared
    attribution = Attribution(method, node_busy_s=lambda: 0.0)
    attribution.cpu_times = cpu_times
    return EnergyMeter([gpu, cpu], clock=clock, synchronize=None, attribution=attribution)


def test_the_job_gets_its_share_of_node_wide_energy_in_each_window():
    clock = FakeClock()
    meter = _attributed_meter(clock, _Scripted((10.0, 40.0), (10.5, 42.0))).start()
    meter.begin("w")
    clock.advance(2.0)
    reading = meter.end("w")
    assert reading.energy_J_by_device == {"gpu:0": 200.0, "cpu": 10.0}  # 0.5 of 2 CPU s
    assert reading.machine_energy_J_by_device == {"gpu:0": 200.0, "cpu": 40.0}
    attribution = dict(reading.attribution)
    assert attribution.pop("description").startswith("cpu: 25 % of the machine's energy")
    assert attribution == {
        "method": "process",
        "devices": ["cpu"],
        "share": 0.25,
        "job_cpu_s": 0.5,
        "node_busy_cpu_s": 2.0,
        "root_pids": [os.getpid()],
    }


def test_a_device_labelled_shared_by_its_sensor_is_noted_in_every_split():
    clock = FakeClock()
    meter = _attributed_meter(clock, _Scripted((1.0, 2.0), (2.0, 4.0)), shared="a MIG slice")
    message = r"^lightning-carbon: gpu:0 is shared: a MIG slice; its readings are labelled shared$"
    with pytest.warns(RuntimeWarning, match=message):
        meter.start()
    meter.begin("w")
    clock.advance(2.0)
    reading = meter.end("w")
    assert reading.notes == ("gpu:0 is shared: a MIG slice",)
    assert reading.attribution["shared_devices"] == {"gpu:0": "a MIG slice"}


def test_machine_attribution_of_an_unsplit_window_keeps_the_shared_label():
    clock = FakeClock()
    meter = _attributed_meter(clock, _Scripted(), method="machine", shared="a MIG slice")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the shared label's own warning
        meter.start()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # CPU times are never read
        meter.begin("w")
        reading = meter.end("w")
    assert reading.attribution == {
        "method": "machine",
        "devices": ["cpu"],
        "description": "cpu: the whole machine's energy, not split",
        "shared_devices": {"gpu:0": "a MIG slice"},
    }


def test_a_gpu_only_meter_splits_nothing_and_says_so():
    clock = FakeClock()
    meter = _meter(clock, ScriptedSensor("gpu:0", "gpu", clock, power_W=100.0)).start()
    meter.begin("w")
    clock.advance(1.0)
    assert meter.end("w").attribution == {
        "method": "process",
        "devices": [],
        "description": "no machine-wide device: nothing split (GPUs are per device)",
    }


def test_cpu_times_that_fail_switch_to_the_machines_energy_with_one_warning():
    clock = FakeClock()
    meter = _attributed_meter(clock, _Scripted((1.0, 2.0), OSError("no /proc")))
    meter.start()
    meter.begin("w")
    clock.advance(1.0)
    message = (
        r"^lightning-carbon: cannot read CPU times to split the machine's energy \(no /proc\); "
        "the whole machine's energy is reported from now on$"
    )
    with pytest.warns(RuntimeWarning, match=message) as caught:
        reading = meter.end("w")
    assert len(caught) == 1
    assert meter.attribution.method == "machine"
    assert reading.energy_J_by_device == reading.machine_energy_J_by_device
    assert reading.attribution["method"] == "machine"


def test_other_users_of_a_device_are_asked_for_every_10_s_of_windows():
    clock = FakeClock(0.0)
    asked = []

    class _Gpu(ScriptedSensor):
        def device_pids(self):
            asked.append(clock())
            raise OSError("no NVML")  # who uses it is a label, never worth a failure

    first = ScriptedSensor("gpu:1", "gpu", clock)
    first.device_pids = lambda: set()
    meter = _meter(clock, first, _Gpu("gpu:0", "gpu", clock)).start()
    for _ in range(4):
        meter.begin("w")
        clock.advance(5.0)
        meter.end("w")
    assert asked == [0.0, 10.0, 20.0]


# --- the poller -------------------------------------------------------------------------------


def _wait_for(condition, timeout_s=5.0):
    deadline = time.monotonic() + timeout_s
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.005)
    return condition()


def _pollers():
    return [t for t in threading.enumerate() if t.name == "lightning-carbon-poller"]


def test_the_poller_polls_when_due_on_its_clock_once_per_interval():
    from lightning_carbon.sensors.poller import Poller

    clock = FakeClock(0.0)
    sensor = ScriptedSensor("cpu:package-0", "cpu", clock, poll_interval_s=0.5)
    poller = Poller([sensor], on_failure=lambda s, e: None, clock=clock)
    assert not poller.running
    poller.start()
    poller.start()  # a second start changes nothing
    assert poller.running and len(_pollers()) == 1 and _pollers()[0].daemon
    clock.advance(0.5)  # exactly due
    assert _wait_for(lambda: sensor.polls == 1)
    time.sleep(0.05)  # the clock stands still: the next poll is not due
    assert sensor.polls == 1
    poller.close()
    assert not poller.running and _pollers() == []


def test_a_poller_with_nothing_to_poll_or_already_closed_starts_no_thread():
    from lightning_carbon.sensors.poller import Poller

    clock = FakeClock(0.0)
    quiet = Poller([ScriptedSensor("dram", "dram", clock)], on_failure=print, clock=clock)
    quiet.start()
    assert not quiet.running
    closed = Poller(
        [ScriptedSensor("cpu", "cpu", clock, poll_interval_s=0.5)], on_failure=print, clock=clock
    )
    closed.close()
    closed.start()
    assert not closed.running
