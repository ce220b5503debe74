"""Business units differ persistently, as real ones do: staffing, local competition, managers."""

from __future__ import annotations

import numpy as np
import pandas as pd

from sim import ServiceModel
from sim.params import Params
from sim.population import build_units
from sim.rng import Streams
from sim.unit_analytics import rank_persistence


def test_heterogeneity_follows_its_stated_distributions():
    params = Params(n_employees=4000, n_customers=80_000, staffing_spread=0.3,
                    competition_spread=0.08)
    units = build_units(params, Streams(3))
    staff_per_customer = units.planned_staff / units.customer_count
    assert 0.22 < np.std(np.log(staff_per_customer)) < 0.38  # lognormal sd 0.3
    spread = np.std(units.local_expectation - params.market_expectation)
    assert 0.06 < spread < 0.10
    even = build_units(Params(n_employees=4000, n_customers=80_000, staffing_spread=0.0,
                              competition_spread=0.0), Streams(3))
    assert np.std(np.log(even.planned_staff / even.customer_count)) < 0.05
    assert np.all(even.local_expectation == params.market_expectation)


def test_unit_rankings_persist_from_one_year_to_the_next():
    """A unit's surveyed CSAT, staff turnover and profit rank in year 1 predicts year 2's."""
    history = pd.concat([ServiceModel(rng=seed, replication=seed).run(104).unit_timeseries()
                         for seed in range(1, 7)], ignore_index=True)
    rho = rank_persistence(history, ("csat", "turnover", "profit"), split=52)
    assert all(len(values) == 6 for values in rho.values())
    means = {key: float(np.mean(values)) for key, values in rho.items()}
    assert means["csat"] > 0.2, means
    assert means["turnover"] > 0.05, means
    assert means["profit"] > 0.5, means
