"""Quits, vacancies, hiring lag and new hires (the cycle of failure's engine).

An employee quits with a weekly probability that rises with low engagement, burnout, distrust of
the manager and low pay. The position stays vacant while a hire is found (weeks; longer when
hiring is selective), which loads the remaining staff. New hires arrive with the fit and skill
that hiring selectivity buys and learn fast during induction (Schlesinger & Heskett 1991).
Positions above the budget (after a staffing cut) are not refilled: headcount falls by attrition.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import ndtri

from sim.compiled import jit
from sim.elementary import log1p, power
from sim.params import Params
from sim.state import Units, Workforce
from sim.workforce import quit_chance

NEW_HIRE = {"trust": 0.55, "burnout": 0.05, "mood": 0.7, "feedback": 0.75}
HONEYMOON_ENGAGEMENT = (0.5, 0.25)  # new hires' engagement: base + weight x fit
NEW_HIRE_ALIGNMENT = 0.5  # new hires' alignment per unit of fit: they have yet to learn the why
# Skill a new hire brings: a base plus weights on selectivity, fit and chance (at most 0.55).
STARTING_SKILL_FROM = {"base": 0.15, "selectivity": 0.15, "fit": 0.15, "chance": 0.1}


@dataclass
class StaffFlows:
    """What happened to the workforce this week (position slots)."""

    quits: np.ndarray
    hires: np.ndarray


def staff_plan(params: Params, units: Units) -> np.ndarray:
    """Budgeted headcount of each unit: staffing ratio x planned staff, at least one."""
    return np.maximum(np.round(units.planned_staff * params.staffing_ratio), 1).astype(np.int64)


def hire_fit(params: Params, u: np.ndarray) -> np.ndarray:
    """Person-job fit of hires: selective hiring shifts fit up (mean k/(k+1), k = 1 + gain x s)."""
    return 1.0 - power(1.0 - u, 1.0 + params.selectivity_fit_gain * params.hiring_selectivity)


def starting_skill(fit: np.ndarray, u: np.ndarray, selectivity: float) -> np.ndarray:
    """Skill a new hire brings: better fit and more selective hiring bring more."""
    weight = STARTING_SKILL_FROM
    return np.clip(
        weight["base"] + weight["selectivity"] * selectivity + weight["fit"] * fit
        + weight["chance"] * u,
        0.0,
        1.0,
    )


def budgeted(params: Params, units: Units, wf: Workforce) -> np.ndarray:
    """Positions inside the current budget of their unit."""
    return wf.rank < staff_plan(params, units)[wf.unit]


def quit_and_hire(
    params: Params, units: Units, wf: Workforce, draws: dict[str, np.ndarray], step: int
) -> StaffFlows:
    """One week of quits, arrivals of pending hires and newly opened vacancies."""
    quits = _quit(params.record, draws["quit"], wf.filled, wf.engagement, wf.burnout, wf.trust,
                  wf.tenure)
    in_budget = budgeted(params, units, wf)
    wf.ti_hire[~in_budget] = -1
    hires = np.flatnonzero((wf.ti_hire >= 0) & (wf.ti_hire <= step) & ~wf.filled)
    if len(hires):
        _start_new_hires(params, wf, draws, hires)
    _open_vacancies(params.record, draws["hiring_lag"], in_budget, wf.filled, wf.ti_hire,
                    wf.tenure, step)
    return StaffFlows(quits=quits, hires=hires)


@jit
def _quit(params, u_quit, filled, engagement, burnout, trust, tenure):
    """Who quits this week (positions, in order); their positions fall vacant."""
    quits = np.empty(len(filled), np.int64)
    n = 0
    for i in range(len(filled)):
        if filled[i] and u_quit[i] < quit_chance(params, engagement[i], burnout[i], trust[i]):
            quits[n] = i
            n += 1
            filled[i], tenure[i] = False, 0
    return quits[:n]


@jit
def _open_vacancies(params, u_lag, in_budget, filled, ti_hire, tenure, step):
    """Budgeted vacancies start hiring (a hire arrives after a random lag); staff age a week.

    The lag is exponential, longer when hiring is selective, at least a week.
    """
    p = params[0]
    mean_lag = p.hiring_lag_weeks * (1.0 + p.selectivity_lag * p.hiring_selectivity)
    for i in range(len(filled)):
        if in_budget[i] and not filled[i] and ti_hire[i] < 0:
            ti_hire[i] = step + 1 + np.int64(np.floor(-log1p(-u_lag[i]) * mean_lag))
        if filled[i]:
            tenure[i] += 1


def _start_new_hires(
    params: Params, wf: Workforce, draws: dict[str, np.ndarray], slots: np.ndarray
) -> None:
    fit = hire_fit(params, draws["hire_fit"][slots])
    u_disposition = np.clip(draws["hire_disposition"][slots], 1e-12, 1 - 1e-12)
    wf.filled[slots] = True
    wf.ti_hire[slots] = -1
    wf.tenure[slots] = 0
    wf.absence_rate[slots] = 0.0
    wf.fit[slots] = fit
    wf.skill[slots] = starting_skill(fit, draws["hire_skill"][slots], params.hiring_selectivity)
    wf.disposition[slots] = params.disposition_sd * ndtri(u_disposition)
    u_aptitude = np.clip(draws["hire_aptitude"][slots], 1e-12, 1 - 1e-12)
    wf.aptitude[slots] = params.aptitude_sd * ndtri(u_aptitude)
    wf.engagement[slots] = HONEYMOON_ENGAGEMENT[0] + HONEYMOON_ENGAGEMENT[1] * fit
    wf.alignment[slots] = NEW_HIRE_ALIGNMENT * fit
    for key, value in NEW_HIRE.items():
        getattr(wf, key)[slots] = value
