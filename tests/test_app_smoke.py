"""The page without a browser: it renders, finds its controls, and runs a small comparison."""

from __future__ import annotations

import time

import ipyvuetify as v
import numpy as np
import pytest
import solara

from sim.app import charts, state
from sim.app.components import InsideView
from sim.app.page import Page
from sim.params import SPECS
from sim.scenario import Intervention, Scenario

SMALL = Scenario(name="small", steps=12, seed=3, reps=2).with_changes(n_employees=40,
                                                                        n_customers=400)


@pytest.fixture(scope="module")
def engine():
    eng = state.Engine(workers=1)
    yield eng
    eng.shutdown()


def test_page_renders_levers_from_the_schema():
    box, rc = solara.render(Page(), handle_error=False)
    try:
        sliders = rc.find(v.Slider).widgets
        levers = [s for s in SPECS.values() if s.is_lever]
        assert len(sliders) == len(levers)
        for slider, spec in zip(sliders, levers, strict=True):
            assert (slider.min, slider.max) == (spec.low, spec.high)
        assert rc.find(v.Select, class_="spc-preset").widget.v_model == "invest_in_training"
    finally:
        rc.close()
        state.ENGINE.shutdown()


def test_comparison_is_paired_and_matches_a_direct_run(engine):
    scenario = SMALL.with_changes(training=0.2)
    baseline = state.baseline_for("baseline", scenario)
    assert (baseline.seed, baseline.reps, baseline.steps) == (3, 2, 12)
    assert baseline.params.n_employees == 40
    early = []
    comp = state.compare(scenario, baseline, engine=engine, on_early=early.append)
    direct = state.simulate(scenario, 1)[0]
    mine = comp.scenario.timeseries.query("replication == 1").reset_index(drop=True)
    np.testing.assert_array_equal(mine["profit"], direct["profit"])
    stat = comp.end("cum_profit")
    assert stat.low <= stat.diff <= stat.high
    mean, low, high, payback = comp.roi()
    assert len(mean) == 13 and (payback is None or 0 <= payback <= 12)
    assert comp.csv().startswith("run,")
    option = charts.timeseries("csat", np.arange(13), comp.band("scenario", "csat"),
                               comp.band("baseline", "csat"),
                               (Intervention(week=6, changes={"training": 0.1}),), ("a", "b"))
    assert option["series"][-1]["markLine"]["data"][0]["xAxis"] == 6


def test_t_interval_needs_two_replications():
    mean, low, high = state.t_interval(np.array([1.0]))
    assert mean == 1.0 and np.isnan(low) and np.isnan(high)
    mean, low, high = state.t_interval(np.array([1.0, 2.0, 3.0]))
    assert low < mean == 2.0 < high


def test_inside_view_steps_a_seeded_model():
    box, rc = solara.render(InsideView(SMALL, "smoke"), handle_error=False)
    try:
        week = rc.find(v.Html, class_="spc-week")
        week.assert_single()
        assert "week 0 of 12" in week.widget.children[0]
        step = [b for b in rc.find(v.Btn).widgets if "Step" in b.children]
        for _ in range(3):
            step[0].click()
        deadline = time.monotonic() + 10
        while "week 3 of 12" not in week.widget.children[0] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "week 3 of 12" in week.widget.children[0]
    finally:
        rc.close()


def test_measure_formats_money_and_signs():
    money = charts.MEASURES["cum_profit"]
    assert money.fmt(1_234_567, signed=True) == "+$1.23M"
    assert money.fmt(-2500) == "-$2.5k"
    assert charts.MEASURES["csat"].fmt(float("nan")) == "n/a"
