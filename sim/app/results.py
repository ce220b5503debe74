"""The main column of the page: what is compared, the KPI cards and the tabs.

The tabs show the comparison (trajectories, investment, profit bridge, why and sensitivity), compare
several plans, edit the timeline, look inside the organisation, and save or load files.
"""

from __future__ import annotations

import numpy as np
import solara
import solara.lab

from sim.app import charts
from sim.app.components import InsideView, TimelineEditor, kpi_card_html
from sim.app.edits import Edits
from sim.app.entries import label
from sim.app.explain_view import ExplainView
from sim.app.files import Files
from sim.app.invest_view import BridgeView, InvestmentView
from sim.app.plans import ComparePlans
from sim.app.state import Comparison
from sim.scenario import Intervention

# The page's tabs, in order (a link's ``tab`` is an index into them).
TAB_NAMES = ("Trajectories", "Investment", "Profit bridge", "Why & sensitivity", "Compare plans",
             "Timeline", "Inside the organisation", "Files")
TABS = len(TAB_NAMES)


@solara.component
def Story(edits: Edits, shown_name: str, baseline_name: str):
    """What is compared with what, the scenario's story, and the page's last message."""
    with solara.Div(classes=["spc-story"]):
        with solara.Row(style={"align-items": "baseline", "flex-wrap": "wrap"}):
            solara.Text(label(shown_name), classes=["spc-story-name"])
            solara.Text(f"vs {label(baseline_name)}", classes=["spc-story-vs"])
        solara.Text(edits.scenario.description or "A custom scenario.",
                    classes=["spc-story-text"])
        if edits.info:
            solara.Text(edits.info, classes=["spc-info"])
        if edits.notice:
            solara.Text(edits.notice, classes=["spc-error", "spc-notice"])


@solara.component
def KpiCards(comparison: Comparison | None, names: tuple[str, str], shown_for: str,
             running: bool):
    """The headline KPIs at the horizon, greyed while a newer comparison runs, and their key.

    The cards are one element, so a browser applies a comparison's numbers, labels and
    ``data-shown`` (``shown_for``: the settings they are of) together, never some before others.
    """
    # Made once per comparison, not in every render of the page (an edit, a run starting).
    cards = solara.use_memo(
        lambda: "".join(kpi_card_html(k, comparison, names) for k in charts.CARD_KPIS),
        [comparison, names])
    with solara.Div(style={"display": "contents"}):
        solara.HTML(classes=["spc-cards", "spc-stale" if running else ""],
                    attributes={"data-shown": shown_for}, unsafe_innerHTML=cards)
        solara.Text("Green or red: the 95% interval of the paired difference excludes "
                    "zero (better or worse for the organisation); grey: no clear "
                    "difference.", classes=["spc-lever-help", "spc-card-key"])


@solara.component
def ResultTabs(edits: Edits, comparison: Comparison | None, names: tuple[str, str],
               shown_name: str, baseline_name: str, entries: list[str], session: str,
               tab: int, set_tab, rate: float, set_rate, plans: list[str] | None, set_plans,
               set_plan_results, make_report, key: str):
    """The page's tabs.

    ``entries`` are the presets and saved scenarios a plan may be; ``key`` fingerprints the
    scenario.
    """
    scenario = edits.scenario
    versus = names[1]
    with solara.lab.Tabs(value=tab, on_value=set_tab, color="#0f766e",
                         slider_color="#0f766e", lazy=True):
        with solara.lab.Tab(TAB_NAMES[0], icon_name="mdi-chart-line"):
            Trajectories(comparison, scenario.timeline, names)
        with solara.lab.Tab(TAB_NAMES[1], icon_name="mdi-cash-plus"):
            InvestmentView(comparison, scenario.timeline, versus, rate, set_rate)
        with solara.lab.Tab(TAB_NAMES[2], icon_name="mdi-chart-waterfall"):
            BridgeView(comparison, names)
        with solara.lab.Tab(TAB_NAMES[3], icon_name="mdi-lightbulb-on-outline"):
            ExplainView(comparison, names, session)
        with solara.lab.Tab(TAB_NAMES[4], icon_name="mdi-format-list-numbered"):
            ComparePlans(scenario, shown_name, entries, edits.uploads, baseline_name, session,
                         rate, plans, set_plans, set_plan_results)
        with solara.lab.Tab(TAB_NAMES[5], icon_name="mdi-timeline-clock-outline"):
            TimelineEditor(scenario, edits.set_timeline)
        with solara.lab.Tab(TAB_NAMES[6], icon_name="mdi-graph-outline"):
            InsideView(scenario, key)
        with solara.lab.Tab(TAB_NAMES[7], icon_name="mdi-file-document-outline"):
            Files(scenario, shown_name, comparison, edits.load_file, edits.save_as, make_report)


@solara.component
def Trajectories(comparison: Comparison | None, timeline: tuple[Intervention, ...],
                 names: tuple[str, str]):
    """The headline KPIs over time, scenario over baseline, with 95% bands."""
    if comparison is None:
        solara.ProgressLinear(True)
        return
    weeks = np.arange(comparison.matrix("scenario", "engagement_mean").shape[1])
    with solara.Div(classes=["spc-legend"]):
        solara.HTML(unsafe_innerHTML=(
            f'<span class="spc-swatch" style="background:{charts.SCENARIO}"></span>{names[0]}'
            f'<span class="spc-swatch" style="background:{charts.BASELINE}"></span>{names[1]}'
            f'<span class="spc-swatch spc-swatch-event"></span>intervention · lines: mean over '
            'the paired replications; shaded bands: 95% interval of that mean (plan teal, '
            'comparator grey); shaded amber span: a setting for N weeks or a ramp'))
    with solara.Div(classes=["spc-charts"]):
        for k in charts.CHART_KPIS:
            window = charts.SMOOTH_WEEKS.get(k, 1)
            option = charts.timeseries(k, weeks, comparison.band("scenario", k, window),
                                       comparison.band("baseline", k, window), timeline, names,
                                       f"{window}-week average · " if window > 1 else "")
            with solara.Div(classes=["spc-chart"], attributes={"data-chart": k}):
                solara.FigureEcharts(option, attributes={"style": "height: 250px"},
                                     responsive=True)
