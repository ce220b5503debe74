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

The same function advances the settling of today's organisation (:mod:`sim.start`) and every
week of a run (:class:`sim.model.ServiceModel`), so the start is settled by the model's own
mechanisms, not by a second copy of their formulas. Randomness comes from
:class:`sim.rng.Streams`: one block of draws per population and week, one row per decision.

The mechanisms work elementwise, or sum per unit or per person in slot order; none sums over a
whole population (their per-element chains run as NumPy calls or as compiled kernels of
:mod:`sim.compiled`, with the same bits). That is what lets :mod:`sim.batch` step several runs
laid end to end in one organisation, each bit-identical to its run alone
(``tests/test_batch.py`` holds them to it).
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx
import numpy as np
import scipy.sparse as sp

from sim import customers, encounters, finance, leadership, turnover, workforce
from sim.compiled import jit
from sim.customers import CustomerFlows
from sim.finance import Ledger
from sim.leadership import Leadership
from sim.params import Params
from sim.rng import Streams
from sim.state import ACTIVE, Encounters, Market, Units, Workforce
from sim.turnover import StaffFlows

# The weekly random decisions, one row of uniforms per slot each (see sim.rng).
MARKET_DECISIONS = ("visit", "assign", "problem", "quality", "talk", "fate")
STAFF_DECISIONS = (
    "quit", "hiring_lag", "hire_fit", "hire_skill", "hire_disposition", "absent", "hire_aptitude"
)


@dataclass
class Organisation:
    """Everything that persists from week to week: people, markets and their networks."""

    units: Units
    workforce: Workforce
    market: Market
    peer_network: nx.Graph  # employees' peer ties (networkx, for inspection and the page)
    peers: sp.csr_matrix  # the same ties as a sparse adjacency (the hot path)
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


def run_week(
    org: Organisation, params: Params, streams: Streams, week: int, stream: str = ""
) -> Week:
    """Advance ``org`` by one week under ``params``; ``stream`` prefixes the random streams."""
    units, wf, market = org.units, org.workforce, org.market
    staff_before, active_before = org.headcounts()  # only turnover and churn change these
    lead = leadership.behaviour(params, units)
    inducting = wf.filled & (wf.tenure < params.induction_weeks)
    market_draws = streams.uniforms(f"{stream}market", week, MARKET_DECISIONS, market.n)
    staff_draws = streams.uniforms(f"{stream}staff", week, STAFF_DECISIONS, wf.n)
    workforce.record_absence(params, wf, staff_draws["absent"])
    enc = encounters.serve(params, wf, units, market, market_draws, inducting)
    encounters.pass_feedback_to_staff(params, wf, enc)

    customers.absorb_encounters(params, market, units, enc)
    heard = customers.word_of_mouth(params, market, enc, org.contacts, market_draws)
    customer_flows = customers.churn_and_grow(params, market, units, enc, heard, market_draws)

    workforce.update(params, wf, lead, units, org.team_size(), inducting, org.peers)
    leadership.update_managers(params, units, wf.unit, wf.filled, wf.engagement, wf.trust)

    staff_flows = turnover.quit_and_hire(params, units, wf, staff_draws, week)
    ledger = finance.book(params, units, wf, market, enc, inducting, staff_flows.hires)
    return Week(lead, enc, customer_flows, staff_flows, ledger, staff_before, active_before)
