"""Initialisation: business units, managers, frontline positions and the local markets."""

from __future__ import annotations

import numpy as np

from sim.params import Params
from sim.rng import Streams
from sim.state import (
    ACTIVE,
    MANAGER_TRAITS,
    MAX_STAFFING_RATIO,
    PROSPECT,
    Market,
    Units,
    Workforce,
)


def largest_remainder(shares: np.ndarray, total: int, minimum: int = 0) -> np.ndarray:
    """Split ``total`` into integers proportional to ``shares``, each at least ``minimum``."""
    spare = total - minimum * len(shares)
    raw = shares / shares.sum() * spare
    counts = np.floor(raw).astype(np.int64)
    order = np.argsort(-(raw - counts), kind="stable")
    counts[order[: spare - counts.sum()]] += 1
    return counts + minimum


def build_units(params: Params, streams: Streams) -> Units:
    """Units with markets of different sizes and managers who differ around the policy means."""
    n = params.n_units
    rng = streams.generator("init.units")
    share = rng.lognormal(0.0, params.market_size_spread, n)
    share /= share.sum()
    planned = largest_remainder(share, params.n_employees, minimum=1)
    positions = np.ceil(planned * MAX_STAFFING_RATIO).astype(np.int64)
    customers = largest_remainder(share, params.n_customers, minimum=1)
    offsets = streams.generator("init.managers").normal(
        0.0, params.manager_spread, (len(MANAGER_TRAITS), n))
    return Units(
        market_share=share,
        planned_staff=planned,
        position_start=np.concatenate([[0], np.cumsum(positions)[:-1]]),
        position_count=positions,
        customer_start=np.concatenate([[0], np.cumsum(customers)[:-1]]),
        customer_count=customers,
        trait_offset=offsets,
        manager_engagement=np.clip(0.67 + offsets.mean(axis=0), 0.0, 1.0),
        process_quality=np.full(n, 0.4),
        csat=np.full(n, 0.7),
        workload=np.ones(n),
    )


def hire_fit(u: np.ndarray, selectivity: float) -> np.ndarray:
    """Person-job fit of hires: selective hiring shifts fit up (mean k/(k+1), k = 1 + 2s)."""
    return 1.0 - (1.0 - u) ** (1.0 + 2.0 * selectivity)


def starting_skill(fit: np.ndarray, u: np.ndarray, selectivity: float) -> np.ndarray:
    """Skill a new hire brings: better fit and more selective hiring bring more."""
    return np.clip(0.15 + 0.15 * selectivity + 0.15 * fit + 0.1 * u, 0.0, 1.0)


def build_workforce(units: Units, params: Params, streams: Streams) -> Workforce:
    """Positions per unit, filled up to the budget with employees of varied tenure."""
    unit = np.repeat(np.arange(units.n), units.position_count)
    rank = np.arange(len(unit)) - units.position_start[unit]
    plan = np.round(units.planned_staff * params.staffing_ratio).astype(np.int64)
    filled = rank < plan[unit]
    n = len(unit)
    rng = streams.generator("init.employees")
    u_fit, u_skill = rng.random((2, n))
    tenure = np.minimum(rng.exponential(100.0, n), 520.0).astype(np.int64)
    fit = hire_fit(u_fit, params.hiring_selectivity)
    skill0 = starting_skill(fit, u_skill, params.hiring_selectivity)
    experience = 1.0 - np.exp(-tenure / 40.0)
    skill = np.clip(skill0 + (0.8 - skill0) * experience, 0.0, 1.0)
    return Workforce(
        unit=unit,
        rank=rank,
        filled=filled,
        ti_hire=np.full(n, -1, dtype=np.int64),
        engagement=np.full(n, 0.5),
        trust=np.full(n, 0.5),
        skill=skill,
        burnout=np.full(n, 0.15),
        mood=np.full(n, 0.75),
        alignment=np.full(n, 0.5),
        autonomy=np.full(n, 0.5),
        fit=fit,
        disposition=rng.normal(0.0, params.disposition_sd, n),
        feedback=np.full(n, 0.75),
        tenure=np.where(filled, tenure, 0),
    )


def build_market(units: Units, params: Params, streams: Streams) -> Market:
    """Each unit's local market: active customers and prospects, with varied satisfaction."""
    n = int(units.customer_count.sum())
    unit = np.repeat(np.arange(units.n), units.customer_count).astype(np.int32)
    rng = streams.generator("init.customers")
    u_active, u_exp, u_sat, u_loy, u_ten = rng.random((5, n), dtype=np.float32)
    status = np.where(u_active < params.initial_active_share, ACTIVE, PROSPECT).astype(np.int8)
    satisfaction = np.clip(0.72 + 0.4 * (u_sat - 0.5), 0.0, 1.0).astype(np.float32)
    loyalty = np.clip(satisfaction ** params.loyalty_convexity + 0.2 * (u_loy - 0.5), 0.0, 1.0)
    return Market(
        unit=unit,
        status=status,
        expectation=np.clip(0.65 + 0.2 * (u_exp - 0.5), 0.0, 1.0).astype(np.float32),
        satisfaction=satisfaction,
        loyalty=loyalty.astype(np.float32),
        tenure=np.where(status == ACTIVE, (u_ten * 260).astype(np.int32), 0).astype(np.int32),
        referred=np.zeros(n, dtype=bool),
        last_employee=np.full(n, -1, dtype=np.int32),
    )
