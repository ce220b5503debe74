"""Service-profit chain simulator: engagement, customer loyalty and profit as a Mesa model.

The public names load their modules when first used, so that a command that starts worker
processes (``sim sweep``) can start them before it imports the model (:mod:`sim.cli`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sim.model import ServiceModel
    from sim.params import SPECS, ParameterError, Params
    from sim.scenario import ScenarioError, ServiceScenario, load_scenario, preset_names

_HOME = {
    "SPECS": "sim.params",
    "ParameterError": "sim.params",
    "Params": "sim.params",
    "ServiceScenario": "sim.scenario",
    "ScenarioError": "sim.scenario",
    "ServiceModel": "sim.model",
    "load_scenario": "sim.scenario",
    "preset_names": "sim.scenario",
}
__all__ = [
    "SPECS",
    "ParameterError",
    "Params",
    "ScenarioError",
    "ServiceModel",
    "ServiceScenario",
    "load_scenario",
    "preset_names",
]


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module 'sim' has no attribute {name!r}")
    value = getattr(importlib.import_module(_HOME[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
