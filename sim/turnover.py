"""Quits, vacancies, hiring lag and new hires (the cycle of failure's engine).

An employee quits with a weekly probability that rises with low engagement, burnout, distrust of
the manager and low pay. The position stays vacant while a hire is found (weeks; longer when
hiring is selective), which loads the remaining staff. New hires arrive with the fit and skill
that hiring selectivity buys and learn fast during induction (Schlesinger & Heskett 1991).
Positions above the budget (after a staffing cut) are not refilled: headcount falls by attrition.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from sim.compiled import formula, jit, unpack
from sim.elementary import log1p, normal_quantile, power
from sim.params import Params
from sim.state import Units
from sim.workforce import quit_chance


class NewHire(NamedTuple):
    """A new hire's starting states (the others come from fit, draws and the honeymoon)."""

    trust: float
    burnout: float
    mood: float
    feedback: float


class StartingSkillFrom(NamedTuple):
    """Skill a new hire brings: a base plus weights on selectivity, fit and chance."""

    base: float
    selectivity: float
    fit: float
    chance: float


NEW_HIRE = NewHire(trust=0.55, burnout=0.05, mood=0.7, feedback=0.75)
HONEYMOON_ENGAGEMENT = (0.5, 0.25)  # new hires' engagement: base + weight x fit
NEW_HIRE_ALIGNMENT = 0.5  # new hires' alignment per unit of fit: they have yet to learn the why
STARTING_SKILL_FROM = StartingSkillFrom(base=0.15, selectivity=0.15, fit=0.15, chance=0.1)
# Uniform draws turned into normal ones are kept this far inside (0, 1).
OPEN_UNIT_INTERVAL = 1e-12


@dataclass
class StaffFlows:
    """What happened to the workforce this week (position slots)."""

    quits: np.ndarray
    hires: np.ndarray


def staff_plan(params: Params, units: Units) -> np.ndarray:
    """Budgeted headcount of each unit: staffing ratio x planned staff, at least one."""
    return budgeted_headcount(params, units.planned_staff)


@formula
def budgeted_headcount(params: np.ndarray, planned_staff: np.ndarray) -> np.ndarray:
    """:func:`staff_plan` of units with these planned staff (rounded half to even)."""
    return np.maximum(np.round(planned_staff * params[0].staffing_ratio), 1.0).astype(np.int64)


@formula
def hire_fit(params: np.ndarray, u: np.ndarray | float) -> np.ndarray | float:
    """Person-job fit of hires: selective hiring shifts fit up (mean k/(k+1), k = 1 + gain x s)."""
    p = params[0]
    return 1.0 - power(1.0 - u, 1.0 + p.selectivity_fit_gain * p.hiring_selectivity)


@formula
def starting_skill(params: np.ndarray, fit: np.ndarray | float,
                   u: np.ndarray | float) -> np.ndarray | float:
    """Skill a new hire brings: better fit and more selective hiring bring more."""
    w = STARTING_SKILL_FROM
    return np.minimum(np.maximum(
        w.base + w.selectivity * params[0].hiring_selectivity + w.fit * fit + w.chance * u,
        0.0), 1.0)


@jit
def quit_jobs(packed, u_quit, filled, engagement, burnout, trust, tenure):
    """Who quits this week (positions, in order); their positions fall vacant."""
    params = unpack(packed)
    quits = np.empty(len(filled), np.int64)
    n = 0
    for i in range(len(filled)):
        if filled[i] and u_quit[i] < quit_chance(params, engagement[i], burnout[i], trust[i]):
            quits[n] = i
            n += 1
            filled[i], tenure[i] = False, 0
    return quits[:n]


@jit
def hire(packed, step, planned_staff, unit, rank, u_fit, u_skill, u_disposition, u_aptitude, u_lag,
         filled, ti_hire, tenure, absence_rate, fit, skill, disposition, aptitude,
          engagement, alignment, trust, burnout, mood, feedback):
    """Pending hires arrive, budgeted vacancies start hiring, staff age a week.

    A position outside its unit's budget stops hiring. A hire arrives at a vacancy whose date
    has come, with the fit and skill hiring selectivity buys and a fresh start. A budgeted
    vacancy not yet hiring starts now: the hire arrives after an exponential lag, longer when
    hiring is selective, at least a week. Returns the positions hired into, in order.
    """
    params = unpack(packed)
    p = params[0]
    plan = budgeted_headcount(params, planned_staff)
    mean_lag = p.hiring_lag_weeks * (1.0 + p.selectivity_lag * p.hiring_selectivity)
    low, high = OPEN_UNIT_INTERVAL, 1.0 - OPEN_UNIT_INTERVAL
    hires = np.empty(len(filled), np.int64)
    n = 0
    for i in range(len(filled)):
        in_budget = rank[i] < plan[unit[i]]
        if not in_budget:
            ti_hire[i] = -1
        if ti_hire[i] >= 0 and ti_hire[i] <= step and not filled[i]:
            hires[n] = i
            n += 1
            filled[i], ti_hire[i], tenure[i], absence_rate[i] = True, -1, 0, 0.0
            fit[i] = hire_fit(params, u_fit[i])
            skill[i] = starting_skill(params, fit[i], u_skill[i])
            disposition[i] = p.disposition_sd * normal_quantile(
                min(max(u_disposition[i], low), high))
            aptitude[i] = p.aptitude_sd * normal_quantile(min(max(u_aptitude[i], low), high))
            engagement[i] = HONEYMOON_ENGAGEMENT[0] + HONEYMOON_ENGAGEMENT[1] * fit[i]
            alignment[i] = NEW_HIRE_ALIGNMENT * fit[i]
            trust[i], burnout[i] = NEW_HIRE.trust, NEW_HIRE.burnout
            mood[i], feedback[i] = NEW_HIRE.mood, NEW_HIRE.feedback
        if in_budget and not filled[i] and ti_hire[i] < 0:
            ti_hire[i] = step + 1 + np.int64(np.floor(-log1p(-u_lag[i]) * mean_lag))
        if filled[i]:
            tenure[i] += 1
    return hires[:n]
