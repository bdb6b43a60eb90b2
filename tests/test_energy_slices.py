"""Energy slices: an epoch cut into samples that weigh live intensity by energy."""

import functools
from dataclasses import replace

import pytest
from pytorch_lightning import Trainer

from lightning_carbon import CarbonCallback, EnergyMeter
from lightning_carbon import run as run_module
from lightning_carbon.energy_slices import EnergySlices
from lightning_carbon.intensity.choice import IntensityChoice
from lightning_carbon.intensity.table import country_intensity
from tests.fakes import FakeClock, ScriptedSensor, StepModel, step_sensors


def _meter_and_clock(power_W_at):
    clock = FakeClock(start_s=0.0)
    sensor = ScriptedSensor(
        "cpu", "cpu", clock, energy_at=lambda t: sum(power_W_at(s) for s in range(int(t)))
    )
    return EnergyMeter([sensor], clock=clock).start(), clock


def test_slices_cut_after_slice_s_and_cover_the_whole_span_exactly():
    # 10 W for the first 90 s, then 40 W; cuts at 60 and 120 s:
    # 60 x 10 = 600 J, 30 x 10 + 30 x 40 = 1500 J, 30 x 40 = 1200 J
    meter, clock = _meter_and_clock(lambda s: 10.0 if s < 90 else 40.0)
    slices = EnergySlices(meter, slice_s=60.0, clock=clock)
    slices.begin()
    for _ in range(15):  # ticks every 10 s, 150 s in all
        clock.advance(10.0)
        slices.tick()
    samples = slices.end()
    assert [joules for _, _, joules in samples] == [600.0, 1500.0, 1200.0]
    assert all(start <= end for start, end, _ in samples)
    assert slices.end() == []
    assert not meter.is_open("intensity_slice")
    meter.close()


def test_begin_again_drops_an_unfinished_span():
    meter, clock = _meter_and_clock(lambda s: 1.0)
    slices = EnergySlices(meter, slice_s=5.0, clock=clock)
    slices.begin()
    clock.advance(7.0)
    slices.tick()
    slices.begin()
    clock.advance(3.0)
    assert [joules for _, _, joules in slices.end()] == [3.0]
    meter.close()


@pytest.mark.parametrize("slice_s", [0, -1.0, float("nan"), float("inf"), True, "60"])
def test_bad_slice_length_is_a_clear_error(slice_s):
    meter, _ = _meter_and_clock(lambda s: 1.0)
    with pytest.raises(ValueError, match="slice_s must be a finite number > 0"):
        EnergySlices(meter, slice_s=slice_s)
    meter.close()


class _RecordingLive:
    """A live source stand-in: records the samples it is asked to weigh, answers 100 g/kWh
    plus one per sample so the logged value shows they arrived."""

    def __init__(self):
        self.calls = []

    def start(self):
        pass

    def close(self):
        pass

    def current(self):
        return country_intensity("DNK")

    def over(self, start, end, samples):
        self.calls.append([joules for _, _, joules in samples])
        return replace(country_intensity("DNK"), gco2_per_kWh=100.0 + len(samples))


def test_the_callback_hands_each_epochs_energy_samples_to_the_live_source(tmp_path, monkeypatch):
    # a slice per training batch: step_sensors draw 12.5 J per training batch (GPU 10, CPU 2,
    # DRAM 0.5) and 13 J for the epoch's 2 validation batches, which fall in the last slice
    monkeypatch.setattr(run_module, "EnergySlices", functools.partial(EnergySlices, slice_s=1e-9))
    live = _RecordingLive()
    callback = CarbonCallback(country="DNK", sensors=step_sensors)
    callback.run.intensity_choice = IntensityChoice(country_intensity("DNK"), None, live)
    trainer = Trainer(
        accelerator="cpu",
        max_epochs=2,
        callbacks=[callback],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
    )
    trainer.fit(StepModel())
    epoch_calls = [call for call in live.calls if call]
    assert epoch_calls == [[12.5, 12.5, 12.5, 12.5, 13.0]] * 2
    # the time outside the epochs (here the 13 J sanity check) is priced time-weighted
    assert trainer.callback_metrics["carbon/total_gCO2e"].item() == pytest.approx(
        (126 * 105.0 + 13 * 100.0) / 3.6e6
    )
    assert trainer.callback_metrics["carbon/intensity_gCO2e_per_kWh"].item() == 105.0
    assert trainer.callback_metrics["carbon/epoch_gCO2e"].item() == pytest.approx(
        63 / 3.6e6 * 105.0
    )
