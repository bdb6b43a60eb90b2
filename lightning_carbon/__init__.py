"""lightning-carbon: the energy and carbon cost of training, made visible and controllable.

Example::

    from pytorch_lightning import Trainer
    from lightning_carbon import CarbonCallback

    trainer = Trainer(callbacks=[CarbonCallback(country="DNK")])

The public names are imported lazily, so ``import lightning_carbon`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_PUBLIC = {
    "CarbonCallback": "lightning_carbon.integrations.lightning",
    "CarbonRun": "lightning_carbon.run",
    "Ranks": "lightning_carbon.ranks",
    "emissions": "lightning_carbon.footprint",
    "EnergyMeter": "lightning_carbon.meter",
    "EnergyReading": "lightning_carbon.reading",
    "discover": "lightning_carbon.sensors.discovery",
    "country_intensity": "lightning_carbon.intensity.table",
    "CarbonIntensity": "lightning_carbon.intensity.table",
    "resolve_pue": "lightning_carbon.footprint",
    "precision_sweep": "lightning_carbon.sweep",
    "width_sweep": "lightning_carbon.sweep",
    "select_model": "lightning_carbon.selection",
    "pareto_front": "lightning_carbon.selection",
    "recommend_start": "lightning_carbon.when",
}

__all__ = [
    "CarbonCallback",
    "CarbonIntensity",
    "CarbonRun",
    "EnergyMeter",
    "EnergyReading",
    "__version__",
    "country_intensity",
    "discover",
    "emissions",
    "Ranks",
    "pareto_front",
    "precision_sweep",
    "recommend_start",
    "resolve_pue",
    "select_model",
    "width_sweep",
]

if TYPE_CHECKING:
    from lightning_carbon.footprint import emissions, resolve_pue
    from lightning_carbon.integrations.lightning import CarbonCallback
    from lightning_carbon.intensity.table import CarbonIntensity, country_intensity
    from lightning_carbon.meter import EnergyMeter
    from lightning_carbon.ranks import Ranks
    from lightning_carbon.reading import EnergyReading
    from lightning_carbon.run import CarbonRun
    from lightning_carbon.selection import pareto_front, select_model
    from lightning_carbon.sensors.discovery import discover
    from lightning_carbon.sweep import precision_sweep, width_sweep
    from lightning_carbon.when import recommend_start


def __getattr__(name: str) -> Any:
    if name not in _PUBLIC:
        raise AttributeError(f"module 'lightning_carbon' has no attribute {name!r}")
    return getattr(importlib.import_module(_PUBLIC[name]), name)
