"""Reproducibility, common random numbers, consistent stocks and flows, the Mesa face."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim import ServiceModel, ServiceScenario, load_scenario
from sim.agents import Customer, Employee, Manager
from sim.metrics import COST_KPIS, KPI_COLUMNS
from sim.params import LEVERS, SPECS
from sim.scenario import Intervention
from sim.state import ACTIVE, LOST, PROSPECT
from sim.surveys import SURVEY_KPIS
from tests.conftest import SMALL


def frame(
    seed: int = 1, steps: int = 30, scenario: ServiceScenario | None = None, **params
) -> pd.DataFrame:
    return ServiceModel(scenario, rng=seed, **{**SMALL, **params}).run(steps).timeseries()


def test_same_seed_same_numbers():
    pd.testing.assert_frame_equal(frame(7), frame(7))


def test_different_seed_different_numbers():
    assert not frame(7)["profit"].equals(frame(8)["profit"])


def test_noop_intervention_is_bit_identical():
    """Setting a lever to the value it already has changes nothing (common random numbers)."""
    base = ServiceScenario(params=ServiceScenario().params.replace(**SMALL), steps=30)
    noop = ServiceScenario(
        params=base.params,
        steps=30,
        timeline=(Intervention(10, {"training": base.params.training}),),
    )
    pd.testing.assert_frame_equal(frame(3, scenario=base), frame(3, scenario=noop))


def test_policy_from_week_t_leaves_earlier_weeks_identical():
    base = ServiceScenario(params=ServiceScenario().params.replace(**SMALL), steps=30)
    later = ServiceScenario(
        params=base.params,
        steps=30,
        timeline=(Intervention(15, {"resources": 0.1, "training": 0.2}),),
    )
    a, b = frame(3, scenario=base), frame(3, scenario=later)
    pd.testing.assert_frame_equal(a.iloc[:15], b.iloc[:15])
    assert not a.iloc[15:]["service_quality"].equals(b.iloc[15:]["service_quality"])


def test_timeline_changes_the_lever_at_its_week():
    scenario = ServiceScenario(
        params=ServiceScenario().params.replace(**SMALL),
        steps=12,
        timeline=(Intervention(5, {"training": 0.2}),),
    )
    model = ServiceModel(scenario, rng=1)
    model.run(4)
    assert model.params.training == ServiceScenario().params.training
    model.step()
    assert model.params.training == 0.2


def test_timeseries_has_the_contract_columns():
    ts = frame(steps=3)
    expected = [
        "replication",
        "step",
        "engagement_mean",
        "engaged_share",
        "actively_disengaged_share",
        "trust_mean",
        "burnout_mean",
        "skill_mean",
        "service_quality",
        "csat",
        "nps",
        "customers_active",
        "customer_churn_rate",
        "employee_turnover_rate",
        "vacancies",
        "revenue",
        "costs",
        "profit",
    ]
    assert set(expected) <= set(ts.columns)
    assert ts["step"].tolist() == [0, 1, 2, 3]
    assert len(ts.columns) == len(set(ts.columns)) == len(KPI_COLUMNS) + len(SURVEY_KPIS) + 2


def test_the_collectors_frames_are_mesas():
    """The collector builds its frames from arrays; they are the frames Mesa builds.

    A week's unit rows are held as an array until the table is read: read (the first time
    straight from the held arrays), read again, run on, read again.
    """
    import mesa

    from sim.model import UNITS_TABLE

    model = ServiceModel(rng=3, **SMALL)
    for steps in (5, 0, 3):
        model.run(steps)
        collector = model.datacollector
        pd.testing.assert_frame_equal(collector.get_model_vars_dataframe(),
                                      mesa.DataCollector.get_model_vars_dataframe(collector))
        pd.testing.assert_frame_equal(collector.get_table_dataframe(UNITS_TABLE),
                                      mesa.DataCollector.get_table_dataframe(collector,
                                                                             UNITS_TABLE))
        table = collector.tables[UNITS_TABLE]
        assert table["step"] == [t for t in range(model.steps + 1) for _ in range(model.units.n)]
        assert table["unit"] == list(range(model.units.n)) * (model.steps + 1)
    with pytest.raises(Exception, match="No such table"):
        collector.get_table_dataframe("nothing")


def test_unit_timeseries_covers_every_unit_and_sums_to_the_total():
    model = ServiceModel(rng=2, **SMALL).run(10)
    units = model.unit_timeseries()
    assert len(units) == 11 * model.units.n
    last = units[units.step == 10]
    assert np.isclose(last["profit"].sum(), model.kpis["profit"])
    assert np.isclose(last["customers"].sum(), model.kpis["customers_active"])


# Each week ends by clipping these to [0, 1] (sim.workforce): a bounds check on them cannot
# fail, but a NaN passes a clip, so they are checked for being finite.
CLIPPED = ("engagement", "trust", "skill", "burnout", "mood", "alignment", "autonomy")
# Not clipped: in range only if the dynamics keep them there (draws, averages of bounded values).
UNCLIPPED = {"workforce": ("fit", "feedback"), "market": ("satisfaction", "loyalty")}
COST_LINES = tuple(COST_KPIS.values())  # every cost line of the ledger, goods sold included


def _check_state(model: ServiceModel) -> None:
    wf, market = model.workforce, model.market
    for name in CLIPPED:
        assert np.isfinite(getattr(wf, name)).all(), name
    for owner, names in UNCLIPPED.items():
        for name in names:
            values = getattr(getattr(model, owner), name)
            assert np.isfinite(values).all(), name
            assert values.min() >= 0.0 and values.max() <= 1.0, name
    assert set(np.unique(market.status)) <= {PROSPECT, ACTIVE, LOST}
    assert np.isfinite(model.units.workload).all()
    for key, value in model.kpis.items():  # surveys: NaN only until their first answers
        assert np.isfinite(value) or key in SURVEY_KPIS, key


def _check_week(before: dict[str, float], after: dict[str, float]) -> None:
    """Stocks move by their flows, shares add up, the money adds up (nothing clips these)."""
    assert after["customers_active"] - before["customers_active"] == (
        after["new_customers"] - after["customers_churned"])
    assert after["employees"] - before["employees"] == after["hires"] - after["quits"]
    if before["customers_active"]:
        assert after["customer_churn_rate"] == pytest.approx(
            after["customers_churned"] / before["customers_active"])
    if before["employees"]:
        assert after["employee_turnover_rate"] == pytest.approx(
            after["quits"] / before["employees"])
    if after["employees"]:
        shares = ("engaged_share", "not_engaged_share", "actively_disengaged_share")
        assert sum(after[k] for k in shares) == pytest.approx(1.0)
    money = max(abs(after["revenue"]), abs(after["costs"]), 1.0)
    assert sum(after[k] for k in COST_LINES) == pytest.approx(after["costs"], abs=1e-9 * money)
    assert after["profit"] == pytest.approx(after["revenue"] - after["costs"], abs=1e-9 * money)
    assert after["cum_profit"] - before["cum_profit"] == pytest.approx(
        after["profit"], abs=1e-9 * max(abs(after["cum_profit"]), money))


lever_values = st.fixed_dictionaries(
    {name: st.sampled_from([SPECS[name].low, SPECS[name].high]) for name in LEVERS}
)


@pytest.mark.slow  # 25 seeds, each settling its own start: about 9 s
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(levers=lever_values, seed=st.integers(0, 1000))
def test_extreme_levers_keep_states_finite_and_flows_consistent(levers, seed):
    model = ServiceModel(rng=seed, n_employees=40, n_customers=400, **levers)
    for _ in range(12):
        before = dict(model.kpis)
        model.step()
        _check_state(model)
        _check_week(before, model.kpis)
    wf = model.workforce
    assert wf.filled.sum() <= wf.n
    assert model.kpis["employees"] == wf.filled.sum()
    assert model.kpis["vacancies"] <= wf.n - wf.filled.sum()


@settings(max_examples=10, deadline=None)
@given(n_employees=st.integers(1, 60), n_customers=st.integers(10, 300), span=st.integers(3, 40))
def test_tiny_organisations_run(n_employees, n_customers, span):
    model = ServiceModel(
        rng=1, n_employees=n_employees, n_customers=max(n_customers, 40), span_of_control=span
    )
    model.run(8)
    _check_state(model)


def test_mesa_agents_mirror_the_arrays():
    model = ServiceModel(rng=1, **SMALL)
    employees = model.agents_by_type[Employee]
    assert len(employees) == model.workforce.filled.sum()
    assert len(model.agents_by_type[Customer]) == model.market.n
    assert len(model.agents_by_type[Manager]) == model.units.n
    agent = model.employee_at[np.flatnonzero(model.workforce.filled)[0]]
    agent.engagement = 0.123
    assert model.workforce.engagement[agent.slot] == 0.123
    assert agent.engagement_category == "actively disengaged"
    assert agent.manager.unit == agent.unit
    assert agent in agent.manager.team
    assert model.customers[0].status in {"prospect", "active", "lost"}


def test_quits_and_hires_replace_mesa_agents():
    model = ServiceModel(rng=1, quit_base=0.05, **SMALL)
    assert model.employee_at.made == 0  # made when first touched
    before = {a.slot: a for a in model.agents_by_type[Employee]}
    model.run(20)
    assert model.employee_at.made < len(before)  # leavers' agents are gone
    employees = model.agents_by_type[Employee]
    assert len(employees) == model.workforce.filled.sum()
    assert all(model.employee_at[a.slot] is a for a in employees)
    stayed = [a for a in employees if before.get(a.slot) is a]
    new = [a for a in employees if before.get(a.slot) is not a]
    assert stayed and new  # stayers keep their agent; a new hire gets a new one
    assert min(a.unique_id for a in new) > max(a.unique_id for a in before.values())
    assert not any(a in model.agents for a in before.values() if a not in stayed)
    vacant = np.flatnonzero(~model.workforce.filled)[0]
    assert model.employee_at[vacant] is None
    leaver = stayed[0]  # a position emptied by hand (a shock): its agent goes when touched
    model.workforce.filled[leaver.slot] = False
    assert model.employee_at[leaver.slot] is None and leaver not in model.agents


def test_networks_are_networkx_graphs():
    model = ServiceModel(rng=1, **SMALL).run(1)
    assert model.org_chart.number_of_nodes() == 1 + 2 * model.units.n + model.workforce.n
    assert model.peer_network.number_of_nodes() == model.workforce.n
    assert model.customer_network.number_of_nodes() == model.market.n
    assert model.service_ties.number_of_edges() > 0


def test_network_construction_is_seeded():
    a, b = ServiceModel(rng=5, **SMALL), ServiceModel(rng=5, **SMALL)
    assert sorted(a.peer_network.edges) == sorted(b.peer_network.edges)
    assert (a.contacts != b.contacts).nnz == 0


def test_baseline_preset_equals_defaults():
    assert load_scenario("baseline").params == ServiceScenario().params


def test_customer_agents_are_made_on_first_touch():
    model = ServiceModel(rng=2, n_employees=30, n_customers=500)
    assert model.customers.made == 0  # a market of millions costs no objects until asked
    model.run(2)
    assert model.customers.made == 0
    first = model.customers[3]
    assert model.customers[3] is first and model.customers.made == 1
    assert first.loyalty == model.market.loyalty[3]
    assert len(model.agents_by_type[Customer]) == 500 == model.customers.made
    assert [c.slot for c in model.customers][:3] == [0, 1, 2]


def test_the_model_scenario_is_mesas_with_the_resolved_settings():
    """Mesa's tools see a Mesa Scenario; it carries the seed as rng and the run's settings."""
    from mesa.experimental.scenarios import Scenario as MesaScenario

    model = ServiceModel("employees_first", rng=4, **SMALL)
    assert isinstance(model.scenario, MesaScenario) and model.scenario.model is model
    assert model.scenario.rng == 4 and model.scenario.steps == 104
    assert model.scenario.params.n_employees == SMALL["n_employees"]
