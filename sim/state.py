"""The model's state as structures of arrays, one array per state variable, indexed by slot.

Employees live in *positions*: a fixed number of slots per business unit (enough for the largest
staffing ratio). A position is filled by an employee, vacant while a hire is under way, or not
budgeted. Customers live in *market slots*: each is a person in a unit's local market who is a
prospect, an active customer or lost. Slots of one unit are contiguous, which keeps per-unit sums
to one ``np.add.reduceat`` or ``np.bincount``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PROSPECT, ACTIVE, LOST = 0, 1, 2
MAX_STAFFING_RATIO = 1.5


@dataclass
class Units:
    """Business units and their managers (one manager per unit)."""

    market_share: np.ndarray  # share of the market living in the unit's area
    planned_staff: np.ndarray  # positions budgeted at staffing ratio 1
    position_start: np.ndarray  # first position slot of the unit
    position_count: np.ndarray  # position slots of the unit (max staffing)
    customer_start: np.ndarray  # first market slot of the unit
    customer_count: np.ndarray  # market slots of the unit
    trait_offset: np.ndarray  # (5, n_units) manager deviations from the policy means
    manager_engagement: np.ndarray  # the manager's own engagement, 0-1
    process_quality: np.ndarray  # service-process quality built from voiced ideas, 0-1
    csat: np.ndarray  # last week's mean encounter satisfaction
    workload: np.ndarray  # last week's demand / capacity
    service_norm: np.ndarray  # quality the unit's staff hold as normal service, 0-1
    local_expectation: np.ndarray  # service level local competitors offer, 0-1

    @property
    def n(self) -> int:
        """Number of units."""
        return len(self.market_share)


# Order of the rows of Units.trait_offset (and of the levers they deviate from).
MANAGER_TRAITS = ("fairness", "control", "support", "recognition", "communication")
TRAIT_LEVERS = (
    "manager_fairness",
    "micromanagement",
    "mentoring",
    "recognition",
    "vision_communication",
)


@dataclass
class Workforce:
    """Frontline positions and the employees who fill them."""

    unit: np.ndarray  # unit of the position
    rank: np.ndarray  # index of the position within its unit (budgeted if < plan)
    filled: np.ndarray  # an employee holds the position
    ti_hire: np.ndarray  # step at which a pending hire arrives, -1 if none
    engagement: np.ndarray  # 0-1; Gallup categories by thresholds (see metrics)
    trust: np.ndarray  # trust in the unit manager, 0-1
    skill: np.ndarray  # job competence, 0-1
    burnout: np.ndarray  # exhaustion, 0-1
    mood: np.ndarray  # this week's affect, 0-1 (0.5 neutral)
    alignment: np.ndarray  # understands and shares the goals (the why), 0-1
    autonomy: np.ndarray  # latitude to act, 0-1
    fit: np.ndarray  # person-job fit, fixed at hire, 0-1
    disposition: np.ndarray  # individual log-odds shift of engagement, fixed at hire
    aptitude: np.ndarray  # individual service aptitude (quality shift), fixed at hire
    feedback: np.ndarray  # recent satisfaction of the customers served, 0-1
    tenure: np.ndarray  # weeks in the job
    absent: np.ndarray  # away this week (sickness, absence): paid, not serving
    absence_rate: np.ndarray  # share of recent weeks away (52-week moving average)

    @property
    def n(self) -> int:
        """Number of position slots."""
        return len(self.unit)


@dataclass
class Market:
    """People in the units' local markets: prospects, customers and lost customers."""

    unit: np.ndarray  # home unit
    status: np.ndarray  # PROSPECT, ACTIVE or LOST
    expectation: np.ndarray  # expected service quality, 0-1
    taste: np.ndarray  # the household's own standard: a fixed shift of its expectation
    satisfaction: np.ndarray  # running satisfaction with the service, 0-1
    loyalty: np.ndarray  # attachment; drives visits and spend, 0-1
    loyalty_pull: np.ndarray  # loyalty that the current satisfaction leads to (cached, 0-1)
    tenure: np.ndarray  # weeks as a customer
    referred: np.ndarray  # became a customer through a referral
    last_employee: np.ndarray  # position that served the last visit, -1 if none

    @property
    def n(self) -> int:
        """Number of market slots."""
        return len(self.unit)


@dataclass
class Encounters:
    """This week's service encounters (one row per visit): the service ties of the week."""

    customer: np.ndarray  # market slot of the visitor
    employee: np.ndarray  # position that served, -1 if nobody could
    quality: np.ndarray  # experienced service quality, 0-1
    satisfaction: np.ndarray  # post-encounter satisfaction, 0-1
    spend: np.ndarray  # money spent
    very_bad: np.ndarray  # quality below the very-bad threshold
