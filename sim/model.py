"""The service-profit chain model: one Mesa model, one step per week.

A run starts from today's organisation (:mod:`sim.start`): the settled organisation its start
policies and world describe, the same for every scenario on a seed, with week 0 an ordinary
settled week. From week 1 the scenario's levers (and then its timeline) apply. Each step is one
week: interventions due that week change the levers, then :func:`sim.week.run_week` advances the
organisation (the order of a week is written there), and the week's KPIs are collected by Mesa's
DataCollector. With ``start: settled`` the organisation is instead settled under the scenario's
own levers: a comparison of steady states, not of a change.
"""

from __future__ import annotations

from dataclasses import fields
from functools import cached_property, partial
from typing import TYPE_CHECKING, Any

import mesa
import networkx as nx
import numpy as np
import pandas as pd
from mesa.experimental.scenarios import Scenario as MesaScenario

from sim import metrics, networks, surveys
from sim.agents import LazyCustomers, LazyEmployees, Manager
from sim.organisation import resolve
from sim.params import ParameterError
from sim.rng import Streams
from sim.scenario import ServiceScenario, check_int, load_scenario
from sim.start import today
from sim.surveys import SURVEY_KPIS, UNIT_SURVEY_COLUMNS
from sim.week import Week, run_week

if TYPE_CHECKING:
    from sim.batch import Batch

UNITS_TABLE = "units"  # the DataCollector table of unit KPIs, a row per step and unit
UNIT_TABLE_COLUMNS = ["step", "unit", *metrics.UNIT_COLUMNS, *UNIT_SURVEY_COLUMNS]


class ServiceModel(mesa.Model):
    """Employees, managers and customers of a multi-unit service business.

    Args:
        scenario: a :class:`ServiceScenario`, a preset name or a YAML path (default: baseline).
        rng: the run's seed, as Mesa's ``rng`` (default: the scenario's seed); the same seed
            gives the same numbers. A whole number: every random stream is derived from it.
        replication: label stored in the outputs' ``replication`` column.
        **params: parameter overrides (validated), e.g. ``training=0.1``; this is how
            ``mesa.batch_run`` passes its parameter grid. Levers change today's organisation
            from week 1; other parameters describe the world, today's organisation included.
    """

    def __init__(
        self,
        scenario: ServiceScenario | str | None = None,
        rng: int | None = None,
        *,
        replication: int = 0,
        **params: Any,
    ) -> None:
        if scenario is None:
            scenario = ServiceScenario(name="baseline")
        elif isinstance(scenario, str):
            scenario = load_scenario(scenario)
        if "seed" in params:
            raise ParameterError("seed: pass the run's seed as rng= (Mesa's name for it)")
        seed = None if rng is None else check_int("rng", rng, 0, 2**32 - 1)
        scenario, self.fit = resolve(scenario.with_changes(seed=seed, **params))
        # Mesa's own scenario, so Mesa's tools see the run as theirs: its rng is the seed, its
        # other attributes are the resolved scenario's settings (levers, timeline, horizon...).
        settings = {f.name: getattr(scenario, f.name) for f in fields(scenario) if f.name != "seed"}
        super().__init__(scenario=MesaScenario(rng=scenario.seed, **settings))
        self.replication = replication
        self.streams = Streams(scenario.seed)
        self.batch: Batch | None = None  # set while a Batch steps this run with others

        start = today(scenario.start_params(), scenario.seed)
        self.start_params = start.params
        self.settle_weeks = start.settle_weeks
        org = self.organisation = start.organisation
        self.units, self.workforce, self.market = org.units, org.workforce, org.market
        self.peers, self.contacts = org.peers, org.contacts
        self.cum_profit = 0.0

        self.managers = [Manager(self, u) for u in range(self.units.n)]
        # agents made when first touched: by position (None if vacant), by market slot
        self.employee_at = LazyEmployees(self, self.workforce.n)
        self.customers = LazyCustomers(self, self.market.n)

        self.datacollector = KpiCollector(tables={UNITS_TABLE: UNIT_TABLE_COLUMNS})
        self.surveys = surveys.Surveys.none(self.units.n)  # what the company has measured
        self.params = start.params
        self._observe(start.week0)
        self.params = scenario.params  # the scenario's levers act from week 1

    @property
    def agents(self) -> mesa.agent.AgentSet:
        """Every Mesa agent of the model (employee and customer agents not yet made are made)."""
        self.employee_at.make_all()
        self.customers.make_all()
        return super().agents

    @property
    def agents_by_type(self) -> dict[type, mesa.agent.AgentSet]:
        """Mesa's agents by type (employee and customer agents not yet made are made)."""
        self.employee_at.make_all()
        self.customers.make_all()
        return super().agents_by_type

    # --- the week -------------------------------------------------------------------------------
    def step(self) -> None:
        """Advance one week."""
        t = self.steps
        params = self._apply_timeline(t)
        if self.batch is None:
            week = run_week(self.organisation, params, self.streams, t)
        else:
            week = self.batch.week_of(self, params, t)
        self.cum_profit += metrics.total(week.ledger.profit)
        self.employee_at.vacate(week.staff.quits.tolist())  # leavers' agents leave the model
        self._observe(week)
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
        """One row per step and business unit with the unit KPIs (the DataCollector's table)."""
        frame = self.datacollector.get_table_dataframe(UNITS_TABLE)
        frame.insert(0, "replication", self.replication)
        return frame

    @cached_property
    def org_chart(self) -> nx.DiGraph:
        """Organisation -> units -> managers -> positions as networkx (built on first use)."""
        return networks.org_hierarchy(self.units, self.workforce)

    @cached_property
    def peer_network(self) -> nx.Graph:
        """Employees' peer ties as networkx, nodes the positions (built on first use)."""
        return networks.to_networkx(self.peers)

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

    @property
    def kpis(self) -> dict[str, float]:
        """This week's KPIs by name: :attr:`kpi_row` as the DataCollector's columns name it."""
        return dict(zip(KpiCollector.KPIS, self.kpi_row.tolist(), strict=True))

    def _observe(self, week: Week) -> None:
        """Record the week's KPIs and unit table (Mesa's DataCollector and the unit history)."""
        self.leadership = week.leadership
        self.encounters = week.encounters
        held, t = self.surveys, self.steps
        surveys.engagement_survey(self.params, self.workforce, self.units, self.streams, t, held)
        surveys.customer_survey(self.params, week.encounters, self.market, self.streams, t,
                                held)
        self.kpi_row = np.concatenate((metrics.kpi_values(week, self.cum_profit), held.values))
        table = self.unit_kpis = np.empty((self.units.n, len(UNIT_TABLE_COLUMNS) - 2))
        table[:, :-2], table[:, -2], table[:, -1] = week.table, held.unit_engagement, held.unit_csat
        self.datacollector.collect(self)
        self.datacollector.add_unit_rows(UNITS_TABLE, self.steps, table)


def _kpi(key: str, model: ServiceModel) -> float:
    """DataCollector reporter: one KPI of the current week."""
    return model.kpis[key]


class KpiCollector(mesa.DataCollector):
    """Mesa's DataCollector of the run's label, step and every KPI, collected in one pass.

    Mesa's ``collect`` calls each model reporter and deep-copies its value; a week has about
    sixty KPIs, all floats the model already holds as one array (``model.kpi_row``), so this
    collector holds that array, and a table's rows, until its columns are read: then they join
    Mesa's lists. The reporters stay registered (``model_reporters``), so the collector
    describes its variables as any Mesa DataCollector does, and its columns are Mesa's own.
    """

    LABELS = {"replication": "replication", "step": "steps"}  # column: model attribute
    KPIS = (*metrics.KPI_COLUMNS, *SURVEY_KPIS)

    def __init__(self, tables: dict[str, list[str]]) -> None:
        reporters: dict[str, Any] = dict(self.LABELS)
        reporters.update({key: partial(_kpi, key) for key in self.KPIS})
        self._held: dict[str, list[tuple[int, np.ndarray]]] = {}  # unit rows not yet in tables
        self._held_kpis: list[np.ndarray] = []  # KPI rows not yet in model_vars
        super().__init__(model_reporters=reporters, tables=tables)

    @property
    def model_vars(self) -> dict[str, list]:
        """Mesa's columns of the label, step and KPIs, with every week collected so far."""
        if self._held_kpis:
            for name, values in zip(self.KPIS, np.array(self._held_kpis).T, strict=True):
                self._model_vars[name].extend(values.tolist())
            self._held_kpis.clear()
        return self._model_vars

    @model_vars.setter
    def model_vars(self, model_vars: dict[str, list]) -> None:
        self._model_vars = model_vars

    @property
    def tables(self) -> dict[str, dict[str, list]]:
        """Mesa's tables, with every row added so far (held rows join them when read)."""
        for name, held in self._held.items():
            if held:
                self._join(self._tables[name], held)
                held.clear()
        return self._tables

    @tables.setter
    def tables(self, tables: dict[str, dict[str, list]]) -> None:
        self._tables = tables

    def add_unit_rows(self, table_name: str, step: int, rows: np.ndarray) -> None:
        """Add a week's rows to a table of step, unit and ``rows``' columns (a row per unit).

        The rows are held as the week's array and join Mesa's lists when the table is read:
        a week's values made Python numbers one by one cost more than the rest of its records.
        """
        self._held.setdefault(table_name, []).append((step, rows))

    @staticmethod
    def _held_columns(names: list[str], held: list[tuple[int, np.ndarray]]
                      ) -> dict[str, np.ndarray]:
        """Held weeks as a table's columns (step, unit, then the rows' columns), as arrays."""
        counts = [len(rows) for _, rows in held]
        values = np.concatenate([rows for _, rows in held])
        return {names[0]: np.repeat([step for step, _ in held], counts),
                names[1]: np.concatenate([np.arange(n) for n in counts]),
                **dict(zip(names[2:], values.T, strict=True))}

    def _join(self, columns: dict[str, list], held: list[tuple[int, np.ndarray]]) -> None:
        """Append held weeks to a table's columns."""
        for name, values in self._held_columns(list(columns), held).items():
            columns[name].extend(values.tolist())

    def get_model_vars_dataframe(self) -> pd.DataFrame:
        """Mesa's frame of the label, step and KPIs (its columns made arrays first: faster).

        While no KPI row has joined Mesa's lists, the frame is made from the held rows as they
        are (a default run's, just after the run: 0.68-0.70 ms instead of 0.98-1.01).
        """
        if self._held_kpis and not self._model_vars[self.KPIS[0]]:  # nothing read yet
            frame = pd.DataFrame(np.array(self._held_kpis), columns=list(self.KPIS))
            for position, label in enumerate(self.LABELS):
                frame.insert(position, label, np.asarray(self._model_vars[label]))
            return frame
        return _frame(self.model_vars)

    def get_table_dataframe(self, table_name: str) -> pd.DataFrame:
        """Mesa's frame of a table (its columns made arrays first: faster)."""
        if table_name not in self._tables:
            return super().get_table_dataframe(table_name)  # Mesa's error
        columns, held = self._tables[table_name], self._held.get(table_name)
        if held and not any(columns.values()):  # nothing read yet: the frame of the arrays
            return pd.DataFrame(self._held_columns(list(columns), held))
        return _frame(self.tables[table_name])

    def collect(self, model: ServiceModel) -> None:
        """Append this week's label, step and KPIs (the same values Mesa's reporters give)."""
        self._collection_steps.append(model.time)  # Mesa's batch_run reads the steps from it
        for column, attribute in self.LABELS.items():
            self._model_vars[column].append(getattr(model, attribute))
        self._held_kpis.append(model.kpi_row)


def _frame(columns: dict[str, list]) -> pd.DataFrame:
    """``pd.DataFrame(columns)``, the same frame, with each column of numbers made an array first.

    pandas converts a list of Python numbers element by element; NumPy does it several times
    faster (a default run's unit table: 4.6 ms before, 1.8 ms). Other columns go to pandas as
    they are.
    """
    def column(values: list) -> np.ndarray | list:
        if not values:
            return values
        as_array = np.asarray(values)
        return as_array if as_array.dtype.kind in "biuf" else values

    return pd.DataFrame({name: column(values) for name, values in columns.items()})
