"""CarbonRun's decisions and state by hand: what it hands on, says, warns, remembers and writes,
in one process and as rank 0 of a job on two nodes (a scripted ``all_gather``).

The GPU draws 100 W and the CPU 20 W whenever the hand-moved clock moves (120 W in all).
"""

import enum
import json
import os
import warnings
from datetime import datetime

import pytest

from lightning_carbon import run as run_module
from lightning_carbon.intensity.choice import IntensityChoice
from lightning_carbon.intensity.table import CarbonIntensity, country_intensity
from lightning_carbon.ranks import Ranks
from lightning_carbon.run import CarbonBudgetWarning, CarbonRun
from lightning_carbon.sensors import discovery
from lightning_carbon.sensors.attribution import Attribution
from lightning_carbon.sensors.machine import THIS_MACHINE
from tests.fakes import FakeClock, ScriptedSensor

KWH = 3.6e6
GPU_LINE = "gpu:0: scripted 100 W (measured)"
CPU_LINE = "cpu: scripted 20 W (estimated)"


def _sensors(clock, **gpu):
    return [
        ScriptedSensor("gpu:0", "gpu", clock, power_W=100.0, **gpu),
        ScriptedSensor("cpu", "cpu", clock, power_W=20.0, provenance="estimated"),
    ]


def _run(clock, **kwargs):
    kwargs.setdefault("country", "DNK")
    kwargs.setdefault("sensors", _sensors(clock))
    kwargs.setdefault("info", lambda message: None)
    return CarbonRun(clock=clock, **kwargs)


def _epoch(run, clock, index, seconds=10.0, batches=1, total=3):
    with run.epoch(index, total_batches=total):
        clock.advance(seconds)
        run.batch_done(batches)


def _read(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def _two_nodes(rank1_intensity=None):
    """Rank 0 of two ranks on two nodes; rank 1 mirrors this process from node 1 (and its
    live intensity, when given, differs)."""

    def all_gather(obj):
        if isinstance(obj, tuple) and isinstance(obj[0], int):
            return [obj, (1, *obj[1:])]
        if isinstance(obj, CarbonIntensity):
            return [obj, rank1_intensity]
        return [obj, obj]

    return Ranks(0, 0, 0, world_size=2, num_nodes=2, all_gather=all_gather)


# --- what the run is given and hands on ------------------------------------------------------


def test_the_configuration_says_how_the_run_meters_and_prices():
    clock = FakeClock()
    run = _run(clock, pue=1.2, budget_kwh=2.0, budget_gco2e=300.0, on_budget="stop")
    dnk = country_intensity("DNK")
    expected = {
        "carbon/country": "DNK",
        "carbon/live_zone": None,
        "carbon/intensity_gCO2e_per_kWh": dnk.gco2_per_kWh,
        "carbon/intensity_source": dnk.source,
        "carbon/intensity_year": dnk.year,
        "carbon/intensity_basis": dnk.basis,
        "carbon/pue": 1.2,
        "carbon/pue_source": "user-given",
        "carbon/budget_kWh": 2.0,
        "carbon/budget_gCO2e": 300.0,
        "carbon/on_budget": "stop",
        "carbon/attribution": "process",
    }
    assert run.configuration() == expected
    run.start()
    assert run.configuration() == {**expected, "carbon/sensors": f"{GPU_LINE} | {CPU_LINE}"}
    run.finish()
    custom = CarbonRun(carbon_intensity=123.0, attribution=Attribution("machine"))
    assert {k: v for k, v in custom.configuration().items() if k in expected} == {
        **expected,
        "carbon/country": "USER",
        "carbon/intensity_gCO2e_per_kWh": 123.0,
        "carbon/intensity_source": "user-given value",
        "carbon/intensity_year": None,
        "carbon/intensity_basis": "unknown",
        "carbon/pue": 1.0,
        "carbon/pue_source": custom.pue.source,
        "carbon/budget_kWh": None,
        "carbon/budget_gCO2e": None,
        "carbon/on_budget": "warn",
        "carbon/attribution": "machine",
    }


def test_the_country_comes_from_the_environment_unless_given(monkeypatch):
    monkeypatch.setenv("LIGHTNING_CARBON_COUNTRY", "FRA")
    assert CarbonRun().country == "FRA"
    assert CarbonRun().intensity_choice.base == country_intensity("FRA")
    assert CarbonRun(country="DNK").country == "DNK"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"monitor_epochs": True}, "monitor_epochs must be an int >= 1, got True"),
        ({"monitor_epochs": 1.5}, "monitor_epochs must be an int >= 1, got 1.5"),
        ({"budget_kwh": -1.0}, "budget_kwh must be a finite number > 0, got -1.0"),
        ({"budget_gco2e": 0}, "budget_gco2e must be a finite number > 0, got 0"),
        ({"cpu_tdp_w": 0.0}, "cpu_tdp_w must be a finite number > 0, got 0.0"),
        ({"attribution": "node"}, "attribution must be 'process' or 'machine', got 'node'"),
    ],
)
def test_each_bad_argument_is_named(kwargs, message):
    with pytest.raises(ValueError) as raised:
        CarbonRun(**kwargs)
    assert str(raised.value) == message


def test_a_discovering_run_hands_its_devices_and_tdp_to_discovery(monkeypatch):
    asked = []
    monkeypatch.setattr(
        discovery, "discover", lambda **kw: asked.append(kw) or discovery.Discovery([], [])
    )
    second = Ranks(1, 1, 0, world_size=2, all_gather=lambda obj: [obj, obj])
    run = CarbonRun(gpu_indices=(1,), cpu_tdp_w=95.0, ranks=second, info=lambda m: None)
    assert run.gpu_indices == [1]
    run.start()
    run.close()
    assert asked == [
        {
            "gpu_indices": [1],
            "node_level": False,  # local rank 1: rank 0 meters the node
            "cpu_tdp_w": 95.0,
            "powercap_root": None,
            "machine": THIS_MACHINE,
        }
    ]


def test_a_sensor_factory_gets_this_processes_gpus_and_whether_it_meters_the_node():
    clock = FakeClock()
    asked = []

    def factory(gpus, node_level):
        asked.append((gpus, node_level))
        return _sensors(clock)

    for run in (
        _run(clock, sensors=factory),
        _run(
            clock,
            sensors=factory,
            gpu_indices=[2],
            ranks=Ranks(1, 1, 0, world_size=2, all_gather=lambda obj: [obj, obj]),
        ),
    ):
        run.start()
        run.close()
    assert asked == [([], True), ([2], False)]


def test_the_other_ranks_on_this_node_join_the_job_for_attribution():
    attribution = Attribution(node_busy_s=lambda: 0.0)
    pids = [(0, os.getpid()), (0, 4242), (1, 999)]  # rank 1 on this node, rank 2 on node 1
    ranks = Ranks(0, 0, 0, world_size=3, num_nodes=2, all_gather=lambda obj: pids)
    run = CarbonRun(attribution=attribution, ranks=ranks, sensors=[], info=lambda m: None)
    run.start()
    run.close()
    assert attribution.root_pids == [os.getpid(), 4242]


# --- what it says ----------------------------------------------------------------------------


def test_it_says_its_meters_once_per_process_and_the_forecast_once(tmp_path, monkeypatch):
    monkeypatch.setattr(run_module, "_DESCRIBED", set())
    clock = FakeClock()
    said = []
    run = _run(clock, output_dir=tmp_path, info=said.append, monitor_epochs=2, country=None)
    run.start()
    counts = []
    for index in range(3):
        _epoch(run, clock, index, total=3)
        counts.append(len(said))
    assert counts == [2, 3, 3]  # after the second epoch, and only then
    run.finish()
    assert said[0] == f"lightning-carbon: meters:\n{GPU_LINE}\n{CPU_LINE}"
    assert said[1] == f"lightning-carbon: {run.intensity_choice.note}"
    assert said[2].startswith("lightning-carbon: after 2 epoch(s) this run is forecast to use 1 Wh")
    assert said[3].startswith("lightning-carbon: 1 Wh, ")
    assert said[3].endswith(f" over 30 s; records in {tmp_path / 'carbon'}")
    assert len(said) == 4
    again = _run(clock, info=said.append, country=None, sensors=_sensors(clock)[:1])
    again.start()
    again.finish()
    assert said[4:] == [f"lightning-carbon: {GPU_LINE}"]  # one line: no heading


def test_by_default_it_says_things_on_standard_error(capsys, monkeypatch):
    monkeypatch.setattr(run_module, "_DESCRIBED", set())
    clock = FakeClock()
    run = CarbonRun(country="DNK", sensors=_sensors(clock)[:1], clock=clock)
    run.start()
    run.close()
    assert capsys.readouterr() == ("", f"lightning-carbon: {GPU_LINE}\n")


# --- stages, epochs and what they remember ---------------------------------------------------


class _Stage(str, enum.Enum):
    FIT = "fit"
    TEST = "test"


def test_a_plain_run_has_an_unknown_precision_no_name_and_its_sensors(tmp_path):
    clock = FakeClock()
    sensors = _sensors(clock)
    run = _run(clock, output_dir=tmp_path, sensors=sensors)
    run.start()
    _epoch(run, clock, 0)
    run.finish()
    summary = run.summary
    assert (summary["precision"], summary["run_name"]) == ("unknown", None)
    assert summary["hardware"] == {
        "sensors": [
            {
                "component": c,
                "device": d,
                "provenance": p,
                "line": line,
                "model": None,
                "shared": None,
            }
            for c, d, p, line in (
                ("gpu", "gpu:0", "measured", GPU_LINE),
                ("cpu", "cpu", "estimated", CPU_LINE),
            )
        ],
        "world_size": 1,
        "num_nodes": 1,
    }
    assert summary["budget"] == {
        "budget_kwh": None,
        "budget_gco2e": None,
        "on_budget": "warn",
        "stopped": None,
    }
    assert all(sensor.closed for sensor in sensors)


def test_outside_a_stage_the_hooks_do_nothing_and_say_nothing():
    clock = FakeClock()
    run = _run(clock)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(2):  # before the first stage, and after it
            run.begin_epoch()
            run.begin_validation()
            run.end_validation()
            assert run.end_epoch(0) is None
            assert run.running_totals() is None
            run.start()
            run.finish()


def test_hooks_out_of_order_inside_a_fit_are_ignored(tmp_path):
    clock = FakeClock()
    run = _run(clock, output_dir=tmp_path)
    run.start()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert run.end_epoch(0) is None  # no epoch began
        run.begin_epoch()
        clock.advance(1.0)
        run.begin_epoch()  # a second begin keeps the first one's start
        clock.advance(1.0)
        run.batch_done()
        assert run.end_epoch(0, total_batches=1)["energy/epoch_kWh"] == 240 / KWH
    run.finish()


def test_a_run_whose_sensors_cannot_be_made_warns_once_and_finishes_quietly():
    def broken(gpus, node_level):
        raise OSError("no driver")

    run = CarbonRun(sensors=broken, info=lambda m: None)
    with pytest.warns(RuntimeWarning, match=r"start failed \(OSError: no driver\)"):
        run.start()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert run.running_totals() is None
        assert run.finish() is None


def test_stages_keep_their_directory_precision_and_name(tmp_path):
    clock = FakeClock()
    said = []
    run = _run(clock, output_dir=tmp_path / "a", info=said.append)
    assert (run.records_directory, run.running_stage, run.should_stop) == (None, None, False)
    assert (run.metrics, run.summary, run.batches_done()) == ({}, None, 0)
    run.start(_Stage.FIT, output_dir=tmp_path / "b", precision="bf16-mixed", run_name="u1")
    assert (run.records_directory, run.running_stage) == (tmp_path / "b" / "carbon", "fit")
    with run.epoch(0, total_batches=2):
        clock.advance(1.0)
        run.batch_done(2)
        assert run.batches_done() == 2
    run.finish()
    assert run.running_stage is None
    run.start(_Stage.TEST)
    clock.advance(1.0)
    said.clear()
    metrics = run.finish(metrics={"test_dice": 0.8})
    # the closing line: the run's totals so far, the fit's and the test's
    assert [m.endswith(f" over 2 s; records in {tmp_path / 'b' / 'carbon'}") for m in said] == [
        True
    ]
    assert (
        metrics
        == run.metrics
        == {
            "energy/test_kWh": 120 / KWH,
            "carbon/test_gCO2e": pytest.approx(120 / KWH * country_intensity("DNK").gco2_per_kWh),
        }
    )
    summary = json.loads((tmp_path / "b" / "carbon" / "summary.json").read_text())
    assert (summary["precision"], summary["run_name"]) == ("bf16-mixed", "u1")
    assert summary["metrics"] == {"test_dice": 0.8}
    assert not (tmp_path / "a").exists()


def test_the_validations_of_an_epoch_add_up(tmp_path):
    clock = FakeClock()
    run = _run(clock, output_dir=tmp_path)
    run.start()
    with run.epoch(0, total_batches=1):
        for seconds in (1.0, 0.5):
            with run.validation():
                clock.advance(seconds)
        run.batch_done()
    run.finish()
    assert _read(tmp_path / "carbon" / "epochs.jsonl")[0]["validation"]["energy_J"] == 180.0


def test_running_totals_mid_epoch_and_none_outside_a_stage():
    clock = FakeClock()
    run = _run(clock)
    assert run.running_totals() is None
    run.start()
    _epoch(run, clock, 0)
    with run.epoch(1, total_batches=3):
        clock.advance(5.0)
        assert run.running_totals() == {
            "energy/total_kWh": pytest.approx(1800 / KWH),
            "carbon/total_gCO2e": pytest.approx(1800 / KWH * country_intensity("DNK").gco2_per_kWh),
        }
    run.finish()


def test_a_stage_block_hands_on_its_arguments_and_fails_with_the_error(tmp_path):
    clock = FakeClock()
    said = []
    run = _run(clock, info=said.append)
    with pytest.raises(ValueError), run.stage("test", output_dir=tmp_path):
        clock.advance(1.0)
        raise ValueError()
    summary = json.loads((tmp_path / "carbon" / "summary.json").read_text())
    assert (summary["partial"], summary["reason"]) == (True, "ValueError")
    with pytest.raises(KeyError), run.stage("test"):
        raise KeyError("X")
    assert run.summary["reason"] == "KeyError: 'X'"
    with pytest.raises(ValueError), run.stage("test"):
        raise ValueError("no axis X")
    assert run.summary["reason"] == "ValueError: no axis X"
    with run.stage("validate"):
        clock.advance(1.0)
    assert said == []  # no epochs: no closing line, whether the stage failed or not
    assert summary["inference"]["test"]["energy_kWh"] == 120 / KWH


def test_finishing_without_a_stage_is_a_warning_that_says_so():
    with pytest.warns(RuntimeWarning, match=r"\(RuntimeError: no stage is running; call start"):
        assert CarbonRun().finish() is None


def test_a_new_fit_forgets_the_last_stop():
    clock = FakeClock()
    run = _run(clock, budget_kwh=1 / KWH, on_budget="stop")
    run.start()
    with pytest.warns(CarbonBudgetWarning):
        _epoch(run, clock, 0)
    assert run.should_stop
    run.finish()
    run.start()
    assert not run.should_stop
    run.close()


# --- budgets and their warnings --------------------------------------------------------------


def test_a_stop_warns_once_per_finding_and_is_remembered_with_its_reason(tmp_path):
    clock = FakeClock()
    run = _run(clock, output_dir=tmp_path, budget_kwh=3000 / KWH, on_budget="stop")
    run.start()
    with pytest.warns(CarbonBudgetWarning) as caught:
        _epoch(run, clock, 0, seconds=10.0, total=4)  # 1200 J; forecast 4800 J; next 2400 J
        _epoch(run, clock, 1, seconds=10.0, total=4)  # 2400 J: the next would pass 3000 J
    forecast, stop = (str(w.message) for w in caught)
    assert forecast == (
        "lightning-carbon: the energy forecast of 1.33 Wh is over the budget of 0.833 Wh"
    )
    # (how the costliest epoch is named is the budget finding's, tested with RunTotals)
    assert stop.startswith(
        "lightning-carbon: the energy budget of 0.833 Wh would be passed by the next epoch: "
        "0.667 Wh used, the costliest epoch so far"
    )
    assert stop.endswith(" 0.333 Wh. Training stops now (on_budget='stop').")
    assert run.should_stop
    run.finish()
    stopped = run.summary["budget"]["stopped"]
    assert (
        stopped["reason"]
        == str(caught[1].message)[
            len("lightning-carbon: ") : -len(" Training stops now (on_budget='stop').")
        ]
    )
    assert stopped["after_epochs"] == 2


def test_a_carbon_budget_alone_stops_the_run():
    clock = FakeClock()
    dnk = country_intensity("DNK").gco2_per_kWh
    run = _run(clock, budget_gco2e=1200 / KWH * dnk * 1.5, on_budget="stop")
    run.start()
    with pytest.warns(CarbonBudgetWarning) as caught:
        _epoch(run, clock, 0, total=4)
    assert [str(w.message).split(" of ")[0] for w in caught] == [
        "lightning-carbon: the carbon forecast",
        "lightning-carbon: the carbon budget",
    ]
    assert run.should_stop
    run.close()


def test_each_budget_warns_for_itself():
    clock = FakeClock()
    dnk = country_intensity("DNK").gco2_per_kWh
    both = {"budget_kwh": 3000 / KWH, "budget_gco2e": 3000 / KWH * dnk}
    warned = _run(clock, **both)  # forecasts of 3600 J: over both, the next epoch is not
    stopped = _run(clock, **{k: v / 2 for k, v in both.items()}, on_budget="stop")
    for run, expected in (
        (warned, ["energy forecast", "carbon forecast"]),
        (stopped, ["energy forecast", "energy budget", "carbon forecast", "carbon budget"]),
    ):
        run.start()
        with pytest.warns(CarbonBudgetWarning) as caught:
            _epoch(run, clock, 0)
        assert [" ".join(str(w.message).split()[2:4]) for w in caught] == expected
        run.close()


def test_only_global_rank_zero_warns_and_says():
    clock = FakeClock()
    said = []
    ranks = Ranks(1, 0, 1, world_size=2, num_nodes=2, all_gather=lambda obj: [obj, obj])
    run = _run(clock, budget_kwh=1 / KWH, ranks=ranks, info=said.append)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        run.start()
        _epoch(run, clock, 0)
    run.close()
    assert said == []


# --- two nodes -------------------------------------------------------------------------------


def test_rank_zero_labels_each_nodes_devices_and_what_went_missing(tmp_path):
    clock = FakeClock(0.0)
    run = _run(
        clock, output_dir=tmp_path, ranks=_two_nodes(), sensors=_sensors(clock, fail_after_s=15.0)
    )
    run.start()
    _epoch(run, clock, 0)
    with pytest.warns(RuntimeWarning, match="gpu:0 failed"):
        _epoch(run, clock, 1)
    run.finish()
    first, second, _ = _read(tmp_path / "carbon" / "epochs.jsonl")
    assert first["reading"]["energy_J_by_component"] == {"gpu": 2000.0, "cpu": 400.0}
    assert sorted(first["reading"]["devices"]) == [
        "node0/cpu",
        "node0/gpu:0",
        "node1/cpu",
        "node1/gpu:0",
    ]
    assert first["missing_devices"] == {}
    why = "SensorUnavailable: gpu:0 stopped answering"
    assert second["missing_devices"] == {"node0/gpu:0": why, "node1/gpu:0": why}
    assert second["batches"] == 1  # the ranks ran their batches in parallel
    assert run.summary["hardware"]["world_size"] == run.summary["hardware"]["num_nodes"] == 2


def test_a_device_that_went_missing_in_one_process_keeps_its_own_name(tmp_path):
    clock = FakeClock(0.0)
    run = _run(clock, output_dir=tmp_path, sensors=_sensors(clock, fail_after_s=5.0))
    run.start()
    with pytest.warns(RuntimeWarning, match="gpu:0 failed"):
        _epoch(run, clock, 0)
    run.finish()
    assert run.summary["missing_devices"] == {
        "gpu:0": {"reason": "SensorUnavailable: gpu:0 stopped answering", "from_epoch": 0}
    }


def test_a_fit_that_fails_keeps_its_records_and_its_time_outside_epochs(tmp_path):
    clock = FakeClock()
    said = []
    run = _run(clock, output_dir=tmp_path, info=said.append)
    run.start()
    clock.advance(1.0)
    _epoch(run, clock, 0)
    clock.advance(2.0)
    said.clear()
    run.fail("RuntimeError: out of memory")
    assert said == []  # a partial run has no closing line
    records = _read(tmp_path / "carbon" / "epochs.jsonl")
    assert [(r["stage"], r["energy_kWh"] * KWH) for r in records] == [
        ("train", pytest.approx(1200.0)),
        ("outside_epochs", pytest.approx(360.0)),
    ]
    assert run.summary["reason"] == "RuntimeError: out of memory"


def test_a_fit_failing_on_two_nodes_keeps_the_job_totals_of_its_finished_epochs(tmp_path):
    # one rank's reading of the broken epoch would leave out the other node's energy, so the
    # failed fit keeps what both nodes used up to its last finished epoch: 2 x (1 s set-up +
    # 10 s epoch) at 120 W, with the broken 5 s epoch and the 2 s before it left out
    clock = FakeClock()
    run = _run(clock, output_dir=tmp_path, ranks=_two_nodes())
    run.start()
    clock.advance(1.0)
    _epoch(run, clock, 0)
    clock.advance(2.0)
    run.begin_epoch()
    clock.advance(5.0)
    run.fail("KeyboardInterrupt")
    records = _read(tmp_path / "carbon" / "epochs.jsonl")
    assert [(r["stage"], r["energy_kWh"] * KWH) for r in records] == [
        ("train", pytest.approx(2400.0)),
        ("outside_epochs", pytest.approx(240.0)),
    ]
    assert sorted(records[1]["reading"]["devices"]) == [
        "node0/cpu",
        "node0/gpu:0",
        "node1/cpu",
        "node1/gpu:0",
    ]
    assert run.summary["energy_kWh"] == pytest.approx(2640 / KWH)
    assert (run.summary["partial"], run.summary["reason"]) == (True, "KeyboardInterrupt")


def test_a_failing_rank_records_its_own_part_with_its_node_label(tmp_path):
    clock = FakeClock()
    run = _run(clock, output_dir=tmp_path, ranks=_two_nodes())
    run.start("test")
    clock.advance(1.0)
    run.fail("KeyboardInterrupt")
    record = _read(tmp_path / "carbon" / "epochs.jsonl")[0]
    assert sorted(record["reading"]["devices"]) == ["node0/cpu", "node0/gpu:0"]
    assert record["partial"] is True
    summary = json.loads((tmp_path / "carbon" / "summary.json").read_text())
    assert (summary["partial"], summary["reason"]) == (True, "KeyboardInterrupt")


# --- live intensity --------------------------------------------------------------------------

LIVE = CarbonIntensity(50.0, "Live zone", "DK1", 2026, "a live test source", "direct", None, True)
RANK1_LIVE = CarbonIntensity(900.0, "Other", "XX", 2026, "rank 1's fetch", "direct", None, True)


class _Live:
    """A live source that answers 50 g/kWh and remembers what it was asked."""

    failures: list = []

    def __init__(self):
        self.asked = []

    def start(self):
        pass

    def close(self):
        pass

    def current(self):
        return LIVE

    def over(self, start, end, samples):
        self.asked.append((start, end, [joules for _, _, joules in samples]))
        return LIVE


def test_live_intensity_weighs_each_epochs_slices_and_prices_every_gap(tmp_path):
    clock = FakeClock()
    live = _Live()
    run = _run(clock, output_dir=tmp_path, ranks=_two_nodes(RANK1_LIVE))
    run.intensity_choice = IntensityChoice(country_intensity("DNK"), None, live=live)
    run.start()
    clock.advance(2.0)
    with run.epoch(0, total_batches=4):
        for _ in range(4):
            clock.advance(30.0)  # the slices are cut every 60 s of the run's clock
            run.batch_done()
    clock.advance(1.0)
    run.finish()
    epoch, outside = _read(tmp_path / "carbon" / "epochs.jsonl")
    assert epoch["intensity"]["code"] == outside["intensity"]["code"] == "DK1"  # rank 0's
    # each node's epoch in slices of 60 s at 120 W and an empty last one; then the set-up,
    # the whole fit and the teardown, each over its own window
    assert [joules for _, _, joules in live.asked] == [2 * [7200.0, 7200.0, 0.0], [], [], []]
    fit_start = live.asked[2][0]
    run.start("test")
    clock.advance(1.0)
    run.fail("KeyboardInterrupt")  # priced over its own window too
    assert [joules for _, _, joules in live.asked[4:]] == [[]]
    assert live.asked[1][0] == fit_start and live.asked[3][1] == live.asked[2][1]
    assert all(isinstance(start, datetime) for start, _, _ in live.asked)
