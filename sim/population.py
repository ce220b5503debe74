"""Initialisation: business units, managers, frontline positions and the local markets.

Steady-state start. A run should begin where the model would settle under its initial policies,
otherwise the first months show a start-up drift that looks like a policy effect. Three things
used to drift: (1) who is on staff - people with low engagement quit more, so the staff present
in a steady state are a selected group, not fresh draws from the hiring pool; (2) customers'
expectations, which adapt toward the quality they get; (3) slow unit stocks (process quality,
manager engagement, customer feedback). The initialisation therefore

* draws each starting employee from the hiring pool weighted by expected time in the job: in a
  steady state the stock of people with traits x is the inflow of x times their mean stay, i.e.
  proportional to pool density / quit hazard (Little's law per type). ``SELECTION_CANDIDATES``
  candidates are drawn per position and one is kept with probability proportional to
  1 / quit_chance at the settled engagement;
* sets each unit's process quality, manager engagement, feedback and CSAT to the fixed point of
  their weekly update given the settled team (a few fixed-point sweeps, no simulated weeks);
* centres customers' expectations and satisfaction on the unit's expected service quality.

It costs a few vectorised passes over the staff (well under a millisecond at the default size).
"""

from __future__ import annotations

import numpy as np

from sim import customers, encounters, leadership, workforce
from sim.elementary import exp
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
from sim.turnover import hire_fit, staff_plan, starting_skill

# First guesses, not coefficients: the starting values of the fixed point and of the settling
# that follow (section 5 of the ODD); at rest the settled organisation does not depend on them.
UNIT_FIRST_GUESS = {"manager_engagement": 0.67, "process_quality": 0.4, "csat": 0.7,
                    "service_norm": 0.7}
STAFF_FIRST_GUESS = {"engagement": 0.5, "trust": 0.5, "burnout": 0.15, "mood": 0.75,
                     "alignment": 0.5, "autonomy": 0.5, "feedback": 0.75}
# Starting staff: tenure ~ min(Exp(mean), max); skill grows from the hire's toward the
# experienced level with tenure (time constant experience_weeks).
STARTING_STAFF = {"tenure_mean_weeks": 100.0, "tenure_max_weeks": 520.0,
                  "experience_weeks": 40.0, "experienced_skill": 0.8}
# Starting customers: width of the uniform spread around the unit's centre; tenure up to 5 years.
MARKET_START_SPREAD = {"expectation": 0.2, "satisfaction": 0.4, "loyalty": 0.2}
STARTING_CUSTOMER_TENURE_WEEKS = 260


def largest_remainder(shares: np.ndarray, total: int, minimum: int = 0) -> np.ndarray:
    """Split ``total`` into integers proportional to ``shares``, each at least ``minimum``."""
    spare = total - minimum * len(shares)
    raw = shares / shares.sum() * spare
    counts = np.floor(raw).astype(np.int64)
    order = np.argsort(-(raw - counts), kind="stable")
    counts[order[: spare - counts.sum()]] += 1
    return counts + minimum


def build_units(params: Params, streams: Streams) -> Units:
    """Units that differ persistently: market size, staffing for it, local competition, manager.

    Headcount follows each unit's market only roughly (``staffing_spread``: some units are
    staffed thinly for their demand for years, others generously), and local competitors set
    different service levels (``competition_spread`` around ``market_expectation``).
    """
    n = params.n_units
    rng = streams.generator("init.units")
    share = rng.lognormal(0.0, params.market_size_spread, n)
    share /= share.sum()
    local = streams.generator("init.local")  # persistent local conditions of each unit
    staffing = local.lognormal(0.0, params.staffing_spread, n)
    competition = local.normal(0.0, params.competition_spread, n)
    planned = largest_remainder(share * staffing, params.n_employees, minimum=1)
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
        manager_engagement=np.clip(
            UNIT_FIRST_GUESS["manager_engagement"] + offsets.mean(axis=0), 0.0, 1.0
        ),
        process_quality=np.full(n, UNIT_FIRST_GUESS["process_quality"]),
        csat=np.full(n, UNIT_FIRST_GUESS["csat"]),
        workload=np.ones(n),
        service_norm=np.full(n, UNIT_FIRST_GUESS["service_norm"]),
        local_expectation=np.clip(params.market_expectation + competition, 0.0, 1.0),
    )


def build_workforce(units: Units, params: Params, streams: Streams) -> Workforce:
    """Positions per unit, filled up to the budget with employees of varied tenure."""
    unit = np.repeat(np.arange(units.n), units.position_count)
    rank = np.arange(len(unit)) - units.position_start[unit]
    filled = rank < staff_plan(params, units)[unit]
    n = len(unit)
    rng = streams.generator("init.employees")
    u_fit, u_skill = rng.random((2, n))
    tenure = np.minimum(
        rng.exponential(STARTING_STAFF["tenure_mean_weeks"], n), STARTING_STAFF["tenure_max_weeks"]
    ).astype(np.int64)
    fit = hire_fit(params, u_fit)
    skill0 = starting_skill(params, fit, u_skill)
    experience = 1.0 - exp(-tenure / STARTING_STAFF["experience_weeks"])
    guess = STAFF_FIRST_GUESS
    wf = Workforce(
        unit=unit,
        rank=rank,
        filled=filled,
        ti_hire=np.full(n, -1, dtype=np.int64),
        engagement=np.full(n, guess["engagement"]),
        trust=np.full(n, guess["trust"]),
        skill=_experienced(skill0, experience),
        burnout=np.full(n, guess["burnout"]),
        mood=np.full(n, guess["mood"]),
        alignment=np.full(n, guess["alignment"]),
        autonomy=np.full(n, guess["autonomy"]),
        fit=fit,
        disposition=rng.normal(0.0, params.disposition_sd, n),
        aptitude=streams.generator("init.aptitude").normal(0.0, params.aptitude_sd, n),
        feedback=np.full(n, guess["feedback"]),
        tenure=np.where(filled, tenure, 0),
        absent=np.zeros(n, dtype=bool),
        absence_rate=np.zeros(n),
    )
    _select_stayers(params, units, wf, streams, experience)
    _settle_units(params, units, wf)
    return wf


def _experienced(skill0: np.ndarray, experience: np.ndarray) -> np.ndarray:
    """Skill of a starting employee: the hire's skill moved toward the experienced level."""
    return np.clip(
        skill0 + (STARTING_STAFF["experienced_skill"] - skill0) * experience, 0.0, 1.0
    )


def build_market(units: Units, params: Params, streams: Streams) -> Market:
    """Each unit's local market: active customers and prospects, with varied satisfaction."""
    n = int(units.customer_count.sum())
    unit = np.repeat(np.arange(units.n), units.customer_count).astype(np.int32)
    rng = streams.generator("init.customers")
    u_active, u_exp, u_sat, u_loy, u_ten = rng.random((5, n))
    status = np.where(u_active < params.initial_active_share, ACTIVE, PROSPECT).astype(np.int8)
    centre = units.csat[unit]  # the unit's steady-state service quality (see _settle_units)
    taste = streams.generator("init.taste").normal(0.0, params.taste_spread, n)
    spread = MARKET_START_SPREAD
    satisfaction = np.clip(
        centre - params.disconfirmation_gain * taste + spread["satisfaction"] * (u_sat - 0.5),
        0.0,
        1.0,
    )
    pull = customers.loyalty_pull_of(params, satisfaction)
    loyalty = np.clip(pull + spread["loyalty"] * (u_loy - 0.5), 0.0, 1.0)
    return Market(
        unit=unit,
        status=status,
        expectation=np.clip(centre + taste + spread["expectation"] * (u_exp - 0.5), 0.0, 1.0),
        taste=taste,
        satisfaction=satisfaction,
        loyalty=loyalty,
        loyalty_pull=pull,
        tenure=np.where(
            status == ACTIVE, (u_ten * STARTING_CUSTOMER_TENURE_WEEKS).astype(np.int32), 0
        ).astype(np.int32),
        referred=np.zeros(n, dtype=bool),
        last_employee=np.full(n, -1, dtype=np.int32),
    )


SELECTION_CANDIDATES = 8   # hiring-pool candidates drawn per starting position
FIXED_POINT_SWEEPS = 4     # sweeps of the unit-level fixed point (converges in 2-3)


def _select_stayers(params: Params, units: Units, wf: Workforce, streams: Streams,
                    experience: np.ndarray) -> None:
    """Replace fresh hiring-pool draws by the selected mix a steady-state workforce holds.

    For each position, ``SELECTION_CANDIDATES`` (fit, disposition, skill) triples are drawn
    from the hiring pool; one is kept with probability proportional to its expected stay,
    1 / weekly quit probability at the engagement it would settle at.
    """
    rng = streams.generator("init.selection")
    k, n = SELECTION_CANDIDATES, wf.n
    u_fit, u_skill = rng.random((2, k, n))
    disposition = rng.normal(0.0, params.disposition_sd, (k, n))
    u_pick = rng.random(n)
    fit = hire_fit(params, u_fit.ravel()).reshape(u_fit.shape)
    lead = leadership.behaviour(params, units)
    team = workforce.team_size(wf, units.n)
    stay = np.empty((k, n))
    for j in range(k):
        wf.fit[:] = fit[j]
        wf.disposition[:] = disposition[j]
        workforce.settle(params, wf, lead, units, team)
        stay[j] = 1.0 / workforce.quit_chance(params, wf.engagement, wf.burnout, wf.trust)
    cumulative = np.cumsum(stay / stay.sum(axis=0), axis=0)
    pick = np.minimum((cumulative < u_pick).sum(axis=0), k - 1)
    cols = np.arange(n)
    wf.fit[:] = fit[pick, cols]
    wf.disposition[:] = disposition[pick, cols]
    skill0 = starting_skill(params, wf.fit, u_skill[pick, cols])
    wf.skill[:] = _experienced(skill0, experience)


def _settle_units(params: Params, units: Units, wf: Workforce) -> None:
    """Start unit stocks and staff feedback at the fixed point of their weekly updates.

    Steady state of each update (see the modules named): process quality
    ``pq = ideas / (ideas + process_decay_share)`` (leadership); manager engagement at its target
    (leadership); CSAT = expected encounter quality when expectations equal experience
    (encounters, customers); staff feedback = their unit's CSAT and mood at its target
    (encounters, workforce); workload = expected visits / capacity and the service norm = routine
    quality under that workload (encounters).
    """
    team = workforce.team_size(wf, units.n)
    on = wf.filled
    staff = np.flatnonzero(on)
    no_induction = np.zeros(len(staff), dtype=bool)
    capacity = np.bincount(wf.unit[staff],
                           weights=encounters.capacity_each(params, wf, staff, no_induction),
                           minlength=units.n)
    for _ in range(FIXED_POINT_SWEEPS):
        lead = leadership.behaviour(params, units)
        workforce.settle(params, wf, lead, units, team)
        per_unit = np.maximum(team, 1.0)
        team_eng = np.bincount(wf.unit, wf.engagement * on, units.n) / per_unit
        team_trust = np.bincount(wf.unit, wf.trust * on, units.n) / per_unit
        ideas = leadership.voiced_ideas(params, team_trust, team_eng)
        units.process_quality[:] = leadership.process_quality_at_rest(params, ideas)
        q = encounters.core_quality(params, wf, units, staff)
        routine = np.bincount(wf.unit[staff], weights=q, minlength=units.n) / per_unit
        fix = encounters.fix_probability(params, wf, staff)
        with_problem = (fix * encounters.after_problem(params, q, True)
                        + (1.0 - fix) * encounters.after_problem(params, q, False))
        q = (1.0 - params.problem_rate) * q + params.problem_rate * with_problem
        quality = np.bincount(wf.unit[staff], weights=q, minlength=units.n) / per_unit
        loyalty = customers.loyalty_pull_of(params, quality)
        visits = (units.customer_count * params.initial_active_share
                  * encounters.visit_chance(params, loyalty))
        units.workload[:] = np.divide(visits, capacity, out=np.ones(units.n), where=capacity > 0)
        pressure = encounters.pressure_factor(units.workload)
        units.csat[:] = np.clip(quality * pressure, 0.0, 1.0)
        units.manager_engagement[:] = leadership.manager_engagement_target(team_eng, units.csat)
        # the norm equals routine quality delivered under the workload (encounters)
        units.service_norm[:] = routine * pressure
        wf.feedback[:] = units.csat[wf.unit]
        wf.mood[:] = workforce.mood_target(params, wf.feedback, wf.engagement, wf.burnout)
