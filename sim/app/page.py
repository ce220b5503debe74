"""The what-if explorer: pick a scenario, tune levers, and compare it with a baseline.

This is the page Solara serves (``sim app`` runs ``solara run sim/app/page.py``). Everything a
visitor changes lives in this session's component state (never at module level), so tabs and users
do not share models: :class:`Page` holds the state and wires it to the header
(:mod:`sim.app.header`), the sidebar (:mod:`sim.app.sidebar`) and the main column
(:mod:`sim.app.results`). The edits live in :mod:`sim.app.edits`, the background comparison in
:mod:`sim.app.running`. Every size the page accepts, from its inputs or a file, is checked against
the one definition of the page's limits, :data:`sim.app.limits.LIMITS`.
"""

from __future__ import annotations

import uuid
import zlib
from pathlib import Path
from typing import cast

import solara

from sim.app import link
from sim.app.browser import BrowserBridge
from sim.app.edits import use_edits
from sim.app.entries import comparator_names, display_name, label, load_entry, preset_on
from sim.app.files import report_maker
from sim.app.header import Header, RunProgress
from sim.app.library import LIBRARY, listed
from sim.app.results import TABS, KpiCards, ResultTabs, Story
from sim.app.running import use_run
from sim.app.sidebar import ConfirmDiscard, Sidebar
from sim.app.state import TODAY_PRESET
from sim.scenario import preset_names

STYLE = Path(__file__).with_name("style.css")
DEFAULT_PRESET = "invest_in_training"


@solara.component
def Layout(children: list = []):  # noqa: B006 - Solara's layout signature
    """No default app bar: the page draws its own header."""
    return solara.Column(children=children, style={"padding": "0", "gap": "0"})


@solara.component
def Page():
    """The explorer: the visitor's state, wired to the header, the sidebar and the main column."""
    presets = solara.use_memo(preset_names, [])
    library_version, set_library_version = solara.use_state(0)   # saves so far
    saved = solara.use_memo(lambda: [listed(n) for n in LIBRARY.names()], [library_version])
    search = solara.use_router().search
    # The view a link asks for (bad values are left out, each with a notice).
    start = solara.use_memo(lambda: link.decode(
        search, DEFAULT_PRESET if DEFAULT_PRESET in presets else presets[0], load_entry,
        comparator_names(presets, saved), [*presets, *saved], TABS), [])
    edits = use_edits(start, presets, saved, lambda: set_library_version(lambda n: n + 1))
    baseline_name, set_baseline_name = solara.use_state(start.comparator)
    rate, set_rate = solara.use_state(start.rate)   # yearly %, NPV everywhere
    tab, set_tab = solara.use_state(start.tab)
    plans, set_plans = solara.use_state(start.plans or None)   # None: the current edit only
    plan_results, set_plan_results = solara.use_state(cast(list, []))  # (name, Comparison)
    session = solara.use_memo(lambda: uuid.uuid4().hex, [])   # this tab, for the fair queue
    scenario = edits.scenario
    key = solara.use_memo(lambda: repr(scenario), [scenario])   # its fingerprint (a dump: 8 ms)
    wanted = f"{zlib.crc32(f'{key}|{baseline_name}'.encode()):08x}"   # the settings on screen
    run = use_run(scenario, baseline_name, key, wanted, session, edits.set_info, edits.set_notice)
    shown_name = display_name(scenario, edits.origin)
    # The comparator of the numbers on screen (a newer one may be running).
    comparison = run.comparison
    versus = label(comparison.baseline.scenario.name if comparison is not None else baseline_name)
    names = (label(shown_name), versus)
    # The address bar holds a link to this view (a loaded file's levers on the baseline preset).
    on_file = edits.preset.startswith("file: ")
    link_origin = solara.use_memo(lambda: preset_on(TODAY_PRESET) if on_file else edits.origin,
                                  [on_file, edits.origin])
    query = link.encode(link.View(TODAY_PRESET if on_file else edits.preset, link_origin,
                                  scenario, baseline_name, plans or [], tab, rate))

    solara.Style(STYLE)
    BrowserBridge(query, edits.undo_redo)
    ConfirmDiscard(edits.pending, scenario, lambda: edits.set_pending(None),
                   lambda: edits.choose_preset(edits.pending or "", confirmed=True))
    solara.Title("What-if explorer · service-profit chain")
    with solara.Div(classes=["spc-app"]):
        Header(run, scenario.reps, wanted, edits.can_undo, edits.can_redo, edits.undo_redo)
        with solara.Div(classes=["spc-body"]):
            with solara.Div(classes=["spc-side"]):
                # While the dialog asks, the picker shows the choice; "Keep editing" puts it back.
                Sidebar(scenario, edits.origin, presets, saved, edits.pending or edits.preset,
                        edits.choose_preset, baseline_name, set_baseline_name, edits.change,
                        edits.set_scenario)
            with solara.Div(classes=["spc-main"]):
                Story(edits, shown_name, baseline_name)
                RunProgress(run.progress, run.running)
                KpiCards(comparison, names, run.shown_for, run.running)
                ResultTabs(edits, comparison, names, shown_name, baseline_name,
                           [*presets, *saved], session, tab, set_tab, rate, set_rate, plans,
                           set_plans, set_plan_results,
                           report_maker(comparison, label(shown_name), versus, rate, query,
                                        plan_results), key)
