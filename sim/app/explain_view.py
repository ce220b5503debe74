"""The page's "Why & sensitivity" tab: engagement drivers, the chain, Shapley values, a tornado.

The numbers come from :mod:`sim.explain`; this module only runs them and draws them. Shapley
values and the tornado need many extra replications: they go through the page's shared engine
(:data:`sim.app.state.ENGINE`: fair queue across sessions, the replication cache, cancel) as
requests of their own, within the page's work limit, and start only when asked. The engagement
drivers need the model's inner state, which the engine's workers do not return, so they run
replication by replication in a background thread of the server (cancelled when the plan changes
or the tab closes), like the inside view. Finished results are kept (a few per server, immutable)
so returning to a plan shows them at once.
"""

from __future__ import annotations

import html
import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any, cast

import numpy as np
import solara

from sim import explain
from sim.app import charts
from sim.app.charts import money
from sim.app.components import aria
from sim.app.invest import Estimate, ci_text
from sim.app.limits import LIMITS, LimitError
from sim.app.state import ENGINE, Cancelled, Comparison, Progress, ident
from sim.params import SPECS, ParameterError
from sim.runner import RunResult
from sim.scenario import ServiceScenario

GOOD, BAD, NEUTRAL = "#047857", "#b91c1c", "#94a3b8"
# KPIs the tornado can show: profit over the horizon, and KPIs at the horizon as on the cards.
TORNADO_KPIS: dict[str, str] = {
    "cum_profit": "Profit over the horizon",
    "engagement_mean": "Engagement at the horizon",
    "service_quality": "Service quality at the horizon",
    "csat": "Customer satisfaction at the horizon",
    "customers_active": "Active customers at the horizon",
    "employee_turnover_rate": "Staff turnover at the horizon",
}


class _Kept:
    """A small least-recently-used store of finished, immutable results (shared by sessions)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Any:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
            return None

    def put(self, key: Hashable, value: Any) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)


PATHS = _Kept(400)        # (scenario ident, replication) -> EngagementPath
SHAPLEY = _Kept(32)       # (plan ident, comparator ident, reps) -> ShapleyResult
TORNADO = _Kept(16)       # (plan ident, reps) -> dict ident -> RunResult


def lever_label(name: str) -> str:
    """A parameter's plain name (``pay_level`` -> "Pay level")."""
    if name == explain.ORGANISATION:
        return "Organisation figures"
    return name.replace("_", " ").capitalize()


def _setting(scenario: ServiceScenario, name: str) -> str:
    if name == explain.ORGANISATION:
        return "fitted" if scenario.organisation else "none"
    spec = SPECS[name]
    value = getattr(scenario.params, name)
    text = f"{value:g}" if spec.kind is float else str(value)
    if any(name in e.changes for e in scenario.timeline):
        text += " + timeline"
    return text


def _work(scenarios: list[ServiceScenario]) -> int:
    """Agent-weeks of running every replication of these scenarios once."""
    return sum(LIMITS.agent_weeks(s) // 2 for s in scenarios)


def check_work(scenarios: list[ServiceScenario], what: str) -> None:
    """Refuse a request over the page's work limit (the same limit as one comparison)."""
    work = _work(scenarios)
    if work > LIMITS.max_agent_weeks:
        raise LimitError(
            f"{what}: agent-weeks={work:,} ({len(scenarios)} scenarios x replications) is "
            f"above this page's maximum of {LIMITS.max_agent_weeks:,}: lower the sizes, weeks "
            "or replications (or use `sim sweep`)")


# --- computations run off the UI thread ---------------------------------------------------------

def engagement_paths(scenario: ServiceScenario, cancel: threading.Event,
                     on_done=None) -> list[explain.EngagementPath]:
    """Every replication's engagement path, from the store or run now (raises Stopped)."""
    key = ident(scenario)
    out = []
    for r in range(scenario.reps):
        path = PATHS.get((key, r))
        if path is None:
            path = explain.engagement_path(scenario, r, cancel.is_set)
            PATHS.put((key, r), path)
        out.append(path)
        if on_done is not None:
            on_done()
    return out


class ShapleyResult:
    """Shapley values per replication of each changed lever, and what they rest on."""

    def __init__(self, design: explain.ShapleyDesign, values: dict[str, np.ndarray],
                 total: np.ndarray, runs: int) -> None:
        self.design = design
        self.values = values
        self.total = total          # per replication: the plan's profit difference
        self.runs = runs            # scenarios run (coalitions)


def shapley_request(
    plan: ServiceScenario, comparator: ServiceScenario
) -> tuple[explain.ShapleyDesign, dict[frozenset, ServiceScenario]]:
    """The design and the scenario of every coalition (raises ParameterError, LimitError)."""
    found = explain.players(plan, comparator)
    plan_design = explain.design(found, seed=plan.seed)
    everyone = frozenset(found)
    scenarios = {}
    for members in plan_design.coalitions:
        if members == everyone:
            scenarios[members] = plan            # exactly the plan's runs
        elif not members:
            scenarios[members] = comparator      # exactly the comparator's
        else:
            scenarios[members] = explain.coalition(plan, comparator, members)
    check_work(list({ident(s): s for s in scenarios.values()}.values()), "Shapley values")
    return plan_design, scenarios


def run_shapley(plan: ServiceScenario, comparator: ServiceScenario, cancel: threading.Event,
                on_progress, session: str) -> ShapleyResult:
    """Run every coalition on the page's engine and compute the Shapley values."""
    plan_design, scenarios = shapley_request(plan, comparator)
    unique = list({ident(s): s for s in scenarios.values()}.values())
    results = ENGINE.run(unique, session, cancel, on_progress)
    by_ident = {ident(r.scenario): r for r in results}
    base = by_ident[ident(comparator)]
    value = {m: explain.horizon_profit(Comparison(by_ident[ident(s)], base))
             for m, s in scenarios.items()}
    total = explain.horizon_profit(Comparison(by_ident[ident(plan)], base))
    return ShapleyResult(plan_design, explain.shapley(plan_design, value), total, len(unique))


def tornado_request(
    plan: ServiceScenario,
) -> tuple[list[explain.TornadoCase], list[ServiceScenario]]:
    """The cases and the distinct scenarios to run, the plan first (raises LimitError)."""
    cases = explain.tornado_cases(plan)
    unique = {ident(plan): plan}
    for case in cases:
        if case.scenario is not None:
            unique.setdefault(ident(case.scenario), case.scenario)
    scenarios = list(unique.values())
    check_work(scenarios, "Tornado")
    return cases, scenarios


def run_tornado(plan: ServiceScenario, cancel: threading.Event, on_progress,
                session: str) -> dict[str, RunResult]:
    """Every lever's low and high runs and the plan's, by scenario ident."""
    _, scenarios = tornado_request(plan)
    results = ENGINE.run(scenarios, session, cancel, on_progress)
    return {ident(r.scenario): r for r in results}


def tornado_bars(
    plan: ServiceScenario, runs: dict[str, RunResult], kpi: str
) -> list[explain.TornadoBar]:
    """The tornado of one KPI from finished runs (no new runs)."""
    centre = runs[ident(plan)]
    return explain.tornado(explain.tornado_cases(plan),
                           lambda s: explain.paired_diffs(Comparison(runs[ident(s)], centre), kpi),
                           plan.reps)


# --- charts ---------------------------------------------------------------------------------

def _hbars(title: str, subtitle: str, labels: list[str], values: list[float],
           digits: int) -> dict[str, Any]:
    """Horizontal bars, largest on top, green for positive and red for negative values."""
    option = charts._base(title, subtitle)
    option.update({
        "tooltip": {"trigger": "axis", "axisPointer": {"type": "shadow"}},
        "grid": {"left": 210, "right": 40, "top": 58, "bottom": 30},
        "xAxis": {"type": "value", "splitLine": {"lineStyle": {"color": charts.GRID}},
                  "axisLabel": {"color": charts.MUTED}},
        "yAxis": {"type": "category", "data": labels[::-1], "inverse": False,
                  "axisLabel": {"color": charts.INK, "fontSize": 11}},
        "series": [{"type": "bar", "data": [
            {"value": round(v, digits), "itemStyle": {"color": GOOD if v >= 0 else BAD}}
            for v in values[::-1]], "barMaxWidth": 18}],
    })
    return option


def tornado_chart(bars: list[explain.TornadoBar], kpi: str, plan_name: str) -> dict[str, Any]:
    """Low and high setting of each lever, drawn from zero on one row, largest swing on top."""
    scale = 1.0 if kpi == "cum_profit" else charts.MEASURES[kpi].scale
    labels = [lever_label(b.lever) for b in bars][::-1]
    option = charts._base(f"Tornado: {TORNADO_KPIS[kpi]}",
                          f"change against {plan_name} when one lever moves ±10% of its range "
                          "(paired replications)")
    option.update({
        "tooltip": {"trigger": "axis", "axisPointer": {"type": "shadow"}},
        "legend": {"data": ["low setting", "high setting"], "bottom": 0},
        "grid": {"left": 170, "right": 40, "top": 58, "bottom": 48},
        "xAxis": {"type": "value", "splitLine": {"lineStyle": {"color": charts.GRID}},
                  "axisLabel": {"color": charts.MUTED}},
        "yAxis": {"type": "category", "data": labels, "axisLabel": {"fontSize": 11}},
        "series": [
            {"type": "bar", "name": "low setting", "barGap": "-100%", "barMaxWidth": 16,
             "itemStyle": {"color": "#E69F00", "opacity": 0.85},
             "data": [round(float(b.low.mean()) * scale, 4) for b in bars][::-1]},
            {"type": "bar", "name": "high setting", "barMaxWidth": 16,
             "itemStyle": {"color": "#0072B2", "opacity": 0.85},
             "data": [round(float(b.high.mean()) * scale, 4) for b in bars][::-1]},
        ],
    })
    return option


# (x, y) of each chain node in the diagram; arrows: (from, to, polarity).
CHAIN_AT: dict[str, tuple[int, int]] = {
    "trust_mean": (40, 90), "burnout_mean": (40, 330), "engagement_mean": (230, 210),
    "employee_turnover_rate": (230, 400), "service_quality": (430, 210), "csat": (630, 210),
    "feedback_mean": (430, 40), "loyalty_mean": (830, 210), "customers_active": (830, 400),
    "workload_mean": (430, 400), "revenue": (830, 560), "profit": (630, 560),
}
CHAIN_LINKS: tuple[tuple[str, str, str], ...] = (
    ("trust_mean", "engagement_mean", "+"), ("burnout_mean", "engagement_mean", "−"),
    ("engagement_mean", "service_quality", "+"), ("engagement_mean", "employee_turnover_rate", "−"),
    ("employee_turnover_rate", "service_quality", "−"), ("service_quality", "csat", "+"),
    ("csat", "loyalty_mean", "+"), ("loyalty_mean", "customers_active", "+"),
    ("customers_active", "revenue", "+"), ("revenue", "profit", "+"),
    ("csat", "feedback_mean", "+"), ("feedback_mean", "engagement_mean", "+"),
    ("feedback_mean", "burnout_mean", "−"), ("customers_active", "workload_mean", "+"),
    ("employee_turnover_rate", "workload_mean", "+"), ("workload_mean", "burnout_mean", "+"),
)


def node_text(key: str, change: explain.NodeChange) -> str:
    """A node's change in the units of the page's cards."""
    m = charts.MEASURES.get(key)
    if m is None:                       # feedback, loyalty, workload: 0-1 indices
        return f"{change.mean * 100:+.1f}"
    return m.fmt(change.mean, True)


def chain_chart(changes: dict[str, explain.NodeChange], week: int) -> dict[str, Any]:
    """The service-profit chain as a diagram, each node coloured by its clear direction."""
    colour = {"better": GOOD, "worse": BAD, "unclear": NEUTRAL}
    nodes = [{"name": explain.CHAIN_LABELS[k], "x": x, "y": y, "symbolSize": [150, 46],
              "symbol": "roundRect",
              "itemStyle": {"color": colour[changes[k].direction], "opacity": 0.9},
              "label": {"show": True, "color": "#fff", "fontSize": 11, "lineHeight": 14,
                        "formatter": f"{explain.CHAIN_LABELS[k]}\n{node_text(k, changes[k])}"}}
             for k, (x, y) in CHAIN_AT.items()]
    feedback = {("csat", "feedback_mean"), ("feedback_mean", "engagement_mean"),
                ("feedback_mean", "burnout_mean")}
    links = [{"source": explain.CHAIN_LABELS[a], "target": explain.CHAIN_LABELS[b],
              "label": {"show": True, "formatter": sign, "fontSize": 13, "color": charts.INK},
              "lineStyle": {"curveness": 0.2 if (a, b) in feedback else 0.0,
                            "type": "dashed" if (a, b) in feedback else "solid",
                            "width": 1.6, "color": charts.MUTED}}
             for a, b, sign in CHAIN_LINKS]
    option = charts._base(f"The service-profit chain at week {week}",
                          "plan minus comparator, paired · green better, red worse, grey unclear "
                          "(95% CI includes 0) · dashed: feedback to morale")
    option.update({
        "tooltip": {"show": False},
        "series": [{"type": "graph", "layout": "none", "roam": False, "top": 70, "bottom": 30,
                    "left": 80, "right": 80, "edgeSymbol": ["none", "arrow"],
                    "edgeSymbolSize": 9, "data": nodes, "links": links}],
    })
    return option


# --- components -------------------------------------------------------------------------------

@solara.component
def ExplainView(comparison: Comparison | None, names: tuple[str, str], session: str):
    """Why the plan differs from the comparator, and which lever matters most here."""
    chosen, set_week = solara.use_state(cast(int | None, None))   # None: the horizon
    if comparison is None:
        solara.ProgressLinear(True)
        return
    plan, comparator = comparison.scenario.scenario, comparison.baseline.scenario
    horizon = plan.steps
    chosen = horizon if chosen is None else chosen
    week = min(max(chosen, 1), horizon)
    with solara.Div(classes=["spc-panel", "spc-explain"]):
        solara.Text(f"Why {names[0]} differs from {names[1]}", classes=["spc-panel-title"])
        solara.Text(f"All on the same {plan.reps} paired replications as the cards. The "
                    "engagement drivers and the chain are read at the week chosen here; the "
                    "levers' Shapley values and the tornado at the horizon.",
                    classes=["spc-panel-help"])
        with solara.Row(style={"align-items": "center", "gap": "12px", "flex-wrap": "wrap"}):
            solara.Text(f"Week {week} of {horizon}", classes=["spc-explain-week"])
            with solara.Div(classes=["spc-explain-week-slider"],
                            style={"min-width": "260px", "flex": "1", "max-width": "520px"}):
                slider = solara.SliderInt("", value=week, min=1, max=horizon,
                                          on_value=set_week)
                aria(slider, f"Week to explain (1 to {horizon})")
    EngagementDrivers(plan, comparator, week, names)
    ChainView(comparison, week)
    ShapleyView(comparison, names, session)
    TornadoView(comparison, names, session)


@solara.component
def EngagementDrivers(
    plan: ServiceScenario, comparator: ServiceScenario, week: int, names: tuple[str, str]
):
    """The engagement change at ``week`` split exactly into the drivers of the equation."""
    done = solara.use_memo(lambda: solara.reactive(0), [])
    key = (ident(plan), ident(comparator), plan.reps)

    def compute(cancel: threading.Event):
        done.value = 0

        def tick() -> None:
            done.value += 1

        try:
            return (engagement_paths(plan, cancel, tick), engagement_paths(comparator, cancel,
                                                                          tick))
        except explain.Stopped:
            return None

    task = solara.use_thread(compute, dependencies=[key], intrusive_cancel=False)
    with solara.Div(classes=["spc-panel", "spc-drivers"]):
        solara.Text("Engagement: which drivers moved it", classes=["spc-panel-title"])
        solara.Text("Each employee's engagement is pulled towards a target whose log-odds are a "
                    "sum of driver terms (the model's own equation). The bars are each term's "
                    "mean difference, plan minus comparator, over the staff in post at the end "
                    "of the chosen week; they add up exactly to the difference in the mean "
                    "log-odds. Computed per paired replication, then averaged.",
                    classes=["spc-panel-help"])
        if task.state == solara.ResultState.ERROR:
            solara.Text(f"The drivers could not be computed: {task.error}",
                        classes=["spc-error"])
            return
        if task.state != solara.ResultState.FINISHED or task.value is None:
            DriverProgress(done, 2 * plan.reps)
            return
        plan_paths, comp_paths = task.value
        att = explain.attribute_engagement(plan_paths, comp_paths, week)
        means = att.mean()
        order = sorted(means, key=lambda d: -abs(means[d]))
        shown = [d for d in order if means[d] != 0.0]
        logit = Estimate.of(att.logit)
        eng = Estimate.of(att.engagement * 100)
        solara.Text(f"Week {week}: engagement {eng.mean:+.2f} points against {names[1]} "
                    f"({ci_text(eng, lambda v: f'{v:+.2f}')}); the pull on it (mean log-odds of "
                    f"the target) {logit.mean:+.4f}.", classes=["spc-drivers-summary"])
        solara.FigureEcharts(_hbars("Engagement drivers", f"week {week} · difference in mean "
                                    "log-odds term, plan minus comparator",
                                    [explain.driver_label(d) for d in shown],
                                    [means[d] for d in shown], 5),
                             attributes={"style": f"height: {90 + 26 * max(len(shown), 1)}px"},
                             responsive=True)
        rows = []
        for d in order:
            est = Estimate.of(att.diffs[:, att.drivers.index(d)])
            rows.append(f"<tr data-driver='{d}' data-value='{est.mean!r}'>"
                        f"<td>{html.escape(explain.driver_label(d))}</td>"
                        f"<td>{est.mean:+.4f}</td>"
                        f"<td>{html.escape(ci_text(est, lambda v: f'{v:+.4f}'))}</td></tr>")
        logit_ci = html.escape(ci_text(logit, lambda v: f"{v:+.4f}"))
        solara.HTML(tag="table", classes=["spc-table", "spc-drivers-table"], unsafe_innerHTML=(
            "<thead><tr><th>driver</th><th>log-odds</th><th></th></tr></thead><tbody>"
            + "".join(rows)
            + f"<tr class='spc-total' data-total='{logit.mean!r}'><td>sum = change in the mean "
              f"log-odds</td><td>{logit.mean:+.4f}</td><td>{logit_ci}</td></tr></tbody>"))


@solara.component
def DriverProgress(done: solara.Reactive[int], total: int):
    """How many replications of the engagement drivers are done."""
    solara.ProgressLinear(100 * done.value / total if total else True)
    solara.Text(f"Running the engagement equation: {done.value} of {total} replications",
                classes=["spc-lever-help", "spc-drivers-progress"])


@solara.component
def ChainView(comparison: Comparison, week: int):
    """The chain's nodes at ``week`` and which loop dominates."""
    changes = explain.chain_changes(comparison, week)
    kind, sentence = explain.dominant_loop(changes, week)
    with solara.Div(classes=["spc-panel", "spc-chain"], attributes={"data-loop": kind}):
        solara.Text("The service-profit chain", classes=["spc-panel-title"])
        solara.Text(sentence, classes=["spc-chain-sentence"])
        solara.Text("A link counts as better or worse when the 95% interval of its paired change "
                    "excludes zero. The cycle of success dominates when at least 3 of the 6 links "
                    "of the loop (engagement, service quality, customer satisfaction, loyalty, "
                    "active customers, revenue) are clearly better and none worse; the cycle of "
                    "failure in the mirror case (after Schlesinger & Heskett, \"Breaking the "
                    "cycle of failure in services\", and Heskett et al., \"Putting the "
                    "service-profit chain to work\").", classes=["spc-panel-help"])
        solara.FigureEcharts(chain_chart(changes, week), attributes={"style": "height: 560px"},
                             responsive=True)
        rows = "".join(
            f"<tr data-node='{k}' data-direction='{c.direction}'>"
            f"<td>{html.escape(explain.CHAIN_LABELS[k])}</td><td>{node_text(k, c)}</td>"
            f"<td>{c.direction}</td></tr>" for k, c in changes.items())
        solara.HTML(tag="table", classes=["spc-table", "spc-chain-table"], unsafe_innerHTML=(
            "<thead><tr><th>node</th><th>change</th><th></th></tr></thead>"
            f"<tbody>{rows}</tbody>"))


@solara.component
def RunButtons(label: str, css: str, on_run, disabled: bool, busy: bool, on_cancel):
    """The Run button of one of the tab's requests and, while it runs, its Cancel."""
    solara.Button(label, color="primary", icon_name="mdi-play", on_click=on_run,
                  classes=[f"{css}-run"], disabled=disabled)
    if busy:
        solara.Button("Cancel", icon_name="mdi-stop", outlined=True, on_click=on_cancel,
                      classes=[f"{css}-cancel"])


@solara.component
def RunStatus(status: solara.Reactive[str], busy: bool, css: str, refused: str = ""):
    """Why a request is refused, or its progress and last message."""
    if refused:
        solara.Text(refused, classes=["spc-error", css])
    if busy:
        solara.ProgressLinear(True)
    if status.value:
        solara.Text(status.value, classes=["spc-error" if not busy else "spc-lever-help", css])


def _runner(status: solara.Reactive[str], fn, wanted):
    """A thread body that reports progress in ``status`` and turns failures into one line.

    It does nothing unless ``wanted()`` (a button asked for the current plan).
    """
    def run(cancel: threading.Event):
        if not wanted():
            return None

        def progress(p: Progress) -> None:
            status.value = f"Running: {p.runs_done}/{p.runs} runs done"
        try:
            out = fn(cancel, progress)
        except Cancelled:
            status.value = "Cancelled; press the button to run again."
            return None
        except ParameterError as err:
            status.value = str(err).splitlines()[0]
            return None
        except Exception as err:  # noqa: BLE001 - one line on the page, never a trace
            status.value = f"Failed: {str(err).splitlines()[0] if str(err) else type(err)}"
            return None
        status.value = ""
        return out
    return run


def use_request(status: solara.Reactive[str], work, request, key, me: str) -> bool:
    """Run ``work`` in a background thread when ``request`` asks for ``key`` (a Solara hook).

    The engine's jobs of ``me`` are cancelled when the view goes away. Returns whether the
    request is still running.
    """
    task = solara.use_thread(_runner(status, work, lambda: request == key),
                             dependencies=[request, key], intrusive_cancel=False)
    solara.use_effect(lambda: (lambda: ENGINE.cancel(me)), [])
    return request == key and task.state in (solara.ResultState.STARTING,
                                             solara.ResultState.RUNNING,
                                             solara.ResultState.WAITING)


def _shapley_plan(plan: ServiceScenario, comparator: ServiceScenario
                  ) -> tuple[explain.ShapleyDesign | None, str]:
    """The Shapley design of a comparison, or the one-line reason it cannot run."""
    try:
        return shapley_request(plan, comparator)[0], ""
    except ParameterError as err:
        return None, str(err).splitlines()[0]


def _tornado_plan(plan: ServiceScenario) -> tuple[int, str]:
    """How many scenarios a plan's tornado runs, or the one-line reason it cannot run."""
    try:
        return len(tornado_request(plan)[1]), ""
    except ParameterError as err:
        return 0, str(err).splitlines()[0]


@solara.component
def ShapleyView(comparison: Comparison, names: tuple[str, str], session: str):
    """The profit difference shared among the changed levers (Shapley values)."""
    plan, comparator = comparison.scenario.scenario, comparison.baseline.scenario
    key = (ident(plan), ident(comparator), plan.reps)
    request, set_request = solara.use_state(cast(tuple | None, None))
    status = solara.use_memo(lambda: solara.reactive(""), [])
    me = f"{session}:shapley"
    plan_design, refused = solara.use_memo(lambda: _shapley_plan(plan, comparator), [key])

    def work(cancel, progress):
        result = run_shapley(plan, comparator, cancel, progress, me)
        SHAPLEY.put(key, result)
        return result

    busy = use_request(status, work, request, key, me)
    result: ShapleyResult | None = SHAPLEY.get(key)
    weeks = plan.steps
    with solara.Div(classes=["spc-panel", "spc-shapley"]):
        solara.Text(f"Profit over weeks 1–{weeks}: what each changed lever contributes",
                    classes=["spc-panel-title"])
        if plan_design is not None and not plan_design.players:
            solara.Text(f"The plan sets every parameter as {names[1]} does: nothing to "
                        "attribute.", classes=["spc-panel-help", "spc-shapley-none"])
            return
        if plan_design is not None:
            n = len(plan_design.players)
            listed = ", ".join(lever_label(p) for p in plan_design.players)
            how = (f"exact Shapley values over all 2^{n} = {len(plan_design.coalitions)} "
                   "combinations of them" if plan_design.exact else
                   f"more than {explain.MAX_EXACT} levers: a sampled estimate from "
                   f"{len(plan_design.orders or ())} random orders of the levers "
                   f"({len(plan_design.coalitions)} combinations), not exact; its intervals "
                   "cover the replications, not the choice of orders")
            differ = "levers differ" if n != 1 else "lever differs"
            solara.Text(f"{n} {differ} from {names[1]}: {listed}. "
                        f"Each combination is {names[1]} with those levers set as in the plan "
                        "(a lever's start value and its timeline together); its value is the "
                        f"profit over the horizon on the same {plan.reps} paired replications. "
                        f"This uses {how}; the values add up to the profit difference.",
                        classes=["spc-panel-help"])
        with solara.Row(style={"align-items": "center", "gap": "12px", "flex-wrap": "wrap"}):
            RunButtons("Attribute profit to levers", "spc-shapley", lambda: set_request(key),
                       busy or bool(refused) or result is not None, busy,
                       lambda: ENGINE.cancel(me))
        RunStatus(status, busy, "spc-shapley-status", refused)
        if result is None:
            return
        means = {p: float(v.mean()) for p, v in result.values.items()}
        order = sorted(means, key=lambda p: -abs(means[p]))
        total = Estimate.of(result.total)
        solara.FigureEcharts(_hbars("Shapley values of the changed levers",
                                    f"$ of profit over weeks 1–{weeks} · "
                                    f"{'exact' if result.design.exact else 'sampled estimate'}",
                                    [lever_label(p) for p in order], [means[p] for p in order],
                                    0),
                             attributes={"style": f"height: {110 + 30 * len(order)}px"},
                             responsive=True)
        rows = []
        for p in order:
            est = Estimate.of(result.values[p])
            rows.append(f"<tr data-lever='{p}' data-value='{est.mean!r}'>"
                        f"<td>{html.escape(lever_label(p))}</td>"
                        f"<td>{html.escape(_setting(plan, p))}</td>"
                        f"<td>{html.escape(_setting(comparator, p))}</td>"
                        f"<td>{money(est.mean)}</td><td>{html.escape(ci_text(est))}</td></tr>")
        shown_sum = sum(means.values())
        solara.HTML(tag="table", classes=["spc-table", "spc-shapley-table"], unsafe_innerHTML=(
            f"<thead><tr><th>lever</th><th>plan</th><th>{html.escape(names[1])}</th>"
            "<th>Shapley value</th><th></th></tr></thead><tbody>" + "".join(rows)
            + f"<tr class='spc-total' data-total='{total.mean!r}' data-sum='{shown_sum!r}'>"
              f"<td>sum = profit difference</td><td></td><td></td><td>{money(total.mean)}</td>"
              f"<td>{html.escape(ci_text(total))}</td></tr></tbody>"))


@solara.component
def TornadoView(comparison: Comparison, names: tuple[str, str], session: str):
    """Which lever matters most here: a chosen KPI over every lever at low and high."""
    plan = comparison.scenario.scenario
    key = (ident(plan), plan.reps)
    kpi, set_kpi = solara.use_state("cum_profit")
    request, set_request = solara.use_state(cast(tuple | None, None))
    status = solara.use_memo(lambda: solara.reactive(""), [])
    me = f"{session}:tornado"
    count, refused = solara.use_memo(lambda: _tornado_plan(plan), [key])

    def work(cancel, progress):
        runs = run_tornado(plan, cancel, progress, me)
        TORNADO.put(key, runs)
        return runs

    busy = use_request(status, work, request, key, me)
    runs = TORNADO.get(key)
    bars = solara.use_memo(lambda: None if runs is None else tornado_bars(plan, runs, kpi),
                           [key, kpi, id(runs)])
    levers = explain.tornado_levers()
    with solara.Div(classes=["spc-panel", "spc-tornado"]):
        solara.Text("Sensitivity: which lever matters most here", classes=["spc-panel-title"])
        solara.Text(f"Each of the {len(levers)} levers in turn is moved 10% of its range below "
                    f"and above the plan's setting (clipped to the range; a scheduled lever's "
                    f"every setting moves), the others kept; bars are the change of the chosen "
                    f"KPI against the plan on the same {plan.reps} paired replications. "
                    f"{count} scenarios x {plan.reps} replications; runs already done "
                    "(the plan's, earlier tornadoes) are reused.", classes=["spc-panel-help"])
        with solara.Row(style={"align-items": "center", "gap": "12px", "flex-wrap": "wrap"}):
            by_label = {label: k for k, label in TORNADO_KPIS.items()}
            aria(solara.Select("KPI", value=TORNADO_KPIS[kpi], values=list(by_label),
                               on_value=lambda label: set_kpi(by_label.get(label, kpi)),
                               classes=["spc-tornado-kpi"], style={"max-width": "320px"}),
                 "KPI of the tornado")
            RunButtons("Run tornado", "spc-tornado", lambda: set_request(key),
                       busy or bool(refused) or runs is not None, busy,
                       lambda: ENGINE.cancel(me))
        RunStatus(status, busy, "spc-tornado-status", refused)
        if bars is None:
            return
        top = bars[0]
        fmt = money if kpi == "cum_profit" else (lambda v: charts.MEASURES[kpi].fmt(v, True))
        solara.Text(f"{TORNADO_KPIS[kpi]}: the lever that matters most here is "
                    f"{lever_label(top.lever)} (low setting {fmt(float(top.low.mean()))}, high "
                    f"{fmt(float(top.high.mean()))}).", classes=["spc-tornado-top"])
        solara.FigureEcharts(tornado_chart(bars, kpi, names[0]),
                             attributes={"style": f"height: {120 + 24 * len(bars)}px"},
                             responsive=True)
        rows = "".join(
            f"<tr data-lever='{b.lever}' data-swing='{b.swing!r}'>"
            f"<td>{html.escape(lever_label(b.lever))}</td><td>{b.low_value:g}</td>"
            f"<td>{fmt(float(b.low.mean()))}</td><td>{b.high_value:g}</td>"
            f"<td>{fmt(float(b.high.mean()))}</td></tr>" for b in bars)
        solara.HTML(tag="table", classes=["spc-table", "spc-tornado-table"], unsafe_innerHTML=(
            "<thead><tr><th>lever</th><th>low</th><th>change</th><th>high</th><th>change</th>"
            f"</tr></thead><tbody>{rows}</tbody>"))
