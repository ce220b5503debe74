"""The KPIs, made from per-unit sums, against their definitions computed from the arrays."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim import ServiceModel, metrics, turnover
from sim.state import ACTIVE, PROSPECT
from sim.week import run_week


@pytest.fixture(scope="module")
def measured():
    model = ServiceModel(rng=5, n_employees=120, n_customers=2500).run(6)
    org, params = model.organisation, model.params
    week = run_week(org, params, model.streams, 7)
    kpis, table = metrics.kpis(week, cum_profit=123.0), week.table
    return org, params, week, kpis, table


def test_each_kpi_is_its_definition(measured):
    org, params, week, kpis, _ = measured
    wf, market, units, enc, ledger = (org.workforce, org.market, org.units, week.encounters,
                                      week.ledger)
    on, eng = wf.filled, wf.engagement[wf.filled]
    active = market.status == ACTIVE
    rating = np.rint(enc.satisfaction * 10.0)  # the visit's 0-10 rating (Reichheld's NPS)
    expected = {
        **{kpi: getattr(wf, state)[on].mean() for kpi, state in metrics.STAFF_MEANS.items()},
        "engaged_share": (eng >= metrics.ENGAGED_AT).mean(),
        "actively_disengaged_share": (eng < metrics.DISENGAGED_BELOW).mean(),
        "not_engaged_share": ((eng >= metrics.DISENGAGED_BELOW)
                              & (eng < metrics.ENGAGED_AT)).mean(),
        "manager_engagement_mean": units.manager_engagement.mean(),
        "process_quality_mean": units.process_quality.mean(),
        "workload_mean": np.average(units.workload, weights=units.customer_count),
        "employees": on.sum(),
        "vacancies": ((wf.rank < turnover.staff_plan(params, units)[wf.unit])
                      & ~wf.filled).sum(),
        "quits": len(week.staff.quits),
        "hires": len(week.staff.hires),
        "employee_turnover_rate": len(week.staff.quits) / week.staff_before,
        "service_quality": enc.quality.mean(),
        "csat": enc.satisfaction.mean(),
        "nps": 100.0 * ((rating >= metrics.PROMOTER_RATING).mean()
                        - (rating <= metrics.DETRACTOR_RATING).mean()),
        "visits": len(enc.customer),
        "very_bad_share": enc.very_bad.mean(),
        "customers_active": active.sum(),
        "prospects": (market.status == PROSPECT).sum(),
        "customer_churn_rate": len(week.customers.churned) / week.active_before,
        "customers_churned": len(week.customers.churned),
        "churned_after_bad_encounter": len(week.customers.churned_after_bad),
        "new_customers": len(week.customers.acquired),
        "referrals": len(week.customers.referred),
        "loyalty_mean": market.loyalty[active].mean(),
        "customer_satisfaction_mean": market.satisfaction[active].mean(),
        "revenue": ledger.revenue.sum(),
        "costs": ledger.costs.sum(),
        "profit": ledger.profit.sum(),
        **{kpi: getattr(ledger, line).sum() for line, kpi in metrics.COST_KPIS.items()},
        "cum_profit": 123.0,
    }
    assert set(expected) == set(metrics.KPI_COLUMNS) == set(kpis)
    assert week.encounters.very_bad.any() and len(week.staff.quits) and len(week.customers.churned)
    for key, value in expected.items():
        assert kpis[key] == pytest.approx(float(value), rel=1e-12, abs=1e-9), key


def test_the_unit_table_adds_up_to_the_kpis(measured):
    _, _, _, kpis, table = measured
    column = {name: table[:, i] for i, name in enumerate(metrics.UNIT_COLUMNS)}
    for unit_column, kpi in (("customers", "customers_active"), ("staff", "employees"),
                             ("vacancies", "vacancies"), ("revenue", "revenue"),
                             ("costs", "costs"), ("profit", "profit")):
        assert column[unit_column].sum() == pytest.approx(kpis[kpi], rel=1e-12), unit_column
    staff = column["staff"]
    assert (column["engagement"] * staff).sum() / staff.sum() == pytest.approx(
        kpis["engagement_mean"], rel=1e-12)


def test_a_ratio_over_nothing_is_zero():
    """No employees, visits, customers or starting headcounts: every KPI is 0, never NaN."""
    sums = np.zeros((1, len(metrics.UNIT_SUMS)))  # one unit
    sums[0, metrics.UNIT_SUMS.index("units")] = 1.0
    kpis = metrics.kpis(SimpleNamespace(sums=sums, staff_before=0, active_before=0), 0.0)
    assert list(kpis) == list(metrics.KPI_COLUMNS)
    assert all(value == 0.0 for value in kpis.values())


@settings(max_examples=200, deadline=None)
@given(values=st.lists(st.floats(-1e9, 1e9), min_size=1, max_size=300),
       columns=st.integers(1, 4))
def test_an_organisation_adds_its_units_as_numpy_does(values, columns):
    """An organisation's total (the KPIs' sums, the cumulative profit) is np.add.reduceat's,
    to the bit, for a flat array and for a column of a week's sums (a strided view)."""
    flat = np.array(values)
    assert metrics.total(flat) == np.add.reduceat(flat, [0])[0]
    sums = np.tile(flat, (columns, 1)).T  # n_units x columns, as the week's sums are laid out
    sums[:, -1] *= 1.5
    expected = np.add.reduceat(sums, [0], axis=0)[0]
    assert [metrics.total(sums[:, k]) for k in range(columns)] == expected.tolist()
