"""What ``CarbonCallback.on_train_epoch_end`` costs per epoch, and where the time goes.

A tiny Lightning fit on the CPU (a linear model, 2 batches per epoch, no logger) under
``CarbonCallback`` with one constant-power sensor, so the time measured is the callback's own.
Per epoch: the whole hook, the run's bookkeeping within it (``CarbonRun.end_epoch``: meter
reads, records, forecast, budgets), the part of that spent writing the epoch's record to disk
(appended, flushed and fsync'ed, so that no crash loses it) and the ``pl_module.log`` calls,
with how many metrics were logged. No target: the figures are reported (a short epoch makes
them a larger share).

Example::

    python benchmarks/epoch_end_cost.py            # 200 epochs
    python benchmarks/epoch_end_cost.py --quick    # 40 epochs
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Sequence

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, TensorDataset

from lightning_carbon import CarbonCallback
from lightning_carbon.sensors.base import Sensor


class _ConstantSensor(Sensor):
    component, device, provenance = "cpu", "cpu", "estimated"
    description = "cpu: constant 50 W (benchmark)"

    def start(self) -> None:
        self._zero_s = time.monotonic()

    def energy_J(self) -> float:
        return 50.0 * (time.monotonic() - self._zero_s)


class _Tiny(pl.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(4, 1)

    def training_step(self, batch, batch_idx):
        x, y = batch
        return torch.nn.functional.mse_loss(self.layer(x), y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)

    def train_dataloader(self):
        return DataLoader(TensorDataset(torch.randn(8, 4), torch.randn(8, 1)), batch_size=4)


class _Timed(CarbonCallback):
    """The callback with its epoch-end hook and its parts timed."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.hook_s: list[float] = []
        self.end_epoch_s: list[float] = []
        self.record_s: list[float] = []
        self.logged: list[int] = []

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        end_epoch, log = self.run.end_epoch, pl_module.log
        records = self.run._records
        append = records.append_epoch
        parts = {"end_epoch": 0.0, "record": 0.0, "logs": 0}

        def timed_append(record):
            start = time.perf_counter()
            try:
                return append(record)
            finally:
                parts["record"] += time.perf_counter() - start

        def timed_end_epoch(*args, **kwargs):
            start = time.perf_counter()
            try:
                return end_epoch(*args, **kwargs)
            finally:
                parts["end_epoch"] += time.perf_counter() - start

        def counted_log(*args, **kwargs):
            parts["logs"] += 1
            return log(*args, **kwargs)

        self.run.end_epoch, pl_module.log = timed_end_epoch, counted_log
        records.append_epoch = timed_append
        start = time.perf_counter()
        try:
            super().on_train_epoch_end(trainer, pl_module)
        finally:
            self.hook_s.append(time.perf_counter() - start)
            self.run.end_epoch, pl_module.log = end_epoch, log
            del pl_module.log  # back to the class's method
            del records.append_epoch
        self.end_epoch_s.append(parts["end_epoch"])
        self.record_s.append(parts["record"])
        self.logged.append(parts["logs"])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--quick", action="store_true", help="40 epochs")
    args = parser.parse_args(argv)
    epochs = 40 if args.quick else args.epochs
    with tempfile.TemporaryDirectory() as directory:
        callback = _Timed(country="DNK", sensors=lambda gpus, node: [_ConstantSensor()])
        trainer = pl.Trainer(
            accelerator="cpu",
            max_epochs=epochs,
            callbacks=[callback],
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            default_root_dir=directory,
        )
        start = time.perf_counter()
        trainer.fit(_Tiny())
        fit_s = time.perf_counter() - start
    hook = [s * 1e3 for s in callback.hook_s[1:]]  # the first epoch imports and warms up
    bookkeeping = [s * 1e3 for s in callback.end_epoch_s[1:]]
    record = [s * 1e3 for s in callback.record_s[1:]]
    logging = [h - b for h, b in zip(hook, bookkeeping, strict=True)]
    print(f"on_train_epoch_end over {len(hook)} epochs (the first left out), ms per epoch:")
    print(f"  {'part':<34}{'median':>8}{'p95':>8}")
    for name, values in (
        ("whole hook", hook),
        ("CarbonRun.end_epoch (bookkeeping)", bookkeeping),
        ("  of which the record's write+fsync", record),
        (f"pl_module.log x {statistics.median(callback.logged):g}", logging),
    ):
        p95 = statistics.quantiles(values, n=20)[-1]
        print(f"  {name:<34}{statistics.median(values):>8.2f}{p95:>8.2f}")
    per_log = statistics.median(logging) / statistics.median(callback.logged)
    print(f"  one pl_module.log call: {per_log:.3f} ms; the fit took {fit_s:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
