"""Frontline employees week by week: trust, alignment, autonomy, burnout, mood, skill, engagement.

Engagement follows the Job Demands-Resources model (Crawford et al. 2010; Hu et al. 2011): job
resources (trust in a fair manager, tools, a shared why, recognition, rewards, mentoring,
autonomy, voice, surveys acted upon, fit, pay, good feedback from customers) raise the log-odds of
engagement; burnout lowers it. Effects are additive and slow (time constants of months). Demands
above capacity, hindrances and angry customers build burnout. Moods and engagement spread among
peers (seed 003; Barsade 2002). All updates are synchronous: every target is computed from the
state at the start of the week, then applied to whole arrays.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

from sim.compiled import formula, jit, unpack
from sim.elementary import exp, logistic
from sim.leadership import Leadership
from sim.params import Params
from sim.state import Units, Workforce


# Composite indices: relative weights inside each index (the index's strength is a parameter).
class TrustFrom(NamedTuple):
    """Trust target: a fair manager, surveys acted upon, a voice climate, autonomy respected."""

    fairness: float
    surveys: float
    voice: float
    autonomy_respected: float


class AlignmentFrom(NamedTuple):
    """Knowing the why: the manager's communication and the organisation's customer focus."""

    communication: float
    customer_focus: float


class HindranceFrom(NamedTuple):
    """Hindrances in the burnout target: micromanagement and missing resources."""

    control: float
    missing_resources: float


class MoodFrom(NamedTuple):
    """Mood target: a base plus weights that sum to 1 with it (mood 1 at the best of all three)."""

    base: float
    feedback: float
    engagement: float
    no_burnout: float


TRUST_FROM = TrustFrom(fairness=0.55, surveys=0.2, voice=0.15, autonomy_respected=0.1)
ALIGNMENT_FROM = AlignmentFrom(communication=0.5, customer_focus=0.5)
HINDRANCE_FROM = HindranceFrom(control=0.5, missing_resources=0.5)
MOOD_FROM = MoodFrom(base=0.25, feedback=0.35, engagement=0.2, no_burnout=0.2)
# The terms of the engagement logit, in the order they are summed (engagement_drivers).
ENGAGEMENT_DRIVERS = (
    "intercept", "trust", "resources", "alignment", "recognition", "rewards", "mentoring",
    "autonomy", "voice", "surveys", "customer_feedback", "fit", "pay", "mood", "burnout",
    "disposition",
)
QUIT_REFERENCE_BURNOUT = 0.2
# Weekly quit and absence chances never exceed this: a bound on the exponential hazards, not a
# calibrated coefficient (no one's weekly chance of leaving is above a coin flip).
MAX_WEEKLY_HAZARD = 0.5
ABSENCE_MEMORY_WEEKS = 52  # window of an employee's recorded absence rate
SETTLE_SWEEPS = 8  # fixed-point sweeps for the starting balance of own and peers' engagement


@jit
def _peer_means(indptr, indices, ties, present, first, second):
    """Each row's sums over its ties in tie order (as a sparse product adds them), then means.

    Two values at once, each in its own running sum (held in registers, not an array: twice
    as fast for the weekly engagement and mood).
    """
    first_mean, second_mean = np.zeros(len(indptr) - 1), np.zeros(len(indptr) - 1)
    has_peers = np.zeros(len(indptr) - 1, np.bool_)
    for i in range(len(indptr) - 1):
        first_sum = second_sum = count = 0.0
        for k in range(indptr[i], indptr[i + 1]):
            j = indices[k]
            weight = 1.0 if present[j] else 0.0
            first_sum += ties[k] * (first[j] * weight)
            second_sum += ties[k] * (second[j] * weight)
            count += ties[k] * weight
        has_peers[i] = count > 0
        if has_peers[i]:
            first_mean[i], second_mean[i] = first_sum / count, second_sum / count
    return first_mean, second_mean, has_peers


def peer_mean(
    adjacency: sp.csr_matrix, values: np.ndarray, present: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Mean of ``values`` over each node's present neighbours, and whether it has any."""
    means, _, has_peers = _peer_means(adjacency.indptr, adjacency.indices, adjacency.data,
                                      present, values, values)
    return means, has_peers


@formula
def mentoring_of(params: np.ndarray, support: np.ndarray | float,
                 team_size: np.ndarray | float) -> np.ndarray | float:
    """Mentoring per employee of a unit: the manager's support diluted by a wide span."""
    p = params[0]
    return support * np.minimum(1.0, p.mentoring_span / np.maximum(team_size, 1.0))


def team_size(wf: Workforce, n_units: int) -> np.ndarray:
    """Employees in post per unit (as floats: formulas divide by it)."""
    return employees_per_unit(wf.unit, wf.filled, n_units)


@jit
def employees_per_unit(unit, filled, n_units):
    """:func:`team_size` from the positions' units and who fills them."""
    team = np.zeros(n_units)
    for i in range(len(unit)):
        if filled[i]:
            team[unit[i]] += 1.0
    return team


def mentoring_received(params: Params, lead: Leadership, team_size: np.ndarray) -> np.ndarray:
    """Mentoring per employee of each unit (:func:`mentoring_of`)."""
    return mentoring_of(params, lead.support, team_size)


@formula
def trust_target(params: np.ndarray, fairness: np.ndarray | float,
                 control: np.ndarray | float) -> np.ndarray | float:
    """Trust staff come to place in a manager of this fairness and control."""
    p, w = params[0], TRUST_FROM
    return (w.fairness * fairness + w.surveys * p.surveys_acted_upon
            + w.voice * p.voice_climate + w.autonomy_respected * (1.0 - control))


@formula
def alignment_target(params: np.ndarray, communication: np.ndarray | float,
                     fit: np.ndarray | float) -> np.ndarray | float:
    """Goal alignment: knowing the why (manager's communication, external focus) and fitting it."""
    p, w = params[0], ALIGNMENT_FROM
    return np.sqrt(fit) * (w.communication * communication + w.customer_focus * p.customer_focus)


@formula
def autonomy_target(params: np.ndarray, control: np.ndarray | float) -> np.ndarray | float:
    """Latitude to act: empowerment granted, minus what micromanagement takes back."""
    return params[0].empowerment * (1.0 - control)


@formula
def burnout_target(params: np.ndarray, workload: np.ndarray | float, control: np.ndarray | float,
                   feedback: np.ndarray | float) -> np.ndarray | float:
    """Exhaustion the job's demands would settle at: overload, hindrances, customer strain."""
    p, w = params[0], HINDRANCE_FROM
    overload = np.maximum(workload - 1.0, 0.0)
    hindrance = w.control * control + w.missing_resources * (1.0 - p.resources)
    strain = 1.0 - feedback
    return np.minimum(np.maximum(
        p.burnout_base + p.burnout_overload * overload + p.burnout_hindrance * hindrance
        + p.burnout_customer_strain * strain, 0.0), 1.0)


@formula
def engagement_drivers(params, trust, alignment, recognition, csat, mentoring, autonomy, feedback,
                       fit, mood, burnout, disposition):
    """Each driver's additive term in the engagement logit, in :data:`ENGAGEMENT_DRIVERS` order.

    One definition serves the weekly step and the page's exact attribution of an engagement
    change to its drivers (:func:`engagement_terms`).
    """
    p = params[0]
    return (
        p.engagement_intercept,
        p.eng_w_trust * trust,
        p.eng_w_resources * p.resources,
        p.eng_w_alignment * alignment,
        p.eng_w_recognition * recognition,
        p.eng_w_rewards * p.rewards * csat,
        p.eng_w_mentoring * mentoring,
        p.eng_w_autonomy * autonomy,
        p.eng_w_voice * p.voice_climate,
        p.eng_w_surveys * p.surveys_acted_upon,
        p.eng_w_customer_feedback * feedback,
        p.eng_w_fit * (fit - 0.5),
        p.eng_w_pay * (p.pay_level - 1.0),
        p.eng_w_mood * (mood - 0.5),
        -(p.eng_w_burnout * burnout),
        disposition,
    )


def engagement_logit(terms: Iterable[np.ndarray | float]) -> np.ndarray | float:
    """The engagement logit: its terms (:func:`engagement_drivers`' order) added in order."""
    z: np.ndarray | float = 0.0
    for term in terms:
        z = z + term
    return z


_engagement_logit_in_kernels = jit(engagement_logit)  # the same sum, on one employee's terms


def engagement_terms(
    params: Params, wf: Workforce, lead: Leadership, units: Units, mentoring: np.ndarray
) -> dict[str, np.ndarray | float]:
    """Each driver's term in every employee's engagement logit, by driver name."""
    u = wf.unit
    return dict(zip(ENGAGEMENT_DRIVERS, engagement_drivers(
        params, wf.trust, wf.alignment, lead.recognition[u], units.csat[u], mentoring[u],
        wf.autonomy, wf.feedback, wf.fit, wf.mood, wf.burnout, wf.disposition), strict=True))


def engagement_target(
    params: Params, wf: Workforce, lead: Leadership, units: Units, mentoring: np.ndarray
) -> np.ndarray:
    """Engagement each employee's situation would settle at (logistic in job resources)."""
    return logistic(engagement_logit(engagement_terms(params, wf, lead, units, mentoring).values()))


@formula
def mood_target(params: np.ndarray, feedback: np.ndarray | float, engagement: np.ndarray | float,
                burnout: np.ndarray | float) -> np.ndarray | float:
    """Mood an employee drifts to: served customers' satisfaction, engagement, no burnout."""
    w = MOOD_FROM
    return np.minimum(np.maximum(
        w.base + w.feedback * feedback + w.engagement * engagement
        + w.no_burnout * (1.0 - burnout), 0.0), 1.0)


def settle(
    params: Params,
    wf: Workforce,
    lead: Leadership,
    units: Units,
    team_size: np.ndarray,
    peers: sp.csr_matrix | None = None,
) -> None:
    """Start the slow variables at the values the initial situation implies (no start-up jolt).

    With ``peers``, engagement starts at the balance of each person's own pull and their peers'
    (the fixed point of :func:`update`'s engagement rule), found by a few sweeps.
    """
    u = wf.unit
    wf.trust[:] = trust_target(params, lead.fairness[u], lead.control[u])
    wf.alignment[:] = alignment_target(params, lead.communication[u], wf.fit)
    wf.autonomy[:] = autonomy_target(params, lead.control[u])
    wf.burnout[:] = burnout_target(params, units.workload[u], lead.control[u], wf.feedback)
    own = engagement_target(params, wf, lead, units, mentoring_received(params, lead, team_size))
    wf.engagement[:] = own
    if peers is None:
        return
    pull = 1.0 / params.engagement_weeks
    for _ in range(SETTLE_SWEEPS):
        peer, has_peers = peer_mean(peers, wf.engagement, wf.filled)
        c = np.where(has_peers, params.engagement_contagion, 0.0)
        wf.engagement[:] = (pull * own + c * peer) / (pull + c)


@jit
def update(packed, indptr, indices, ties, unit, filled, fit, feedback, disposition, inducting,
           skill, engagement, mood, burnout, trust, alignment, autonomy,
           fairness, control, support, recognition, communication, csat, workload, team_size):
    """One week of every employee's psychology and skill (all positions at once).

    Peers' means are taken at the start of the week (ties: ``indptr``, ``indices``, ``ties``
    as a CSR matrix's), then each one follows their targets.
    """
    params = unpack(packed)
    peer_engagement, peer_mood, has_peers = _peer_means(indptr, indices, ties, filled,
                                                        engagement, mood)
    _follow_targets(params, unit, fit, feedback, disposition, inducting,
                    skill, engagement, mood, burnout, trust, alignment, autonomy,
                    peer_engagement, peer_mood, has_peers,
                    fairness, control, support, recognition, communication,
                    csat, workload, team_size)


@jit
def _follow_targets(params, unit, fit, feedback, disposition, inducting,
                    skill, engagement, mood, burnout, trust, alignment, autonomy,
                    peer_engagement, peer_mood, has_peers,
                    fairness, control, support, recognition, communication,
                    csat, workload, team_size):
    """Each employee's week: skill is learned, and every state moves toward its target.

    Every target comes from the state at the start of the week (an employee's own, and the
    peers' means computed before). Learning comes from experience, training, mentoring and
    induction, faster when engaged and slower when burnt out; skill decays without it.
    Engagement and mood also move toward the peers' (contagion). Every state stays within 0-1.
    """
    p = params[0]
    for i in range(len(skill)):
        u = unit[i]
        mentoring = mentoring_of(params, support[u], team_size[u])
        eng_star = logistic(_engagement_logit_in_kernels(engagement_drivers(
            params, trust[i], alignment[i], recognition[u], csat[u], mentoring, autonomy[i],
            feedback[i], fit[i], mood[i], burnout[i], disposition[i])))
        burn_star = burnout_target(params, workload[u], control[u], feedback[i])
        trust_star = trust_target(params, fairness[u], control[u])
        align_star = alignment_target(params, communication[u], fit[i])
        auto_star = autonomy_target(params, control[u])
        mood_star = mood_target(params, feedback[i], engagement[i], burnout[i])

        learning = (p.learn_experience + p.learn_training * p.training
                    + p.learn_mentoring * mentoring + p.learn_induction * inducting[i])
        learning = (learning * (p.learning_engagement_base + engagement[i])
                    * (1.0 - p.learning_burnout_loss * burnout[i]))
        skill[i] += learning * (1.0 - skill[i]) - p.skill_decay * skill[i]
        contagion = p.engagement_contagion if has_peers[i] else 0.0
        engagement[i] += ((eng_star - engagement[i]) / p.engagement_weeks
                          + contagion * (peer_engagement[i] - engagement[i]))
        felt = p.mood_persistence * mood[i] + (1.0 - p.mood_persistence) * mood_star
        pull = p.mood_contagion if has_peers[i] else 0.0
        mood[i] = felt + pull * (peer_mood[i] - felt)
        burnout[i] += (burn_star - burnout[i]) / p.burnout_weeks
        trust[i] += (trust_star - trust[i]) / p.trust_weeks
        alignment[i] += (align_star - alignment[i]) / p.engagement_weeks
        autonomy[i] += (auto_star - autonomy[i]) / p.trust_weeks
        for state in (skill, engagement, mood, burnout, trust, alignment, autonomy):
            state[i] = min(max(state[i], 0.0), 1.0)


@formula
def absence_chance(params: np.ndarray, burnout: np.ndarray | float,
                   engagement: np.ndarray | float) -> np.ndarray | float:
    """Weekly chance an employee is away: burnout raises it, engagement lowers it.

    Job Demands-Resources: exhaustion predicts absence, engagement fewer absences (Schaufeli,
    Bakker & van Rhenen 2009); across studies engagement and absence correlate about -.17.
    """
    p = params[0]
    log_hazard = (p.absence_w_burnout * (burnout - QUIT_REFERENCE_BURNOUT)
                  - p.absence_w_engagement * (engagement - 0.5))
    return np.minimum(p.absence_base * exp(log_hazard), MAX_WEEKLY_HAZARD)


@jit
def record_absence(packed, u_absent, filled, burnout, engagement, absent, absence_rate):
    """Who is away this week, and each employee's recent absence rate."""
    params = unpack(packed)
    for i in range(len(filled)):
        absent[i] = filled[i] & (u_absent[i] < absence_chance(params, burnout[i], engagement[i]))
        absence_rate[i] += (absent[i] - absence_rate[i]) / ABSENCE_MEMORY_WEEKS


@formula
def quit_chance(params: np.ndarray, engagement: np.ndarray | float, burnout: np.ndarray | float,
                trust: np.ndarray | float) -> np.ndarray | float:
    """Weekly chance an employee quits: low engagement, burnout, distrust, low pay raise it."""
    p = params[0]
    log_hazard = (
        p.quit_w_engagement * (0.5 - engagement)
        + p.quit_w_burnout * (burnout - QUIT_REFERENCE_BURNOUT)
        + p.quit_w_trust * (0.5 - trust)
        - p.quit_w_pay * (p.pay_level - 1.0)
    )
    return np.minimum(p.quit_base * exp(log_hazard), MAX_WEEKLY_HAZARD)
