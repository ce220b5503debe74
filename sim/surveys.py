"""What a company sees: an engagement survey of its staff and a survey of its customers' visits.

A company does not see engagement or satisfaction; it sees surveys. Every ``survey_weeks`` weeks
(week 0 included) each employee in post answers the engagement survey with probability
``survey_response_rate``; an answer is the employee's engagement plus item noise
(``survey_item_noise``), so a unit's score is a small, noisy sample. Each week a share
``customer_survey_rate`` of visits is followed by a 0-10 rating: ten times the visit's
satisfaction plus noise of one point, rounded. Between surveys, and for a unit without answers
or ratings, the last result stands, as it would on a company's dashboard (NaN until the first).
Surveys observe and do not act on the model: they draw from their own random streams, so the
simulated organisation is the same with or without them. The Q12 index reaches a Cronbach's
alpha of about .91 at business-unit level (Harter et al., Q12 meta-analysis); the sampling and
item noise here are stated assumptions.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import nan, sqrt

import numpy as np

from sim.compiled import jit
from sim.elementary import normal_quantile
from sim.metrics import DETRACTOR_RATING, DISENGAGED_BELOW, ENGAGED_AT, PROMOTER_RATING
from sim.params import Params
from sim.rng import Streams, fill_uniforms
from sim.state import Encounters, Market, Units, Workforce

CUSTOMER_RATING_NOISE = 1.0  # rating points: the same visit can be scored 7 or 8
SURVEY_KPIS = (
    "engagement_surveyed",
    "engaged_share_surveyed",
    "actively_disengaged_share_surveyed",
    "survey_respondents",
    "csat_surveyed",
    "nps_surveyed",
    "customer_ratings",
    # standard errors of the three survey estimates above (their sampling uncertainty)
    "engagement_surveyed_se",
    "csat_surveyed_se",
    "nps_surveyed_se",
)
UNIT_SURVEY_COLUMNS = ("engagement_surveyed", "csat_surveyed")
_SURVEY_AT = {name: k for k, name in enumerate(SURVEY_KPIS)}


@dataclass
class Surveys:
    """The latest survey results a company holds (organisation and per unit)."""

    values: np.ndarray  # the organisation's, in SURVEY_KPIS order
    unit_engagement: np.ndarray
    unit_csat: np.ndarray

    @classmethod
    def none(cls, n_units: int) -> Surveys:
        """Before the first survey: nothing known."""
        return cls(np.full(len(SURVEY_KPIS), nan), np.full(n_units, nan), np.full(n_units, nan))

    def record(self, **results: float) -> None:
        """Replace the organisation's results named (SURVEY_KPIS names)."""
        for name, value in results.items():
            self.values[_SURVEY_AT[name]] = value


def engagement_standard_error(scores: np.ndarray, staff: int, item_noise: float) -> float:
    """Standard error of a staff survey's mean engagement, as an estimate of the staff's true one.

    The respondents are a large share of a finite staff, so the spread of true engagement counts
    with the finite-population correction ``1 - n/N``; the item noise of each answer does not
    shrink with coverage and counts in full: ``se^2 = ((1 - n/N) s_true^2 + noise^2) / n``, with
    ``s_true^2`` the answers' variance less the noise's (Cochran, Sampling Techniques).
    """
    n = len(scores)
    if n < 2:
        return nan
    true_variance = max(float(scores.var(ddof=1)) - item_noise**2, 0.0)
    coverage = min(n / max(staff, 1), 1.0)
    return float(np.sqrt(((1.0 - coverage) * true_variance + item_noise**2) / n))


def engagement_survey(params: Params, wf: Workforce, units: Units, streams: Streams, week: int,
                      held: Surveys) -> None:
    """Survey the staff (in survey weeks): update the organisation's and units' engagement."""
    if week % params.survey_weeks:
        return
    score = _answer_survey(streams.state("survey.staff", week), params.survey_response_rate,
                           params.survey_item_noise, wf.filled, wf.engagement, wf.unit,
                           held.unit_engagement)
    held.record(survey_respondents=len(score))
    if len(score):
        held.record(
            engagement_surveyed=score.mean(),
            engaged_share_surveyed=(score >= ENGAGED_AT).mean(),
            actively_disengaged_share_surveyed=(score < DISENGAGED_BELOW).mean(),
            engagement_surveyed_se=engagement_standard_error(
                score, int(np.count_nonzero(wf.filled)), params.survey_item_noise),
        )


@jit
def _answer_survey(state, response_rate, item_noise, filled, engagement, unit, unit_engagement):
    """The answers of the staff in post who respond (engagement plus item noise, within 0-1).

    Sets each unit's mean where it has answers.
    """
    respondent, normals = _sample(state, response_rate, filled)
    score = np.empty(len(normals))
    count, total = np.zeros(len(unit_engagement), np.int64), np.zeros(len(unit_engagement))
    k = 0
    for i in range(len(unit)):
        if respondent[i]:
            error = item_noise * normals[k] if item_noise > 0.0 else 0.0
            score[k] = min(max(engagement[i] + error, 0.0), 1.0)
            count[unit[i]] += 1
            total[unit[i]] += score[k]
            k += 1
    _set_means(count, total, unit_engagement)
    return score


def customer_survey(params: Params, enc: Encounters, market: Market, streams: Streams, week: int,
                    held: Surveys) -> None:
    """Rate a sample of this week's visits 0-10: the surveyed CSAT (0-1) and NPS."""
    n, points, squares, promoters, detractors = _rate_visits(
        streams.state("survey.customers", week), params.customer_survey_rate, enc.satisfaction,
        enc.customer, market.unit, held.unit_csat)
    held.record(customer_ratings=n)
    if n:
        promoters, detractors = promoters / n, detractors / n
        spread = sqrt(max(squares - points * points / n, 0.0) / (n - 1)) if n > 1 else nan
        held.record(
            csat_surveyed=points / n / 10.0,
            nps_surveyed=100.0 * (promoters - detractors),
            # a sample of many visits: the simple random-sampling error of the mean and of NPS
            csat_surveyed_se=spread / 10.0 / sqrt(n),
            nps_surveyed_se=(100.0 * sqrt(max(promoters + detractors
                                              - (promoters - detractors) ** 2, 0.0) / (n - 1))
                             if n > 1 else nan),
        )


@jit
def _rate_visits(state, survey_rate, satisfaction, visitors, unit_of_slot, unit_csat):
    """The asked visits' 0-10 ratings, summed per unit and over all.

    Sets each unit's mean (0-1) where it has ratings; returns the ratings' count, sum, sum of
    squares, promoters and detractors (whole numbers: exact sums).
    """
    asked, normals = _sample(state, survey_rate, np.ones(len(visitors), np.bool_))
    count, total = np.zeros(len(unit_csat), np.int64), np.zeros(len(unit_csat))
    n, points, squares, promoters, detractors = 0, 0.0, 0.0, 0, 0
    for i in range(len(visitors)):
        if asked[i]:
            noisy = 10.0 * satisfaction[i] + CUSTOMER_RATING_NOISE * normals[n]
            rating = min(max(np.rint(noisy), 0.0), 10.0)
            unit = unit_of_slot[visitors[i]]
            count[unit] += 1
            total[unit] += rating / 10.0
            n += 1
            points += rating
            squares += rating * rating
            promoters += rating >= PROMOTER_RATING
            detractors += rating <= DETRACTOR_RATING
    _set_means(count, total, unit_csat)
    return n, points, squares, promoters, detractors


@jit
def _sample(state, share, eligible):
    """Who of ``eligible`` is asked (each with chance ``share``), and a standard normal each.

    Every element draws a uniform, then each one asked draws its normal (the quantile of a
    uniform), from one stream.
    """
    draws = np.empty(len(eligible))
    fill_uniforms(state, draws)
    asked = eligible & (draws < share)
    normals = np.empty(np.count_nonzero(asked))
    fill_uniforms(state, normals)
    for k in range(len(normals)):
        normals[k] = normal_quantile(normals[k])
    return asked, normals


@jit
def _set_means(count, total, means):
    """Each unit's mean where it has answers (``count > 0``); elsewhere the last one stands."""
    for u in range(len(means)):
        if count[u] > 0:
            means[u] = total[u] / count[u]
