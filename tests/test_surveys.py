"""Surveys observe the organisation with sampling and noise, and never change it."""

from __future__ import annotations

import pandas as pd
import pytest

from sim import ServiceModel
from sim.metrics import KPI_COLUMNS
from tests.conftest import SMALL


def _run(**params) -> pd.DataFrame:
    return ServiceModel(rng=4, **SMALL, **params).run(30).timeseries()


def test_surveys_do_not_change_what_happens():
    usual, other = _run(), _run(survey_response_rate=0.2, customer_survey_rate=0.5,
                                survey_item_noise=0.3, survey_weeks=4)
    pd.testing.assert_frame_equal(usual[list(KPI_COLUMNS)], other[list(KPI_COLUMNS)])
    assert not usual["engagement_surveyed"].equals(other["engagement_surveyed"])


def test_a_complete_noiseless_survey_sees_the_truth():
    ts = _run(survey_response_rate=1.0, survey_item_noise=0.0, customer_survey_rate=1.0,
              survey_weeks=13)
    for week in (0, 13, 26):
        assert ts.loc[week, "engagement_surveyed"] == pytest.approx(
            ts.loc[week, "engagement_mean"], rel=1e-12)
        assert ts.loc[week, "engaged_share_surveyed"] == pytest.approx(
            ts.loc[week, "engaged_share"], rel=1e-12)
    assert (ts["customer_ratings"] == ts["visits"]).all()
    # ratings carry a point of noise, are rounded and capped at 10: unbiased within sampling
    # error but for a small ceiling effect (easy-to-please customers near 10 are rated lower)
    assert abs((ts["csat_surveyed"] - ts["csat"]).mean()) < 0.02


def test_between_surveys_the_last_result_stands_and_samples_are_noisy():
    ts = _run()
    assert (ts.loc[1:12, "engagement_surveyed"] == ts.loc[0, "engagement_surveyed"]).all()
    assert ts.loc[13, "engagement_surveyed"] != ts.loc[12, "engagement_surveyed"]
    respondents = ts.loc[0, "survey_respondents"]
    assert 0.5 * ts.loc[0, "employees"] < respondents < 0.9 * ts.loc[0, "employees"]  # 70%
    share = (ts["customer_ratings"] / ts["visits"]).loc[1:].mean()
    assert 0.07 < share < 0.13  # 10% of visits rated
    assert (ts["csat_surveyed"] - ts["csat"]).abs().max() > 0.005  # a sample, not the truth


def test_the_surveys_standard_errors_are_calibrated():
    """95% intervals from the reported standard errors cover the true value in ~95% of surveys.

    Weekly staff surveys on 4 seeds x 40 weeks (160 surveys each): with a true coverage of 95%
    the observed share is below 0.89 with a probability under 0.1%; too wide intervals show as
    a spread of the standardised errors well under one.
    """
    frames = [ServiceModel(rng=seed, survey_weeks=1).run(40).timeseries().iloc[1:]
              for seed in range(4)]
    series = pd.concat(frames)
    for true, surveyed in (("engagement_mean", "engagement_surveyed"), ("csat", "csat_surveyed"),
                           ("nps", "nps_surveyed")):
        z = (series[surveyed] - series[true]) / series[f"{surveyed}_se"]
        assert z.notna().all()
        assert (z.abs() < 1.96).mean() >= 0.89, (true, (z.abs() < 1.96).mean())
        assert 0.8 < z.std() < 1.2, (true, z.std())


def test_a_complete_survey_without_item_noise_has_no_sampling_error():
    series = ServiceModel(rng=3, survey_response_rate=1.0, survey_item_noise=0.0,
                          **SMALL).run(2).timeseries()
    assert series["engagement_surveyed_se"].iloc[0] == 0.0
