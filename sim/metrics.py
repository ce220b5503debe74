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

from sim.compiled import jit, unpack
from sim.finance import LEDGER_LINES
from sim.state import ACTIVE, PROSPECT
from sim.turnover import budgeted_headcount

if TYPE_CHECKING:
    from sim.week import Week

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


# --- per-unit sums: every organisation-wide KPI is made from them ------------------------------
# Staff states averaged over the employees in post (KPI: summed state).
STAFF_MEANS = {
    "engagement_mean": "engagement", "trust_mean": "trust", "burnout_mean": "burnout",
    "skill_mean": "skill", "mood_mean": "mood", "alignment_mean": "alignment",
    "autonomy_mean": "autonomy", "feedback_mean": "feedback", "absence_rate": "absent",
}
ENGAGEMENT_GROUPS = ("engaged_share", "actively_disengaged_share", "not_engaged_share")
# KPI name of each cost line of the ledger.
COST_KPIS = {"goods": "goods_cost", "wages": "wages", "training": "training_cost",
             "resources": "resources_cost", "recognition": "recognition_cost",
             "rewards": "rewards_cost", "surveys": "surveys_cost", "hiring": "hiring_cost",
             "fixed": "fixed_cost"}
MONEY = ("revenue", "costs", "profit", *COST_KPIS)
UNIT_SUMS = (
    "employees", *STAFF_MEANS.values(), *ENGAGEMENT_GROUPS, "vacancies",
    "customers", "prospects", "customer_loyalty", "customer_satisfaction",
    "visits", "visit_quality", "visit_satisfaction", "promoters", "detractors", "very_bad",
    "quits", "hires", "churned", "churned_after_bad", "acquired", "referred",
    *MONEY, "manager_engagement", "process_quality", "workload_weighted", "market_slots", "units",
)


# Where each money line of UNIT_SUMS sits among the ledger's rows (Ledger's fields).
_LEDGER_ROWS = np.array([LEDGER_LINES.index(line) for line in MONEY])


@jit
def unit_sums(packed, planned_staff, unit, rank, filled, absent, engagement, trust, burnout,
              skill, mood, alignment, autonomy, feedback, first_slot, slot_count, status,
              loyalty, satisfaction, unit_of_slot, visitors, visit_quality, visit_satisfaction,
              very_bad, quits, hires, churned, churned_after_bad, acquired, referred, ledger,
              manager_engagement, process_quality, workload, csat):
    """The week's counts and sums per business unit, and the unit table, in one pass.

    Sums: n_units x len(UNIT_SUMS); table: n_units x len(UNIT_COLUMNS). Each sum is added slot by
    slot over its unit's own slots only, so a unit's row is the same whether its organisation
    is measured alone or in a batch (:mod:`sim.batch`). ``ledger``: the rows of the week's
    :class:`~sim.finance.Ledger`.
    """
    params = unpack(packed)
    out = np.zeros((len(UNIT_SUMS), len(first_slot)))  # a row per sum, then transposed
    states = (engagement, trust, burnout, skill, mood, alignment, autonomy, feedback)
    rows = _add_staff(out, unit, filled, states, absent, rank,
                      budgeted_headcount(params, planned_staff))
    rows = _add_market(out, rows, first_slot, slot_count, status, loyalty, satisfaction)
    rows = _add_visits(out, rows, unit_of_slot, visitors, visit_quality, visit_satisfaction,
                       very_bad)
    for slots in (quits, hires):
        _count(out[rows], unit, slots)
        rows += 1
    for slots in (churned, churned_after_bad, acquired, referred):
        _count(out[rows], unit_of_slot, slots)
        rows += 1
    for line in _LEDGER_ROWS:
        out[rows] = ledger[line]
        rows += 1
    out[rows], out[rows + 1] = manager_engagement, process_quality
    out[rows + 2] = workload * slot_count
    out[rows + 3], out[rows + 4] = slot_count, 1.0
    sums = out.T
    return sums, _unit_rows(sums, csat, workload, manager_engagement)


@jit
def _add_staff(out, unit, filled, states, absent, rank, plan):
    """Employees in post, their summed states, absences and engagement groups; vacancies.

    A position is vacant when it is inside its unit's budget (``rank < plan``) and unfilled.

    Rows in UNIT_SUMS order: employees, each of ``states`` (engagement first), absent, the
    three engagement groups, vacancies. Returns the next row.
    """
    groups = len(states) + 2
    for i in range(len(unit)):
        u = unit[i]
        if filled[i]:
            out[0, u] += 1.0
            for k in range(len(states)):
                out[1 + k, u] += states[k][i]
            out[len(states) + 1, u] += absent[i]
            engagement = states[0][i]
            out[groups, u] += engagement >= ENGAGED_AT
            out[groups + 1, u] += engagement < DISENGAGED_BELOW
            out[groups + 2, u] += (engagement >= DISENGAGED_BELOW) & (engagement < ENGAGED_AT)
        out[groups + 3, u] += (rank[i] < plan[u]) & (not filled[i])
    return groups + 4


@jit
def _add_market(out, rows, first_slot, slot_count, status, loyalty, satisfaction):
    """Active customers, prospects, and the active customers' loyalty and satisfaction."""
    for u in range(len(first_slot)):  # a unit's market slots are contiguous
        active = prospects = loyal = satisfied = 0.0
        for c in range(first_slot[u], first_slot[u] + slot_count[u]):
            if status[c] == ACTIVE:
                active += 1.0
                loyal += loyalty[c]
                satisfied += satisfaction[c]
            elif status[c] == PROSPECT:
                prospects += 1.0
        out[rows, u], out[rows + 1, u] = active, prospects
        out[rows + 2, u], out[rows + 3, u] = loyal, satisfied
    return rows + 4


@jit
def _add_visits(out, rows, unit, visitors, quality, satisfaction, very_bad):
    """Visits, their quality and satisfaction, promoters and detractors, very bad ones."""
    for i in range(len(visitors)):
        u = unit[visitors[i]]
        rating = np.rint(satisfaction[i] * 10.0)
        out[rows, u] += 1.0
        out[rows + 1, u] += quality[i]
        out[rows + 2, u] += satisfaction[i]
        out[rows + 3, u] += rating >= PROMOTER_RATING
        out[rows + 4, u] += rating <= DETRACTOR_RATING
        out[rows + 5, u] += very_bad[i]
    return rows + 6


@jit
def _count(out, unit, slots):
    """How many of ``slots`` each unit has."""
    for slot in slots:
        out[unit[slot]] += 1.0


def total(per_unit: np.ndarray) -> float:
    """The organisation's total of one per-unit array, added as its KPIs add their sums."""
    return _organisation_total(per_unit)


@jit
def _organisation_total(per_unit):
    """Units' values added as ``np.add.reduceat`` adds them.

    The first value plus NumPy's pairwise sum of the rest, written out for kernels. An
    organisation's total is the same alone or in a batch, where its units are a slice.
    """
    return per_unit[0] + _pairwise_sum(per_unit[1:]) if len(per_unit) > 1 else per_unit[0]


@jit
def _pairwise_sum(values):
    """NumPy's pairwise summation of floats, to the bit.

    Below 8 values, in order; up to 128, eight running sums combined in pairs, then the rest in
    order; above, the sum of the two halves' sums.
    """
    n = len(values)
    if n < 8:
        whole = 0.0
        for k in range(n):
            whole += values[k]
        return whole
    if n <= 128:
        partial = values[:8].copy()
        k = 8
        while k < n - n % 8:
            for j in range(8):
                partial[j] += values[k + j]
            k += 8
        whole = (((partial[0] + partial[1]) + (partial[2] + partial[3]))
                 + ((partial[4] + partial[5]) + (partial[6] + partial[7])))
        for rest in range(k, n):
            whole += values[rest]
        return whole
    half = n // 2
    half -= half % 8
    return _pairwise_sum(values[:half]) + _pairwise_sum(values[half:])


# Each KPI as (numerator, denominator): sums of UNIT_SUMS or the week's own values
# (KPI_WEEK_VALUES); a ratio is 0 when its denominator is (no employees, no visits...), and a
# count or an amount is itself over "one".
KPI_FROM: dict[str, tuple[str, str]] = {
    **{kpi: (state, "employees") for kpi, state in STAFF_MEANS.items()},
    **{group: (group, "employees") for group in ENGAGEMENT_GROUPS},
    "manager_engagement_mean": ("manager_engagement", "units"),
    "process_quality_mean": ("process_quality", "units"),
    "workload_mean": ("workload_weighted", "market_slots"),
    "employee_turnover_rate": ("quits", "staff_before"),
    "service_quality": ("visit_quality", "visits"),
    "csat": ("visit_satisfaction", "visits"),
    "nps": ("net_promoters", "visits"),  # then x 100
    "very_bad_share": ("very_bad", "visits"),
    "customer_churn_rate": ("churned", "active_before"),
    "loyalty_mean": ("customer_loyalty", "customers"),
    "customer_satisfaction_mean": ("customer_satisfaction", "customers"),
    **{kpi: (total, "one") for kpi, total in (
        ("employees", "employees"), ("quits", "quits"), ("hires", "hires"),
        ("vacancies", "vacancies"), ("visits", "visits"), ("customers_active", "customers"),
        ("prospects", "prospects"), ("customers_churned", "churned"),
        ("churned_after_bad_encounter", "churned_after_bad"), ("new_customers", "acquired"),
        ("referrals", "referred"), ("revenue", "revenue"), ("costs", "costs"),
        ("profit", "profit"), *((kpi, line) for line, kpi in COST_KPIS.items()),
        ("cum_profit", "cum_profit"))},
}
KPI_WEEK_VALUES = ("net_promoters", "staff_before", "active_before", "cum_profit", "one")
_KPI_VALUES = (*UNIT_SUMS, *KPI_WEEK_VALUES)
_NUMERATOR, _DENOMINATOR = (np.array([_KPI_VALUES.index(KPI_FROM[kpi][side])
                                      for kpi in KPI_COLUMNS]) for side in (0, 1))
_PROMOTERS, _DETRACTORS = UNIT_SUMS.index("promoters"), UNIT_SUMS.index("detractors")
_NPS = KPI_COLUMNS.index("nps")


def kpi_values(week: Week, cum_profit: float) -> np.ndarray:
    """The week's organisation-wide KPIs, in KPI_COLUMNS order, from its per-unit sums.

    The units' sums added in unit order, then divided as :data:`KPI_FROM` says.
    """
    return _kpi_values(week.sums, week.staff_before, week.active_before, cum_profit)


def kpis(week: Week, cum_profit: float) -> dict[str, float]:
    """:func:`kpi_values` by name."""
    return dict(zip(KPI_COLUMNS, kpi_values(week, cum_profit).tolist(), strict=True))


@jit
def _kpi_values(sums, staff_before, active_before, cum_profit):
    """:func:`kpi_values` of a week's sums and headcounts; a ratio over 0 is 0."""
    summed = np.empty(sums.shape[1])
    for k in range(len(summed)):
        summed[k] = _organisation_total(sums[:, k])
    values = np.empty(len(_KPI_VALUES))
    n = len(summed)
    values[:n] = summed
    values[n] = summed[_PROMOTERS] - summed[_DETRACTORS]  # then KPI_WEEK_VALUES' others
    values[n + 1], values[n + 2], values[n + 3], values[n + 4] = (
        staff_before, active_before, cum_profit, 1.0)
    out = np.zeros(len(KPI_COLUMNS))
    for k in range(len(out)):
        denominator = values[_DENOMINATOR[k]]
        if denominator != 0.0:
            out[k] = values[_NUMERATOR[k]] / denominator
    out[_NPS] *= 100.0
    return out


# Where the sums the unit table reads sit in a unit's row of sums (UNIT_SUMS order).
(_STAFF, _ENGAGEMENT, _TRUST, _BURNOUT, _QUALITY, _VISITS, _CUSTOMERS, _CHURNED, _QUITS,
 _REVENUE, _COSTS, _PROFIT, _VACANCIES, _LOYALTY) = (UNIT_SUMS.index(name) for name in (
    "employees", "engagement", "trust", "burnout", "visit_quality", "visits", "customers",
    "churned", "quits", "revenue", "costs", "profit", "vacancies", "customer_loyalty"))


@jit
def _unit_rows(sums, csat, workload, manager_engagement):
    """The unit table, unit by unit: means per employee, visit or customer; weekly rates."""
    out = np.empty((len(sums), len(UNIT_COLUMNS)))
    for u in range(len(sums)):
        row, s = out[u], sums[u]
        staff, customers = s[_STAFF], s[_CUSTOMERS]
        has_staff = staff > 0
        row[0] = s[_ENGAGEMENT] / staff if has_staff else 0.0
        row[1] = s[_TRUST] / staff if has_staff else 0.0
        row[2] = s[_BURNOUT] / staff if has_staff else 0.0
        row[3] = s[_QUALITY] / max(s[_VISITS], 1.0)
        row[4] = csat[u]
        row[5] = customers
        row[6] = s[_CHURNED] / max(customers + s[_CHURNED], 1.0)  # churn
        row[7] = s[_QUITS] / max(staff + s[_QUITS], 1.0)  # turnover
        row[8], row[9], row[10] = s[_REVENUE], s[_COSTS], s[_PROFIT]
        row[11], row[12], row[13] = staff, s[_VACANCIES], workload[u]
        row[14] = manager_engagement[u]
        row[15] = s[_LOYALTY] / customers if customers > 0 else 0.0
    return out
