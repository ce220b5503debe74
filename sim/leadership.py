"""Unit managers: how their traits, the policy levers and their own engagement shape behaviour.

A manager's trait is the policy mean (a lever: fairness, micromanagement, mentoring, recognition,
vision communication) plus the manager's own fixed deviation drawn at start-up, so units differ
and a lever moved mid-run shifts every manager at once. Engaged managers act more on their
traits (seed 000: immediate managers; Gallup 2015: managers account for most of the variance in
team engagement); managers' engagement follows their team's engagement and customers' verdict.
Voice climate turns engaged, trusting teams' ideas into better service processes (seed 004).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from numba import literal_unroll

from sim.compiled import formula, jit, unpack
from sim.params import Params
from sim.state import MANAGER_TRAITS, TRAIT_LEVERS, Units


class ManagerEngagementFrom(NamedTuple):
    """A manager's engagement target: a base plus weights that sum to 1 with it.

    The target is 1 with a fully engaged team and fully satisfied customers.
    """

    base: float
    team: float
    csat: float


MANAGER_ENGAGEMENT_FROM = ManagerEngagementFrom(base=0.15, team=0.45, csat=0.4)
_CONTROL = MANAGER_TRAITS.index("control")


@dataclass
class Leadership:
    """This week's effective manager behaviour per unit (0-1), in MANAGER_TRAITS order."""

    fairness: np.ndarray
    control: np.ndarray
    support: np.ndarray
    recognition: np.ndarray
    communication: np.ndarray


def behaviour(params: Params, units: Units) -> Leadership:
    """Effective behaviour: engaged managers live their traits, disengaged ones less so."""
    return Leadership(*behaviour_rows(params.packed, units.trait_offset, units.manager_engagement))


@jit
def behaviour_rows(packed, trait_offset, manager_engagement):
    """:func:`behaviour` as rows in MANAGER_TRAITS order: each trait (within 0-1) x drive.

    A trait's policy mean is its lever (TRAIT_LEVERS). Control is what a manager does whatever
    their drive; the other traits need drive, which rises from ``manager_drive_floor`` with the
    manager's engagement.
    """
    params = unpack(packed)[0]
    means = np.empty(len(TRAIT_LEVERS))
    k = 0
    for lever in literal_unroll(TRAIT_LEVERS):  # each name a constant: the record's field
        means[k] = params[lever]
        k += 1
    drive_floor = params.manager_drive_floor
    out = np.empty(trait_offset.shape)
    for u in range(trait_offset.shape[1]):
        drive = drive_floor + (1.0 - drive_floor) * manager_engagement[u]
        for k in range(len(means)):
            trait = min(max(means[k] + trait_offset[k, u], 0.0), 1.0)
            out[k, u] = trait if k == _CONTROL else trait * drive
    return out


@jit
def manager_engagement_target(team_engagement: np.ndarray | float,
                              csat: np.ndarray | float) -> np.ndarray | float:
    """Engagement a manager settles at: their team's engagement and their customers' CSAT."""
    w = MANAGER_ENGAGEMENT_FROM
    return np.minimum(np.maximum(w.base + w.team * team_engagement + w.csat * csat, 0.0), 1.0)


@formula
def voiced_ideas(params: np.ndarray, team_trust: np.ndarray | float,
                 team_engagement: np.ndarray | float) -> np.ndarray | float:
    """Improvement ideas a team voices: a climate for voice, trust and engagement (seed 004)."""
    return params[0].voice_climate * team_trust * team_engagement


@formula
def process_quality_at_rest(params: np.ndarray, ideas: np.ndarray | float) -> np.ndarray | float:
    """Process quality where improvement from ideas balances decay (:func:`update_managers`)."""
    return ideas / (ideas + params[0].process_decay_share)


@jit
def update_managers(packed, unit, filled, engagement, trust, team, csat, manager_engagement,
                    process_quality):
    """Managers' engagement follows their team and their customers; ideas improve service.

    ``unit``, ``filled``, ``engagement`` and ``trust`` are the positions'; ``team`` is each
    unit's employees in post (none: engagement and trust count as 0).
    """
    params = unpack(packed)
    p = params[0]
    n_units = len(csat)
    engagement_total, trust_total = np.zeros(n_units), np.zeros(n_units)
    for i in range(len(unit)):  # sums in slot order, as a per-unit mean adds them
        present = 1.0 if filled[i] else 0.0
        engagement_total[unit[i]] += engagement[i] * present
        trust_total[unit[i]] += trust[i] * present
    for u in range(n_units):
        team_engagement = engagement_total[u] / team[u] if team[u] > 0 else 0.0
        team_trust = trust_total[u] / team[u] if team[u] > 0 else 0.0
        target = manager_engagement_target(team_engagement, csat[u])
        manager_engagement[u] += (target - manager_engagement[u]) / p.manager_engagement_weeks
        ideas = voiced_ideas(params, team_trust, team_engagement)
        pq = process_quality[u]
        process_quality[u] += p.improvement_rate * (ideas * (1.0 - pq) - p.process_decay_share * pq)
