"""One week of the organisation, over whole populations: the order of a week, written once.

1. leadership - managers' effective behaviour from traits, levers and their own engagement;
                absence - who is away this week (burnout raises it, engagement lowers it)
2. encounters - customers visit, are served by an employee of their unit, judge the quality
3. feedback   - the satisfaction of the customers served reaches the employees who served them
4. customers  - satisfaction, expectations and loyalty update; word of mouth; churn; referrals
5. workforce  - trust, alignment, autonomy, burnout, mood, skill, engagement; peer contagion
6. managers   - managers' engagement follows their team; voiced ideas improve service processes
7. turnover   - quits open vacancies; pending hires arrive; new vacancies start hiring
8. finance    - revenue from spend, costs of people and policies, profit
9. sums       - the week's counts and sums per unit, which its KPIs are made of (sim.metrics)

The same function advances the settling of today's organisation (:mod:`sim.start`) and every
week of a run (:class:`sim.model.ServiceModel`), so the start is settled by the model's own
mechanisms, not by a second copy of their formulas. Randomness comes from
:class:`sim.rng.Streams`: one block of draws per population and week, one row per decision.

The mechanisms work elementwise, or sum per unit or per person in slot order; none sums over a
whole population (their per-element chains run as compiled kernels of :mod:`sim.compiled`).
That is what lets :mod:`sim.batch` step several runs laid end to end in one organisation, each
bit-identical to its run alone (``tests/test_batch.py`` holds them to it).

At default size a call's fixed cost rivals its work, so the week is four compiled calls after
its draws: everything up to the customers' own updates (:func:`_meet`), the customers' updates
(two, over the market's slots: a large market splits each between two threads), then the rest
(:func:`_close`). Word of mouth runs in the first, before visitors absorb their encounters: it
reads only the week's encounters and draws, which they do not change.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from sim import customers, encounters, finance, leadership, metrics, turnover, workforce
from sim.compiled import jit, unpack
from sim.customers import CustomerFlows
from sim.finance import Ledger
from sim.leadership import Leadership
from sim.params import Params
from sim.rng import Streams
from sim.state import ACTIVE, Encounters, Market, Units, Workforce
from sim.turnover import StaffFlows

# The weekly random decisions, one row of uniforms per slot each (see sim.rng), and their rows.
MARKET_DECISIONS = ("visit", "assign", "problem", "quality", "talk", "fate")
_VISIT, _ASSIGN, _PROBLEM, _QUALITY, _TALK, _FATE = range(len(MARKET_DECISIONS))
STAFF_DECISIONS = (
    "quit", "hiring_lag", "hire_fit", "hire_skill", "hire_disposition", "absent", "hire_aptitude"
)
_QUIT, _HIRING_LAG, _HIRE_FIT, _HIRE_SKILL, _HIRE_DISPOSITION, _ABSENT, _HIRE_APTITUDE = range(
    len(STAFF_DECISIONS))


@dataclass
class Organisation:
    """Everything that persists from week to week: people, markets and their networks."""

    units: Units
    workforce: Workforce
    market: Market
    peers: sp.csr_matrix  # employees' peer ties, a sparse adjacency (networkx: the model's view)
    contacts: sp.csr_matrix  # customers' word-of-mouth ties

    def headcounts(self) -> tuple[int, int]:
        """Employees in post and active customers (a week's flows are rated against these)."""
        return _headcounts(self.workforce.filled, self.market.status)

    def team_size(self) -> np.ndarray:
        """Employees in post per unit."""
        return workforce.team_size(self.workforce, self.units.n)


@jit
def _headcounts(filled, status):
    active = 0
    for c in range(len(status)):
        active += status[c] == ACTIVE
    return np.count_nonzero(filled), active


@dataclass
class Week:
    """What happened in one week: the encounters and every flow of people and money."""

    leadership: Leadership
    encounters: Encounters
    customers: CustomerFlows
    staff: StaffFlows
    ledger: Ledger
    staff_before: int  # employees at the start of the week
    active_before: int  # active customers at the start of the week
    sums: np.ndarray  # the week's sums per unit, a row each (sim.metrics.UNIT_SUMS)
    table: np.ndarray  # the week's unit table, a row per unit (sim.metrics.UNIT_COLUMNS)


def run_week(
    org: Organisation, params: Params, streams: Streams, week: int, stream: str = ""
) -> Week:
    """Advance ``org`` by one week under ``params``; ``stream`` prefixes the random streams."""
    units, wf, market, packed = org.units, org.workforce, org.market, params.packed
    market_draws = streams.uniforms(f"{stream}market", week, MARKET_DECISIONS, market.n)
    staff_draws = streams.uniforms(f"{stream}staff", week, STAFF_DECISIONS, wf.n)
    (staff_before, active_before, lead, inducting, visits, good, bad, very_bad) = _meet(
        packed, market_draws, staff_draws, org.contacts.indptr, org.contacts.indices,
        units.trait_offset, units.manager_engagement, units.customer_start,
        units.customer_count, units.process_quality, units.workload, units.service_norm,
        units.csat, wf.unit, wf.filled, wf.tenure, wf.absent, wf.absence_rate, wf.burnout,
        wf.engagement, wf.skill, wf.mood, wf.autonomy, wf.aptitude, wf.feedback, market.unit,
        market.status, market.loyalty, market.expectation)
    enc = Encounters(*visits)
    customers.absorb_encounters(params, market, units, enc)
    customer_flows = customers.churn_and_grow(params, market, units, market_draws[_FATE],
                                              good, bad, very_bad)
    quits, hires, ledger, sums, table = _close(
        packed, week, staff_draws, org.peers.indptr, org.peers.indices, org.peers.data, lead,
        inducting, visits, customer_flows.churned, customer_flows.churned_after_bad,
        customer_flows.acquired, customer_flows.referred, units.planned_staff, units.csat,
        units.workload, units.manager_engagement, units.process_quality, units.customer_start,
        units.customer_count, wf.unit, wf.rank, wf.filled, wf.ti_hire, wf.tenure, wf.absent,
        wf.absence_rate, wf.fit, wf.feedback, wf.disposition, wf.aptitude, wf.skill,
        wf.engagement, wf.mood, wf.burnout, wf.trust, wf.alignment, wf.autonomy, market.unit,
        market.status, market.loyalty, market.satisfaction)
    return Week(Leadership(*lead), enc, customer_flows, StaffFlows(quits=quits, hires=hires),
                Ledger(*ledger), staff_before, active_before, sums, table)


@jit
def _meet(packed, market_draws, staff_draws, first_contact, contact, trait_offset,
          manager_engagement, first_slot, slot_count, process_quality, workload, norm, csat,
          unit, filled, tenure, absent, absence_rate, burnout, engagement, skill, mood,
          autonomy, aptitude, feedback, unit_of_slot, status, loyalty, expectation):
    """The week up to the market's own updates: behaviour, absence, visits, feedback, talk."""
    params = unpack(packed)
    staff_before, active_before = _headcounts(filled, status)
    lead = leadership.behaviour_rows(packed, trait_offset, manager_engagement)
    inducting = filled & (tenure < params[0].induction_weeks)
    workforce.record_absence(packed, staff_draws[_ABSENT], filled, burnout, engagement, absent,
                             absence_rate)
    visits = encounters.serve(
        packed, market_draws[_VISIT], market_draws[_ASSIGN], market_draws[_PROBLEM],
        market_draws[_QUALITY], unit_of_slot, status, loyalty, expectation, first_slot,
        slot_count, unit, filled, absent, inducting, skill, engagement, mood, autonomy,
        aptitude, process_quality, workload, norm, csat)
    visitors, employee, _, satisfaction, _, very_bad_visit = visits
    encounters.pass_feedback_to_staff(packed, employee, satisfaction, feedback)
    good, bad = customers.word_of_mouth(packed, visitors, satisfaction, market_draws[_TALK],
                                        first_contact, contact, len(status))
    very_bad = np.zeros(len(status), np.bool_)
    for i in range(len(visitors)):
        if very_bad_visit[i]:
            very_bad[visitors[i]] = True
    return staff_before, active_before, lead, inducting, visits, good, bad, very_bad


@jit
def _close(packed, week, staff_draws, indptr, indices, ties, lead, inducting, visits, churned,
           churned_after_bad, acquired, referred, planned_staff, csat, workload,
           manager_engagement, process_quality, first_slot, slot_count, unit, rank, filled,
           ti_hire, tenure, absent, absence_rate, fit, feedback, disposition, aptitude, skill,
           engagement, mood, burnout, trust, alignment, autonomy, unit_of_slot, status, loyalty,
           satisfaction):
    """The rest of the week: staff psychology, managers, quits and hires, the ledger.

    Then the week's sums per unit, which its KPIs are made of (:mod:`sim.metrics`).
    """
    team = workforce.employees_per_unit(unit, filled, len(csat))
    workforce.update(packed, indptr, indices, ties, unit, filled, fit, feedback, disposition,
                     inducting, skill, engagement, mood, burnout, trust, alignment, autonomy,
                     lead[0], lead[1], lead[2], lead[3], lead[4], csat, workload, team)
    leadership.update_managers(packed, unit, filled, engagement, trust, team, csat,
                               manager_engagement, process_quality)
    quits = turnover.quit_jobs(packed, staff_draws[_QUIT], filled, engagement, burnout, trust,
                               tenure)
    hires = turnover.hire(
        packed, week, planned_staff, unit, rank, staff_draws[_HIRE_FIT], staff_draws[_HIRE_SKILL],
        staff_draws[_HIRE_DISPOSITION], staff_draws[_HIRE_APTITUDE], staff_draws[_HIRING_LAG],
        filled, ti_hire, tenure, absence_rate, fit, skill, disposition, aptitude, engagement,
        alignment, trust, burnout, mood, feedback)
    visitors, _, visit_quality, visit_satisfaction, spend, very_bad = visits
    ledger = finance.book(packed, unit_of_slot, visitors, spend, unit, filled, inducting, hires,
                          csat, slot_count)
    sums, table = metrics.unit_sums(
        packed, planned_staff, unit, rank, filled, absent, engagement, trust, burnout, skill,
        mood, alignment, autonomy, feedback, first_slot, slot_count, status, loyalty,
        satisfaction, unit_of_slot, visitors, visit_quality, visit_satisfaction, very_bad,
        quits, hires, churned, churned_after_bad, acquired, referred, ledger,
        manager_engagement, process_quality, workload, csat)
    return quits, hires, ledger, sums, table
