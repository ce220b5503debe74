"""Why a plan differs: engagement drivers, Shapley values, the chain's loops, the tornado."""

from __future__ import annotations

import itertools
import re
import time

import ipyvuetify as v
import numpy as np
import pytest
import solara

from sim import explain, workforce
from sim.app import explain_view, state
from sim.app.explain_view import ExplainView
from sim.model import ServiceModel
from sim.params import SPECS
from sim.runner import run_scenario
from sim.scenario import Intervention, ServiceScenario

SMALL = ServiceScenario(name="small", steps=12, seed=3, reps=2).with_changes(n_employees=40,
                                                                        n_customers=400)


def paired(plan: ServiceScenario, comparator: ServiceScenario) -> state.Comparison:
    """Plan and comparator run as the page's engine would (same seeds), without workers."""
    return state.Comparison(run_scenario(plan), run_scenario(comparator))


# --- engagement drivers --------------------------------------------------------------------

def test_terms_are_the_models_own_sum():
    model = ServiceModel(SMALL.with_changes(recognition=0.8), rng=3)
    model.run(5)
    snap = explain.term_snapshot(model)
    org, params = model.organisation, model.params
    lead = explain.leadership.behaviour(params, org.units)
    target = workforce.engagement_target(params, org.workforce, lead, org.units,
                                         workforce.mentoring_received(params, lead,
                                                                      org.team_size()))
    on = org.workforce.filled
    assert snap.target == pytest.approx(float(target[on].mean()), rel=1e-12)
    assert sum(snap.terms.values()) == pytest.approx(snap.logit, rel=1e-12, abs=1e-12)
    assert snap.engagement == pytest.approx(float(org.workforce.engagement[on].mean()),
                                            rel=1e-12)
    mentoring = workforce.mentoring_received(params, lead, org.team_size())
    assert list(snap.terms) == list(workforce.engagement_terms(params, org.workforce, lead,
                                                               org.units, mentoring))


@pytest.fixture(scope="module")
def engagement_case():
    plan = SMALL.with_changes(recognition=0.8, resources=0.9)
    comparator = state.baseline_for(state.TODAY, plan)
    paths = ([explain.engagement_path(plan, r) for r in range(plan.reps)],
             [explain.engagement_path(comparator, r) for r in range(plan.reps)])
    return plan, comparator, paths


def test_driver_differences_sum_exactly_to_the_logit_difference(engagement_case):
    plan, comparator, (p, c) = engagement_case
    for week in (1, 6, plan.steps):
        att = explain.attribute_engagement(p, c, week)
        np.testing.assert_allclose(att.diffs.sum(axis=1), att.logit, rtol=0, atol=1e-12)
        assert sum(att.mean().values()) == pytest.approx(float(att.logit.mean()), abs=1e-12)
    att = explain.attribute_engagement(p, c, plan.steps)
    means = att.mean()
    # The levers moved act through their own terms: recognition and resources up, nothing on
    # pay, voice or the intercept (same parameters).
    assert means["recognition"] > 0 and means["resources"] > 0
    assert means["pay"] == means["voice"] == means["intercept"] == 0.0
    # The recorded engagement is the KPI the page shows.
    mine = paired(plan, comparator)
    np.testing.assert_allclose(att.engagement,
                               explain.paired_diffs(mine, "engagement_mean", plan.steps),
                               rtol=1e-12, atol=1e-12)


def test_engagement_paths_repeat_exactly_on_paired_seeds(engagement_case):
    plan, _, (p, _) = engagement_case
    again = explain.engagement_path(plan, 1)
    np.testing.assert_array_equal(again.terms, p[1].terms)
    np.testing.assert_array_equal(again.logit, p[1].logit)
    with pytest.raises(explain.Stopped):
        explain.engagement_path(plan, 0, should_stop=lambda: True)


def test_a_self_comparison_has_no_driver_change(engagement_case):
    _, comparator, (_, c) = engagement_case
    att = explain.attribute_engagement(c, c, 4)
    assert not att.diffs.any() and not att.logit.any()
    with pytest.raises(ValueError, match="outside"):
        explain.attribute_engagement(c, c, 13)


# --- Shapley values --------------------------------------------------------------------------

def _game(names, value_of):
    design = explain.design(names)
    return design, {s: np.asarray(value_of(s), dtype=float) for s in design.coalitions}


def test_shapley_known_answers():
    # Additive game: each player gets its own stand-alone value.
    worth = {"a": 3.0, "b": -1.0, "c": 10.0}
    design, value = _game(list(worth), lambda s: [sum(worth[p] for p in s)])
    phi = explain.shapley(design, value)
    assert {p: float(v[0]) for p, v in phi.items()} == pytest.approx(worth)
    # A single player gets the whole difference.
    design, value = _game(["x"], lambda s: [7.5 if s else 0.0])
    assert explain.shapley(design, value)["x"][0] == 7.5
    # Symmetric players share alike; a dummy gets nothing; pure interaction is split evenly.
    design, value = _game(["a", "b", "d"], lambda s: [6.0 if {"a", "b"} <= s else 0.0])
    phi = explain.shapley(design, value)
    assert phi["a"][0] == pytest.approx(3.0) and phi["b"][0] == pytest.approx(3.0)
    assert phi["d"][0] == 0.0


def test_shapley_efficiency_exact_and_sampled():
    rng = np.random.default_rng(5)
    for n in (1, 2, 4, 6, 8, 11):
        names = [f"p{i}" for i in range(n)]
        design = explain.design(names, seed=2)
        assert design.exact == (n <= explain.MAX_EXACT)
        if design.exact:
            assert len(design.coalitions) == 2 ** n
        else:
            assert len(design.coalitions) <= explain.SAMPLED_COALITIONS
        table = {s: rng.normal(size=3) for s in design.coalitions}
        table[frozenset()] = np.zeros(3)
        phi = explain.shapley(design, table)
        np.testing.assert_allclose(sum(phi.values()), table[frozenset(names)], rtol=1e-12,
                                   atol=1e-12)
    # The sampled design is the same every time for the same seed.
    names = [f"p{i}" for i in range(9)]
    assert explain.design(names, seed=4) == explain.design(names, seed=4)


def test_sampled_shapley_matches_exact_on_an_additive_game():
    names = [f"p{i}" for i in range(8)]
    worth = {p: float(i) - 3 for i, p in enumerate(names)}
    design = explain.design(names, seed=1)
    assert not design.exact
    phi = explain.shapley(design, {s: np.array([sum(worth[p] for p in s)])
                                   for s in design.coalitions})
    assert {p: float(v[0]) for p, v in phi.items()} == pytest.approx(worth)


def test_players_group_a_levers_start_and_timeline():
    comparator = state.baseline_for(state.TODAY, SMALL)
    plan = SMALL.with_changes(training=0.1)
    plan = ServiceScenario(name="p", params=plan.params, steps=12, seed=3, reps=2, timeline=(
        Intervention(week=4, changes={"training": 0.2, "recognition": 0.4}),))
    # recognition is set to its baseline value by the timeline: no change, not a player.
    assert explain.players(plan, comparator) == ["training"]
    full = explain.coalition(plan, comparator, frozenset({"training"}))
    for name in SPECS:
        np.testing.assert_array_equal(explain.setting_path(full, name),
                                      explain.setting_path(plan, name))
    none = explain.coalition(plan, comparator, frozenset())
    assert none.params == comparator.params and none.timeline == comparator.timeline


def test_shapley_on_the_model_sums_to_the_profit_difference():
    plan = SMALL.with_changes(training=0.15, recognition=0.8, pay_level=1.1)
    comparator = state.baseline_for(state.TODAY, plan)
    design, scenarios = explain_view.shapley_request(plan, comparator)
    assert design.players == ("training", "recognition", "pay_level") and design.exact
    runs = {m: run_scenario(s) for m, s in scenarios.items()}
    value = {m: explain.horizon_profit(state.Comparison(r, runs[frozenset()]))
             for m, r in runs.items()}
    phi = explain.shapley(design, value)
    total = explain.horizon_profit(paired(plan, comparator))
    np.testing.assert_allclose(sum(phi.values()), total, rtol=1e-9)
    assert float(total.mean()) == pytest.approx(
        paired(plan, comparator).end("cum_profit").diff, rel=1e-12)
    # The same seeds give the same values.
    again = explain.shapley(design, {m: explain.horizon_profit(
        state.Comparison(run_scenario(s), runs[frozenset()])) for m, s in scenarios.items()})
    for p in phi:
        np.testing.assert_array_equal(phi[p], again[p])


def test_a_single_changed_lever_gets_the_whole_difference():
    plan = SMALL.with_changes(recognition=0.9)
    comparator = state.baseline_for(state.TODAY, plan)
    design, scenarios = explain_view.shapley_request(plan, comparator)
    assert design.players == ("recognition",)
    assert scenarios[frozenset({"recognition"})] is plan
    comp = paired(plan, comparator)
    phi = explain.shapley(design, {frozenset(): np.zeros(2),
                                   frozenset({"recognition"}): explain.horizon_profit(comp)})
    np.testing.assert_array_equal(phi["recognition"], explain.horizon_profit(comp))


# --- the chain --------------------------------------------------------------------------------

def _changes(direction: dict[str, int]) -> dict[str, explain.NodeChange]:
    out = {}
    for key in explain.CHAIN_LABELS:
        sign = direction.get(key, 0)
        diffs = np.array([1.0, 1.1, 0.9]) * sign if sign else np.array([1.0, -1.0, 0.5])
        out[key] = explain.node_change(key, diffs)
    return out


def test_loop_rule_success_failure_mixed_none():
    up = {k: 1 for k in explain.LOOP}
    kind, sentence = explain.dominant_loop(_changes(up), 52)
    assert kind == "success" and "cycle of success" in sentence and "week 52" in sentence
    kind, sentence = explain.dominant_loop(_changes({k: -1 for k in explain.LOOP}), 52)
    assert kind == "failure" and "cycle of failure" in sentence
    kind, _ = explain.dominant_loop(_changes({**up, "revenue": -1}), 52)
    assert kind == "mixed"
    kind, _ = explain.dominant_loop(_changes({}), 52)
    assert kind == "none"
    # Only two links better: not enough for a loop to dominate.
    kind, _ = explain.dominant_loop(_changes({"csat": 1, "revenue": 1}), 52)
    assert kind == "mixed"
    # Lower burnout is better.
    assert explain.node_change("burnout_mean", np.array([-1.0, -1.2, -1.1])).direction == "better"
    assert explain.node_change("csat", np.array([0.5])).direction == "better"   # one rep: sign


def test_chain_changes_read_the_cards_at_the_horizon():
    plan = SMALL.with_changes(training=0.2)
    comp = paired(plan, state.baseline_for(state.TODAY, plan))
    changes = explain.chain_changes(comp, plan.steps)
    for key in ("engagement_mean", "csat", "profit", "employee_turnover_rate"):
        assert changes[key].mean == pytest.approx(comp.end(key).diff, rel=1e-12, abs=1e-12)
    option = explain_view.chain_chart(changes, plan.steps)
    assert len(option["series"][0]["data"]) == len(explain.CHAIN_LABELS)
    assert {(a, b) for a, b, _ in explain_view.CHAIN_LINKS} >= {
        ("csat", "feedback_mean"), ("feedback_mean", "engagement_mean")}


# --- tornado --------------------------------------------------------------------------------

def test_tornado_cases_cover_every_lever_within_its_range():
    plan = SMALL.with_changes(training=0.01, pay_level=1.5)
    plan = ServiceScenario(name="p", params=plan.params, steps=12, seed=3, reps=2, timeline=(
        Intervention(week=6, changes={"training": 0.2}),))
    cases = explain.tornado_cases(plan)
    levers = [n for n, s in SPECS.items() if s.role == "lever"]
    assert sorted({c.lever for c in cases}) == sorted(levers)
    assert len(cases) == 2 * len(levers)
    by = {(c.lever, c.side): c for c in cases}
    assert by["training", "low"].value == 0.0                        # clipped at the bottom
    assert by["training", "high"].value == pytest.approx(0.01 + 0.025)
    # a scheduled lever: every setting moves
    assert by["training", "high"].scenario.timeline[0].changes["training"] == pytest.approx(0.225)
    assert by["pay_level", "high"].value == 1.5                      # clipped at the top
    assert by["pay_level", "high"].scenario.params == plan.params    # nothing to move
    span = by["span_of_control", "high"]
    assert span.value == 11 + 4 and isinstance(span.value, int)      # whole numbers rounded
    for c in cases:
        spec = SPECS[c.lever]
        assert spec.low <= c.value <= spec.high


def test_tornado_bars_are_sorted_and_repeat_exactly():
    plan = SMALL.with_changes(n_employees=20, n_customers=200).with_changes(steps=6)
    cases = [c for c in explain.tornado_cases(plan) if c.lever in ("resources", "pay_level")]
    runs = {state.ident(s): run_scenario(s) for s in
            [plan, *(c.scenario for c in cases)]}
    centre = runs[state.ident(plan)]

    def effect(s: ServiceScenario) -> np.ndarray:
        return explain.paired_diffs(state.Comparison(runs[state.ident(s)], centre), "cum_profit")

    bars = explain.tornado(cases, effect, plan.reps)
    assert [b.swing for b in bars] == sorted((b.swing for b in bars), reverse=True)
    again = explain.tornado(cases, lambda s: explain.paired_diffs(
        state.Comparison(run_scenario(s), run_scenario(plan)), "cum_profit"), plan.reps)
    for a, b in itertools.zip_longest(bars, again):
        np.testing.assert_array_equal(a.low, b.low)
        np.testing.assert_array_equal(a.high, b.high)
    # Higher pay costs wages: profit falls over six weeks.
    pay = next(b for b in bars if b.lever == "pay_level")
    assert pay.high.mean() < 0


def _html(rc, css: str) -> list[str]:
    """Inner HTML of the page's raw-HTML elements with class ``css``."""
    return [w.unsafe_innerHTML for w in rc.find(solara.widgets.HTML).widgets
            if css in (w.attributes or {}).get("class", "").split()]


def test_the_view_renders_without_a_browser():
    plan = SMALL.with_changes(training=0.2)
    comp = paired(plan, state.baseline_for(state.TODAY, plan))
    box, rc = solara.render(ExplainView(comp, ("plan", "today"), "test"), handle_error=False)
    try:
        sentence = rc.find(v.Html, class_="spc-chain-sentence").widget.children[0]
        assert "cycle of" in sentence or "neither loop" in sentence
        assert len(_html(rc, "spc-chain-table")) == 1
        rc.find(v.Btn, class_="spc-shapley-run").assert_single()
        rc.find(v.Btn, class_="spc-tornado-run").assert_single()
        assert not _html(rc, "spc-shapley-table")          # only when asked for
        deadline = time.monotonic() + 120                 # a bound on waiting, not a test
        while not _html(rc, "spc-drivers-table") and time.monotonic() < deadline:
            time.sleep(0.1)
        table = _html(rc, "spc-drivers-table")[0]
        values = [float(x) for x in re.findall(r"data-value='([^']+)'", table)]
        total = float(re.search(r"data-total='([^']+)'", table).group(1))
        assert len(values) == len(explain.DRIVER_LABELS)
        assert sum(values) == pytest.approx(total, abs=1e-12)
    finally:
        rc.close()


def test_requests_over_the_page_work_limit_are_refused():
    big = state.LIMITS.check(SMALL.with_changes(n_employees=20_000, n_customers=400_000,
                                                steps=104, reps=5))
    with pytest.raises(explain_view.LimitError, match="Tornado: agent-weeks="):
        explain_view.tornado_request(big)
    plan = big.with_changes(training=0.2, recognition=0.8)
    with pytest.raises(explain_view.LimitError, match="Shapley values: agent-weeks="):
        explain_view.shapley_request(plan, state.baseline_for(state.TODAY, plan))
