"""EnergyReading by hand: every field of its dict, sums and differences with their attribution."""

from dataclasses import replace

import pytest

from lightning_carbon.reading import EnergyReading

KWH = 3.6e6
COMPONENTS = {"gpu:0": "gpu", "cpu": "cpu", "dram": "dram"}
PROVENANCES = {"gpu:0": "measured", "cpu": "estimated", "dram": "estimated"}


def _split(energy, machine, job_cpu_s, node_busy_cpu_s, *, pids=(1,), shared=None, **fields):
    """A reading whose CPU and DRAM are split by process (the GPU is not)."""
    devices = [d for d in ("cpu", "dram") if d in energy]
    machine_J = sum(machine[d] for d in devices)
    attribution = {
        "method": "process",
        "devices": devices,
        "share": sum(energy[d] for d in devices) / machine_J if machine_J else 0.0,
        "job_cpu_s": job_cpu_s,
        "node_busy_cpu_s": node_busy_cpu_s,
        "root_pids": list(pids),
        "description": "scripted",
    }
    if shared:
        attribution["shared_devices"] = shared
    return EnergyReading(
        fields.pop("name", "w"),
        fields.pop("duration_s", 10.0),
        energy,
        {d: COMPONENTS[d] for d in energy},
        {d: PROVENANCES[d] for d in energy},
        machine_energy_J_by_device=machine,
        attribution=attribution,
        **fields,
    )


def test_the_dict_holds_every_figure_per_component_and_per_device():
    reading = _split(
        {"gpu:0": 3000.0, "cpu": 150.0, "dram": 30.0},
        {"cpu": 600.0, "dram": 120.0},
        2.0,
        8.0,
        name="epoch",
        duration_s=4.0,
        start_utc="2026-01-01T00:00:00+00:00",
        end_utc="2026-01-01T00:00:04+00:00",
        notes=("a note",),
    )
    assert reading.to_dict() == {
        "name": "epoch",
        "start_utc": "2026-01-01T00:00:00+00:00",
        "end_utc": "2026-01-01T00:00:04+00:00",
        "duration_s": 4.0,
        "energy_J": 3180.0,
        "energy_kWh": 3180.0 / KWH,
        "mean_power_W": 795.0,
        "provenance": "estimated",
        "energy_J_by_component": {"gpu": 3000.0, "cpu": 150.0, "dram": 30.0},
        "machine_energy_J": 3720.0,
        "machine_energy_kWh": 3720.0 / KWH,
        "machine_energy_J_by_component": {"gpu": 3000.0, "cpu": 600.0, "dram": 120.0},
        "provenance_by_component": {"gpu": "measured", "cpu": "estimated", "dram": "estimated"},
        "devices": {
            "gpu:0": {
                "component": "gpu",
                "provenance": "measured",
                "energy_J": 3000.0,
                "machine_energy_J": 3000.0,
            },
            "cpu": {
                "component": "cpu",
                "provenance": "estimated",
                "energy_J": 150.0,
                "machine_energy_J": 600.0,
            },
            "dram": {
                "component": "dram",
                "provenance": "estimated",
                "energy_J": 30.0,
                "machine_energy_J": 120.0,
            },
        },
        "attribution": reading.attribution,
        "notes": ["a note"],
    }
    assert reading.attribution["share"] == pytest.approx(180.0 / 720.0)
    assert EnergyReading.from_dict(reading.to_dict()) == reading


def test_a_dict_from_before_attribution_loads_with_the_machine_equal_to_the_job():
    old = {
        "name": "epoch",
        "duration_s": "2.5",
        "devices": {"cpu": {"component": "cpu", "provenance": "estimated", "energy_J": "40"}},
    }
    assert EnergyReading.from_dict(old) == EnergyReading(
        "epoch", 2.5, {"cpu": 40.0}, {"cpu": "cpu"}, {"cpu": "estimated"}, "", "", ()
    )
    assert EnergyReading.from_dict(old).machine_energy_J_by_device == {"cpu": 40.0}
    assert EnergyReading.from_dict({"name": "e", "duration_s": 1}).energy_J_by_device == {}


@pytest.mark.parametrize(
    ("duration_s", "mean_W", "gpu_W", "cpu_W"),
    [(0.5, 260.0, 200.0, 60.0), (0.0, 0.0, 0.0, 0.0), (-1.0, 0.0, 0.0, 0.0)],
)
def test_power_is_energy_over_duration_and_zero_for_an_empty_window(
    duration_s, mean_W, gpu_W, cpu_W
):
    reading = EnergyReading("w", duration_s, {"gpu:0": 100.0, "cpu": 30.0}, COMPONENTS, PROVENANCES)
    assert reading.mean_power_W == mean_W
    assert reading.power_W_by_component == {"gpu": gpu_W, "cpu": cpu_W}


def test_plus_adds_devices_times_and_the_split():
    first = _split(
        {"gpu:0": 100.0, "cpu": 25.0},
        {"cpu": 100.0},
        1.0,
        4.0,
        pids=(1,),
        shared={"gpu:0": "also used by 1 other process(es) (PIDs 7)"},
        end_utc="t1",
        notes=("n1", "n2"),
    )
    second = _split(
        {"cpu": 50.0, "dram": 10.0},
        {"cpu": 100.0, "dram": 20.0},
        2.0,
        4.0,
        pids=(1, 2),
        shared={"gpu:1": "2 processes on it"},
        start_utc="t1",
        end_utc="t2",
        notes=("n2", "n3"),
        duration_s=5.0,
    )
    total = first.plus(second)
    assert total.duration_s == 15.0
    assert total.energy_J_by_device == {"gpu:0": 100.0, "cpu": 75.0, "dram": 10.0}
    assert total.machine_energy_J_by_device == {"gpu:0": 100.0, "cpu": 200.0, "dram": 20.0}
    assert (total.start_utc, total.end_utc) == ("t1", "t2")
    assert total.notes == ("n1", "n2", "n3")
    attribution = dict(total.attribution)
    assert attribution.pop("description").startswith("cpu, dram: 38.6 % of the machine's")
    assert attribution == {
        "method": "process",
        "devices": ["cpu", "dram"],
        "share": pytest.approx(85.0 / 220.0),
        "job_cpu_s": 3.0,
        "node_busy_cpu_s": 8.0,
        "root_pids": [1, 2],
        "shared_devices": {
            "gpu:0": "also used by 1 other process(es) (PIDs 7)",
            "gpu:1": "2 processes on it",
        },
    }


def test_plus_keeps_the_first_start_and_the_last_end():
    a = EnergyReading("a", 1.0, {}, {}, {}, "t0", "t1")
    b = EnergyReading("b", 1.0, {}, {}, {}, "t1", "")
    assert (a.plus(b).start_utc, a.plus(b).end_utc) == ("t0", "t1")


def test_a_split_of_no_machine_energy_is_the_cpu_time_share():
    idle = _split({"cpu": 0.0}, {"cpu": 0.0}, 0.0, 0.0)
    busy = EnergyReading(
        "w",
        1.0,
        {"cpu": 0.0},
        {"cpu": "cpu"},
        {"cpu": "estimated"},
        attribution={**idle.attribution, "job_cpu_s": 1.0, "node_busy_cpu_s": 4.0},
    )
    assert idle.plus(busy).attribution["share"] == 0.25
    # under 1 J of the machine's, the share is still energy over the machine's energy
    low = _split({"cpu": 0.25}, {"cpu": 0.5}, 1.0, 4.0)
    assert low.plus(idle).attribution["share"] == 0.5


def test_a_machine_split_stays_whole_and_keeps_its_devices():
    machine = {"method": "machine", "devices": ["cpu"], "description": "cpu: the whole"}
    a = EnergyReading("a", 1.0, {"cpu": 5.0}, {"cpu": "cpu"}, {"cpu": "estimated"})
    a = replace(a, attribution=machine)
    b = replace(a, attribution={**machine, "devices": ["dram"], "shared_devices": {"g": "x"}})
    assert a.plus(b).attribution == {
        "method": "machine",
        "devices": ["cpu", "dram"],
        "description": "cpu, dram: the whole machine's energy, not split",
        "shared_devices": {"g": "x"},
    }


def test_readings_with_nothing_split_add_to_nothing_split():
    # GPUs only, attributed by process: the record has no CPU times, no share, no PIDs
    nothing = {"method": "process", "devices": [], "description": "no machine-wide device"}
    gpu = EnergyReading("g", 1.0, {"gpu:0": 5.0}, COMPONENTS, PROVENANCES, attribution=nothing)
    assert gpu.plus(gpu).attribution == {
        "method": "process",
        "devices": [],
        "description": "no machine-wide device: nothing split (GPUs are per device)",
    }
    assert gpu.minus(gpu).attribution == gpu.plus(gpu).attribution


def test_a_side_without_attribution_leaves_the_other_one():
    split = _split({"cpu": 25.0}, {"cpu": 100.0}, 1.0, 4.0)
    plain = EnergyReading("p", 1.0, {"cpu": 5.0}, {"cpu": "cpu"}, {"cpu": "estimated"})
    assert plain.plus(split).attribution == split.attribution
    assert split.plus(plain).attribution == split.attribution
    assert split.minus(plain).attribution == split.attribution
    assert plain.minus(split).attribution == {}


def test_the_rest_of_a_split_reading_is_split_by_its_own_cpu_time():
    # shares do not subtract: the part used more of its machine energy (75 %) than the whole
    # (50 %), so energy minus energy would leave nothing, though the job ran 1 of the 4 busy
    # CPU seconds in between: the rest gets 25 % of the 50 J the machine used meanwhile
    shared = {"gpu:0": "shared with PID 9"}
    whole = _split(
        {"gpu:0": 30.0, "cpu": 100.0}, {"cpu": 200.0}, 4.0, 8.0, pids=(7,), shared=shared
    )
    part = _split({"gpu:0": 20.0, "cpu": 112.5}, {"cpu": 150.0}, 3.0, 4.0, pids=(7,))
    rest = whole.minus(part)
    assert rest.energy_J_by_device == {"gpu:0": 10.0, "cpu": 12.5}
    assert rest.machine_energy_J_by_device == {"gpu:0": 10.0, "cpu": 50.0}
    attribution = dict(rest.attribution)
    assert attribution.pop("description").startswith("cpu: 25 % of the machine's energy")
    assert attribution == {
        "method": "process",
        "devices": ["cpu"],
        "share": 0.25,
        "job_cpu_s": 1.0,
        "node_busy_cpu_s": 4.0,
        "root_pids": [7],
        "shared_devices": shared,
    }
    # a machine split has no CPU times to split by: its difference stays energy minus energy
    machine = {"method": "machine", "devices": ["cpu"], "description": "cpu: the whole"}
    whole_machine = replace(whole, attribution=machine)
    assert whole_machine.minus(replace(part, attribution=machine)).energy_J_by_device == {
        "gpu:0": 10.0,
        "cpu": 0.0,
    }


def test_minus_takes_the_part_away_device_by_device_never_below_zero():
    whole = _split(
        {"gpu:0": 300.0, "cpu": 75.0, "dram": 10.0},
        {"cpu": 200.0, "dram": 20.0},
        3.0,
        8.0,
        pids=(1, 2),
        duration_s=0.5,
    )
    part = _split({"cpu": 25.0, "dram": 12.0}, {"cpu": 100.0, "dram": 24.0}, 1.0, 4.0)
    part = replace(part, duration_s=0.2)
    rest = whole.minus(part)
    assert rest.duration_s == pytest.approx(0.3)
    assert rest.energy_J_by_device == {"gpu:0": 300.0, "cpu": 50.0, "dram": 0.0}
    assert rest.machine_energy_J_by_device == {"gpu:0": 300.0, "cpu": 100.0, "dram": 0.0}
    attribution = dict(rest.attribution)
    assert attribution.pop("description").startswith("cpu, dram: 50 % of the machine's")
    assert attribution == {
        "method": "process",
        "devices": ["cpu", "dram"],
        "share": 0.5,
        "job_cpu_s": 2.0,
        "node_busy_cpu_s": 4.0,
        "root_pids": [1, 2],
    }
    assert part.minus(whole).duration_s == 0.0
    assert part.minus(whole).attribution["job_cpu_s"] == 0.0
    assert part.minus(whole).attribution["node_busy_cpu_s"] == 0.0
