"""The service-profit chain model: one Mesa model, one step per week.

Order of a week (every process updates whole arrays; see each module for its mechanism):

1. timeline   - interventions due this week change the policy levers
2. leadership - managers' effective behaviour from traits, levers and their own engagement
3. encounters - customers visit, are served by an employee of their unit, judge the quality
4. feedback   - the satisfaction of the customers served reaches the employees who served them
5. customers  - satisfaction, expectations and loyalty update; word of mouth; churn; referrals
6. workforce  - trust, alignment, autonomy, burnout, mood, skill, engagement; peer contagion
7. managers   - managers' engagement follows their team; voiced ideas improve service processes
8. turnover   - quits open vacancies; pending hires arrive; new vacancies start hiring
9. finance    - revenue from spend, costs of people and policies, profit
10. metrics   - organisation and unit KPIs, collected by Mesa's DataCollector

Randomness comes from :class:`sim.rng.Streams` (one block of draws per population and week, one
row per decision), never from a shared generator, so runs with the same seed are paired across
scenarios.
"""

from __future__ import annotations

from functools import cached_property, partial
from typing import Any

import mesa
import networkx as nx
import numpy as np
import pandas as pd

from sim import customers, encounters, finance, leadership, metrics, networks, turnover, workforce
from sim.agents import Customer, Employee, Manager
from sim.population import build_market, build_units, build_workforce
from sim.rng import Streams
from sim.scenario import Scenario, load_scenario
from sim.state import ACTIVE, Encounters, unit_mean

# The weekly random decisions, one row of uniforms per slot each (see sim.rng).
MARKET_DECISIONS = ("visit", "assign", "problem", "quality", "talk", "fate")
STAFF_DECISIONS = ("quit", "hiring_lag", "hire_fit", "hire_skill", "hire_disposition")


class ServiceModel(mesa.Model):
    """Employees, managers and customers of a multi-unit service business.

    Args:
        scenario: a :class:`Scenario`, a preset name or a YAML path (default: baseline).
        seed: run seed (default: the scenario's seed); the same seed gives the same numbers.
        replication: label stored in the outputs' ``replication`` column.
        **params: parameter overrides (validated), e.g. ``training=0.1``; this is how
            ``mesa.batch_run`` passes its parameter grid.
    """

    def __init__(
        self,
        scenario: Scenario | str | None = None,
        seed: int | None = None,
        *,
        replication: int = 0,
        **params: Any,
    ) -> None:
        if scenario is None:
            scenario = Scenario(name="baseline")
        elif isinstance(scenario, str):
            scenario = load_scenario(scenario)
        scenario = scenario.with_changes(seed=seed, **params)
        super().__init__(rng=scenario.seed)
        self.scenario = scenario
        self.params = scenario.params
        self.replication = replication
        self.streams = Streams(scenario.seed)

        p = self.params
        self.units = build_units(p, self.streams)
        self.workforce = build_workforce(self.units, p, self.streams)
        self.market = build_market(self.units, p, self.streams)
        self.org_chart: nx.DiGraph = networks.org_hierarchy(self.units, self.workforce)
        self.peer_network: nx.Graph = networks.peer_network(
            self.units, self.workforce, self.streams
        )
        self.peers = networks.graph_adjacency(self.peer_network, self.workforce.n)
        src, dst = networks.word_of_mouth_edges(
            self.units, p.wom_degree, p.wom_nonlocal, self.streams
        )
        self.contacts = networks.adjacency(src, dst, self.market.n)

        self.leadership = leadership.behaviour(p, self.units)
        workforce.settle(
            p, self.workforce, self.leadership, self.units, self._team_size(), self.peers
        )
        self.encounters = Encounters.empty()
        self.cum_profit = 0.0

        self.managers = [Manager(self, u) for u in range(self.units.n)]
        # a list, not an object array: numpy arrays are invisible to the cycle collector, so
        # agent -> model -> array -> agent cycles would keep every finished model alive
        self.employee_at: list[Employee | None] = [None] * self.workforce.n
        self._add_employees(np.flatnonzero(self.workforce.filled))
        self.customers = [Customer(self, slot) for slot in range(self.market.n)]

        reporters = {"replication": "replication", "step": "steps"}
        reporters.update({k: partial(_kpi, k) for k in metrics.KPI_COLUMNS})
        self.datacollector = mesa.DataCollector(model_reporters=reporters)
        self.unit_history: list[np.ndarray] = []
        self._measure(None, None, None, 0, 0)

    @property
    def scenario(self) -> Scenario:
        """The resolved scenario this run follows (replaces Mesa's experimental Scenario)."""
        return self._scenario

    @scenario.setter
    def scenario(self, value: Any) -> None:
        self._scenario = value

    # --- the week -------------------------------------------------------------------------------
    def step(self) -> None:
        """Advance one week."""
        t = self.steps
        p = self._apply_timeline(t)
        units, wf, market = self.units, self.workforce, self.market

        self.leadership = leadership.behaviour(p, units)
        inducting = wf.filled & (wf.tenure < p.induction_weeks)
        market_draws = self.streams.uniforms("market", t, MARKET_DECISIONS, market.n)
        enc = encounters.serve(p, wf, units, market, market_draws, inducting)
        encounters.pass_feedback_to_staff(wf, enc)

        active_before = int((market.status == ACTIVE).sum())
        customers.absorb_encounters(p, market, enc)
        heard = customers.word_of_mouth(p, market, enc, self.contacts, market_draws)
        customer_flows = customers.churn_and_grow(p, market, units, enc, heard, market_draws)

        team_size = self._team_size()
        workforce.update(p, wf, self.leadership, units, team_size, inducting, self.peers)
        leadership.update_managers(
            p,
            units,
            unit_mean(wf.engagement, wf.unit, units.n, wf.filled),
            unit_mean(wf.trust, wf.unit, units.n, wf.filled),
        )

        staff_before = int(wf.filled.sum())
        staff_draws = self.streams.uniforms("staff", t, STAFF_DECISIONS, wf.n)
        staff_flows = turnover.quit_and_hire(p, units, wf, staff_draws, t)
        ledger = finance.book(p, units, wf, market, enc, inducting, staff_flows.hires)
        self.cum_profit += float(ledger.profit.sum())

        self.encounters = enc
        self._replace_employees(staff_flows)
        self._measure(ledger, staff_flows, customer_flows, staff_before, active_before)
        if t >= self.scenario.steps:
            self.running = False

    def run(self, steps: int | None = None) -> ServiceModel:
        """Run ``steps`` weeks (default: to the scenario's horizon). Returns the model."""
        remaining = self.scenario.steps - self.steps if steps is None else steps
        for _ in range(max(remaining, 0)):
            self.step()
        return self

    # --- outputs --------------------------------------------------------------------------------
    def timeseries(self) -> pd.DataFrame:
        """One row per step with every KPI (the DataCollector's model variables)."""
        return self.datacollector.get_model_vars_dataframe().reset_index(drop=True)

    def unit_timeseries(self) -> pd.DataFrame:
        """One row per step and business unit with the unit KPIs."""
        table = np.concatenate(self.unit_history)
        frame = pd.DataFrame(table, columns=list(metrics.UNIT_COLUMNS))
        n = self.units.n
        frame.insert(0, "unit", np.tile(np.arange(n), len(self.unit_history)))
        frame.insert(0, "step", np.repeat(np.arange(len(self.unit_history)), n))
        frame.insert(0, "replication", self.replication)
        return frame

    @cached_property
    def customer_network(self) -> nx.Graph:
        """Customers' word-of-mouth network as networkx (built on first use; may be large)."""
        return networks.to_networkx(self.contacts)

    @property
    def service_ties(self) -> nx.Graph:
        """Who served whom in the last week, as a bipartite networkx graph."""
        return networks.service_ties(self.encounters)

    # --- internals ------------------------------------------------------------------------------
    def _apply_timeline(self, week: int):
        changes = {}
        for event in self.scenario.timeline:
            if event.week == week:
                changes.update(event.changes)
        if changes:
            self.params = self.params.replace(**changes)
        return self.params

    def _team_size(self) -> np.ndarray:
        return np.bincount(
            self.workforce.unit, weights=self.workforce.filled, minlength=self.units.n
        )

    def _measure(self, ledger, staff_flows, customer_flows, staff_before, active_before) -> None:
        wf = self.workforce
        quality_now = (
            encounters.core_quality(self.params, wf, self.units, np.flatnonzero(wf.filled))
            if not len(self.encounters.customer)
            else np.zeros(0)
        )
        self.kpis, table = metrics.measure(
            self.params,
            self.units,
            wf,
            self.market,
            self.encounters,
            ledger,
            staff_flows,
            customer_flows,
            staff_before,
            active_before,
            quality_now,
            self.cum_profit,
        )
        self.unit_history.append(table)
        self.datacollector.collect(self)

    def _add_employees(self, slots: np.ndarray) -> None:
        for slot in slots.tolist():
            self.employee_at[slot] = Employee(self, slot)

    def _replace_employees(self, staff: turnover.StaffFlows) -> None:
        """Keep Mesa's employees in step with the arrays: leavers go, new hires get new agents.

        Customer agents stay with their market slot for the whole run (a slot whose customer was
        lost and renewed is a new household in the same agent), so that turnover in a market of
        millions costs no agent churn.
        """
        for slot in staff.quits.tolist():
            self.employee_at[slot].remove()
            self.employee_at[slot] = None
        self._add_employees(staff.hires)


def _kpi(key: str, model: ServiceModel) -> float:
    """DataCollector reporter: one KPI of the current week."""
    return model.kpis[key]
