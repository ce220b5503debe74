"""One paired test per driver of the causal table (docs/ODD.md, section 8): same seeds, one lever.

Each comparison averages the last quarter of a year over three seeds (common random numbers),
so a wrong sign in a mechanism fails the test while noise does not.
"""

from __future__ import annotations

import numpy as np
import pytest

from sim import ServiceModel, turnover
from sim.encounters import visit_probability
from sim.workforce import peer_mean, quit_probability
from tests.conftest import SMALL, late_mean


def higher(column: str, low: dict, high: dict, steps: int = 52) -> None:
    a, b = late_mean(column, steps, **low), late_mean(column, steps, **high)
    assert b > a, f"{column}: expected {high} > {low}, got {b:.4f} <= {a:.4f}"


@pytest.mark.parametrize(
    ("lever", "low", "high", "outcome"),
    [
        ("manager_fairness", 0.2, 0.9, "trust_mean"),  # fairness -> trust
        ("manager_fairness", 0.2, 0.9, "engagement_mean"),  # trust -> engagement
        ("resources", 0.1, 0.9, "engagement_mean"),  # resources -> engagement
        ("resources", 0.1, 0.9, "service_quality"),  # resources -> quality
        ("vision_communication", 0.1, 0.9, "alignment_mean"),  # the why -> alignment
        ("vision_communication", 0.1, 0.9, "engagement_mean"),  # alignment -> engagement
        ("training", 0.0, 0.2, "skill_mean"),  # training -> skill
        ("induction_weeks", 0, 12, "skill_mean"),  # induction -> skill
        ("recognition", 0.0, 1.0, "engagement_mean"),  # recognition -> engagement
        ("rewards", 0.0, 1.0, "engagement_mean"),  # customer-linked rewards
        ("mentoring", 0.0, 1.0, "engagement_mean"),  # mentoring -> engagement
        ("mentoring", 0.0, 1.0, "skill_mean"),  # mentoring -> skill
        ("empowerment", 0.1, 0.9, "autonomy_mean"),  # empowerment -> autonomy
        ("empowerment", 0.1, 0.9, "engagement_mean"),  # autonomy -> engagement
        ("voice_climate", 0.1, 0.9, "engagement_mean"),  # voice -> engagement
        ("voice_climate", 0.1, 0.9, "process_quality_mean"),  # voice -> service improvement
        ("customer_focus", 0.1, 1.0, "alignment_mean"),  # external focus -> purpose
        ("customer_focus", 0.1, 1.0, "service_quality"),  # external focus -> quality
        ("customer_focus", 0.1, 1.0, "profit"),  # internal focus under-performs
        ("surveys_acted_upon", 0.0, 1.0, "trust_mean"),  # surveys acted upon -> trust
        ("surveys_acted_upon", 0.0, 1.0, "engagement_mean"),  # ... -> engagement
        ("pay_level", 0.8, 1.3, "engagement_mean"),  # pay -> engagement
        ("referral_p", 0.0, 0.2, "referrals"),  # word of mouth -> referrals
        ("wom_churn", 0.0, 0.2, "customer_churn_rate"),  # negative word of mouth -> churn
        ("p_leave_after_bad", 0.0, 1.0, "churned_after_bad_encounter"),  # bad encounter -> churn
        ("quit_base", 0.002, 0.03, "vacancies"),  # quits -> vacancies
        ("quit_base", 0.002, 0.03, "hiring_cost"),  # quits -> hiring cost
        ("spend_per_visit", 200.0, 400.0, "revenue"),  # spend -> revenue
    ],
)
def test_lever_raises_outcome(lever, low, high, outcome):
    higher(outcome, {lever: low}, {lever: high})


@pytest.mark.parametrize(
    ("lever", "low", "high", "outcome"),
    [
        ("micromanagement", 0.1, 0.9, "engagement_mean"),  # control lowers engagement
        ("micromanagement", 0.1, 0.9, "autonomy_mean"),
        ("resources", 0.1, 0.9, "burnout_mean"),  # missing tools are a hindrance
        ("staffing_ratio", 0.6, 1.2, "burnout_mean"),  # overload -> burnout
        ("staffing_ratio", 0.6, 1.2, "workload_mean"),
        ("quit_base", 0.002, 0.03, "skill_mean"),  # quits lose skill
        ("empowerment", 0.1, 0.9, "very_bad_share"),  # authority to fix problems
        ("pay_level", 0.8, 1.3, "employee_turnover_rate"),  # pay lowers quitting
        ("learn_training", 0.0, 1.5, "very_bad_share"),  # skill -> fewer failures
    ],
)
def test_lever_lowers_outcome(lever, low, high, outcome):
    higher(outcome, {lever: high}, {lever: low})


def test_understaffing_lowers_quality():
    higher("service_quality", {"staffing_ratio": 0.6}, {"staffing_ratio": 1.2})


def test_hiring_selectivity_raises_fit_and_starting_skill(monkeypatch):
    """Every hire made during the run is recorded at the moment of hiring."""
    hired: list[tuple[float, float]] = []
    start = turnover._start_new_hires

    def record(params, wf, draws, slots):
        start(params, wf, draws, slots)
        hired.extend(zip(wf.fit[slots].tolist(), wf.skill[slots].tolist(), strict=True))

    monkeypatch.setattr(turnover, "_start_new_hires", record)
    fits, skills = [], []
    for selectivity in (0.0, 1.0):
        model = ServiceModel(seed=5, hiring_selectivity=selectivity, quit_base=0.05, **SMALL)
        hired.clear()  # only the hires of the run, not those of settling today's organisation
        model.run(26)
        fit, skill = np.array(hired).T
        fits.append(fit.mean())
        skills.append(skill.mean())
    assert fits[1] > fits[0] + 0.15
    assert skills[1] > skills[0]


def test_wide_span_dilutes_mentoring():
    higher("engagement_mean", {"span_of_control": 30}, {"span_of_control": 6})


def test_contagion_pulls_peers_together():
    def spread(contagion: float) -> float:
        model = ServiceModel(seed=3, engagement_contagion=contagion, **SMALL).run(52)
        wf = model.workforce
        return float(wf.engagement[wf.filled].std())

    assert spread(0.3) < spread(0.0)


def test_peer_mean_ignores_vacant_positions():
    import scipy.sparse as sp

    # 0 - 1, 0 - 2, 3 - 2: position 2 is vacant, so 3 has no present peer
    adjacency = sp.csr_matrix(
        np.array([[0, 1, 1, 0], [1, 0, 0, 0], [1, 0, 0, 1], [0, 0, 1, 0]], dtype=np.float32)
    )
    values = np.array([0.0, 1.0, 0.2, 0.7])
    mean, has = peer_mean(adjacency, values, np.array([True, True, False, True]))
    assert mean[0] == pytest.approx(1.0)
    assert has.tolist() == [True, True, True, False]


def test_higher_expectations_lower_satisfaction():
    csat = []
    for expectation in (0.5, 0.95):
        model = ServiceModel(seed=2, **SMALL)
        model.market.expectation[:] = expectation
        model.step()
        csat.append(model.kpis["csat"])
    assert csat[1] < csat[0] - 0.1


def test_feedback_loop_lower_customer_satisfaction_lowers_morale():
    """Customers harder to please -> lower CSAT -> staff mood, feedback and engagement fall."""
    outcomes = []
    for expectation in (0.6, 1.0):
        model = ServiceModel(seed=4, expectation_weeks=104.0, wom_expectation=0.0, **SMALL)
        model.market.expectation[:] = expectation
        model.run(26)
        outcomes.append(model.timeseries().iloc[-8:].mean())
    easy, hard = outcomes
    assert hard["csat"] < easy["csat"]
    assert hard["feedback_mean"] < easy["feedback_mean"]
    assert hard["mood_mean"] < easy["mood_mean"]
    assert hard["engagement_mean"] < easy["engagement_mean"]


def test_satisfied_loyal_customers_visit_and_spend_more():
    model = ServiceModel(seed=1, **SMALL)
    market = model.market
    p_low = visit_probability(model.params, market).sum()
    market.loyalty[:] = 0.9
    assert visit_probability(model.params, market).sum() > p_low
    revenue = []
    for loyalty in (0.1, 0.9):
        m = ServiceModel(seed=1, **SMALL)
        m.market.loyalty[:] = loyalty
        m.step()
        revenue.append(m.kpis["revenue"])
    assert revenue[1] > revenue[0] * 1.3


def test_quit_probability_rises_with_disengagement_and_burnout():
    model = ServiceModel(seed=1, **SMALL)
    wf = model.workforce
    wf.engagement[:], wf.burnout[:] = 0.8, 0.1
    calm = quit_probability(model.params, wf).mean()
    wf.engagement[:] = 0.2
    disengaged = quit_probability(model.params, wf).mean()
    wf.burnout[:] = 0.8
    burnt_out = quit_probability(model.params, wf).mean()
    assert calm < disengaged < burnt_out


def test_satisfaction_builds_loyalty():
    model = ServiceModel(seed=1, **SMALL)
    model.market.satisfaction[:] = 0.95
    model.market.loyalty_pull[:] = 0.95**model.params.loyalty_convexity
    before = model.market.loyalty.mean()
    model.run(10)
    assert model.market.loyalty.mean() > before
