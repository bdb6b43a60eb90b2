"""One "node" of a two-node DDP run on this machine, for tests/test_multinode.py.

Run as ``python tests/multinode_worker.py OUT_DIR DEVICES FAIL_NODE1_CPU`` with ``NODE_RANK``,
``MASTER_ADDR`` and ``MASTER_PORT`` set; Lightning starts the node's other local ranks itself.
Node n's CPU draws 2 x (n + 1) J per training batch and 1 J per validation batch, its DRAM
0.5 J per batch; rank r's GPU 10 x (r + 1) J per training batch and 5 J per validation batch.
With ``FAIL_NODE1_CPU`` = 1, node 1's CPU sensor stops answering in the second epoch.
"""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pytorch_lightning import Trainer  # noqa: E402

from lightning_carbon import CarbonCallback  # noqa: E402
from lightning_carbon.sensors.base import SensorUnavailable  # noqa: E402
from tests.fakes import DumpMetricsPerRank, StepModel, StepSensor  # noqa: E402


class FailingStepSensor(StepSensor):
    """A step sensor that stops answering once it has counted ``fail_after_J``."""

    def __init__(self, *args, fail_after_J, **kwargs):
        super().__init__(*args, **kwargs)
        self.fail_after_J = fail_after_J

    def energy_J(self):
        joules = super().energy_J()
        if joules > self.fail_after_J:
            raise SensorUnavailable(f"{self.device}: node lost its sensor")
        return joules


def node_sensors(gpu_indices, node_level):
    import torch.distributed as dist

    node, rank = int(os.environ["NODE_RANK"]), dist.get_rank()
    sensors = [StepSensor(f"gpu:{rank}", "gpu", 10.0 * (rank + 1), 5.0)]
    if node_level:
        cpu = ("cpu", "cpu", 2.0 * (node + 1), 1.0)
        if node == 1 and os.environ.get("FAIL_NODE1_CPU") == "1":
            sensors.append(FailingStepSensor(*cpu, provenance="estimated", fail_after_J=10.0))
        else:
            sensors.append(StepSensor(*cpu, provenance="estimated"))
        sensors.append(StepSensor("dram", "dram", 0.5, 0.5, provenance="estimated"))
    return sensors


def main() -> None:
    out, devices = Path(sys.argv[1]), int(sys.argv[2])
    os.environ["FAIL_NODE1_CPU"] = sys.argv[3]
    trainer = Trainer(
        accelerator="cpu",
        devices=devices,
        num_nodes=2,
        strategy="ddp",
        max_epochs=2,
        callbacks=[
            CarbonCallback(country="DNK", sensors=node_sensors, output_dir=out),
            DumpMetricsPerRank(out),
        ],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )
    trainer.fit(StepModel())


if __name__ == "__main__":
    main()
