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

import numpy as np
import scipy.sparse as sp

from sim.compiled import formula, jit
from sim.elementary import exp, logistic
from sim.leadership import Leadership
from sim.params import Params
from sim.state import Units, Workforce

# Composite indices: relative weights inside each index (the index's strength is a parameter).
TRUST_FROM = {"fairness": 0.55, "surveys": 0.2, "voice": 0.15, "autonomy_respected": 0.1}
ALIGNMENT_FROM = {"communication": 0.5, "customer_focus": 0.5}
HINDRANCE_FROM = {"control": 0.5, "missing_resources": 0.5}
# Mood target: a base plus weights that sum to 1 with it (mood 1 at the best of all three).
MOOD_FROM = {"base": 0.25, "feedback": 0.35, "engagement": 0.2, "no_burnout": 0.2}
QUIT_REFERENCE_BURNOUT = 0.2
# Weekly quit and absence chances never exceed this: a bound on the exponential hazards, not a
# calibrated coefficient (no one's weekly chance of leaving is above a coin flip).
MAX_WEEKLY_HAZARD = 0.5
ABSENCE_MEMORY_WEEKS = 52  # window of an employee's recorded absence rate
SETTLE_SWEEPS = 8  # fixed-point sweeps for the starting balance of own and peers' engagement


def peer_means(
    adjacency: sp.csr_matrix, present: np.ndarray, *values: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Means of each of ``values`` over each node's present neighbours, and whether it has any.

    One sparse product serves every array of ``values`` (a row of the result each).
    """
    weights = present.astype(np.float64)
    stacked = adjacency @ np.column_stack([*(v * weights for v in values), weights])
    count = stacked[:, -1]
    has_peers = count > 0
    means = np.divide(stacked[:, :-1].T, count, out=np.zeros((len(values), len(count))),
                      where=has_peers)
    return means, has_peers


def peer_mean(
    adjacency: sp.csr_matrix, values: np.ndarray, present: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Mean of ``values`` over each node's present neighbours, and whether it has any."""
    means, has_peers = peer_means(adjacency, present, values)
    return means[0], has_peers


def mentoring_received(params: Params, lead: Leadership, team_size: np.ndarray) -> np.ndarray:
    """Mentoring per employee of each unit: the manager's support diluted by a wide span."""
    return lead.support * np.minimum(1.0, params.mentoring_span / np.maximum(team_size, 1.0))


def trust_target(params: Params, lead: Leadership) -> np.ndarray:
    """Trust a unit's staff come to place in their manager (per unit)."""
    return (
        TRUST_FROM["fairness"] * lead.fairness
        + TRUST_FROM["surveys"] * params.surveys_acted_upon
        + TRUST_FROM["voice"] * params.voice_climate
        + TRUST_FROM["autonomy_respected"] * (1.0 - lead.control)
    )


def alignment_target(
    params: Params, lead: Leadership, fit: np.ndarray, unit: np.ndarray
) -> np.ndarray:
    """Goal alignment: knowing the why (manager's communication, external focus) and fitting it."""
    why = (
        ALIGNMENT_FROM["communication"] * lead.communication
        + ALIGNMENT_FROM["customer_focus"] * params.customer_focus
    )
    return np.sqrt(fit) * why[unit]


def autonomy_target(params: Params, lead: Leadership) -> np.ndarray:
    """Latitude to act: empowerment granted, minus what micromanagement takes back (per unit)."""
    return params.empowerment * (1.0 - lead.control)


def burnout_target(
    params: Params, wf: Workforce, lead: Leadership, workload: np.ndarray
) -> np.ndarray:
    """Exhaustion the job's demands would settle at: overload, hindrances, customer strain."""
    overload = np.maximum(workload - 1.0, 0.0)[wf.unit]
    hindrance = (
        HINDRANCE_FROM["control"] * lead.control
        + HINDRANCE_FROM["missing_resources"] * (1.0 - params.resources)
    )[wf.unit]
    strain = 1.0 - wf.feedback
    return np.clip(
        params.burnout_base
        + params.burnout_overload * overload
        + params.burnout_hindrance * hindrance
        + params.burnout_customer_strain * strain,
        0.0,
        1.0,
    )


def engagement_terms(
    params: Params, wf: Workforce, lead: Leadership, units: Units, mentoring: np.ndarray
) -> dict[str, np.ndarray | float]:
    """Each driver's additive term in the engagement logit, in the order they are summed.

    One definition serves the weekly step (:func:`engagement_target`) and the page's exact
    attribution of an engagement change to its drivers.
    """
    u = wf.unit
    return {
        "intercept": params.engagement_intercept,
        "trust": params.eng_w_trust * wf.trust,
        "resources": params.eng_w_resources * params.resources,
        "alignment": params.eng_w_alignment * wf.alignment,
        "recognition": params.eng_w_recognition * lead.recognition[u],
        "rewards": params.eng_w_rewards * params.rewards * units.csat[u],
        "mentoring": params.eng_w_mentoring * mentoring[u],
        "autonomy": params.eng_w_autonomy * wf.autonomy,
        "voice": params.eng_w_voice * params.voice_climate,
        "surveys": params.eng_w_surveys * params.surveys_acted_upon,
        "customer_feedback": params.eng_w_customer_feedback * wf.feedback,
        "fit": params.eng_w_fit * (wf.fit - 0.5),
        "pay": params.eng_w_pay * (params.pay_level - 1.0),
        "mood": params.eng_w_mood * (wf.mood - 0.5),
        "burnout": -(params.eng_w_burnout * wf.burnout),
        "disposition": wf.disposition,
    }


def engagement_target(
    params: Params, wf: Workforce, lead: Leadership, units: Units, mentoring: np.ndarray
) -> np.ndarray:
    """Engagement each employee's situation would settle at (logistic in job resources)."""
    z: np.ndarray | float = 0.0
    for term in engagement_terms(params, wf, lead, units, mentoring).values():
        z = z + term
    return logistic(z)


def mood_target(wf: Workforce) -> np.ndarray:
    """Mood each employee drifts to: served customers' satisfaction, engagement, no burnout."""
    return np.clip(
        MOOD_FROM["base"]
        + MOOD_FROM["feedback"] * wf.feedback
        + MOOD_FROM["engagement"] * wf.engagement
        + MOOD_FROM["no_burnout"] * (1.0 - wf.burnout),
        0.0,
        1.0,
    )


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
    wf.trust[:] = trust_target(params, lead)[wf.unit]
    wf.alignment[:] = alignment_target(params, lead, wf.fit, wf.unit)
    wf.autonomy[:] = autonomy_target(params, lead)[wf.unit]
    wf.burnout[:] = burnout_target(params, wf, lead, units.workload)
    own = engagement_target(params, wf, lead, units, mentoring_received(params, lead, team_size))
    wf.engagement[:] = own
    if peers is None:
        return
    pull = 1.0 / params.engagement_weeks
    for _ in range(SETTLE_SWEEPS):
        peer, has_peers = peer_mean(peers, wf.engagement, wf.filled)
        c = np.where(has_peers, params.engagement_contagion, 0.0)
        wf.engagement[:] = (pull * own + c * peer) / (pull + c)


def update(
    params: Params,
    wf: Workforce,
    lead: Leadership,
    units: Units,
    team_size: np.ndarray,
    inducting: np.ndarray,
    peers: sp.csr_matrix,
) -> None:
    """One week of every employee's psychology and skill (all positions at once)."""
    mentoring = mentoring_received(params, lead, team_size)
    eng_star = engagement_target(params, wf, lead, units, mentoring)
    burn_star = burnout_target(params, wf, lead, units.workload)
    trust_star = trust_target(params, lead)[wf.unit]
    align_star = alignment_target(params, lead, wf.fit, wf.unit)
    auto_star = autonomy_target(params, lead)[wf.unit]
    mood_star = mood_target(wf)
    (peer_engagement, peer_mood), has_peers = peer_means(peers, wf.filled, wf.engagement, wf.mood)

    _follow_targets(
        params.record, wf.skill, wf.engagement, wf.mood, wf.burnout, wf.trust, wf.alignment,
        wf.autonomy, eng_star, burn_star, trust_star, align_star, auto_star, mood_star,
        peer_engagement, peer_mood, has_peers, mentoring[wf.unit], inducting,
    )


@jit
def _follow_targets(params, skill, engagement, mood, burnout, trust, alignment, autonomy,
                    eng_star, burn_star, trust_star, align_star, auto_star, mood_star,
                    peer_engagement, peer_mood, has_peers, mentoring, inducting):
    """Each employee's week: skill is learned, and every state moves toward its target.

    Learning comes from experience, training, mentoring and induction, faster when engaged and
    slower when burnt out; skill decays without it. Engagement and mood also move toward the
    peers' (contagion). Every state stays within 0-1.
    """
    p = params[0]
    for i in range(len(skill)):
        learning = (p.learn_experience + p.learn_training * p.training
                    + p.learn_mentoring * mentoring[i] + p.learn_induction * inducting[i])
        learning = (learning * (p.learning_engagement_base + engagement[i])
                    * (1.0 - p.learning_burnout_loss * burnout[i]))
        skill[i] += learning * (1.0 - skill[i]) - p.skill_decay * skill[i]
        contagion = p.engagement_contagion if has_peers[i] else 0.0
        engagement[i] += ((eng_star[i] - engagement[i]) / p.engagement_weeks
                          + contagion * (peer_engagement[i] - engagement[i]))
        felt = p.mood_persistence * mood[i] + (1.0 - p.mood_persistence) * mood_star[i]
        pull = p.mood_contagion if has_peers[i] else 0.0
        mood[i] = felt + pull * (peer_mood[i] - felt)
        burnout[i] += (burn_star[i] - burnout[i]) / p.burnout_weeks
        trust[i] += (trust_star[i] - trust[i]) / p.trust_weeks
        alignment[i] += (align_star[i] - alignment[i]) / p.engagement_weeks
        autonomy[i] += (auto_star[i] - autonomy[i]) / p.trust_weeks
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


def record_absence(params: Params, wf: Workforce, u_absent: np.ndarray) -> None:
    """Who is away this week, and each employee's recent absence rate."""
    _record_absence(params.record, u_absent, wf.filled, wf.burnout, wf.engagement, wf.absent,
                    wf.absence_rate)


@jit
def _record_absence(params, u_absent, filled, burnout, engagement, absent, absence_rate):
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
