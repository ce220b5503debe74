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

import numpy as np

from sim.params import Params
from sim.state import ACTIVE, Encounters, Market, Units, Workforce

QUALITY_FROM = {
    "skill": 0.30,
    "engagement": 0.25,
    "resources": 0.15,
    "display": 0.10,
    "process": 0.10,
    "customer_focus": 0.10,
}
WORKLOAD_POINTS = ([1.0, 1.4, 2.0, 3.0], [1.0, 0.71, 0.15, 0.05])


def time_share(params: Params, inducting: np.ndarray) -> np.ndarray:
    """Share of paid time on the floor: less training time, internal matters, induction."""
    internal = params.internal_overhead * (1.0 - params.customer_focus)
    inductee = 1.0 - params.induction_share
    return (1.0 - params.training) * (1.0 - internal) * np.where(inducting, inductee, 1.0)


def visit_chance(params: Params, loyalty: np.ndarray) -> np.ndarray:
    """Weekly chance a customer of this loyalty visits: loyal customers come more often.

    ``visit_rate`` is the rate at loyalty 0.5; ``visit_loyalty_gain`` tilts it around that point.
    """
    gain = params.visit_loyalty_gain
    return np.minimum(params.visit_rate * ((1.0 - 0.5 * gain) + gain * loyalty), 1.0)


def visit_probability(params: Params, market: Market) -> np.ndarray:
    """Weekly chance each market slot visits (active customers only)."""
    return visit_chance(params, market.loyalty) * (market.status == ACTIVE)


def capacity_each(
    params: Params, wf: Workforce, staff: np.ndarray, inducting: np.ndarray
) -> np.ndarray:
    """Encounters each of ``staff`` can handle this week: floor time, and skill speeds work.

    ``capacity_per_employee`` is the capacity at skill 0.5; ``skill_speed`` tilts it around that.
    """
    speed = params.skill_speed
    return (
        params.capacity_per_employee
        * time_share(params, inducting)
        * ((1.0 - 0.5 * speed) + speed * wf.skill[staff])
    )


def pressure_factor(workload: np.ndarray) -> np.ndarray:
    """Share of quality kept under work pressure (the ``WORKLOAD_POINTS`` lookup)."""
    return np.interp(workload, *WORKLOAD_POINTS)


def spend_per_visit(params: Params, loyalty: np.ndarray) -> np.ndarray:
    """Money a served visit brings: loyal customers spend more (Gallup CE3: share of wallet)."""
    return params.spend_per_visit * (1.0 + params.spend_loyalty_premium * (loyalty - 0.5))


def core_quality(params: Params, wf: Workforce, units: Units, staff: np.ndarray) -> np.ndarray:
    """Quality an employee delivers at normal workload with no problem in the visit."""
    eng = wf.engagement[staff]
    felt = params.display_engagement_weight
    display = wf.mood[staff] * ((1.0 - felt) + felt * eng)
    floor = params.standard_quality
    return floor + (1.0 - floor) * (
        QUALITY_FROM["skill"] * wf.skill[staff]
        + QUALITY_FROM["engagement"] * eng
        + QUALITY_FROM["resources"] * params.resources
        + QUALITY_FROM["display"] * display
        + QUALITY_FROM["process"] * units.process_quality[wf.unit[staff]]
        + QUALITY_FROM["customer_focus"] * params.customer_focus
        + wf.aptitude[staff]
    )


def fix_probability(params: Params, wf: Workforce, staff: np.ndarray) -> np.ndarray:
    """Chance the employee solves a customer's problem on the spot: authority, skill, tools."""
    autonomy, skill, tools = (
        params.fix_floor_autonomy, params.fix_floor_skill, params.fix_floor_resources
    )
    return (
        (autonomy + (1.0 - autonomy) * wf.autonomy[staff])
        * (skill + (1.0 - skill) * wf.skill[staff])
        * (tools + (1.0 - tools) * params.resources)
    )


def serve(
    params: Params,
    wf: Workforce,
    units: Units,
    market: Market,
    draws: dict[str, np.ndarray],
    inducting: np.ndarray,
) -> Encounters:
    """This week's encounters; also records each unit's workload and CSAT, moves its norm."""
    n_units = units.n
    visit = draws["visit"] < visit_probability(params, market)
    visitors = np.flatnonzero(visit)
    home = market.unit[visitors]

    staff = np.flatnonzero(wf.filled & ~wf.absent)  # slots are ordered by unit; absent: away
    staff_unit = wf.unit[staff]
    capacity = np.bincount(
        staff_unit, weights=capacity_each(params, wf, staff, inducting[staff]), minlength=n_units
    )
    demand = np.bincount(home, minlength=n_units).astype(np.float64)
    units.workload[:] = np.divide(
        demand, capacity, out=np.full(n_units, WORKLOAD_POINTS[0][-1]), where=capacity > 0
    )

    headcount = np.bincount(staff_unit, minlength=n_units)
    first = np.cumsum(headcount) - headcount
    pick = (draws["assign"][visitors] * headcount[home]).astype(np.int64)
    served = headcount[home] > 0
    # row of the serving employee in ``staff``; row len(staff) is "nobody" (no staff in the unit)
    row = np.where(served, first[home] + np.minimum(pick, headcount[home] - 1), len(staff))
    employee = np.append(staff, -1)[row]

    # each employee's quality and chance to fix a problem, computed once, then per visit;
    # routine service: what the server can give under this week's pressure, pulled toward the
    # unit's norm; a problem in the visit is then fixed (small glow) or not (quality halved)
    quality = np.append(core_quality(params, wf, units, staff), 0.0)[row]
    quality = quality * pressure_factor(units.workload)[home]
    quality = (1.0 - params.norm_weight) * quality + params.norm_weight * units.service_norm[home]
    _move_service_norm(params, units, home[served], quality[served])
    u_problem = draws["problem"][visitors]
    problem = u_problem < params.problem_rate
    # given a problem, u_problem / problem_rate is a fresh uniform: it decides the fix
    fix = np.append(fix_probability(params, wf, staff), 0.0)[row]
    fixed = u_problem < params.problem_rate * fix
    quality = np.where(problem, after_problem(params, quality, fixed), quality)
    noise = draws["quality"][visitors] - 0.5
    quality = np.where(served, np.clip(quality + params.quality_noise * noise, 0.0, 1.0), 0.0)

    expectation = market.expectation[visitors]
    satisfaction = np.clip(
        quality + params.disconfirmation_gain * (quality - expectation), 0.0, 1.0
    )
    visits = np.bincount(home, minlength=n_units)
    total = np.bincount(home, weights=satisfaction, minlength=n_units)
    np.divide(total, visits, out=units.csat, where=visits > 0)
    spend = np.where(served, spend_per_visit(params, market.loyalty[visitors]), 0.0)
    return Encounters(
        customer=visitors,
        employee=employee,
        quality=quality,
        satisfaction=satisfaction,
        spend=spend,
        very_bad=quality < params.bad_encounter_threshold,
    )


def _move_service_norm(
    params: Params, units: Units, home: np.ndarray, quality: np.ndarray
) -> None:
    """Each unit's service norm drifts toward the quality it delivered this week.

    Down fast, up slowly (goal erosion; Oliva & Sterman 2001): a squeeze that lowers delivered
    quality lowers what staff hold as normal, and that norm holds quality down after the squeeze
    ends. At rest the norm equals delivered routine quality, so it sets no level, only timing.
    Practice is the routine service staff set out to give (before a visit's problem and chance
    noise), so that chance alone does not ratchet the norm down.
    """
    visits = np.bincount(home, minlength=units.n)
    total = np.bincount(home, weights=quality, minlength=units.n)
    practice = np.divide(total, visits, out=units.service_norm.copy(), where=visits > 0)
    gap = practice - units.service_norm
    units.service_norm += gap / np.where(
        gap < 0.0, params.norm_erosion_weeks, params.norm_recovery_weeks
    )


def after_problem(params: Params, quality: np.ndarray, fixed: np.ndarray | bool) -> np.ndarray:
    """Quality of a visit that had a problem.

    Solved, it gains a little (service recovery); left unsolved, it keeps only a share.
    """
    return np.where(fixed, quality + params.fixed_problem_bonus,
                    quality * params.unfixed_problem_factor)


def pass_feedback_to_staff(params: Params, wf: Workforce, enc: Encounters) -> None:
    """The satisfaction of the customers each employee served this week lifts (or dents) them."""
    served = enc.employee >= 0
    who = enc.employee[served]
    total = np.bincount(who, weights=enc.satisfaction[served], minlength=wf.n)
    count = np.bincount(who, minlength=wf.n)
    got = count > 0
    wf.feedback[got] += params.feedback_rate * (total[got] / count[got] - wf.feedback[got])
