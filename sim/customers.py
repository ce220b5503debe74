"""Customers after their visits: satisfaction, expectations, loyalty, word of mouth, churn, referrals.

Satisfaction accumulates over encounters; expectations drift slowly toward experienced quality
(Oliver 1980). Loyalty follows satisfaction convexly: the very satisfied are far more loyal than
the merely satisfied (Jones & Sasser 1995). Delighted and angry customers talk to their contacts
(an asymmetric U: both extremes talk, the angry a bit more; Anderson 1998). Positive messages turn
prospects into customers (referrals); negative ones push customers away. A very bad encounter can
lose a customer for good (seed 003; PwC 2018). Lost customers' places are slowly taken by new
households (market renewal).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from sim.params import Params
from sim.rng import Streams
from sim.state import ACTIVE, LOST, PROSPECT, Encounters, Market, Units

PROMOTER_SATISFACTION = 0.8   # post-visit satisfaction at which a customer may rave
DETRACTOR_SATISFACTION = 0.35  # post-visit satisfaction at which a customer may complain
NEW_CUSTOMER = {"satisfaction": 0.65, "loyalty": 0.15}
NEW_PROSPECT = {"expectation": 0.65, "satisfaction": 0.6, "loyalty": 0.2}


@dataclass
class CustomerFlows:
    """What happened in the market this week (slots)."""

    churned: np.ndarray
    churned_after_bad: np.ndarray
    acquired: np.ndarray
    referred: np.ndarray
    renewed: np.ndarray


def absorb_encounters(params: Params, market: Market, enc: Encounters) -> None:
    """Visitors update satisfaction and expectations; all customers' loyalty follows satisfaction."""
    c = enc.customer
    sat = market.satisfaction
    sat[c] += np.float32(params.satisfaction_memory) * (enc.satisfaction - sat[c])
    market.expectation[c] += (enc.quality - market.expectation[c]) / np.float32(params.expectation_weeks)
    market.last_employee[c] = enc.employee
    active = market.status == ACTIVE
    target = sat ** np.float32(params.loyalty_convexity)
    market.loyalty += np.where(active, (target - market.loyalty) / np.float32(params.loyalty_weeks),
                               np.float32(0.0))
    market.tenure += active


def word_of_mouth(params: Params, market: Market, enc: Encounters, contacts: sp.csr_matrix,
                  streams: Streams, step: int) -> np.ndarray:
    """Messages each person hears this week: columns (positive, negative)."""
    talk = streams.uniform("talk", step, market.n)[enc.customer]
    rave = (enc.satisfaction >= PROMOTER_SATISFACTION) & (talk < params.wom_promoter_p)
    complain = (enc.satisfaction <= DETRACTOR_SATISFACTION) & (talk < params.wom_detractor_p)
    said = np.zeros((market.n, 2), dtype=np.float32)
    said[enc.customer[rave], 0] = 1.0
    said[enc.customer[complain], 1] = 1.0
    return contacts @ said


def churn_and_grow(params: Params, market: Market, units: Units, enc: Encounters,
                   heard: np.ndarray, streams: Streams, step: int) -> CustomerFlows:
    """Customers leave, prospects join (by referral or unprompted), lost places renew."""
    positive, negative = heard[:, 0], heard[:, 1]
    active = market.status == ACTIVE
    prospect = market.status == PROSPECT
    lost = market.status == LOST

    market.expectation += np.float32(params.wom_expectation) * (positive - negative)
    np.clip(market.expectation, 0.0, 1.0, out=market.expectation)

    bad = np.zeros(market.n, dtype=bool)
    bad[enc.customer[enc.very_bad]] = True
    p_churn = (params.churn_base * np.exp(params.churn_w_loyalty * (0.5 - market.loyalty))
               + params.wom_churn * negative)
    u_churn = streams.uniform("churn", step, market.n)
    u_bad = streams.uniform("churn.bad", step, market.n)
    leave_bad = active & bad & (u_bad < params.p_leave_after_bad)
    churned = active & ((u_churn < p_churn) | leave_bad)

    reputation = units.csat[market.unit]
    p_organic = params.acquisition_base * (0.5 + reputation)
    p_referral = 1.0 - (1.0 - params.referral_p) ** positive
    u_join = streams.uniform("acquisition", step, market.n)
    referred = prospect & (u_join < p_referral)
    acquired = prospect & (u_join < p_referral + p_organic)
    renewed = lost & (streams.uniform("renewal", step, market.n) < params.market_renewal)

    market.status[churned] = LOST
    market.status[acquired] = ACTIVE
    market.status[renewed] = PROSPECT
    market.referred[acquired] = referred[acquired]
    market.tenure[acquired] = 0
    market.satisfaction[acquired] = NEW_CUSTOMER["satisfaction"]
    market.loyalty[acquired] = NEW_CUSTOMER["loyalty"]
    for key, value in NEW_PROSPECT.items():
        getattr(market, key)[renewed] = value
    market.referred[renewed] = False
    market.last_employee[renewed] = -1
    return CustomerFlows(
        churned=np.flatnonzero(churned),
        churned_after_bad=np.flatnonzero(churned & leave_bad),
        acquired=np.flatnonzero(acquired),
        referred=np.flatnonzero(referred),
        renewed=np.flatnonzero(renewed),
    )
