"""Thin adapters: each maps a framework's life cycle onto a :class:`~lightning_carbon.CarbonRun`.

Each module imports its framework; the core never does.

- :mod:`~lightning_carbon.integrations.lightning`: ``CarbonCallback`` for ``lightning.pytorch``
  and ``pytorch_lightning`` alike.
- :mod:`~lightning_carbon.integrations.fabric`: a run for a Lightning Fabric loop.
"""
