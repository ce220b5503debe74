"""The page without a browser: it renders, finds its controls, and runs a small comparison."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import ipyvuetify as v
import numpy as np
import pandas as pd
import pytest
import solara

from sim import stats
from sim.app import charts, invest, running, state
from sim.app.cli import SESSION_LIFETIME, server_env
from sim.app.components import InsideView
from sim.app.fairqueue import FairQueue
from sim.app.files import read_scenario
from sim.app.header import progress_text
from sim.app.limits import LIMITS, LimitError
from sim.app.page import Page
from sim.finance import COST_LINES
from sim.metrics import COST_KPIS
from sim.params import SPECS, ParameterError
from sim.scenario import SCENARIO_DIR, Intervention, ServiceScenario
from tests.browser.conftest import ROOT, group_members

SMALL = ServiceScenario(name="small", steps=12, seed=3, reps=2).with_changes(n_employees=40,
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
    direct = state.simulate(scenario, 1)
    mine = comp.scenario.timeseries.query("replication == 1").reset_index(drop=True)
    np.testing.assert_array_equal(mine["profit"], direct["profit"])
    # the end value is the paired difference of the runs' final cumulative profits
    final = {which: getattr(comp, which).timeseries.query("step == 12").sort_values(
        "replication")["cum_profit"].to_numpy() for which in ("scenario", "baseline")}
    stat = comp.end("cum_profit")
    assert stat.diff == pytest.approx((final["scenario"] - final["baseline"]).mean())
    assert stat.baseline == pytest.approx(final["baseline"].mean())
    mean, low, high, payback = comp.roi()
    assert len(mean) == 13
    assert mean[0] == 0  # change from today: week 0 is the same organisation in both runs
    if payback is not None:  # from the payback week on the plan stays ahead, the week before not
        assert 1 <= payback <= 12 and (mean[payback:] > 0).all() and mean[payback - 1] <= 0
    assert comp.csv().startswith("run,name,")
    option = charts.timeseries("csat", np.arange(13), comp.band("scenario", "csat"),
                               comp.band("baseline", "csat"),
                               (Intervention(week=6, changes={"training": 0.1}),), ("a", "b"))
    assert option["series"][-1]["markLine"]["data"][0]["xAxis"] == 6


def test_t_interval_needs_two_replications():
    mean, low, high = state.t_interval(np.array([1.0]))
    assert mean == 1.0 and np.isnan(low) and np.isnan(high)
    mean, low, high = state.t_interval(np.array([1.0, 2.0, 3.0]))
    # sd 1, n 3, t(0.975, 2) = 4.3027 from a table: 2 -+ 2.4841
    assert (mean, low, high) == pytest.approx((2.0, 2.0 - 2.4841, 2.0 + 2.4841), abs=1e-4)
    mean, low, high = state.t_interval(np.array([[0.0, 10.0], [2.0, 10.0]]))  # per week
    assert mean.tolist() == [1.0, 10.0]
    assert low == pytest.approx([1.0 - 12.706, 10.0], abs=1e-3)  # t(0.975, 1) = 12.706


def _hand_built(diffs: list[list[float]], churn: float = 0.01,
                extra_training: float = 0.0) -> state.Comparison:
    """A comparison whose plan's cumulative profit leads the comparator's by ``diffs``.

    The comparator earns 500 and pays 450 in wages a week; the plan also pays
    ``extra_training`` a week from week 1 and earns enough more to lead by ``diffs``.
    """
    def run(lead: list[list[float]], training: float) -> state.RunResult:
        rows = []
        for r, row in enumerate(lead):
            for t in range(len(row)):
                gain = row[t] - (row[t - 1] if t else 0.0)  # this week's profit lead
                spend = training if t else 0.0
                rows.append({"replication": r, "step": t, "cum_profit": 50.0 * t + row[t],
                             "profit": 50.0 + gain, "revenue": 500.0 + gain + spend,
                             "costs": 450.0 + spend, "wages": 450.0, "training_cost": spend,
                             **{k: 0.0 for k in invest.COST_LINES if k not in
                                ("wages", "training_cost")},
                             "customer_churn_rate": churn, "engagement_mean": 0.5,
                             "customers_active": 100.0})
        return state.RunResult(SMALL, pd.DataFrame(rows), pd.DataFrame())

    return state.Comparison(run(diffs, extra_training),
                            run([[0.0] * len(row) for row in diffs], 0.0))


@pytest.mark.parametrize(("diffs", "payback"), [
    ([[0, -10, -5, 2, 6, 9], [0, -6, -3, -1, 4, 7]], 3),  # mean 0 -8 -4 0.5 5 8
    ([[0, 2, -1, 3, 4], [0, 2, -1, 3, 4]], 3),  # ahead in week 1, behind again in week 2
    ([[0, 5, 6, -1], [0, 5, 6, -1]], None),  # falls behind by the horizon: never pays back
    ([[1, 2, 3], [1, 2, 3]], 0),  # ahead from the start
    ([[0, -4, 9], [0, -4, -3]], 2),  # the mean decides, not each replication: 3 in week 2
])
def test_payback_week_of_hand_built_cash_series(diffs, payback):
    comp = _hand_built(diffs)
    mean, low, high, week = comp.roi()
    assert week == payback
    assert mean.tolist() == pytest.approx(np.mean(diffs, axis=0))


def test_end_values_of_a_hand_built_comparison():
    comp = _hand_built([[0, -10, -5, 2, 6, 9], [0, -6, -3, -1, 4, 7]], churn=0.01)
    stock = comp.end("cum_profit")  # the final week: leads 9 and 7
    assert (stock.diff, stock.baseline) == pytest.approx((8.0, 250.0))
    assert (stock.low, stock.high) == pytest.approx((8.0 - 12.706, 8.0 + 12.706), abs=1e-3)
    # a flow is averaged over the last four weeks: weekly leads 5, 7, 4, 3 and 3, 2, 5, 3
    flow = comp.end("profit")
    assert flow.diff == pytest.approx(32 / 8)
    assert flow.scenario == pytest.approx(50 + 32 / 8)
    # weekly churn is annualised: 1 - 0.99 ** 52
    assert comp.end("customer_churn_rate").scenario == pytest.approx(0.40703, abs=1e-5)


def test_a_kpi_matrix_is_the_pivot_of_the_time_series_in_any_row_order():
    comp = _hand_built([[0, -10, 5, 25, 55], [0, -10, -15, 5, 30]])
    frame = comp.scenario.timeseries
    pivot = frame.pivot(index="replication", columns="step", values="profit").to_numpy(float)
    np.testing.assert_array_equal(comp.matrix("scenario", "profit"), pivot)
    shuffled = state.Comparison(state.RunResult(SMALL, frame.sample(frac=1.0, random_state=1),
                                                pd.DataFrame()), comp.baseline)
    np.testing.assert_array_equal(shuffled.matrix("scenario", "profit"), pivot)


def test_investment_of_a_hand_built_plan():
    # 10 a week more on training; cumulative leads 55 and 30 at week 4, paid back in weeks 2, 3
    comp = _hand_built([[0, -10, 5, 25, 55], [0, -10, -15, 5, 30]], extra_training=10.0)
    inv = invest.investment(comp, rate=0.0)
    assert not inv.identical and inv.weeks == 4
    assert inv.profit.mean == pytest.approx(42.5) and inv.npv.mean == pytest.approx(42.5)
    assert inv.extra_cost.mean == pytest.approx(40.0)
    assert inv.roi == pytest.approx(106.25)  # 42.5 / 40
    assert inv.paybacks.tolist() == [2, 3] and inv.payback.mean == pytest.approx(2.5)
    assert comp.roi()[3] == 3  # the mean lead (0, -10, -5, 15, 42.5) turns positive in week 3
    assert inv.p_beats == 1.0
    plan, comparator, diff = inv.costs["training_cost"]
    assert (plan, comparator, diff.mean) == pytest.approx((40.0, 0.0, 40.0))
    # a week's 10 is worth 10 / 1.08 ** (t / 52) today: the NPV of the leads is a little lower
    weekly = np.array([[-10, 15, 20, 30], [-10, -5, 20, 25]])
    factor = 1.08 ** (-np.arange(1, 5) / 52)
    assert invest.investment(comp, rate=0.08).npv.mean == pytest.approx(
        (weekly * factor).sum(axis=1).mean())


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


# --- the page's limits, on every path ----------------------------------------------------------

def _enter(rc, css_class: str, text: str) -> None:
    """Type ``text`` into one of the page's number inputs and press Enter."""
    field = rc.find(v.TextField, class_=css_class).widget
    field.v_model = text
    field.fire_event("keyup.enter", None)


def _errors(rc) -> list[str]:
    return [w.children[0] for w in rc.find(v.Html, class_="spc-error").widgets]


def _shown(rc, test, timeout: float = 5.0) -> list[str]:
    """The input errors once ``test(errors)`` holds (a run's thread may render concurrently)."""
    deadline = time.monotonic() + timeout
    while not test(errors := _errors(rc)) and time.monotonic() < deadline:
        time.sleep(0.02)
    return errors


def test_limits_refuse_each_key_with_its_value_and_maximum():
    ok = ServiceScenario(steps=104, reps=5).with_changes(n_employees=220, n_customers=4000)
    assert LIMITS.check(ok) is ok
    cases = {"n_employees": (dict(n_employees=LIMITS.max_employees + 1), "20,001", "20,000"),
             "n_customers": (dict(n_customers=10_000_000), "10,000,000", "400,000"),
             "steps": (dict(steps=1000), "1,000", "520"),
             "reps": (dict(reps=1000), "1,000", "50")}
    for key, (change, value, maximum) in cases.items():
        with pytest.raises(LimitError) as err:
            LIMITS.check(ok.with_changes(**change))
        assert str(err.value).startswith(f"{key}={value} is above") and maximum in str(err.value)
    big = ok.with_changes(n_employees=20_000, n_customers=400_000, steps=520, reps=1)
    with pytest.raises(LimitError, match=r"^agent-weeks=2,184,000,000 .*maximum of 500,000,000"):
        LIMITS.check(big.with_changes(reps=5))
    assert LIMITS.agent_weeks(big) == 420_000 * 520 * 2 <= LIMITS.max_agent_weeks


@pytest.mark.parametrize(("text", "expected"), [
    ("params:\n  n_customers: 10000000\n", "n_customers=10,000,000 is above this page's maximum "
                                          "of 400,000"),
    ("reps: 1000\n", "reps=1,000 is above this page's maximum of 50"),
    ("steps: 1000\n", "steps=1,000 is above this page's maximum of 520"),
    ("params:\n  n_customers: 1.0e+7\n", "n_customers=10,000,000 is above"),
    ("timeline:\n" + "  - {week: 1, set: {training: 0.1}}\n" * 201, "timeline: 201 events"),
    ("steps: 520\nreps: 50\nparams: {n_customers: 40000}\n", "agent-weeks=2,091,440,000 "),
    (None, "file size is above this page's maximum of 1,000,000 bytes"),
    ("#" * 1_000_001, "file size is above"),
])
def test_uploads_over_a_limit_are_refused_in_one_line(text, expected):
    with pytest.raises(ParameterError) as err:
        read_scenario("up.yaml", text)
    message = str(err.value)
    assert message.startswith("up.yaml: ") and expected in message and "\n" not in message


def test_upload_limits_apply_to_sizes_from_a_base_preset_too(tmp_path, monkeypatch):
    preset = tmp_path / "huge.yaml"
    preset.write_text("name: huge\nparams:\n  n_customers: 5000000\n")
    (tmp_path / "baseline.yaml").write_text((SCENARIO_DIR / "baseline.yaml").read_text())
    monkeypatch.setattr("sim.scenario.SCENARIO_DIR", tmp_path)
    with pytest.raises(ParameterError, match="up.yaml: n_customers=5,000,000 is above"):
        read_scenario("up.yaml", "base: huge\n")
    assert read_scenario("ok.yaml", "steps: 52\nreps: 3\n").reps == 3


def test_page_inputs_use_the_same_limits():
    box, rc = solara.render(Page(), handle_error=False)
    try:
        _enter(rc, "spc-input-customers", str(LIMITS.max_customers + 1))
        assert _shown(rc, bool) == ["Customers: 400,001 is outside the allowed 100..400,000"]
        _enter(rc, "spc-input-replications", "51")
        assert "Replications: 51 is outside the allowed 1..50" in _shown(rc, lambda e: len(e) > 1)
        _enter(rc, "spc-input-customers", str(LIMITS.max_customers))   # allowed on its own
        _enter(rc, "spc-input-weeks", "520")                             # but not with 520 weeks
        # (a generous wait: the page may be busy starting the 400,000-customer run)
        found = _shown(rc, lambda e: any(x.startswith("agent-weeks=") for x in e), timeout=20)
        assert any(e.startswith("agent-weeks=") for e in found), found
        notice = rc.find(v.Html, class_="spc-error spc-notice").wait_for(timeout=5) \
            .widget.children[0]
        assert notice.startswith("agent-weeks=") and "500,000,000" in notice
    finally:
        rc.close()
        state.ENGINE.shutdown()


def test_the_engine_refuses_scenarios_over_the_limits_before_starting_anything():
    eng = state.Engine(workers=1)
    try:
        with pytest.raises(LimitError, match="reps=51"):
            eng.run([SMALL.with_changes(reps=51)])
        assert eng.stats()["workers"] == 0 and eng.pids() == []
    finally:
        eng.shutdown()


# --- fair queue and cancellation (bookkeeping only) --------------------------------------------

def _queue_with(workers: int, **wants: int) -> FairQueue:
    queue = FairQueue(workers)
    for session, n in wants.items():
        for r in range(n):
            queue.want(session, (session, r), None, 10)
    return queue


def test_fair_queue_alternates_sessions_and_gives_a_newcomer_a_worker():
    queue = _queue_with(2, a=6)
    first = [queue.next(), queue.next()]
    assert [j.key for j in first] == [("a", 0), ("a", 1)]
    for r in range(3):
        queue.want("b", ("b", r), None, 10)
    # Both workers are Alice's: Bob gets one back, the job she started last.
    stop = queue.preemptions(idle=0)
    assert [j.key for j in stop] == [("a", 1)]
    assert queue.preemptions(idle=0) == []          # one stop in flight is enough
    assert queue.stopped(stop[0])                    # requeued at its old place
    assert queue.next().key == ("b", 0)
    queue.finished(first[0])
    assert queue.next().key == ("a", 1)              # Alice again: she now runs none


def test_fair_queue_round_robin_with_more_sessions_than_workers():
    queue = _queue_with(2, a=3, b=3, c=3)
    running = [queue.next(), queue.next()]
    assert {j.session for j in running} == {"a", "b"}
    assert queue.preemptions(idle=0) == []           # nobody holds more than a fair share
    queue.finished(running[0])
    assert queue.next().session == "c"               # served least recently


def test_shared_jobs_run_once_and_survive_one_owner_leaving():
    queue = FairQueue(2)
    job = queue.want("a", "k", None, 10)
    assert queue.want("b", "k", None, 10) is job and job.owners == ["a", "b"]
    assert queue.withdraw("a") == [] and job.session == "b" and "k" in queue.jobs
    assert queue.withdraw("b") == [] and "k" not in queue.jobs    # queued and unwanted: gone


def test_withdrawing_returns_running_jobs_nobody_wants_and_keeps_the_rest():
    queue = _queue_with(2, a=3)
    running = [queue.next(), queue.next()]
    stop = queue.withdraw("a", keep={("a", 0)})
    assert [j.key for j in stop] == [("a", 1)]
    assert set(queue.jobs) == {("a", 0), ("a", 1)}                # ("a", 2) was only queued
    assert queue.stop(stop[0]) and not queue.stop(stop[0])
    assert not queue.stopped(stop[0]) and ("a", 1) not in queue.jobs
    assert running[0].owners == ["a"]
    # An abandoned running job is the first to give way to a waiting session.
    queue = _queue_with(1, a=1)
    job = queue.next()
    queue.withdraw("a")
    queue.want("b", "x", None, 10)
    assert queue.preemptions(idle=0) == [job]


def test_a_scenarios_replications_share_out_over_free_workers_as_batches():
    queue = FairQueue(2)
    for r in range(5):
        queue.want("a", ("plan", r), None, 10, group="plan")
    queue.want("a", ("other", 0), None, 10, group="other")
    assert queue.waiting_sessions() == 1
    first = queue.next()
    assert first.key == ("plan", 0) and queue.waiting_with(first) == 4
    batch = [first, *queue.companions(first, 2)]
    assert [j.key for j in batch] == [("plan", 0), ("plan", 1), ("plan", 2)]
    assert queue.batch(first) == batch                       # started together
    second = queue.next()
    assert [j.key for j in [second, *queue.companions(second, 5)]] == [("plan", 3), ("plan", 4)]
    # Two batches are two workers: a newcomer gets one back, the whole batch started last.
    queue.want("b", ("b", 0), None, 10, group="b")
    assert queue.waiting_sessions() == 2                     # a's ("other", 0) and b's job
    stop = queue.preemptions(idle=0)
    assert [j.key for j in stop] == [("plan", 3)]
    assert all(j.stopping for j in queue.batch(second)) and not first.stopping
    assert queue.preemptions(idle=0) == []                   # one stop in flight is enough
    for job in queue.batch(second):
        assert queue.stopped(job)                            # both queued again
    assert queue.next().key == ("b", 0)


def test_replications_stepped_together_match_their_runs_alone(monkeypatch, tmp_path):
    """The page's workers batch replications: same frames as one by one, progress, stops."""
    from sim.app import workers

    monkeypatch.setenv("SIM_CACHE_DIR", str(tmp_path))
    scenario = SMALL.with_changes(steps=6, seed=41, training=0.2)
    weeks = []
    together = workers.simulate_many(scenario, [0, 1, 2], on_week=weeks.append)
    assert weeks == [1, 2, 3, 4, 5, 6]
    monkeypatch.setenv("SIM_CACHE_DIR", str(tmp_path / "fresh"))
    for r, frame in enumerate(together):
        pd.testing.assert_frame_equal(frame, workers.simulate(scenario, r), check_exact=True)
    asked = []

    def stop_after_two() -> bool:
        asked.append(True)
        return len(asked) >= 2

    with pytest.raises(workers.Stopped):
        workers.simulate_many(scenario.with_changes(seed=42), [0, 1], stop_after_two)
    assert len(asked) == 2                                   # asked after weeks 1 and 2


def test_progress_text():
    assert progress_text(None, 0, 5, 0) == "Running…"
    waiting = state.Progress(2, 10, 208, 1040, running=0)
    assert "waiting for a free worker" in progress_text(waiting, 0, 5, 3)
    assert "preparing" in progress_text(state.Progress(0, 10, 0, 1040, running=2), 0, 5, 3)
    text = progress_text(state.Progress(4, 10, 520, 1040, running=2), 2, 5, 12)
    assert text == ("Running: showing 2 of 5 replications · 50% of the simulated weeks · "
                    "4/10 runs done · 12 s")


# --- the shared workers: fairness, superseding, cancelling, no orphans --------------------------

# Long enough to fill both workers for a minute: stopped only by cancelling.
LONG = ServiceScenario(name="long", steps=3000, seed=11, reps=2).with_changes(n_employees=2000,
                                                                        n_customers=40000)


def _in_thread(fn) -> tuple[threading.Thread, dict]:
    out: dict = {}

    def go() -> None:
        try:
            out["value"] = fn()
        except BaseException as err:  # noqa: BLE001 - handed to the test
            out["error"] = err

    thread = threading.Thread(target=go, daemon=True)
    thread.start()
    return thread, out


def _wait_until(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


@pytest.fixture
def pool():
    eng = state.Engine(workers=2, limits=None)
    yield eng
    eng.shutdown()


def test_another_session_is_served_while_a_long_run_fills_the_workers(pool):
    alice, out = _in_thread(lambda: pool.run([LONG], session="alice"))
    assert _wait_until(lambda: pool.stats()["busy"] == 2, 30)
    start = time.monotonic()
    comp = state.compare(SMALL, state.baseline_for("baseline", SMALL), engine=pool, session="bob")
    waited = time.monotonic() - start
    assert len(comp.scenario.timeseries) == 2 * 13
    assert alice.is_alive() and "error" not in out
    start = time.monotonic()
    pool.cancel("alice")
    alice.join(5)
    assert isinstance(out.get("error"), state.Cancelled)
    assert _wait_until(lambda: pool.stats()["busy"] == 0, 5)
    freed = time.monotonic() - start
    print(f"bob's comparison took {waited:.2f} s beside alice's long run; "
          f"cancelling freed the workers in {freed:.2f} s")


def test_a_newer_request_of_a_session_supersedes_the_older(pool):
    older, out = _in_thread(lambda: pool.run([LONG], session="s"))
    assert _wait_until(lambda: pool.stats()["busy"] == 2, 30)
    newer = pool.run([SMALL], session="s")
    older.join(5)
    assert isinstance(out.get("error"), state.Cancelled)
    assert len(newer[0].timeseries) == 2 * 13
    assert _wait_until(lambda: pool.stats()["busy"] == 0, 5)
    assert pool.stats()["sessions"] == 0 and pool.stats()["queued"] == 0


def test_cancel_kills_a_worker_that_cannot_stop_in_time(pool):
    # A seed never run before: its start is being built (not interruptible) when cancelled.
    fresh = LONG.with_changes(seed=random.randrange(10**6, 2**31))
    run, out = _in_thread(lambda: pool.run([fresh], session="s"))
    assert _wait_until(lambda: pool.stats()["busy"] == 2, 30)
    pids = pool.pids()
    time.sleep(0.2)
    start = time.monotonic()
    pool.cancel("s")
    assert _wait_until(lambda: pool.stats()["busy"] == 0, 3)
    freed = time.monotonic() - start
    run.join(5)
    assert isinstance(out.get("error"), state.Cancelled)
    assert pool.stats()["kills"] >= 1 and freed < pool.grace + 1.5
    assert len(pool.pids()) == 2 and pool.pids() != pids      # killed ones were replaced
    assert all(not Path(f"/proc/{p}").exists() or "Z" in Path(f"/proc/{p}/stat").read_text()
               for p in set(pids) - set(pool.pids()))


SERVER = """
import threading, time
from sim.app import state
from sim.scenario import ServiceScenario
engine = state.Engine(workers=2, limits=None)
long = ServiceScenario(steps=3000, seed=11, reps=2).with_changes(n_employees=2000,
                                                                 n_customers=40000)
threading.Thread(target=lambda: engine.run([long]), daemon=True).start()
while engine.stats()["busy"] < 2:
    time.sleep(0.05)
print(*engine.pids(), flush=True)
time.sleep(600)
"""


@pytest.mark.slow  # a 2,000-employee run fills both workers first: about 10 s
def test_workers_do_not_outlive_a_killed_server():
    """SIGKILL a process running the engine: within 5 s nothing it started is left."""
    proc = subprocess.Popen([sys.executable, "-c", SERVER], cwd=ROOT, stdout=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        workers = [int(p) for p in proc.stdout.readline().split()]
        assert len(workers) == 2
        started = set(group_members(proc.pid)) - {proc.pid}
        assert set(workers) <= started and len(started) >= 3   # + fork server, resource tracker
        os.kill(proc.pid, signal.SIGKILL)   # and not reaped yet: a zombie server counts as gone
        gone = _wait_until(lambda: not group_members(proc.pid), 5)
        assert gone, f"still running 5 s after the server was killed: {group_members(proc.pid)}"
    finally:
        for pid in group_members(proc.pid):
            os.kill(pid, signal.SIGKILL)
        proc.wait()


@pytest.mark.slow  # a pytest run in a subprocess: about 30 s each
@pytest.mark.parametrize("ci", ["true", ""])
def test_browser_tests_fail_under_ci_without_chromium(ci, tmp_path):
    env = {**os.environ, "SIM_TEST_CHROMIUM": str(tmp_path / "no-chromium"), "CI": ci}
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rsE",
                          "tests/browser/test_explorer.py"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=300)
    if ci:
        assert run.returncode == 1, run.stdout
        assert "CI is set but" in run.stdout and "is not installed" in run.stdout
    else:
        assert run.returncode == 0, run.stdout
        assert "SKIPPED" in run.stdout and "is not installed" in run.stdout


def test_idle_workers_that_ran_something_are_replaced_by_fresh_ones():
    eng = state.Engine(workers=1, recycle_after=0.3)
    try:
        eng.run([SMALL])
        used = eng.pids()
        assert _wait_until(lambda: eng.stats()["recycled"] >= 1, 5)
        assert eng.pids() != used and len(eng.pids()) == 1
        assert len(eng.run([SMALL.with_changes(seed=4)])[0].timeseries) == 26
    finally:
        eng.shutdown()


def test_sim_app_sets_a_session_lifetime_that_solara_reads(monkeypatch):
    from solara.server.settings import Kernel
    from solara.util import parse_timedelta

    env = server_env({})
    assert env["SOLARA_KERNEL_CULL_TIMEOUT"] == SESSION_LIFETIME
    assert server_env({"SOLARA_KERNEL_CULL_TIMEOUT": "10m"})["SOLARA_KERNEL_CULL_TIMEOUT"] == "10m"
    monkeypatch.setenv("SOLARA_KERNEL_CULL_TIMEOUT", env["SOLARA_KERNEL_CULL_TIMEOUT"])
    assert parse_timedelta(Kernel().cull_timeout) == 120


def test_sim_app_asks_reacton_for_its_fast_renderer(monkeypatch):
    import reacton.core

    monkeypatch.setenv("REACTON_FAST", server_env({})["REACTON_FAST"])
    assert reacton.core._render_context_class() is reacton.core._RenderContextFast


# --- version 2: labels, the investment view, the profit bridge -----------------------------------

@pytest.fixture(scope="module")
def paired(engine):
    scenario = SMALL.with_changes(training=0.2, reps=3)
    return state.compare(scenario, state.baseline_for(state.TODAY, scenario), engine=engine)


def test_the_default_comparator_is_today_the_baseline_unchanged():
    today = state.baseline_for(state.TODAY, SMALL)
    assert today.name == "today"
    assert today.params == state.baseline_for("baseline", SMALL).params
    assert state.ident(today) == state.ident(state.baseline_for("baseline", SMALL))


def test_names_files_and_run_summary():
    from sim.app.entries import display_name
    from sim.app.files import file_stem, reps_note
    origin = SMALL
    assert display_name(origin, origin) == "small"
    changed = origin.with_changes(training=0.2)
    assert display_name(changed, origin) == "small (modified)"
    assert file_stem(display_name(changed, origin)) == "small-modified"
    assert display_name(changed.with_changes(), origin) == "small (modified)"
    import dataclasses
    assert display_name(dataclasses.replace(changed, name="my plan"), origin) == "my plan"
    assert "runs 2 replications (seeds 3–4)" in reps_note(SMALL, "name: x\n")
    assert reps_note(SMALL, "reps: 2\n") == ""


def test_lmdi_parts_add_up_exactly_to_the_revenue_difference():
    rng = np.random.default_rng(0)
    c1, v1, r1, c0, v0, r0 = rng.uniform(1, 1e6, (6, 50))
    parts = invest.revenue_parts(c1, v1, r1, c0, v0, r0)
    np.testing.assert_allclose(sum(parts.values()), r1 - r0, rtol=1e-9)
    # each part is L(r1, r0) ln(ratio of its factor)
    weight = (r1 - r0) / np.log(r1 / r0)
    np.testing.assert_allclose(parts["customers"], weight * np.log(c1 / c0), rtol=1e-9)
    np.testing.assert_allclose(parts["spend_per_visit"],
                               weight * np.log((r1 / v1) / (r0 / v0)), rtol=1e-7, atol=1e-6)
    same = invest.revenue_parts(c0, v0, r0, c0, v0, r0)
    assert all(np.all(v == 0) for v in same.values())


def test_the_bridge_sums_to_the_profit_difference(paired):
    bridge = invest.bridge(paired)
    diff = (paired.matrix("scenario", "cum_profit")[:, -1]
            - paired.matrix("baseline", "cum_profit")[:, -1]).mean()
    assert bridge.plan_profit - bridge.comparator_profit == pytest.approx(diff, rel=1e-6)
    assert bridge.total == pytest.approx(diff, rel=1e-6)
    assert [k for k, _, _ in bridge.steps] == ["customers", "visits_per_customer",
                                                "spend_per_visit", *invest.COST_LINES]


def test_the_page_shows_every_cost_line_of_the_ledger():
    assert set(invest.COST_LABELS) == set(COST_LINES) == set(COST_KPIS)


def test_investment_npv_roi_payback_and_p_beats(paired):
    inv = invest.investment(paired, rate=0.0)
    cum = paired.matrix("scenario", "cum_profit") - paired.matrix("baseline", "cum_profit")
    assert inv.npv.mean == pytest.approx(cum[:, -1].mean(), rel=1e-9)   # no discounting
    assert invest.investment(paired, rate=0.5).npv.mean != pytest.approx(inv.npv.mean)
    extra = sum(d.mean for _, _, d in inv.costs.values())  # the cost lines add up
    assert extra == pytest.approx(inv.extra_cost.mean, rel=1e-9)
    rows = np.array([[0, -5, -1, 2, 3], [0, 1, 2, 3, 4], [0, 2, -1, -2, -3]], float)
    assert invest.payback_weeks(rows).tolist() == [3, 1, -1]
    assert stats.discount_factors(52, 0.08)[-1] == pytest.approx(1 / 1.08)


def test_a_self_comparison_has_nothing_to_pay_back(engine):
    from sim.app.invest_view import investment_rows, verdict
    today = state.baseline_for(state.TODAY, SMALL)
    comp = state.compare(today, today, engine=engine)
    inv = invest.investment(comp)
    assert inv.identical
    text = verdict(inv, comp.roi()[3], "today")
    assert text.startswith("No difference to pay back") and "$0" not in text
    assert investment_rows(inv, "today")[0][1] == "none"


def test_several_plans_against_one_comparator(engine):
    from sim.app.entries import align
    from sim.app.plans import plan_rows, plans_table
    world = SMALL
    plans = [world.with_changes(training=0.2), align(state.baseline_for("employees_first", world),
                                                     world)]
    comparator = state.baseline_for(state.TODAY, world)
    LIMITS.check_many(plans, comparator)
    with pytest.raises(LimitError, match="plans: 10 is above"):
        LIMITS.check_many(plans * 5, comparator)
    results = state.compare_many(plans, comparator, engine=engine)
    assert len(results) == 2 and all(r.baseline is results[0].baseline for r in results)
    single = state.compare(plans[0], comparator, engine=engine)
    np.testing.assert_array_equal(results[0].matrix("scenario", "cum_profit"),
                                  single.matrix("scenario", "cum_profit"))
    rows = plan_rows([("a", results[0]), ("b", results[1])])
    assert rows[0]["profit"].mean >= rows[1]["profit"].mean
    table = plans_table(rows, "today")
    assert table.count("<tr data-plan=") == 2 and "P(beats today)" in table
    option = charts.overlay(np.arange(13), [(n, *c.roi()[:3]) for n, c in
                                            (("a", results[0]), ("b", results[1]))], "today")
    assert option["legend"]["data"] == ["a", "b"]
    colours = {s["lineStyle"]["color"] for s in option["series"] if s.get("name")}
    assert len(colours) == 2


def test_bridge_chart_bars_span_each_step_even_below_zero():
    option = charts.bridge("today", 100.0, [("a", -250.0), ("b", 30.0)], "plan", -120.0)
    base, up, down = ([d["value"] if isinstance(d, dict) else d for d in s["data"]]
                      for s in option["series"])
    spans = [(b, b + u + d) for b, u, d in zip(base, up, down, strict=True)]
    assert spans == [(0, 100), (-150, 100), (-150, -120), (-120, 0)]
    assert all(s["stackStrategy"] == "all" for s in option["series"])


def test_a_refused_event_number_does_not_stay_in_its_input():
    from sim.app.components import TimelineEditor
    box, rc = solara.render(TimelineEditor(SMALL, lambda events: None), handle_error=False)
    try:
        _enter(rc, "spc-input-week", "999")
        [b for b in rc.find(v.Btn).widgets if "Add event" in b.children][0].click()
        field = rc.find(v.TextField, class_="spc-input-week").widget
        assert field.v_model in (12, "12") and "999 refused" in " ".join(_errors(rc))
    finally:
        rc.close()


def test_cards_show_what_the_surveys_read_with_their_margin(pool):
    """Engagement, CSAT and NPS come with the surveyed value and one survey's 95% margin."""
    comp = state.compare(SMALL, state.baseline_for("baseline", SMALL), engine=pool)
    assert comp.survey("profit") is None
    for key in state.SURVEYED:
        value, margin = comp.survey(key)
        truth = comp.end(key).scenario
        assert margin > 0 and abs(value - truth) < 4 * margin, (key, value, truth, margin)


def test_the_page_shares_the_run_cache_with_sim_run(monkeypatch, tmp_path):
    """A replication `sim run` computed is read, not run, by the page's workers: same frame."""
    from sim import runner
    from sim.app import workers

    monkeypatch.setenv("SIM_CACHE_DIR", str(tmp_path))
    scenario = SMALL.with_changes(steps=6, seed=40)
    by_cli = runner.run_scenario(scenario).timeseries.query("replication == 1")
    weeks = []

    def no_model(*args, **kwargs):
        raise AssertionError("a cached replication was run again")

    monkeypatch.setattr(runner, "ServiceModel", no_model)
    by_page = workers.simulate(scenario, 1, on_week=weeks.append)
    pd.testing.assert_frame_equal(by_page, by_cli.reset_index(drop=True), check_exact=True)
    assert weeks == [6]


def test_a_lever_change_runs_at_once_and_a_burst_of_changes_runs_once(monkeypatch):
    """The first change after a quiet spell starts its run without the pause; a burst (a
    slider dragged) runs its last value only, once it settles; the result ends the run."""
    monkeypatch.setattr(running, "DEBOUNCE_S", 1.0)  # wide: a loaded machine stays inside it
    monkeypatch.setattr(running, "baseline_for", lambda name, scenario: scenario)
    compared: list[tuple[float, float]] = []

    def compare(scenario, base, cancel, **_):
        compared.append((time.perf_counter(), scenario.params.training))
        return SimpleNamespace()

    monkeypatch.setattr(running, "compare", compare)
    seen: dict[str, object] = {}

    @solara.component
    def Probe(scenario: ServiceScenario):
        run = running.use_run(scenario, "baseline", repr(scenario), "w", "tab",
                              lambda _: None, lambda _: None)
        seen.update(generation=run.generation, running=run.running)
        return solara.Text(str(run.generation))

    def until(condition, timeout: float = 10.0) -> None:
        end = time.monotonic() + timeout
        while not condition() and time.monotonic() < end:
            time.sleep(0.01)
        assert condition()

    asked = time.perf_counter()
    box, rc = solara.render(Probe(SMALL), handle_error=False)
    until(lambda: len(compared) == 1 and seen["generation"] == 1)
    assert compared[0][0] - asked < 1.0   # not held back by the pause
    assert seen["running"] is False       # shown finished in the results' own render
    time.sleep(1.1)                       # a quiet spell, then a drag: three values in a burst
    for training in (0.1, 0.15, 0.2):
        rc.render(Probe(SMALL.with_changes(training=training)))
    until(lambda: len(compared) >= 3 and seen["generation"] == 3)
    time.sleep(0.2)
    # the drag's first value runs at once, its last once the drag settles, the middle never
    assert [t for _, t in compared] == [SMALL.params.training, 0.1, 0.2]
    rc.close()


def test_a_superseded_runs_results_never_land(monkeypatch):
    """A run whose settings were edited meanwhile finishes, but its results are not shown."""
    monkeypatch.setattr(running, "baseline_for", lambda name, scenario: scenario)

    def compare(scenario, base, cancel, **_):
        if scenario.params.training == 0.1:
            cancel.wait(10.0)   # still running when the next edit arrives
        return SimpleNamespace(training=scenario.params.training)

    monkeypatch.setattr(running, "compare", compare)
    shown: list[float] = []

    @solara.component
    def Probe(scenario: ServiceScenario):
        run = running.use_run(scenario, "baseline", repr(scenario), "w", "tab",
                              lambda _: None, lambda _: None)
        if run.comparison is not None and (not shown or shown[-1] != run.comparison.training):
            shown.append(run.comparison.training)
        return solara.Text(str(run.generation))

    box, rc = solara.render(Probe(SMALL.with_changes(training=0.1)), handle_error=False)
    time.sleep(0.3)
    rc.render(Probe(SMALL.with_changes(training=0.2)))
    end = time.monotonic() + 10.0
    while shown != [0.2] and time.monotonic() < end:
        time.sleep(0.01)
    time.sleep(0.3)
    assert shown == [0.2]
    rc.close()
