import threading
import time
import warnings

import pytest
import torch

from lightning_carbon import EnergyMeter
from lightning_carbon.reading import EnergyReading
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
