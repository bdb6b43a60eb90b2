"""Scripted fakes shared by the tests: a clock you move by hand and sensors that follow it."""

from __future__ import annotations

from collections.abc import Callable

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, TensorDataset

from lightning_carbon.sensors.base import Sensor, SensorUnavailable


class FakeClock:
    """A monotonic clock that only moves when told to."""

    def __init__(self, start_s: float = 100.0) -> None:
        self.now_s = start_s

    def __call__(self) -> float:
        return self.now_s

    def advance(self, seconds: float) -> None:
        self.now_s += seconds


class ScriptedSensor(Sensor):
    """Cumulative energy = ``power_W`` x time on ``clock`` since start, or any scripted function.

    ``fail_after_s``: energy_J raises SensorUnavailable once the clock passes that time.
    """

    def __init__(
        self,
        device: str,
        component: str,
        clock: FakeClock,
        power_W: float = 0.0,
        provenance: str = "measured",
        energy_at: Callable[[float], float] | None = None,
        fail_after_s: float | None = None,
        poll_interval_s: float | None = None,
    ) -> None:
        self.device, self.component, self.provenance = device, component, provenance
        self.description = f"{device}: scripted {power_W:g} W ({provenance})"
        self.poll_interval_s = poll_interval_s
        self._clock = clock
        self._energy_at = energy_at or (lambda t: power_W * t)
        self._fail_after_s = fail_after_s
        self._zero_J = 0.0
        self.polls = 0
        self.closed = False

    def start(self) -> None:
        self._zero_J = self._energy_at(self._clock())

    def energy_J(self) -> float:
        if self._fail_after_s is not None and self._clock() > self._fail_after_s:
            raise SensorUnavailable(f"{self.device} stopped answering")
        return self._energy_at(self._clock()) - self._zero_J

    def poll(self) -> None:
        self.polls += 1

    def close(self) -> None:
        self.closed = True


STEP_COUNTS = {"train": 0, "val": 0}
"""Batches run in this process; bumped by :class:`StepModel`, read by :class:`StepSensor`."""


class StepSensor(Sensor):
    """Energy that follows the work done: ``J_per_train_batch`` per training batch and
    ``J_per_val_batch`` per validation batch run in this process, so a real Lightning run
    yields exact, hand-computable joules."""

    def __init__(
        self,
        device: str,
        component: str,
        J_per_train_batch: float,
        J_per_val_batch: float = 0.0,
        provenance: str = "measured",
    ) -> None:
        self.device, self.component, self.provenance = device, component, provenance
        self.description = f"{device}: step-scripted ({provenance})"
        self._per_train, self._per_val = J_per_train_batch, J_per_val_batch
        self._zero_J = 0.0

    def _now_J(self) -> float:
        return self._per_train * STEP_COUNTS["train"] + self._per_val * STEP_COUNTS["val"]

    def start(self) -> None:
        self._zero_J = self._now_J()

    def energy_J(self) -> float:
        return self._now_J() - self._zero_J


def step_sensors(gpu_indices, node_level):
    """Sensor factory for CarbonCallback: a 'GPU' per rank (10 J x (rank+1) per training
    batch, 5 J per validation batch) and, on local rank 0 only, CPU (2 J / 1 J) and DRAM
    (0.5 J / 0.5 J)."""
    import torch.distributed as dist

    rank = dist.get_rank() if dist.is_available() and dist.is_initialized() else 0
    sensors = [StepSensor(f"gpu:{rank}", "gpu", 10.0 * (rank + 1), 5.0)]
    if node_level:
        sensors += [
            StepSensor("cpu", "cpu", 2.0, 1.0, provenance="estimated"),
            StepSensor("dram", "dram", 0.5, 0.5, provenance="estimated"),
        ]
    return sensors


def step_sensors_broken_off_local_rank_0(gpu_indices, node_level):
    """Like :func:`step_sensors`, but sensor creation fails on every rank but local rank 0."""
    if not node_level:
        raise RuntimeError("this rank's sensors are broken")
    return step_sensors(gpu_indices, node_level)


def step_model_class(base: type, name: str, module: str = __name__) -> type:
    """The step-counting model on ``base`` (the ``LightningModule`` of either package), to be
    bound to ``name`` in ``module`` (so that ``ddp_spawn`` can pickle it)."""

    class StepModel(base):
        """A tiny model that counts its batches into STEP_COUNTS; can fail at a given epoch
        (or in test), and can make its first epoch ``warm_up`` times as costly."""

        def __init__(
            self, fail_at_epoch: int | None = None, warm_up: int = 1, fail_in_test: bool = False
        ) -> None:
            super().__init__()
            self.fail_at_epoch = fail_at_epoch
            self.warm_up = warm_up
            self.fail_in_test = fail_in_test
            self.layer = torch.nn.Linear(4, 1)

        def training_step(self, batch, batch_idx):
            if self.current_epoch == self.fail_at_epoch and batch_idx == 1:
                raise RuntimeError("boom in training_step")
            STEP_COUNTS["train"] += self.warm_up if self.current_epoch == 0 else 1
            x, y = batch
            return torch.nn.functional.mse_loss(self.layer(x), y)

        def validation_step(self, batch, batch_idx):
            STEP_COUNTS["val"] += 1
            x, y = batch
            self.log("val_loss", torch.nn.functional.mse_loss(self.layer(x), y))

        def test_step(self, batch, batch_idx):
            STEP_COUNTS["val"] += 1
            if self.fail_in_test:
                raise RuntimeError("boom in test_step")

        def predict_step(self, batch, batch_idx):
            STEP_COUNTS["val"] += 1
            return self.layer(batch[0])

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.01)

        def train_dataloader(self):
            return _loader(16)

        def val_dataloader(self):
            return _loader(8)

        def test_dataloader(self):
            return _loader(8)

        def predict_dataloader(self):
            return _loader(8)

    StepModel.__name__ = StepModel.__qualname__ = name
    StepModel.__module__ = module
    return StepModel


StepModel = step_model_class(pl.LightningModule, "StepModel")


class TwoOptimizerModel(StepModel):
    """Manual optimisation with two optimizers stepped per batch (a GAN's shape): Lightning's
    ``global_step`` then counts 2 per batch."""

    def __init__(self) -> None:
        super().__init__()
        self.automatic_optimization = False
        self.other = torch.nn.Linear(4, 1)

    def training_step(self, batch, batch_idx):
        STEP_COUNTS["train"] += 1
        x, y = batch
        for optimizer, layer in zip(self.optimizers(), (self.layer, self.other), strict=True):
            optimizer.zero_grad()
            self.manual_backward(torch.nn.functional.mse_loss(layer(x), y))
            optimizer.step()

    def configure_optimizers(self):
        return (
            torch.optim.SGD(self.layer.parameters(), lr=0.01),
            torch.optim.SGD(self.other.parameters(), lr=0.01),
        )


def _loader(n: int) -> DataLoader:
    generator = torch.Generator().manual_seed(n)
    inputs = torch.randn(n, 4, generator=generator)
    targets = torch.randn(n, 1, generator=generator)
    return DataLoader(TensorDataset(inputs, targets), batch_size=4)


def _rank() -> int:
    import torch.distributed as dist

    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


class RankDependentLive:
    """A live intensity source that disagrees across ranks: 100 g/kWh on rank 0, 100 + 10 x
    rank elsewhere (as when one rank's fetch failed and it fell back)."""

    def start(self) -> None:
        pass

    def close(self) -> None:
        pass

    def current(self):
        from lightning_carbon.intensity.table import country_intensity

        return country_intensity("DNK")

    def over(self, start, end, samples=()):
        from dataclasses import replace

        return replace(self.current(), gco2_per_kWh=100.0 + 10.0 * _rank())


class DumpMetricsPerRank(pl.Callback):
    """Writes each rank's ``trainer.callback_metrics`` to ``<directory>/rank<r>.json`` at the
    end of training, so a test can see what every DDP rank logged."""

    def __init__(self, directory) -> None:
        self.directory = directory

    def on_train_end(self, trainer, pl_module) -> None:
        import json
        from pathlib import Path

        metrics = {name: value.item() for name, value in trainer.callback_metrics.items()}
        Path(self.directory, f"rank{trainer.global_rank}.json").write_text(json.dumps(metrics))
