"""Business-unit analytics on a hand-made case whose answers are worked out by hand."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from sim.unit_analytics import UNIT_TABLE_COLUMNS, quartile_comparison, unit_table


def _hand_made() -> pd.DataFrame:
    """Four units over weeks 0-4; unit 0 least engaged, unit 3 most engaged."""
    weekly = {  # unit: (engagement, csat, loyalty, revenue by week 1-4, profit/week, quit rate)
        0: (0.2, 0.60, 0.3, [100, 100, 100, 100], 10.0, 0.02),
        1: (0.4, 0.62, 0.4, [100, 100, 100, 100], 11.0, 0.02),
        2: (0.6, 0.64, 0.5, [100, 100, 100, 100], 11.0, 0.02),
        3: (0.8, 0.66, 0.6, [100, 100, 100, 110], 12.3, 0.01),
    }
    rows = []
    for step in range(5):
        for unit, (eng, csat, loy, revenue, profit, quit) in weekly.items():
            rows.append({"replication": 0, "step": step, "unit": unit, "engagement": eng,
                         "csat": csat, "engagement_surveyed": eng, "csat_surveyed": csat,
                         "loyalty": loy, "customers": 50.0, "staff": 10.0,
                         "revenue": revenue[step - 1] if step else 0.0,
                         "profit": profit if step else 0.0, "turnover": quit if step else 0.0,
                         "churn": 0.005 if step else 0.0})
    return pd.DataFrame(rows)


def test_unit_table_hand_made_case() -> None:
    raw = unit_table(_hand_made(), start=1, end=4)
    assert list(raw.columns) == ["replication", "unit", *UNIT_TABLE_COLUMNS]
    table = raw.set_index("unit")
    assert table.loc[3, "revenue"] == pytest.approx(410.0)
    assert table.loc[3, "profit"] == pytest.approx(49.2)
    assert table.loc[3, "margin"] == pytest.approx(0.12)
    assert table.loc[0, "margin"] == pytest.approx(0.10)
    assert table.loc[3, "revenue_growth"] == pytest.approx(0.10)  # week 4 over week 1
    assert table.loc[0, "revenue_growth"] == pytest.approx(0.0)
    assert table.loc[0, "turnover"] == pytest.approx(1 - 0.98 ** 52)
    assert table.loc[0, "retention"] == pytest.approx(0.995 ** 52)
    assert table.loc[2, "csat"] == pytest.approx(0.64)


def test_units_are_read_through_the_surveys_by_default() -> None:
    frame = _hand_made()
    # the survey ranks unit 0 top and unit 3 bottom (a noisy sample), the truth the other way
    frame["engagement_surveyed"] = 1.0 - frame["engagement"]
    frame.loc[frame["step"] == 2, "csat_surveyed"] = float("nan")  # a week without ratings
    surveyed = unit_table(frame, start=1, end=4).set_index("unit")
    assert surveyed.loc[0, "engagement"] == pytest.approx(0.8)
    assert surveyed.loc[0, "engagement_true"] == pytest.approx(0.2)
    assert surveyed.loc[2, "csat"] == pytest.approx(0.64)  # mean of the weeks with ratings
    true = unit_table(frame, start=1, end=4, surveyed=False).set_index("unit")
    assert true.loc[0, "engagement"] == pytest.approx(0.2)
    assert quartile_comparison(unit_table(frame, start=1, end=4))["customer_ratings_pct"] < 0
    assert quartile_comparison(true)["customer_ratings_pct"] == pytest.approx(10.0)


def test_quartile_comparison_hand_made_case() -> None:
    comparison = quartile_comparison(unit_table(_hand_made(), start=1, end=4))
    assert comparison["n_per_quartile"] == 1
    assert comparison["customer_ratings_pct"] == pytest.approx(10.0)   # 0.66 vs 0.60
    assert comparison["profitability_pct"] == pytest.approx(20.0)      # margin 0.12 vs 0.10
    expected_turnover = 100 * ((1 - 0.99 ** 52) - (1 - 0.98 ** 52)) / (1 - 0.98 ** 52)
    assert comparison["turnover_pct"] == pytest.approx(expected_turnover)
    assert comparison["turnover_pct"] < 0


def test_default_window_skips_step_zero_and_first_half() -> None:
    frame = _hand_made()
    frame.loc[frame["step"] <= 2, "csat"] = 0.0  # only weeks 3-4 should count (end // 2 + 1 = 3)
    table = unit_table(frame).set_index("unit")
    assert table.loc[1, "csat"] == pytest.approx(0.62)


def _two_organisations() -> pd.DataFrame:
    """Two replications of four units; the second organisation is more engaged throughout.

    Quartiles per replication, pooled quartiles and a mean of per-replication ratios all give
    different answers here, so the test can tell which one quartile_comparison computes.
    """
    rows = [  # replication, unit, engagement, csat, revenue, profit, turnover
        (0, 0, 0.1, 0.5, 100.0, 5.0, 0.4),    # bottom of replication 0
        (0, 1, 0.2, 0.5, 100.0, 7.0, 0.3),
        (0, 2, 0.3, 0.5, 100.0, 7.0, 0.3),
        (0, 3, 0.4, 0.6, 100.0, 10.0, 0.2),   # top of replication 0
        (1, 0, 0.6, 0.8, 300.0, 30.0, 0.3),   # bottom of replication 1
        (1, 1, 0.7, 0.8, 100.0, 7.0, 0.3),
        (1, 2, 0.8, 0.8, 100.0, 7.0, 0.3),
        (1, 3, 0.9, 1.0, 100.0, 20.0, 0.1),   # top of replication 1
    ]
    frame = pd.DataFrame(rows, columns=["replication", "unit", "engagement", "csat", "revenue",
                                        "profit", "turnover"])
    return frame.assign(staff=10.0, margin=frame["profit"] / frame["revenue"])


def test_quartiles_per_replication_pooled_over_replications() -> None:
    """The documented reading: quartiles within each replication, then pooled means."""
    comparison = quartile_comparison(_two_organisations())
    assert comparison["n_per_quartile"] == 1
    # top csat (0.6 + 1.0) / 2 = 0.8 against bottom (0.5 + 0.8) / 2 = 0.65. Pooled quartiles
    # (the two most engaged units of all, both in replication 1) would give 0.9 / 0.5: +80%;
    # a mean of the per-replication gaps (+20%, +25%) would give +22.5%.
    assert comparison["customer_ratings_pct"] == pytest.approx(100 * (0.8 / 0.65 - 1))  # 23.08
    # margin as pooled profit / pooled revenue: 30/200 = 15% against 35/400 = 8.75%; a mean of
    # the units' margins (15% vs 7.5%) would give +100%, pooled quartiles (13.5% vs 6%) +125%
    assert comparison["profitability_pct"] == pytest.approx(100 * (0.15 / 0.0875 - 1))  # 71.43
    assert comparison["turnover_pct"] == pytest.approx(100 * (0.15 - 0.35) / 0.35)  # -57.14
    assert comparison["productivity_pct"] == pytest.approx(100 * (10.0 - 20.0) / 20.0)  # -50


def test_unit_table_from_a_model() -> None:
    from sim import ServiceModel
    from sim.scenario import load_scenario

    model = ServiceModel(load_scenario("baseline").with_changes(steps=8), rng=3).run()
    table = unit_table(model)
    assert len(table) == model.units.n
    assert (table["revenue"] > 0).all()
    # the units' money over the default window (weeks 5-8) is the organisation's, nothing lost
    weeks = model.timeseries().query("5 <= step <= 8")
    assert table["revenue"].sum() == pytest.approx(weeks["revenue"].sum())
    assert table["profit"].sum() == pytest.approx(weeks["profit"].sum())


def test_engagement_relations_are_within_organisations() -> None:
    import numpy as np

    from sim.unit_analytics import engagement_relations

    rng = np.random.default_rng(0)
    rows = []
    for rep in range(4):
        for unit in range(20):
            eng = rng.uniform(0.3, 0.7)
            # organisation-level offsets would fake a negative relation if pooled naively
            rows.append({"replication": rep, "unit": unit, "engagement": eng + rep,
                         "csat": 0.5 * eng - 0.4 * rep + rng.normal(0, 0.01),
                         "margin": 0.1, "turnover": 0.5 - eng, "loyalty": eng,
                         "revenue": 100.0 * (1 + eng), "staff": 10.0})
    table = pd.DataFrame(rows)
    rel = engagement_relations(table).set_index("outcome")
    assert rel.loc["csat", "slope_low"] < 0.5 < rel.loc["csat", "slope_high"]
    assert rel.loc["csat", "r"] > 0.95
    assert rel.loc["turnover", "r"] == pytest.approx(-1.0)
    assert rel.loc["productivity", "slope"] == pytest.approx(10.0)
    assert math.isnan(rel.loc["margin"].get("r", float("nan")))  # no variation: no estimate
