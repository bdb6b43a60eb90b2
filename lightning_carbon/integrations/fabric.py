"""A :class:`~lightning_carbon.run.CarbonRun` for a Lightning Fabric training loop.

The run takes Fabric's ranks and device, and logs each epoch's metrics and the final totals
through ``fabric.log_dict``, so they reach every logger the Fabric has.

Example::

    fabric = L.Fabric(accelerator="cuda", devices=2, loggers=CSVLogger("logs"))
    fabric.launch()
    run = fabric_run(fabric, country="DNK", output_dir="logs/carbon-run")
    run.start()
    for epoch in range(epochs):
        with run.epoch(epoch, total_batches=epochs * len(loader)):
            for batch in loader:
                ...                                 # forward, fabric.backward, step
                run.batch_done()
        if run.should_stop:
            break
    run.finish()
"""

from __future__ import annotations

from typing import Any

from lightning_carbon.ranks import Ranks, gpu_indices_of, torch_all_gather
from lightning_carbon.run import CarbonRun


def fabric_ranks(fabric: Any) -> Ranks:
    """This process's place in the Fabric's job."""
    world_size = fabric.world_size
    return Ranks(
        fabric.global_rank,
        fabric.local_rank,
        fabric.node_rank,
        world_size,
        getattr(fabric.strategy, "num_nodes", 1),
        torch_all_gather if world_size > 1 else None,
    )


def fabric_run(fabric: Any, **run_kwargs: Any) -> CarbonRun:
    """A run metering this Fabric process; ``run_kwargs`` as :class:`CarbonRun`.

    The default output directory is the first logger's ``log_dir`` (else ``./carbon-run``).
    """
    if "output_dir" not in run_kwargs:
        log_dir = next((lg.log_dir for lg in fabric.loggers if getattr(lg, "log_dir", None)), None)
        run_kwargs["output_dir"] = log_dir or "carbon-run"
    run_kwargs.setdefault("gpu_indices", gpu_indices_of(fabric.device))
    return CarbonRun(
        ranks=fabric_ranks(fabric),
        on_metrics=lambda metrics, step: fabric.log_dict(metrics, step=step),
        **run_kwargs,
    )
