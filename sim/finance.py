"""Money per unit and week: revenue from customers' spend, the costs of people and policies.

Investing in people costs money now (training, resources, recognition, rewards, selective hiring,
surveys acted upon, pay) and pays back, if at all, through skill, engagement, service quality,
loyal customers and lower turnover. Turnover's cost is mostly hidden in the lost productivity of
vacancies and new hires (Boushey & Glynn 2012; Tracey & Hinkin 2008); only recruiting is a cash
cost here.

Most of a service chain's costs move with its sales: the goods, food and supplies it sells cost a
fixed share of revenue (``goods_cost_share``), so a unit's profit is its gross profit less the
costs of its people, policies and premises. Without that share every extra sale would fall to
profit, and units' margins would differ by several times their differences in sales.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from sim.compiled import jit, unpack


@dataclass
class Ledger:
    """One week's money per unit (arrays of length n_units): revenue, each cost, the totals."""

    revenue: np.ndarray
    goods: np.ndarray
    wages: np.ndarray
    training: np.ndarray
    resources: np.ndarray
    recognition: np.ndarray
    rewards: np.ndarray
    surveys: np.ndarray
    hiring: np.ndarray
    fixed: np.ndarray
    costs: np.ndarray  # every cost line above, added in their order
    profit: np.ndarray  # revenue minus costs


LEDGER_LINES = tuple(f.name for f in fields(Ledger))  # the order of the rows book returns
COST_LINES = tuple(line for line in LEDGER_LINES if line not in ("revenue", "costs", "profit"))


@jit
def book(packed, unit_of_slot, visitors, spend, unit_of_position, filled, inducting, hires,
         csat, customer_count):
    """The week's ledger of every unit, as rows in the order of :class:`Ledger`.

    Revenue, every cost line, costs and profit per unit: one array, not a dozen (each array a
    kernel returns costs a microsecond).
    """
    params = unpack(packed)
    p = params[0]
    revenue, staff, new, hired = _tally(len(csat), unit_of_slot, visitors, spend,
                                        unit_of_position, filled, inducting, hires)
    wage = p.wage_weekly * p.pay_level
    lines = (
        revenue * p.goods_cost_share,
        staff * wage + p.manager_wage_weekly,
        (staff * p.training + new * p.induction_share) * wage * p.training_cost_share,
        staff * p.resources * p.resource_cost,
        staff * p.recognition * p.recognition_cost,
        staff * p.rewards * p.bonus_max * wage * csat,
        staff * p.surveys_acted_upon * p.survey_cost,
        hired * p.hiring_cost * (1.0 + p.hiring_selectivity),
        customer_count * p.fixed_cost_per_customer,
    )
    out = np.empty((len(lines) + 3, len(csat)))  # revenue, the lines, costs, profit
    out[0] = revenue
    costs = np.zeros(len(csat))
    for k, line in enumerate(lines):
        out[k + 1] = line
        costs += line
    out[-2], out[-1] = costs, revenue - costs
    return out


@jit
def _tally(n_units, unit_of_slot, visitors, spend, unit_of_position, filled, inducting, hires):
    """Per unit: the visits' spend, employees in post, those in induction, and this week's hires."""
    revenue, staff = np.zeros(n_units), np.zeros(n_units)
    new, hired = np.zeros(n_units), np.zeros(n_units, np.int64)
    for i in range(len(visitors)):
        revenue[unit_of_slot[visitors[i]]] += spend[i]
    for i in range(len(filled)):
        staff[unit_of_position[i]] += filled[i]
        new[unit_of_position[i]] += filled[i] & inducting[i]
    for slot in hires:
        hired[unit_of_position[slot]] += 1
    return revenue, staff, new, hired
