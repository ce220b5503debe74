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

import numpy as np

from sim.params import Params
from sim.state import TRAIT_LEVERS, Units

# Manager's engagement target: a base plus weights that sum to 1 with it (1 with a fully engaged
# team and fully satisfied customers).
MANAGER_ENGAGEMENT_FROM = {"base": 0.15, "team": 0.45, "csat": 0.4}


@dataclass
class Leadership:
    """This week's effective manager behaviour, one value per unit (0-1)."""

    fairness: np.ndarray
    control: np.ndarray
    support: np.ndarray
    recognition: np.ndarray
    communication: np.ndarray


def manager_traits(params: Params, units: Units) -> np.ndarray:
    """Traits (5, n_units): the policy means plus each manager's deviation, within 0-1."""
    means = np.array([getattr(params, lever) for lever in TRAIT_LEVERS])[:, None]
    return np.clip(means + units.trait_offset, 0.0, 1.0)


def behaviour(params: Params, units: Units) -> Leadership:
    """Effective behaviour: engaged managers live their traits, disengaged ones less so."""
    fairness, control, support, recognition, communication = manager_traits(params, units)
    floor = params.manager_drive_floor
    drive = floor + (1.0 - floor) * units.manager_engagement
    return Leadership(
        fairness=fairness * drive,
        control=control,
        support=support * drive,
        recognition=recognition * drive,
        communication=communication * drive,
    )


def manager_engagement_target(team_engagement: np.ndarray, csat: np.ndarray) -> np.ndarray:
    """Engagement a manager settles at: their team's engagement and their customers' CSAT."""
    weight = MANAGER_ENGAGEMENT_FROM
    return np.clip(
        weight["base"] + weight["team"] * team_engagement + weight["csat"] * csat, 0.0, 1.0
    )


def voiced_ideas(params: Params, team_trust: np.ndarray, team_engagement: np.ndarray
                 ) -> np.ndarray:
    """Improvement ideas a team voices: a climate for voice, trust and engagement (seed 004)."""
    return params.voice_climate * team_trust * team_engagement


def process_quality_at_rest(params: Params, ideas: np.ndarray) -> np.ndarray:
    """Process quality where improvement from ideas balances decay (:func:`update_managers`)."""
    return ideas / (ideas + params.process_decay_share)


def update_managers(
    params: Params, units: Units, team_engagement: np.ndarray, team_trust: np.ndarray
) -> None:
    """Managers' engagement follows their team and their customers; ideas improve service."""
    target = manager_engagement_target(team_engagement, units.csat)
    units.manager_engagement += (
        target - units.manager_engagement
    ) / params.manager_engagement_weeks
    ideas = voiced_ideas(params, team_trust, team_engagement)
    pq = units.process_quality
    pq += params.improvement_rate * (ideas * (1.0 - pq) - params.process_decay_share * pq)
