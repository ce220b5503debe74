"""Shared helpers: small seeded runs, cached so paired tests reuse their baseline."""

from __future__ import annotations

import os
import tempfile
from functools import lru_cache

import pandas as pd
import pytest

from sim import ServiceModel

# Settled starts are cached on disk (sim.start); tests keep theirs in a folder of their own,
# shared by the xdist workers and the subprocesses they start.
os.environ.setdefault("SIM_CACHE_DIR", os.path.join(tempfile.gettempdir(), "sim-test-cache"))
# saved scenarios of the page under test go to a scratch library, never the user's own
os.environ.setdefault("SIM_LIBRARY", os.path.join(tempfile.gettempdir(), "sim-test-library"))

SMALL = {"n_employees": 110, "n_customers": 2000}
SEEDS = (1, 2, 3)


@lru_cache(maxsize=256)
def _run(seed: int, steps: int, items: tuple[tuple[str, float], ...]) -> pd.DataFrame:
    model = ServiceModel(rng=seed, **{**SMALL, **dict(items)})
    return model.run(steps).timeseries()


def run_small(seed: int = 1, steps: int = 52, **params: float) -> pd.DataFrame:
    """Time series of a small seeded run (cached)."""
    return _run(seed, steps, tuple(sorted(params.items())))


def late_mean(column: str, steps: int = 52, window: int = 13, **params: float) -> float:
    """Mean of ``column`` over the last ``window`` weeks, averaged over the test seeds."""
    return float(
        sum(run_small(s, steps, **params)[column].iloc[-window:].mean() for s in SEEDS) / len(SEEDS)
    )


@pytest.fixture
def small_model() -> ServiceModel:
    """A fresh small model (seed 1)."""
    return ServiceModel(rng=1, **SMALL)
