"""Key performance indicators, organisation-wide and per business unit, measured each week.

Engagement categories follow Gallup's three groups by thresholds on the 0-1 engagement scale.
CSAT is the mean post-visit satisfaction (0-1) of the week's encounters; NPS comes from 0-10
ratings (rating = satisfaction x 10, rounded): promoters 9-10, detractors 0-6 (Reichheld 2003).
Rates are weekly: churn = customers lost / active customers at the start of the week; turnover =
quits / employees at the start of the week. Week 0 is an ordinary settled week (see
:mod:`sim.start`) with real encounters and flows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from sim.params import Params
from sim.state import ACTIVE, PROSPECT, market_unit_sum, unit_mean
from sim.turnover import budgeted

if TYPE_CHECKING:
    from sim.finance import Ledger
    from sim.week import Organisation, Week

ENGAGED_AT = 0.65  # engagement at or above: "engaged"
DISENGAGED_BELOW = 0.35  # engagement below: "actively disengaged"
PROMOTER_RATING, DETRACTOR_RATING = 9, 6

HEADLINE = (
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
)
EXTRA = (
    "not_engaged_share",
    "mood_mean",
    "alignment_mean",
    "autonomy_mean",
    "feedback_mean",
    "manager_engagement_mean",
    "process_quality_mean",
    "workload_mean",
    "employees",
    "quits",
    "absence_rate",
    "hires",
    "visits",
    "very_bad_share",
    "prospects",
    "new_customers",
    "referrals",
    "customers_churned",
    "churned_after_bad_encounter",
    "loyalty_mean",
    "customer_satisfaction_mean",
    "goods_cost",
    "wages",
    "training_cost",
    "resources_cost",
    "recognition_cost",
    "rewards_cost",
    "surveys_cost",
    "hiring_cost",
    "fixed_cost",
    "cum_profit",
)
KPI_COLUMNS = HEADLINE + EXTRA
UNIT_COLUMNS = (
    "engagement",
    "trust",
    "burnout",
    "service_quality",
    "csat",
    "customers",
    "churn",
    "turnover",
    "revenue",
    "costs",
    "profit",
    "staff",
    "vacancies",
    "workload",
    "manager_engagement",
    "loyalty",
)


def nps(satisfaction: np.ndarray) -> float:
    """Net promoter score (-100..100) of satisfaction scores mapped to 0-10 ratings."""
    if len(satisfaction) == 0:
        return 0.0
    rating = np.rint(satisfaction * 10.0)
    n = len(rating)
    promoters = np.count_nonzero(rating >= PROMOTER_RATING) / n
    return 100.0 * (promoters - np.count_nonzero(rating <= DETRACTOR_RATING) / n)


def measure(
    params: Params, org: Organisation, week: Week, cum_profit: float
) -> tuple[dict[str, float], np.ndarray]:
    """The week's KPIs (dict) and unit table (n_units x len(UNIT_COLUMNS))."""
    vacant = vacancies(params, org)
    return kpis(org, week, vacant, cum_profit), unit_table(org, week, vacant)


def vacancies(params: Params, org: Organisation) -> np.ndarray:
    """Positions inside the budget without an employee."""
    return budgeted(params, org.units, org.workforce) & ~org.workforce.filled


def kpis(org: Organisation, week: Week, vacant: np.ndarray, cum_profit: float
         ) -> dict[str, float]:
    """The week's organisation-wide KPIs (``vacant``: see :func:`vacancies`)."""
    return {
        **staff_kpis(org, week, vacant),
        **customer_kpis(org, week),
        **money_kpis(week.ledger),
        "cum_profit": cum_profit,
    }


# Staff KPIs that are means over the employees in post, and the state each averages.
STAFF_MEANS = {
    "engagement_mean": "engagement", "trust_mean": "trust", "burnout_mean": "burnout",
    "skill_mean": "skill", "mood_mean": "mood", "alignment_mean": "alignment",
    "autonomy_mean": "autonomy", "feedback_mean": "feedback", "absence_rate": "absent",
}


def staff_kpis(org: Organisation, week: Week, vacant: np.ndarray) -> dict[str, float]:
    """Employees and managers: engagement (and its Gallup groups), its drivers, flows."""
    units, wf = org.units, org.workforce
    on, eng = wf.filled, wf.engagement
    employees = np.count_nonzero(on)
    groups = {
        "engaged_share": eng >= ENGAGED_AT,
        "actively_disengaged_share": eng < DISENGAGED_BELOW,
        "not_engaged_share": (eng >= DISENGAGED_BELOW) & (eng < ENGAGED_AT),
    }
    # one masked reduction for every mean: each row is summed as its own array would be
    rows = np.stack([*(getattr(wf, state) for state in STAFF_MEANS.values()), *groups.values()])
    sums = np.sum(rows, axis=1, where=on, dtype=np.float64)
    means = (sums / employees).tolist() if employees else [0.0] * len(rows)
    quits = len(week.staff.quits)
    return {
        **dict(zip([*STAFF_MEANS, *groups], means, strict=True)),
        "manager_engagement_mean": float(units.manager_engagement.mean()),
        "process_quality_mean": float(units.process_quality.mean()),
        "workload_mean": float(np.average(units.workload, weights=units.customer_count)),
        "employees": float(employees),
        "employee_turnover_rate": quits / week.staff_before if week.staff_before else 0.0,
        "quits": float(quits),
        "hires": float(len(week.staff.hires)),
        "vacancies": float(vacant.sum()),
    }


def customer_kpis(org: Organisation, week: Week) -> dict[str, float]:
    """This week's encounters (quality, satisfaction, NPS) and the market's stocks and flows."""
    market, enc, flows = org.market, week.encounters, week.customers
    active = market.status == ACTIVE
    n_active = max(np.count_nonzero(active), 1)
    quality, satisfaction = enc.quality, enc.satisfaction
    churned = len(flows.churned)
    return {
        "service_quality": float(quality.mean()) if len(quality) else 0.0,
        "csat": float(satisfaction.mean()) if len(satisfaction) else 0.0,
        "nps": nps(satisfaction),
        "visits": float(len(enc.customer)),
        "very_bad_share": float(enc.very_bad.mean()) if len(enc.very_bad) else 0.0,
        "customers_active": float(market_unit_sum(active, org.units).sum()),
        "prospects": float(np.count_nonzero(market.status == PROSPECT)),
        "customer_churn_rate": churned / week.active_before if week.active_before else 0.0,
        "customers_churned": float(churned),
        "churned_after_bad_encounter": float(len(flows.churned_after_bad)),
        "new_customers": float(len(flows.acquired)),
        "referrals": float(len(flows.referred)),
        "loyalty_mean": float(market_unit_sum(market.loyalty * active, org.units).sum()
                              / n_active),
        "customer_satisfaction_mean": float((market.satisfaction * active).sum(dtype=np.float64)
                                            / n_active),
    }


# KPI name of each cost line of the ledger.
COST_KPIS = {"goods": "goods_cost", "wages": "wages", "training": "training_cost",
             "resources": "resources_cost", "recognition": "recognition_cost",
             "rewards": "rewards_cost", "surveys": "surveys_cost", "hiring": "hiring_cost",
             "fixed": "fixed_cost"}


def money_kpis(ledger: Ledger) -> dict[str, float]:
    """Revenue, costs and profit of the week, and each cost line."""
    kpis = {
        "revenue": float(ledger.revenue.sum()),
        "costs": float(ledger.costs.sum()),
        "profit": float(ledger.profit.sum()),
    }
    kpis.update({name: float(getattr(ledger, line).sum()) for line, name in COST_KPIS.items()})
    return kpis


def unit_table(org: Organisation, week: Week, vacant: np.ndarray) -> np.ndarray:
    """One row per business unit, the columns of UNIT_COLUMNS."""
    units, wf, market, enc, ledger = (org.units, org.workforce, org.market, week.encounters,
                                      week.ledger)
    n, on = units.n, wf.filled
    active = market.status == ACTIVE
    customers_u = market_unit_sum(active, units)
    loyalty_sum_u = market_unit_sum(market.loyalty * active, units)
    enc_unit = market.unit[enc.customer]

    def per_unit(values: np.ndarray) -> np.ndarray:
        return unit_mean(values, wf.unit, n, on)

    staff_u = np.bincount(wf.unit, weights=on, minlength=n)
    loyalty_u = np.divide(loyalty_sum_u, customers_u, out=np.zeros(n), where=customers_u > 0)
    quits_u = np.bincount(wf.unit[week.staff.quits], minlength=n)
    churn_u = np.bincount(market.unit[week.customers.churned], minlength=n)
    visits_u = np.bincount(enc_unit, minlength=n)
    quality_u = np.bincount(enc_unit, weights=enc.quality, minlength=n) / np.maximum(visits_u, 1)
    return np.column_stack(
        [
            per_unit(wf.engagement),
            per_unit(wf.trust),
            per_unit(wf.burnout),
            quality_u,
            units.csat,
            customers_u,
            churn_u / np.maximum(customers_u + churn_u, 1.0),
            quits_u / np.maximum(staff_u + quits_u, 1.0),
            ledger.revenue,
            ledger.costs,
            ledger.profit,
            staff_u,
            np.bincount(wf.unit, weights=vacant, minlength=n),
            units.workload,
            units.manager_engagement,
            loyalty_u,
        ]
    )
