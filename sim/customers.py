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
from typing import NamedTuple

import numpy as np

from sim.compiled import formula, in_halves, jit, unpack
from sim.elementary import exp, power
from sim.params import Params
from sim.state import ACTIVE, LOST, PROSPECT, Encounters, Market, Units


class NewCustomer(NamedTuple):
    """Where a prospect who joins starts (the expectation it had is kept)."""

    satisfaction: float
    loyalty: float


class NewProspect(NamedTuple):
    """Where a new household in a lost customer's place starts."""

    expectation: float
    satisfaction: float
    loyalty: float


NEW_CUSTOMER = NewCustomer(satisfaction=0.65, loyalty=0.15)
NEW_PROSPECT = NewProspect(expectation=0.65, satisfaction=0.6, loyalty=0.2)


@dataclass
class CustomerFlows:
    """What happened in the market this week (slots)."""

    churned: np.ndarray
    churned_after_bad: np.ndarray  # churned in a week with a very bad encounter
    acquired: np.ndarray
    referred: np.ndarray
    renewed: np.ndarray


@formula
def loyalty_pull_of(params: np.ndarray, satisfaction: np.ndarray | float) -> np.ndarray | float:
    """The loyalty a customer's satisfaction leads to (their loyalty's pull).

    Convex: the very satisfied are far more loyal than the merely satisfied (Jones & Sasser
    1995).
    """
    return power(satisfaction, params[0].loyalty_convexity)


def absorb_encounters(params: Params, market: Market, units: Units, enc: Encounters) -> None:
    """Visitors update satisfaction, the loyalty it pulls toward, and expectations.

    Every customer's loyalty follows its pull in :func:`churn_and_grow`, before they decide.
    """
    in_halves(_absorb, len(enc.customer), params.packed, enc.customer, enc.satisfaction,
              enc.quality, enc.employee, market.unit, market.taste, units.local_expectation,
              market.satisfaction, market.loyalty_pull, market.expectation, market.last_employee)


@jit
def _absorb(start, stop, packed, visitors, satisfied, quality, employee, unit, taste,
            local_expectation, satisfaction, loyalty_pull, expectation, last_employee):
    """Each visitor's satisfaction, the loyalty it pulls toward, and expectation after a visit."""
    params = unpack(packed)
    p = params[0]
    for i in range(start, stop):
        c = visitors[i]
        sat = satisfaction[c] + p.satisfaction_memory * (satisfied[i] - satisfaction[c])
        satisfaction[c] = sat
        loyalty_pull[c] = loyalty_pull_of(params, sat)
        anchor = p.expectation_anchor
        target = ((1.0 - anchor) * quality[i] + anchor * local_expectation[unit[c]]
                  + taste[c])
        expectation[c] += (target - expectation[c]) / p.expectation_weeks
        last_employee[c] = employee[i]


@jit
def word_of_mouth(packed, visitors, satisfaction, u_talk, first_contact, contact, n):
    """How many positive and how many negative messages each of ``n`` market slots hears.

    Delighted visitors may rave and unhappy ones complain, once to each of their contacts.
    """
    params = unpack(packed)
    p = params[0]
    good, bad = np.zeros(n, np.int32), np.zeros(n, np.int32)  # small: they fit in the caches
    for i in range(len(visitors)):
        c = visitors[i]
        rave = (satisfaction[i] >= p.promoter_satisfaction) & (u_talk[c] < p.wom_promoter_p)
        complain = ((satisfaction[i] <= p.detractor_satisfaction)
                    & (u_talk[c] < p.wom_detractor_p))
        if rave or complain:
            heard = good if rave else bad
            for k in range(first_contact[c], first_contact[c + 1]):
                heard[contact[k]] += 1
    return good, bad


@formula
def churn_chance(params: np.ndarray, loyalty: np.ndarray | float) -> np.ndarray | float:
    """Weekly chance that a customer of this loyalty leaves, falling with loyalty."""
    p = params[0]
    return p.churn_base * exp(p.churn_w_loyalty * (0.5 - loyalty))


@formula
def churn_ceiling(params: np.ndarray) -> float:
    """A bound on :func:`churn_chance` for every loyalty within 0-1.

    Its largest value at either end (the chance is monotone in loyalty), with a relative margin
    of 1e-12, far beyond the rounding of the computed chance.
    """
    return churn_chance(params, 0.0 if params[0].churn_w_loyalty >= 0.0 else 1.0) * (1.0 + 1e-12)


def churn_and_grow(
    params: Params,
    market: Market,
    units: Units,
    u_fate: np.ndarray,
    good: np.ndarray,
    bad: np.ndarray,
    very_bad: np.ndarray,
) -> CustomerFlows:
    """Loyalty follows its pull; customers leave, prospects join, lost places renew.

    Each market slot draws one uniform a week (``u_fate``) for the decision its status allows:
    an active customer, whose loyalty has first moved toward its pull, may leave (more likely
    after ``bad`` negative messages or a ``very_bad`` encounter this week), a prospect may join
    (by referral or unprompted; more likely after ``good`` positive messages), a lost place may
    renew.
    """
    parts = in_halves(
        _churn_and_grow, market.n, params.packed, u_fate, good, bad, very_bad, units.csat,
        market.unit, market.status, market.expectation, market.satisfaction, market.loyalty,
        market.loyalty_pull, market.tenure, market.referred, market.last_employee,
    )
    return CustomerFlows(*(np.concatenate(flow) if len(flow) > 1 else flow[0]
                           for flow in zip(*parts, strict=True)))


@jit
def _churn_and_grow(start, stop, packed, u_fate, good, bad, very_bad, csat, unit, status,
                    expectation, satisfaction, loyalty, loyalty_pull, tenure, referred,
                    last_employee):
    """:func:`churn_and_grow` for slots ``start`` to ``stop``, slot by slot: messages, then fate."""
    params = unpack(packed)
    p = params[0]
    n = stop - start
    churned, after_bad = np.empty(n, np.int64), np.empty(n, np.int64)
    acquired, referrals = np.empty(n, np.int64), np.empty(n, np.int64)
    renewed = np.empty(n, np.int64)
    counts = np.zeros(5, np.int64)  # churned, after a bad encounter, acquired, referred, renewed
    follow = 1.0 / p.loyalty_weeks
    # an undisturbed customer whose draw is above the ceiling stays: their chance of leaving
    # need not be computed (the same decisions, most of the weekly expm1 calls skipped)
    ceiling = churn_ceiling(params)
    for c in range(start, stop):
        if good[c] or bad[c]:
            # each message heard shifts the expectation by one step, positive ones first
            # (Anderson 1998)
            shifted = expectation[c]
            for _ in range(good[c]):
                shifted += p.wom_expectation
            for _ in range(bad[c]):
                shifted -= p.wom_expectation
            expectation[c] = min(max(shifted, 0.0), 1.0)
        u = u_fate[c]
        if status[c] == ACTIVE:
            # an active customer's loyalty moves toward its pull; their tenure grows a week
            loyalty[c] += (loyalty_pull[c] - loyalty[c]) * follow
            tenure[c] += 1
            if (u >= ceiling and bad[c] == 0 and not very_bad[c]
                    and 0.0 <= loyalty[c] <= 1.0):
                continue
            leave = churn_chance(params, loyalty[c])
            if bad[c] > 0:  # negative word of mouth pushes out
                leave += p.wom_churn * bad[c]
            if very_bad[c]:
                leave = 1.0 - (1.0 - leave) * (1.0 - p.p_leave_after_bad)
            if u < leave:
                churned[counts[0]] = c
                counts[0] += 1
                if very_bad[c]:
                    after_bad[counts[1]] = c
                    counts[1] += 1
                status[c] = LOST
        elif status[c] == PROSPECT:
            join = p.acquisition_base * (p.acquisition_floor + csat[unit[c]])  # reputation
            by_referral = False
            if good[c] > 0:  # positive word of mouth: referrals
                referral = 1.0 - power(1.0 - p.referral_p, good[c])
                join += referral
                by_referral = u < referral
            if u < join:
                acquired[counts[2]] = c
                counts[2] += 1
                if by_referral:
                    referrals[counts[3]] = c
                    counts[3] += 1
                status[c], referred[c], tenure[c] = ACTIVE, by_referral, 0
                satisfaction[c] = NEW_CUSTOMER.satisfaction
                loyalty[c] = NEW_CUSTOMER.loyalty
                loyalty_pull[c] = loyalty_pull_of(params, satisfaction[c])
        elif u < p.market_renewal:  # a lost place: a new household moves in
            renewed[counts[4]] = c
            counts[4] += 1
            status[c], referred[c], last_employee[c] = PROSPECT, False, -1
            expectation[c] = NEW_PROSPECT.expectation
            satisfaction[c] = NEW_PROSPECT.satisfaction
            loyalty[c] = NEW_PROSPECT.loyalty
            loyalty_pull[c] = loyalty_pull_of(params, satisfaction[c])
    return (churned[:counts[0]], after_bad[:counts[1]], acquired[:counts[2]],
            referrals[:counts[3]], renewed[:counts[4]])
