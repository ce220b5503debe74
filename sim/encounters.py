"""Service encounters: who visits, who serves them, how good the service is, how it lands.

Quality is driven mostly by competence, effort (engagement), tools and process; the employee's
displayed mood adds a smaller part, and a display without engagement behind it counts for less
(Pugh 2001; Hennig-Thurau et al. 2006); people also differ in aptitude, fixed at hire (Schmidt &
Hunter 1998). Under work pressure staff cut corners: quality follows
the Oliva & Sterman (2001) lookup (x1.0 at workload 1.0, x0.71 at 1.4, x0.15 at 2.0), and part of
delivered quality follows the unit's service norm, which erodes toward practice faster than it
recovers (their goal erosion). Some visits
bring a problem; fixing it on the spot needs authority, skill and tools (seed 004). Satisfaction
is performance plus disconfirmation of expectations (Oliver 1980). The satisfaction of the
customers an employee served flows back to that employee (seed 003: the win-win).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from sim.compiled import formula, jit, unpack
from sim.params import Params
from sim.state import ACTIVE, Market, Units, Workforce


class QualityFrom(NamedTuple):
    """Weights of what an employee's service quality is made of (the rest is aptitude)."""

    skill: float
    engagement: float
    resources: float
    display: float
    process: float
    customer_focus: float


QUALITY_FROM = QualityFrom(skill=0.30, engagement=0.25, resources=0.15, display=0.10,
                           process=0.10, customer_focus=0.10)
WORKLOAD_POINTS = ((1.0, 1.4, 2.0, 3.0), (1.0, 0.71, 0.15, 0.05))
_WORKLOAD, _KEPT = (np.array(points) for points in WORKLOAD_POINTS)  # kernels read arrays


@formula
def time_share(params: np.ndarray, inducting: np.ndarray | bool) -> np.ndarray | float:
    """Share of paid time on the floor: less training time, internal matters, induction."""
    p = params[0]
    internal = p.internal_overhead * (1.0 - p.customer_focus)
    return (1.0 - p.training) * (1.0 - internal) * (1.0 - p.induction_share * inducting)


@formula
def visit_chance(params: np.ndarray, loyalty: np.ndarray | float) -> np.ndarray | float:
    """Weekly chance a customer of this loyalty visits: loyal customers come more often.

    ``visit_rate`` is the rate at loyalty 0.5; ``visit_loyalty_gain`` tilts it around that point.
    """
    p = params[0]
    gain = p.visit_loyalty_gain
    return np.minimum(p.visit_rate * ((1.0 - 0.5 * gain) + gain * loyalty), 1.0)


def visit_probability(params: Params, market: Market) -> np.ndarray:
    """Weekly chance each market slot visits (active customers only)."""
    return visit_chance(params, market.loyalty) * (market.status == ACTIVE)


@formula
def capacity_of(params: np.ndarray, skill: np.ndarray | float,
                inducting: np.ndarray | bool) -> np.ndarray | float:
    """Encounters an employee can handle this week: floor time, and skill speeds work.

    ``capacity_per_employee`` is the capacity at skill 0.5; ``skill_speed`` tilts it around that.
    """
    p = params[0]
    speed = p.skill_speed
    return (p.capacity_per_employee * time_share(params, inducting)
            * ((1.0 - 0.5 * speed) + speed * skill))


def capacity_each(
    params: Params, wf: Workforce, staff: np.ndarray, inducting: np.ndarray
) -> np.ndarray:
    """Encounters each of ``staff`` can handle this week (:func:`capacity_of`)."""
    return capacity_of(params, wf.skill[staff], inducting)


@jit
def pressure_factor(workload: np.ndarray) -> np.ndarray:
    """Share of quality kept under work pressure (the ``WORKLOAD_POINTS`` lookup).

    Numba's ``np.interp`` is NumPy's algorithm (the same slopes, the same sums): the same bits.
    """
    return np.interp(workload, _WORKLOAD, _KEPT)


@formula
def spend_per_visit(params: np.ndarray, loyalty: np.ndarray | float) -> np.ndarray | float:
    """Money a served visit brings: loyal customers spend more (Gallup CE3: share of wallet)."""
    p = params[0]
    return p.spend_per_visit * (1.0 + p.spend_loyalty_premium * (loyalty - 0.5))


@formula
def quality_of(params: np.ndarray, skill: np.ndarray | float, engagement: np.ndarray | float,
               mood: np.ndarray | float, process_quality: np.ndarray | float,
               aptitude: np.ndarray | float) -> np.ndarray | float:
    """Quality an employee delivers at normal workload with no problem in the visit."""
    p, w = params[0], QUALITY_FROM
    felt = p.display_engagement_weight
    display = mood * ((1.0 - felt) + felt * engagement)
    floor = p.standard_quality
    return floor + (1.0 - floor) * (
        w.skill * skill + w.engagement * engagement + w.resources * p.resources
        + w.display * display + w.process * process_quality
        + w.customer_focus * p.customer_focus + aptitude
    )


def core_quality(params: Params, wf: Workforce, units: Units, staff: np.ndarray) -> np.ndarray:
    """:func:`quality_of` each of ``staff``."""
    return quality_of(params, wf.skill[staff], wf.engagement[staff], wf.mood[staff],
                      units.process_quality[wf.unit[staff]], wf.aptitude[staff])


@formula
def fix_chance(params: np.ndarray, autonomy: np.ndarray | float,
               skill: np.ndarray | float) -> np.ndarray | float:
    """Chance an employee solves a customer's problem on the spot: authority, skill, tools."""
    p = params[0]
    floor_autonomy, floor_skill, floor_tools = (
        p.fix_floor_autonomy, p.fix_floor_skill, p.fix_floor_resources)
    return ((floor_autonomy + (1.0 - floor_autonomy) * autonomy)
            * (floor_skill + (1.0 - floor_skill) * skill)
            * (floor_tools + (1.0 - floor_tools) * p.resources))


def fix_probability(params: Params, wf: Workforce, staff: np.ndarray) -> np.ndarray:
    """:func:`fix_chance` of each of ``staff``."""
    return fix_chance(params, wf.autonomy[staff], wf.skill[staff])


@jit
def serve(packed, u_visit, u_assign, u_problem, u_quality, unit_of_slot, status, loyalty,
          expectation, first_slot, slot_count, unit, filled, absent, inducting, skill,
          engagement, mood, autonomy, aptitude, process_quality, workload, norm, csat):
    """This week's encounters, as the fields of :class:`Encounters`, in one call.

    Who visits, who is on the floor, then each visit; also records each unit's workload and
    CSAT, and moves its norm.
    """
    params = unpack(packed)
    visitors, demand = _visitors(params, u_visit, loyalty, status, first_slot, slot_count)
    staff, quality, fix, headcount, first = _on_the_floor(
        params, unit, filled, absent, inducting, skill, engagement, mood, autonomy, aptitude,
        process_quality, demand, workload)
    employee, visit_quality, satisfaction, spend, very_bad = _encounters(
        params, visitors, unit_of_slot, expectation, loyalty, u_assign, u_problem, u_quality,
        staff, quality, fix, headcount, first, pressure_factor(workload), norm, csat)
    return visitors, employee, visit_quality, satisfaction, spend, very_bad


@jit
def _on_the_floor(params, unit, filled, absent, inducting, skill, engagement, mood, autonomy,
                  aptitude, process_quality, demand, workload):
    """The staff at work this week, in slot order (so grouped by unit), and their units' load.

    Each one's quality and chance to fix a problem are computed once here, then used per visit.
    Sets each unit's workload (visits over capacity; the top of the lookup with no capacity) and
    returns the staff, their quality and fix chance, and each unit's headcount and first row.
    """
    n_units = len(workload)
    staff = np.empty(len(unit), np.int64)
    quality, fix = np.empty(len(unit)), np.empty(len(unit))
    headcount, capacity = np.zeros(n_units, np.int64), np.zeros(n_units)
    n = 0
    for i in range(len(unit)):
        if filled[i] and not absent[i]:
            u = unit[i]
            staff[n] = i
            quality[n] = quality_of(params, skill[i], engagement[i], mood[i],
                                    process_quality[u], aptitude[i])
            fix[n] = fix_chance(params, autonomy[i], skill[i])
            capacity[u] += capacity_of(params, skill[i], inducting[i])
            headcount[u] += 1
            n += 1
    first = np.empty(n_units, np.int64)
    rows = 0
    for u in range(n_units):
        first[u] = rows
        rows += headcount[u]
        workload[u] = demand[u] / capacity[u] if capacity[u] > 0 else WORKLOAD_POINTS[0][-1]
    return staff[:n], quality[:n], fix[:n], headcount, first


@jit
def _visitors(params, u_visit, loyalty, status, first_slot, slot_count):
    """Who visits this week (market slots, in order) and how many visits each unit has."""
    visitors = np.empty(len(u_visit), np.int64)
    demand = np.empty(len(first_slot))
    n = 0
    for unit in range(len(first_slot)):  # a unit's market slots are contiguous
        before = n
        for slot in range(first_slot[unit], first_slot[unit] + slot_count[unit]):
            # without branches: visits are too random to predict
            visits = ((status[slot] == ACTIVE)
                      & (u_visit[slot] < visit_chance(params, loyalty[slot])))
            visitors[n] = slot
            n += visits
        demand[unit] = n - before
    return visitors[:n], demand


@jit
def _encounters(params, visitors, unit, expectation, loyalty, u_assign, u_problem, u_quality,
                staff, staff_quality, staff_fix, headcount, first, pressure, norm, csat):
    """Each visit in turn: who serves it, the quality given, how it lands, what it brings.

    A visitor is served by an employee of the home unit drawn at random (nobody if the unit has
    no one on the floor). Routine service is what the server gives under this week's pressure,
    pulled toward the unit's norm; a problem in the visit is then fixed (a small glow) or not
    (quality cut); chance varies the rest. Satisfaction adds the disconfirmation of the visitor's
    expectation (Oliver 1980). Then each unit's norm drifts toward the routine quality it served
    (:func:`_drift_norm`) and its CSAT becomes its visits' mean satisfaction.
    """
    p = params[0]
    n, n_units = len(visitors), len(headcount)
    employee = np.empty(n, np.int64)
    quality, satisfaction, spend = np.empty(n), np.empty(n), np.empty(n)
    very_bad = np.empty(n, np.bool_)
    routine_total, routine_visits = np.zeros(n_units), np.zeros(n_units, np.int64)
    satisfaction_total, visits = np.zeros(n_units), np.zeros(n_units, np.int64)
    for i in range(n):
        slot = visitors[i]
        home = unit[slot]
        staffed = headcount[home]
        served = staffed > 0
        q, fix = 0.0, 0.0
        if served:
            row = first[home] + min(np.int64(u_assign[slot] * staffed), staffed - 1)
            employee[i] = staff[row]
            q, fix = staff_quality[row], staff_fix[row]
        else:
            employee[i] = -1
        q = q * pressure[home]
        q = (1.0 - p.norm_weight) * q + p.norm_weight * norm[home]
        if served:
            routine_total[home] += q
            routine_visits[home] += 1
        # given a problem, u / problem_rate is a fresh uniform: it decides the fix
        if u_problem[slot] < p.problem_rate:
            q = after_problem(params, q, u_problem[slot] < p.problem_rate * fix)
        if served:
            q = min(max(q + p.quality_noise * (u_quality[slot] - 0.5), 0.0), 1.0)
            spend[i] = spend_per_visit(params, loyalty[slot])
        else:
            q = 0.0
            spend[i] = 0.0
        judged = q + p.disconfirmation_gain * (q - expectation[slot])
        quality[i], satisfaction[i] = q, min(max(judged, 0.0), 1.0)
        very_bad[i] = q < p.bad_encounter_threshold
        satisfaction_total[home] += satisfaction[i]
        visits[home] += 1
    _drift_norm(params, routine_visits, routine_total, norm)
    for u in range(n_units):  # a unit without visits keeps its CSAT
        if visits[u] > 0:
            csat[u] = satisfaction_total[u] / visits[u]
    return employee, quality, satisfaction, spend, very_bad


@jit
def _drift_norm(params, visits, total, norm):
    """Each unit's service norm drifts toward the routine quality it delivered this week.

    Down fast, up slowly (goal erosion; Oliva & Sterman 2001): a squeeze that lowers delivered
    quality lowers what staff hold as normal, and that norm holds quality down after the squeeze
    ends. At rest the norm equals delivered routine quality, so it sets no level, only timing.
    Practice is the routine service staff set out to give (``total`` over ``visits`` served,
    before a visit's problem and chance noise), so that chance alone does not ratchet the norm
    down.
    """
    p = params[0]
    for u in range(len(norm)):
        practice = total[u] / visits[u] if visits[u] > 0 else norm[u]
        gap = practice - norm[u]
        norm[u] += gap / (p.norm_erosion_weeks if gap < 0.0 else p.norm_recovery_weeks)


@formula
def after_problem(params: np.ndarray, quality: np.ndarray | float,
                  fixed: bool) -> np.ndarray | float:
    """Quality of a visit that had a problem.

    Solved, it gains a little (service recovery); left unsolved, it keeps only a share.
    """
    p = params[0]
    return quality + p.fixed_problem_bonus if fixed else quality * p.unfixed_problem_factor


@jit
def pass_feedback_to_staff(packed, employee, satisfaction, feedback):
    """The satisfaction of the customers each employee served this week lifts (or dents) them.

    Each server's feedback moves toward the mean satisfaction of the visits they served.
    """
    params = unpack(packed)
    total, count = np.zeros(len(feedback)), np.zeros(len(feedback), np.int64)
    for i in range(len(employee)):
        if employee[i] >= 0:
            total[employee[i]] += satisfaction[i]
            count[employee[i]] += 1
    rate = params[0].feedback_rate
    for e in range(len(feedback)):
        if count[e] > 0:
            feedback[e] += rate * (total[e] / count[e] - feedback[e])
