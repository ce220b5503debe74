"""Service-profit chain simulator: engagement, customer loyalty and profit as a Mesa model."""

from sim.model import ServiceModel
from sim.params import SPECS, ParameterError, Params
from sim.scenario import ScenarioError, ServiceScenario, load_scenario, preset_names

__all__ = [
    "SPECS",
    "ParameterError",
    "Params",
    "ServiceScenario",
    "ScenarioError",
    "ServiceModel",
    "load_scenario",
    "preset_names",
]
