"""Customers after their visits: satisfaction, expectations, loyalty, word of mouth, churn.

Satisfaction accumulates over encounters; expectations drift slowly toward a mix of the quality
experienced and the service level the market offers (competitors, the brand's promise): customers
judge a unit against what they could get elsewhere, not only against its own past (Oliver 1980;
Zeithaml, Berry & Parasuraman 1993). Loyalty follows satisfaction convexly: the very satisfied
are far more loyal than the merely satisfied (Jones & Sasser 1995). Delighted and angry customers
talk to their contacts (an asymmetric U: both extremes talk, the angry a bit more; Anderson
1998). Positive messages turn prospects into customers (referrals); negative ones push customers
away. A very bad encounter can lose a customer for good (seed 003; PwC 2018). Lost customers'
places are slowly taken by new households (market renewal).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from sim.compiled import jit
from sim.elementary import exp, power
from sim.params import Params
from sim.state import ACTIVE, LOST, PROSPECT, Encounters, Market, Units

NEW_CUSTOMER = {"satisfaction": 0.65, "loyalty": 0.15}
NEW_PROSPECT = {"expectation": 0.65, "satisfaction": 0.6, "loyalty": 0.2}


@dataclass
class CustomerFlows:
    """What happened in the market this week (slots)."""

    churned: np.ndarray
    churned_after_bad: np.ndarray  # churned in a week with a very bad encounter
    acquired: np.ndarray
    referred: np.ndarray
    renewed: np.ndarray


def absorb_encounters(params: Params, market: Market, units: Units, enc: Encounters) -> None:
    """Visitors update satisfaction and expectations; every customer's loyalty follows suit."""
    _absorb(params.record, enc.customer, enc.satisfaction, enc.quality, enc.employee,
            market.unit, market.taste, units.local_expectation, market.satisfaction,
            market.loyalty_pull, market.expectation, market.last_employee)
    _follow_loyalty(params.record, market.status, market.loyalty_pull, market.loyalty,
                    market.tenure)


@jit
def _absorb(params, visitors, satisfied, quality, employee, unit, taste, local_expectation,
            satisfaction, loyalty_pull, expectation, last_employee):
    """Each visitor's satisfaction, the loyalty it pulls toward, and expectation after a visit."""
    p = params[0]
    for i in range(len(visitors)):
        c = visitors[i]
        sat = satisfaction[c] + p.satisfaction_memory * (satisfied[i] - satisfaction[c])
        satisfaction[c] = sat
        loyalty_pull[c] = power(sat, p.loyalty_convexity)
        anchor = p.expectation_anchor
        target = ((1.0 - anchor) * quality[i] + anchor * local_expectation[unit[c]]
                  + taste[c])
        expectation[c] += (target - expectation[c]) / p.expectation_weeks
        last_employee[c] = employee[i]


@jit
def _follow_loyalty(params, status, loyalty_pull, loyalty, tenure):
    """Every active customer's loyalty moves toward its pull; their tenure grows a week."""
    rate = 1.0 / params[0].loyalty_weeks
    for c in range(len(status)):
        active = status[c] == ACTIVE
        loyalty[c] += (loyalty_pull[c] - loyalty[c]) * (rate * active)
        tenure[c] += active


def neighbours(contacts: sp.csr_matrix, people: np.ndarray) -> np.ndarray:
    """Everyone linked to ``people`` (with repeats: one entry per tie)."""
    first, last = contacts.indptr[people], contacts.indptr[people + 1]
    degree = last - first
    offsets = np.repeat(first - (np.cumsum(degree) - degree), degree)
    return contacts.indices[offsets + np.arange(degree.sum())]


def word_of_mouth(
    params: Params,
    market: Market,
    enc: Encounters,
    contacts: sp.csr_matrix,
    draws: dict[str, np.ndarray],
) -> tuple[np.ndarray, np.ndarray]:
    """Who hears a positive and who a negative message this week (one entry per message)."""
    talk = draws["talk"][enc.customer]
    rave = (enc.satisfaction >= params.promoter_satisfaction) & (talk < params.wom_promoter_p)
    complain = (enc.satisfaction <= params.detractor_satisfaction) & (talk < params.wom_detractor_p)
    return (neighbours(contacts, enc.customer[rave]), neighbours(contacts, enc.customer[complain]))


def recipients(messages: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Who received ``messages`` (market slots below ``n``, in slot order) and how many each."""
    heard = np.bincount(messages, minlength=n)
    people = np.flatnonzero(heard > 0)  # a boolean mask: far faster to scan than counts
    return people, heard[people]


def _with_status(market: Market, heard: tuple[np.ndarray, np.ndarray], status: int
                 ) -> tuple[np.ndarray, np.ndarray]:
    """The recipients (and their counts) who are of ``status``."""
    people, times = heard
    keep = market.status[people] == status
    return people[keep], times[keep]


def _add_per_message(values: np.ndarray, heard: tuple[np.ndarray, np.ndarray],
                     step: float) -> None:
    """``values[p] += step`` once per message ``p`` received, one addition at a time.

    The same sums ``np.add.at`` makes over the messages, in far fewer calls: a round per repeat.
    """
    people, times = heard
    while len(people):
        values[people] += step
        again = times > 1
        people, times = people[again], times[again] - 1


def churn_probability(params: Params, market: Market, slots: np.ndarray) -> np.ndarray:
    """Weekly chance that customers leave, falling with their loyalty."""
    return params.churn_base * exp(
        params.churn_w_loyalty * (0.5 - market.loyalty[slots])
    )


def churn_and_grow(
    params: Params,
    market: Market,
    units: Units,
    enc: Encounters,
    heard: tuple[np.ndarray, np.ndarray],
    draws: dict[str, np.ndarray],
) -> CustomerFlows:
    """Customers leave, prospects join (by referral or unprompted), lost places renew.

    Each market slot draws one uniform a week for the decision its status allows: an active
    customer may leave (more likely after negative word of mouth or a very bad encounter), a
    prospect may join (more likely after positive word of mouth), a lost place may renew.
    """
    heard_good, heard_bad = (recipients(messages, market.n) for messages in heard)
    shift = params.wom_expectation
    _add_per_message(market.expectation, heard_good, shift)
    _add_per_message(market.expectation, heard_bad, -shift)
    for people, _ in (heard_good, heard_bad):
        market.expectation[people] = np.clip(market.expectation[people], 0.0, 1.0)

    u = draws["fate"]
    active = np.flatnonzero(market.status == ACTIVE)
    prospect = np.flatnonzero(market.status == PROSPECT)
    lost = np.flatnonzero(market.status == LOST)

    p_leave = churn_probability(params, market, active)
    told, times = _with_status(market, heard_bad, ACTIVE)  # negative word of mouth pushes out
    p_leave[np.searchsorted(active, told)] += params.wom_churn * times
    bad = np.searchsorted(active, enc.customer[enc.very_bad])  # visitors were all active
    p_leave[bad] = 1.0 - (1.0 - p_leave[bad]) * (1.0 - params.p_leave_after_bad)
    leaving = u[active] < p_leave
    churned = active[leaving]

    reputation = units.csat[market.unit[prospect]]
    p_join = params.acquisition_base * (params.acquisition_floor + reputation)
    told, times = _with_status(market, heard_good, PROSPECT)  # positive word of mouth: referrals
    p_referral = 1.0 - power(1.0 - params.referral_p, times)
    p_join[np.searchsorted(prospect, told)] += p_referral
    acquired = prospect[u[prospect] < p_join]
    referred = told[u[told] < p_referral]
    renewed = lost[u[lost] < params.market_renewal]

    market.status[churned] = LOST
    market.status[acquired] = ACTIVE
    market.status[renewed] = PROSPECT
    market.referred[acquired] = False
    market.referred[referred] = True
    market.tenure[acquired] = 0
    market.satisfaction[acquired] = NEW_CUSTOMER["satisfaction"]
    market.loyalty[acquired] = NEW_CUSTOMER["loyalty"]
    for key, value in NEW_PROSPECT.items():
        getattr(market, key)[renewed] = value
    for changed in (acquired, renewed):
        market.loyalty_pull[changed] = power(
            market.satisfaction[changed], params.loyalty_convexity
        )
    market.referred[renewed] = False
    market.last_employee[renewed] = -1
    return CustomerFlows(
        churned=churned,
        churned_after_bad=active[bad[leaving[bad]]],
        acquired=acquired,
        referred=referred,
        renewed=renewed,
    )
