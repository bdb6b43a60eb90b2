"""Thin adapters: each maps a framework's life cycle onto a :class:`~lightning_carbon.CarbonRun`.

Each module imports its framework; the core never does.

- :mod:`~lightning_carbon.integrations.lightning`: ``CarbonCallback`` for ``lightning.pytorch``
  and ``pytorch_lightning`` alike.
- :mod:`~lightning_carbon.integrations.fabric`: a run for a Lightning Fabric loop.
- :mod:`~lightning_carbon.integrations.monai`: ``CarbonHandler``, an Ignite handler for MONAI's
  ``SupervisedTrainer`` and ``SupervisedEvaluator``.
- :mod:`~lightning_carbon.integrations.nnunet`: ``NnUNetCarbon``, attached to an nnU-Net v2
  trainer instance; :mod:`~lightning_carbon.integrations.nnunet_cli` is
  ``lightning-carbon nnunet train|table|demo``.
"""
