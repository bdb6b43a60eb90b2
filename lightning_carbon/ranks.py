"""Where a process sits in a distributed job, and how the run gathers across it.

The run never imports a launcher: an adapter (or the user) hands it a :class:`Ranks` with an
``all_gather`` function. :func:`torch_ranks` builds one from ``torch.distributed`` and the
usual environment variables (``LOCAL_RANK``, ``NODE_RANK`` or ``GROUP_RANK``, or Slurm's
``SLURM_LOCALID`` and ``SLURM_NODEID``), which covers torchrun, Slurm, Lightning, Fabric, MONAI
and nnU-Net launches; a :class:`~lightning_carbon.run.CarbonRun` given no ranks uses it.

Example::

    >>> Ranks().gather({"joules": 1.0})        # one process: itself
    [{'joules': 1.0}]
    >>> Ranks(global_rank=1, world_size=2, all_gather=lambda o: [o, o]).is_global_zero
    False
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Ranks:
    """This process's ranks and the job's size; ``all_gather(obj)`` returns every rank's
    ``obj`` in global-rank order and must be called by every rank at the same point."""

    global_rank: int = 0
    local_rank: int = 0
    node_rank: int = 0
    world_size: int = 1
    num_nodes: int = 1
    all_gather: Callable[[Any], list[Any]] | None = None

    def __post_init__(self) -> None:
        if self.world_size < 1 or not 0 <= self.global_rank < self.world_size:
            raise ValueError(
                f"global_rank must be in [0, world_size), got {self.global_rank!r} of "
                f"{self.world_size!r}"
            )
        if self.world_size > 1 and self.all_gather is None:
            raise ValueError("a job of several processes needs an all_gather function")

    @property
    def is_global_zero(self) -> bool:
        """Whether this process writes the records."""
        return self.global_rank == 0

    @property
    def meters_node(self) -> bool:
        """Whether this process meters the node-wide sources (CPU, DRAM): local rank 0."""
        return self.local_rank == 0

    def gather(self, obj: Any) -> list[Any]:
        """Every rank's ``obj`` (a collective when the job has several processes)."""
        if self.world_size == 1 or self.all_gather is None:
            return [obj]
        return list(self.all_gather(obj))


def torch_all_gather(obj: Any) -> list[Any]:
    """Every rank's ``obj`` through ``torch.distributed.all_gather_object`` (a collective)."""
    import torch.distributed as dist

    gathered: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, obj)
    return gathered


def gpu_indices_of(device: Any) -> list[int]:
    """The GPU a process trains on (a ``torch.device``) as ``gpu_indices``: none off CUDA.

    Example::

        >>> import torch
        >>> gpu_indices_of(torch.device("cuda", 2)), gpu_indices_of(torch.device("cpu"))
        ([2], [])
    """
    if device is None or device.type != "cuda":
        return []
    return [device.index or 0]


def torch_ranks(num_nodes: int | None = None) -> Ranks:
    """The ranks of this process from ``torch.distributed`` (one process when it is not
    initialised) and the launcher's environment variables."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return Ranks()
    world_size = dist.get_world_size()
    local_rank = _first_env(("LOCAL_RANK", "SLURM_LOCALID"))
    if local_rank is None and world_size > 1:
        raise ValueError(
            "torch.distributed runs several processes but neither LOCAL_RANK nor SLURM_LOCALID "
            "is set: without it every rank would meter the node's CPU and DRAM; set it, or "
            "pass CarbonRun(ranks=Ranks(...))"
        )
    node_rank = _first_env(("NODE_RANK", "GROUP_RANK", "SLURM_NODEID")) or 0
    nodes = num_nodes or _first_env(("NUM_NODES", "GROUP_WORLD_SIZE", "SLURM_NNODES")) or 1
    return Ranks(dist.get_rank(), local_rank or 0, node_rank, world_size, nodes, torch_all_gather)


def _first_env(names: tuple[str, ...]) -> int | None:
    """The first of the environment variables ``names`` that is set, as an int."""
    for name in names:
        if os.environ.get(name, "").strip():
            return int(os.environ[name])
    return None
