"""The Compare plans tab: several plans ranked against one comparator.

A plan is a preset, a saved scenario, the current edit or a loaded file.

Each plan runs on the same world, horizon, seed and replications as the current edit and is
paired with the comparator on the same seeds (:func:`sim.app.entries.align`).
"""

from __future__ import annotations

import html
import threading
import time
from typing import cast

import numpy as np
import solara

from sim.app import charts, invest, link
from sim.app.charts import money
from sim.app.components import aria
from sim.app.entries import align, label, one_line, preset_on
from sim.app.library import LIBRARY, unlisted
from sim.app.limits import LIMITS
from sim.app.state import ENGINE, Cancelled, Comparison, Progress, baseline_for, compare_many
from sim.params import ParameterError
from sim.scenario import ServiceScenario
from sim.stats import DISCOUNT_RATE


def plan_rows(results: list[tuple[str, Comparison]], rate: float = DISCOUNT_RATE
              ) -> list[dict]:
    """One row per plan, ranked by the profit difference over the horizon (best first)."""
    rows = []
    for name, comp in results:
        inv = invest.investment(comp, rate)
        row = {"plan": name, "profit": inv.profit, "npv": inv.npv, "inv": inv}
        for key in PLAN_KPIS:
            stat = comp.end(key)
            row[key] = invest.Estimate(stat.diff, stat.low, stat.high)
        rows.append(row)
    return sorted(rows, key=lambda r: -r["profit"].mean)


# Differences at the horizon shown per plan (end values as on the cards).
PLAN_KPIS = ("engagement_mean", "csat", "employee_turnover_rate", "customers_active")


def _cell(est: invest.Estimate, fmt) -> str:
    ci = (f"<small>{html.escape(fmt(est.low, True))} to {html.escape(fmt(est.high, True))}"
          "</small>" if est.has_ci else "<small>no CI</small>")
    return f"{html.escape(fmt(est.mean, True))}<br>{ci}"


def plans_table(rows: list[dict], versus: str, rate: float = DISCOUNT_RATE) -> str:
    """The ranked table (HTML) of plans against the comparator, paired 95% CIs per cell."""
    head = ["#", "plan", "profit over horizon", f"NPV ({rate:.1%}/yr)", "payback week"]
    head += [f"{charts.MEASURES[k].label} at horizon" for k in PLAN_KPIS]
    head.append(f"P(beats {versus})")
    body = []
    for i, row in enumerate(rows, 1):
        inv = row["inv"]
        if inv.identical:
            pay = "no difference"
        elif inv.payback is None:
            pay = f"none<br><small>0 of {inv.reps} paid back</small>"
        else:
            est = inv.payback
            ci = (f"{max(est.low, 0):.0f}–{est.high:.0f}" if est.has_ci else "no CI")
            pay = (f"{est.mean:.0f}<br><small>{ci}; {inv.paid_back} of {inv.reps} paid "
                   "back</small>")
        cells = [str(i), html.escape(row["plan"]), _cell(row["profit"], money),
                 _cell(row["npv"], money), pay]
        cells += [_cell(row[k], charts.MEASURES[k].fmt) for k in PLAN_KPIS]
        cells.append(f"{inv.p_beats:.0%}<br><small>of {inv.reps} replications</small>")
        body.append(f"<tr data-plan='{html.escape(row['plan'], quote=True)}'>"
                    + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return ("<thead><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head)
            + "</tr></thead><tbody>" + "".join(body) + "</tbody>")


@solara.component
def ComparePlans(scenario: ServiceScenario, shown_name: str, presets: list[str],
                 uploads: dict[str, ServiceScenario], baseline_name: str, session: str,
                 rate: float = DISCOUNT_RATE * 100, chosen: list[str] | None = None,
                 set_chosen=None, on_results=None):
    """Several plans (presets, saved scenarios, the current edit, loaded files) compared.

    ``chosen`` are the picked entries (``link.CURRENT`` for the current edit; None: only it),
    kept by the page for its link; ``on_results`` receives the ranked comparisons for the report.
    """
    current = f"current: {shown_name}"
    options = [current, *presets, *uploads]
    picked = [current if c == link.CURRENT or c.startswith("current: ") else c
              for c in (chosen if chosen is not None else [current])]
    picked = [c for c in dict.fromkeys(picked) if c in options]
    # The latest picks, also when Compare is pressed before the page re-rendered with them.
    latest = solara.use_ref(picked)
    latest.current = picked
    request, set_request = solara.use_state(cast(tuple | None, None))
    status = solara.use_memo(lambda: solara.reactive(""), [])
    versus = label(baseline_name)

    def build() -> tuple[list[str], list[ServiceScenario], ServiceScenario]:
        names = list(latest.current)
        plans = []
        for name in names:
            if name == current:
                plans.append(scenario)
            elif name in uploads:
                plans.append(align(uploads[name], scenario))
            elif unlisted(name) is not None:
                plans.append(align(LIBRARY.load(unlisted(name) or ""), scenario))
            else:
                plans.append(preset_on(name, scenario))
        comparator = baseline_for(baseline_name, scenario)
        LIMITS.check_many(plans, comparator)
        return names, plans, comparator

    def pick(values: list[str]) -> None:
        latest.current = [c for c in dict.fromkeys(values) if c in options]
        if set_chosen:
            set_chosen([link.CURRENT if v == current else v for v in latest.current])

    def go() -> None:
        try:
            set_request((*build(), time.monotonic()))   # Compare again re-runs
            status.value = ""
        except ParameterError as err:
            status.value = one_line(err)

    def run(cancel: threading.Event):
        if request is None:
            return None
        names, plans, comparator, _ = request

        def progress(p: Progress) -> None:
            status.value = f"Comparing: {p.runs_done}/{p.runs} runs done"

        try:
            results = compare_many(plans, comparator, cancel, progress,
                                   session=f"{session}:plans")
        except Cancelled:
            status.value = "Comparison cancelled; press Compare to run it again."
            return None
        except ParameterError as err:
            status.value = one_line(err)
            return None
        status.value = ""
        ranked = list(zip([label(n.removeprefix("current: ")) for n in names], results,
                          strict=True))
        if on_results is not None:
            on_results(ranked)
        return ranked

    task = solara.use_thread(run, dependencies=[request], intrusive_cancel=False)
    solara.use_effect(lambda: (lambda: ENGINE.cancel(f"{session}:plans")), [])
    busy = task.state in (solara.ResultState.STARTING, solara.ResultState.RUNNING,
                          solara.ResultState.WAITING)
    with solara.Div(classes=["spc-panel"], attributes={"data-picked": str(len(picked))}):
        solara.Text(f"Compare plans against {versus}", classes=["spc-panel-title"])
        solara.Text(f"Pick any presets, the current edit and loaded files. Each runs on this "
                    f"page's world, horizon, seed and replications and is paired with {versus} "
                    "on the same seeds; the comparator is the one chosen on the left. Ranked by "
                    f"profit over the horizon. At most {LIMITS.max_plans} plans.",
                    classes=["spc-panel-help"])
        with solara.Row(style={"align-items": "center", "flex-wrap": "wrap", "gap": "12px"}):
            aria(solara.SelectMultiple("Plans", values=picked, all_values=options,
                                       on_value=pick, classes=["spc-plans"],
                                       style={"min-width": "280px", "max-width": "640px"}),
                 "Plans to compare")
            solara.Button("Compare", color="primary", icon_name="mdi-play", on_click=go,
                          classes=["spc-compare"], disabled=not picked or busy)
            if busy:
                solara.Button("Cancel", icon_name="mdi-stop", outlined=True,
                              on_click=lambda: ENGINE.cancel(f"{session}:plans"),
                              classes=["spc-compare-cancel"])
        PlanStatus(status, busy)
        results = task.value if task.state == solara.ResultState.FINISHED else None
        if not results:
            return
        rows = plan_rows(results, rate / 100)
        ran_versus = label(results[0][1].baseline.scenario.name)   # the comparator these used
        if ran_versus != versus:
            solara.Text(f"These results are against {ran_versus}: press Compare to run them "
                        f"against {versus}.", classes=["spc-info"])
        with solara.Div(classes=["spc-scroll"],
                        attributes={"data-plans": str(len(rows))}):
            solara.HTML(tag="table", classes=["spc-table", "spc-ranked"],
                        unsafe_innerHTML=plans_table(rows, ran_versus, rate / 100))
        first = results[0][1]
        weeks = np.arange(first.matrix("scenario", "cum_profit").shape[1])
        curves = [(name, *comp.roi()[:3]) for name, comp in results]
        solara.FigureEcharts(charts.overlay(weeks, curves, ran_versus),
                             attributes={"style": "height: 360px"}, responsive=True)


@solara.component
def PlanStatus(status: solara.Reactive[str], busy: bool):
    """Progress or a refusal of the multi-plan comparison."""
    if busy:
        solara.ProgressLinear(True)
    if status.value:
        solara.Text(status.value, classes=["spc-error" if not busy else "spc-lever-help",
                                           "spc-plan-status"])
