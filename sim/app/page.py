"""The what-if explorer: pick a scenario, tune levers, and compare it with a baseline.

Everything a visitor changes lives in this session's component state (never at module level), so
tabs and users do not share models. Runs happen in a background thread that hands replications to
the shared, fairly queued workers of :mod:`sim.app.state`; the page shows progress, stays usable
and can cancel. Every size the page accepts, from its inputs or a file, is checked against the one
definition of the page's limits, :data:`sim.app.limits.LIMITS`.
"""

from __future__ import annotations

import dataclasses
import html
import threading
import time
import uuid
import zlib
from pathlib import Path
from typing import cast

import numpy as np
import solara
import solara.lab
import yaml

from sim.app import charts, invest, link, report
from sim.app.browser import BrowserBridge
from sim.app.components import LEVER_TITLES, InsideView, KpiCard, LeverSlider, TimelineEditor, aria
from sim.app.explain_view import ExplainView
from sim.app.library import LIBRARY, listed, unlisted
from sim.app.limits import LIMITS
from sim.app.state import (
    ENGINE,
    TODAY,
    TODAY_PRESET,
    Cancelled,
    Comparison,
    Progress,
    baseline_for,
    compare,
    compare_many,
)
from sim.app.upload import YamlUpload
from sim.params import LEVER_GROUPS, SPECS, ParameterError
from sim.scenario import Intervention, Scenario, load_scenario, parse_scenario, preset_names

STYLE = Path(__file__).with_name("style.css")
DEFAULT_PRESET = "invest_in_training"
DEFAULT_REPS = 5
DEBOUNCE_S = 0.12
HISTORY = 100      # edits that Undo can take back
ECHO_S = 1.0       # a slider may send its old value back this long after Undo moved it
TABS = 9           # tabs of the page (a link's ``tab`` is an index below this)


def align(plan: Scenario, world: Scenario) -> Scenario:
    """A plan (preset or file) on the current world: sizes, horizon, seed and replications.

    So every plan of a comparison is paired with the comparator on the same seeds; the plan's
    timeline events beyond the horizon are dropped.
    """
    sizes = {k: getattr(world.params, k) for k in ("n_employees", "n_customers")}
    timeline = tuple(e for e in plan.timeline if e.week <= world.steps)
    plan = dataclasses.replace(plan, timeline=timeline, steps=world.steps)
    return LIMITS.check(plan.with_changes(seed=world.seed, reps=world.reps, **sizes))


def _preset(name: str, keep: Scenario | None = None) -> Scenario:
    """A preset with the visitor's replications, seed and sizes kept."""
    scenario = load_scenario(name)
    if keep is None:
        return LIMITS.check(scenario.with_changes(reps=DEFAULT_REPS))
    sizes = {k: getattr(keep.params, k) for k in ("n_employees", "n_customers")}
    timeline = tuple(e for e in scenario.timeline if e.week <= keep.steps)
    scenario = dataclasses.replace(scenario, timeline=timeline, steps=keep.steps)
    return LIMITS.check(scenario.with_changes(seed=keep.seed, reps=keep.reps, **sizes))


def load_entry(entry: str, keep: Scenario | None = None) -> Scenario:
    """A picker entry on the page: a preset (with the visitor's settings kept) or a saved one.

    A saved scenario brings its own sizes, horizon, seed and replications, as a file does.
    """
    name = unlisted(entry)
    if name is None:
        return _preset(entry, keep)
    return LIMITS.check(LIBRARY.load(name))


def comparator_names(presets: list[str], saved: list[str]) -> list[str]:
    """The comparator picker: today, the other presets, the saved scenarios."""
    return [TODAY, *(p for p in presets if p != TODAY_PRESET), *saved]


def read_scenario(name: str, text: str | None) -> Scenario:
    """An uploaded file as a Scenario the page may run, or ParameterError with one line.

    The page's limits are checked on the raw data, before anything is built, and again on the
    resolved scenario (a ``base`` preset may bring sizes of its own).
    """
    try:
        LIMITS.check_upload(text)
        assert text is not None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            where = f" at line {mark.line + 1}" if mark else ""
            raise ParameterError(f"malformed YAML{where}") from None
        except (ValueError, RecursionError) as err:  # a number of over 4300 digits, deep nesting
            why = "nested too deeply" if isinstance(err, RecursionError) else "a number too long"
            raise ParameterError(f"malformed YAML ({why})") from None
        LIMITS.check_data(data)
        return LIMITS.check(parse_scenario(data, source=name))
    except ParameterError as err:
        line = _one_line(err)
        raise ParameterError(line if line.startswith(f"{name}:") else f"{name}: {line}") from None


def progress_text(progress: Progress | None, shown: int, reps: int, elapsed: float) -> str:
    """The status line of a running comparison."""
    if progress is None or not progress.runs:
        return "Running…"
    if progress.running == 0 and progress.runs_done < progress.runs:
        where = "waiting for a free worker (other visitors' runs share them)"
    elif progress.weeks_done == 0:
        where = "preparing today's organisation"
    else:
        where = f"{progress.fraction:.0%} of the simulated weeks"
    early = f"showing {shown} of {reps} replications · " if shown else ""
    return (f"Running: {early}{where} · {progress.runs_done}/{progress.runs} runs done · "
            f"{elapsed:.0f} s")


def _one_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else err.__class__.__name__


def label(name: str) -> str:
    """How a scenario or comparator is named on the page."""
    return name.replace("_", " ")


def modified(scenario: Scenario, origin: Scenario) -> bool:
    """Whether the levers or the timeline differ from the preset or file they came from."""
    return scenario.timeline != origin.timeline or any(
        getattr(scenario.params, s.name) != getattr(origin.params, s.name)
        for s in SPECS.values() if s.is_lever)


def display_name(scenario: Scenario, origin: Scenario) -> str:
    """``<preset> (modified)`` once a lever or the timeline changed, until saved under a name."""
    if scenario.name != origin.name:
        return scenario.name
    return f"{origin.name} (modified)" if modified(scenario, origin) else origin.name


def file_stem(name: str) -> str:
    """A file name for a display name (``x (modified)`` -> ``x-modified``)."""
    stem = name.replace(" (modified)", "-modified")
    stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in stem).strip("._")
    return stem or "scenario"


def reps_note(scenario: Scenario, text: str | None) -> str:
    """For a file that does not set ``reps``: which replications it runs."""
    try:
        data = yaml.safe_load(text or "")
    except Exception:  # noqa: BLE001 - already read once; a note is not worth an error
        return ""
    if isinstance(data, dict) and "reps" in data:
        return ""
    n = scenario.reps
    seeds = f"seed {scenario.seed}" if n == 1 else f"seeds {scenario.seed}–{scenario.seed + n - 1}"
    return (f" · the file sets no reps: it runs {n} replication{'s' if n != 1 else ''} "
            f"({seeds}), as `sim run` would; change Replications to run more")


def run_summary(comparison: Comparison) -> str:
    """The header's line after a run: its real run time, replications and seeds."""
    ran = comparison.scenario.scenario
    n = ran.reps
    seeds = f"seed {ran.seed}" if n == 1 else f"seeds {ran.seed}–{ran.seed + n - 1}"
    return (f"Last run: first charts {comparison.first_seconds:.2f} s · all {n} paired "
            f"replication{'s' if n != 1 else ''} {comparison.seconds:.2f} s · {seeds}")


@solara.component
def Layout(children: list = []):  # noqa: B006 - Solara's layout signature
    """No default app bar: the page draws its own header."""
    return solara.Column(children=children, style={"padding": "0", "gap": "0"})


@solara.component
def SizeInput(label: str, value: int, low: int, high: int, on_value, hint: str = ""):
    """A whole-number input that refuses values outside ``low..high`` with a message.

    ``on_value`` may refuse a value in range too (the page's work limit): it then returns the
    one-line reason, shown under the input.
    """
    error, set_error = solara.use_state("")
    refusals, set_refusals = solara.use_state(0)   # a refused number must not stay displayed

    def accept(v: int | None) -> None:
        if v == value:   # focus left an unchanged field: not an edit, keep any message shown
            return
        if v is None or not low <= v <= high:
            shown = "no value" if v is None else f"{v:,}"
            set_error(f"{label}: {shown} is outside the allowed {low:,}..{high:,}")
            set_refusals(lambda n: n + 1)
            return
        why = on_value(v) or ""
        set_error(why)
        if why:
            set_refusals(lambda n: n + 1)

    with solara.Div(classes=["spc-size"]):
        field = solara.InputInt(label, value=value, on_value=accept, optional=True, dense=True,
                                classes=[f"spc-input-{label.split()[0].lower()}"])
        aria(field.key(f"{label}-{refusals}"), f"{label} ({low:,} to {high:,})")
        if error:
            solara.Text(error, classes=["spc-error"])
        elif hint:
            solara.Text(hint, classes=["spc-lever-help"])


@solara.component
def Page():
    """The explorer."""
    presets = solara.use_memo(preset_names, [])
    library_version, set_library_version = solara.use_state(0)   # saves so far
    saved = solara.use_memo(lambda: [listed(n) for n in LIBRARY.names()], [library_version])
    search = solara.use_router().search
    # The view a link asks for (bad values are left out, each with a notice).
    start = solara.use_memo(lambda: link.decode(
        search, DEFAULT_PRESET if DEFAULT_PRESET in presets else presets[0], load_entry,
        comparator_names(presets, saved), [*presets, *saved], TABS), [])
    preset, set_preset = solara.use_state(start.preset)
    scenario, set_scenario_state = solara.use_state(start.scenario)
    origin, set_origin = solara.use_state(start.origin)  # the preset or file the levers came from
    baseline_name, set_baseline_name = solara.use_state(start.comparator)
    notice, set_notice = solara.use_state(" · ".join(start.notices))
    uploads, set_uploads = solara.use_state(cast(dict[str, Scenario], {}))  # file -> scenario
    rate, set_rate = solara.use_state(start.rate)   # yearly %, NPV everywhere
    tab, set_tab = solara.use_state(start.tab)
    plans, set_plans = solara.use_state(start.plans or None)   # None: the current edit only
    plan_results, set_plan_results = solara.use_state(cast(list, []))  # (name, Comparison)
    pending, set_pending = solara.use_state(cast(str | None, None))   # preset awaiting a yes
    info, set_info = solara.use_state("")
    comparison, set_comparison = solara.use_state(None)  # type: Comparison | None
    # Progress is read only by the small components that show it, so an update re-renders them,
    # not the whole page.
    progress = solara.use_memo(lambda: solara.reactive(cast(Progress | None, None)), [])
    counter, set_counter = solara.use_state(0)
    session = solara.use_memo(lambda: uuid.uuid4().hex, [])   # this tab, for the fair queue
    started_at = solara.use_ref(time.perf_counter())
    user_cancelled = solara.use_ref(False)
    generation, set_generation = solara.use_state(0)   # finished comparisons (tests wait on it)
    shown_for, set_shown_for = solara.use_state("")    # the settings of the comparison shown
    first_seconds = solara.use_ref(cast(float | None, None))  # early results of the last run
    # The newest scenario, also before the page has re-rendered with it: two quick edits (a size,
    # then the weeks) must both apply, and the limits must judge them together.
    latest = solara.use_ref(scenario)
    source = solara.use_ref((preset, origin))   # the newest picker entry and its scenario
    past = solara.use_ref(cast(list, []))       # (scenario, source) before each edit
    future = solara.use_ref(cast(list, []))     # what Undo took back, for Redo
    _, set_history = solara.use_state(0)        # re-renders the Undo and Redo buttons
    jumped = solara.use_ref((0.0, cast(Scenario | None, None)))  # last Undo/Redo: when, from
    key = scenario.to_yaml()
    wanted = f"{zlib.crc32(f'{key}|{baseline_name}'.encode()):08x}"   # the settings on screen

    def set_scenario(new: Scenario, origin_of: tuple[str, Scenario] | None = None) -> None:
        """Show and run ``new`` (from ``origin_of``: entry, scenario); remembered for Undo.

        ParameterError (one line) if it is over the page's limits.
        """
        LIMITS.check(new)
        if new != latest.current or origin_of is not None:
            past.current = [*past.current, (latest.current, source.current)][-HISTORY:]
            future.current = []
            set_history(lambda n: n + 1)
        latest.current = new
        if origin_of is not None:
            source.current = origin_of
            set_preset(origin_of[0])
            set_origin(origin_of[1])
        set_notice("")
        set_scenario_state(new)

    def step_history(which: str) -> None:
        """Go back one edit (``undo``) or forward again (``redo``)."""
        stack, other = (past, future) if which == "undo" else (future, past)
        if not stack.current:
            return
        (new, where), stack.current = stack.current[-1], stack.current[:-1]
        other.current = [*other.current, (latest.current, source.current)]
        jumped.current = (time.monotonic(), latest.current)
        latest.current, source.current = new, where
        set_preset(where[0])
        set_origin(where[1])
        set_notice("")
        set_info("")
        set_scenario_state(new)
        set_history(lambda n: n + 1)

    # Stable across renders (it reads only refs and setters), so the buttons that call it are
    # not re-rendered by every page update: a click arriving mid-render would be lost.
    undo_redo = solara.use_memo(lambda: step_history, [])

    def change(**kw) -> str:
        try:
            new = latest.current.with_changes(**kw)
            since, left = jumped.current
            if new == left and time.monotonic() - since < ECHO_S:
                return ""     # a slider's late echo of the value Undo or Redo just left
            set_scenario(new)
        except ParameterError as err:
            set_notice(_one_line(err))
            return _one_line(err)
        return ""

    def choose_preset(name: str, confirmed: bool = False) -> None:
        if name not in presets and name not in saved:   # the loaded file's entry: no change
            return
        try:
            new = load_entry(name, latest.current)
        except ParameterError as err:
            set_notice(_one_line(err))
            return
        mine = latest.current.timeline
        if not confirmed and mine and mine != source.current[1].timeline \
                and mine != new.timeline:
            set_pending(name)     # an edited timeline is not dropped without a yes
            return
        set_pending(None)
        set_info("")
        set_scenario(new, (name, new))

    def set_timeline(events: tuple[Intervention, ...]) -> None:
        try:
            set_scenario(dataclasses.replace(latest.current, timeline=events))
        except ParameterError as err:
            set_notice(_one_line(err))

    def load_file(name: str, text: str | None) -> None:
        try:
            new = read_scenario(name, text)
        except ParameterError as err:
            set_notice(_one_line(err))
            set_info("")
            return
        except Exception as err:  # noqa: BLE001 - a visitor's file must never crash the page
            set_notice(f"{name}: cannot be used as a scenario ({_one_line(err)})")
            return
        set_uploads(lambda files: {**files, f"file: {name}": new})
        set_info(f"Loaded {name}: {new.name}{reps_note(new, text)}")
        set_scenario(new, (f"file: {name}", new))

    def save_as(name: str) -> str:
        """Save the scenario in the library under ``name``; one line if refused.

        It is listed beside the presets from then on, and stops being "<preset> (modified)".
        A refused name changes nothing.
        """
        try:
            new = LIBRARY.save(name, latest.current)
        except ParameterError as err:
            return _one_line(err)
        entry = listed(new.name)
        set_library_version(lambda n: n + 1)
        set_scenario(new, (entry, new))
        set_info(f"Saved as \u201c{new.name}\u201d in the library: listed as \u201c{entry}\u201d "
                 "beside the presets, as a comparator and among the plans to compare.")
        return ""

    def show_early(early: Comparison) -> None:
        early.seconds = time.perf_counter() - started_at.current
        first_seconds.current = early.seconds
        set_comparison(early)

    def compute(cancel: threading.Event) -> None:
        first_seconds.current = None
        user_cancelled.current = False
        if cancel.wait(DEBOUNCE_S):
            return
        started_at.current = time.perf_counter()
        progress.value = None
        try:
            base = baseline_for(baseline_name, scenario)
            result = compare(scenario, base, cancel, on_progress=progress.set,
                             on_early=show_early, session=session)
        except Cancelled:
            if user_cancelled.current:
                set_info(f"Run cancelled after {time.perf_counter() - started_at.current:.1f} s;"
                         " press Run to run again.")
            return
        except ParameterError as err:
            set_notice(_one_line(err))
            return
        except Exception as err:  # noqa: BLE001 - show one line, never a stack trace
            set_notice(f"The run failed: {_one_line(err)}")
            return
        result.seconds = time.perf_counter() - started_at.current
        result.first_seconds = first_seconds.current or result.seconds
        set_comparison(result)
        set_shown_for(wanted)
        set_generation(lambda g: g + 1)

    task = solara.use_thread(compute, dependencies=[key, baseline_name, counter],
                             intrusive_cancel=False)
    running = task.state in (solara.ResultState.STARTING, solara.ResultState.RUNNING,
                             solara.ResultState.WAITING)
    shown_name = display_name(scenario, origin)
    # The comparator of the numbers on screen (a newer one may be running).
    versus = label(comparison.baseline.scenario.name if comparison is not None else baseline_name)
    names = (label(shown_name), versus)

    def cancel_run() -> None:
        user_cancelled.current = True
        ENGINE.cancel(session)     # stop this tab's replications now, not after a grace period
        task.cancel()

    def run_again() -> None:
        set_info("")
        set_counter(counter + 1)

    # A closed tab (or a session Solara culls) unmounts the page: drop its queued work at once.
    solara.use_effect(lambda: (lambda: ENGINE.cancel(session)), [])
    # The address bar holds a link to this view (a loaded file's levers on the baseline preset).
    on_file = preset.startswith("file: ")
    link_origin = solara.use_memo(lambda: _preset(TODAY_PRESET) if on_file else origin,
                                  [on_file, origin])
    query = link.encode(link.View(TODAY_PRESET if on_file else preset, link_origin, scenario,
                                  baseline_name, plans or [], tab, rate))

    def make_report() -> bytes:
        """The one-page PDF of the comparison on screen (and of compared plans against it)."""
        assert comparison is not None
        ran = comparison.baseline.scenario
        others = [(n, c) for n, c in plan_results
                  if c.baseline.scenario == ran]   # only plans run against this comparator
        return report.pdf(report.ReportInput(comparison, label(shown_name), versus, rate / 100,
                                             query, others))

    solara.Style(STYLE)
    BrowserBridge(query, undo_redo)
    solara.lab.ConfirmationDialog(
        pending is not None, on_close=lambda: set_pending(None),
        title="Discard the timeline?",
        content=(f"Switching to {label(pending or '')} drops this scenario's timeline "
                 f"({len(charts.timeline_rows(scenario))} entries). Undo brings it back."),
        ok="Discard timeline", cancel="Keep editing",
        on_ok=lambda: choose_preset(pending or "", confirmed=True))
    solara.Title("What-if explorer · service-profit chain")
    with solara.Div(classes=["spc-app"]):
        with solara.Div(classes=["spc-header"]):
            with solara.Div():
                solara.Text("Service-profit chain", classes=["spc-brand"])
                solara.Text("What-if explorer", classes=["spc-title"])
            # Tests wait on these: a finished comparison of the settings now on screen.
            status = {"data-running": str(running).lower(), "data-generation": str(generation),
                      "data-wanted": wanted, "data-shown": shown_for}
            with solara.Div(classes=["spc-status"], attributes=status):
                # The first children always exist, so the browser keeps the Undo and Redo
                # buttons' elements when a run starts or ends (a replaced element loses clicks).
                with solara.Div(style={"display": "contents"}):
                    if running:
                        shown = comparison.scenario.scenario.reps if comparison else 0
                        RunStatus(progress, shown if shown < scenario.reps else 0, scenario.reps,
                                  started_at.current)
                    elif comparison is not None:
                        solara.Text(run_summary(comparison),
                                    classes=["spc-status-text", "spc-status-done"])
                UndoRedo(bool(past.current), bool(future.current), undo_redo)
                if running:
                    solara.Button("Cancel", icon_name="mdi-stop", outlined=True,
                                  on_click=cancel_run, classes=["spc-cancel"])
                solara.Button("Run", icon_name="mdi-play", color="primary",
                              on_click=run_again, classes=["spc-run"])

        with solara.Div(classes=["spc-body"]):
            with solara.Div(classes=["spc-side"]):
                # While the dialog asks, the picker shows the choice; "Keep editing" puts it back.
                Sidebar(scenario, origin, presets, saved, pending or preset, choose_preset,
                        baseline_name, set_baseline_name, change, set_scenario)
            with solara.Div(classes=["spc-main"]):
                with solara.Div(classes=["spc-story"]):
                    with solara.Row(style={"align-items": "baseline", "flex-wrap": "wrap"}):
                        solara.Text(label(shown_name), classes=["spc-story-name"])
                        solara.Text(f"vs {label(baseline_name)}", classes=["spc-story-vs"])
                    solara.Text(scenario.description or "A custom scenario.",
                                classes=["spc-story-text"])
                    if info:
                        solara.Text(info, classes=["spc-info"])
                    if notice:
                        solara.Text(notice, classes=["spc-error", "spc-notice"])
                RunProgress(progress, running)
                with solara.Div(classes=["spc-cards", "spc-stale" if running else ""]):
                    for k in charts.CARD_KPIS:
                        KpiCard(k, comparison, names)
                solara.Text("Green or red: the 95% interval of the paired difference excludes "
                            "zero (better or worse for the organisation); grey: no clear "
                            "difference.", classes=["spc-lever-help", "spc-card-key"])
                with solara.lab.Tabs(value=tab, on_value=set_tab, color="#0f766e",
                                     slider_color="#0f766e", lazy=True):
                    with solara.lab.Tab("Trajectories", icon_name="mdi-chart-line"):
                        Trajectories(comparison, scenario.timeline, names)
                    with solara.lab.Tab("Investment", icon_name="mdi-cash-plus"):
                        InvestmentView(comparison, scenario.timeline, versus, rate, set_rate)
                    with solara.lab.Tab("Profit bridge", icon_name="mdi-chart-waterfall"):
                        BridgeView(comparison, names)
                    with solara.lab.Tab("Why & sensitivity", icon_name="mdi-lightbulb-on-outline"):
                        ExplainView(comparison, names, session)
                    with solara.lab.Tab("Compare plans", icon_name="mdi-format-list-numbered"):
                        ComparePlans(scenario, shown_name, [*presets, *saved], uploads,
                                     baseline_name, session, rate, plans, set_plans,
                                     set_plan_results)
                    with solara.lab.Tab("Timeline", icon_name="mdi-timeline-clock-outline"):
                        TimelineEditor(scenario, set_timeline)
                    with solara.lab.Tab("Inside the organisation", icon_name="mdi-graph-outline"):
                        InsideView(scenario, key)
                    with solara.lab.Tab("Files", icon_name="mdi-file-document-outline"):
                        Files(scenario, shown_name, comparison, load_file, save_as,
                              make_report if comparison is not None else None)


@solara.component
def UndoRedo(can_undo: bool, can_redo: bool, undo_redo):
    """Undo and Redo of the page's edits (also Ctrl+Z and Ctrl+Shift+Z)."""
    with solara.Div(style={"display": "flex", "gap": "4px"}):
        for which, icon, can, text in (("undo", "mdi-undo", can_undo,
                                        "Undo the last edit (Ctrl+Z)"),
                                       ("redo", "mdi-redo", can_redo, "Redo (Ctrl+Shift+Z)")):
            # Not disabled (aria-disabled says so): with nothing to undo a click does nothing.
            solara.Button(which.capitalize(), icon_name=icon, text=True,
                          on_click=lambda which=which: undo_redo(which),
                          classes=[f"spc-{which}"],
                          attributes={"aria-label": text, "aria-disabled": str(not can).lower()},
                          style={"color": "white", "opacity": 1 if can else 0.45})


@solara.component
def RunStatus(progress: solara.Reactive[Progress | None], shown: int, reps: int, since: float):
    """The status line of a running comparison (re-rendered on its own as progress arrives)."""
    solara.Text(progress_text(progress.value, shown, reps, time.perf_counter() - since),
                classes=["spc-status-text"])


@solara.component
def RunProgress(progress: solara.Reactive[Progress | None], running: bool):
    """The bar under the header: the share of simulated weeks done while a comparison runs."""
    value = progress.value
    solara.ProgressLinear(value.fraction * 100 if running and value is not None and value.weeks
                          else running)


@solara.component
def Sidebar(scenario: Scenario, origin: Scenario, presets: list[str], saved: list[str],
            preset: str, choose_preset, baseline_name: str, set_baseline_name, change,
            set_scenario):
    """Scenario and baseline pickers, grouped levers, and the world and run settings."""
    stories = solara.use_memo(lambda: {n: load_scenario(n).description for n in presets}, [])

    def reset() -> None:
        try:
            set_scenario(origin.with_changes(steps=scenario.steps, seed=scenario.seed,
                                             reps=scenario.reps))
        except ParameterError:  # the origin's timeline does not fit the current horizon
            set_scenario(origin)  # admitted when it was loaded

    with solara.Div(classes=["spc-section"]):
        solara.Text("Scenario", classes=["spc-section-title"])
        choices = [*presets, *saved]
        choices += [] if preset in choices else [preset]
        aria(solara.Select("Preset", value=preset, values=choices, on_value=choose_preset,
                           classes=["spc-preset"]), "Preset, saved scenario or loaded file")
        solara.Text(stories.get(preset, origin.description), classes=["spc-lever-help"])
        comparators = comparator_names(presets, saved)
        if baseline_name not in comparators:    # a saved comparator listed since
            comparators.append(baseline_name)
        aria(solara.Select("Compare with", value=baseline_name, values=comparators,
                           on_value=set_baseline_name, classes=["spc-baseline"]),
             "Comparator")
        solara.Text("today = today's organisation with its levers unchanged. Same seeds for "
                    "both: differences are paired.", classes=["spc-lever-help"])
        solara.Button("Reset levers to the preset", text=True, icon_name="mdi-restore",
                      on_click=reset,
                      classes=["spc-reset"])
    for group in LEVER_GROUPS:
        with solara.Div(classes=["spc-section"]):
            solara.Text(LEVER_TITLES[group], classes=["spc-section-title"])
            for spec in SPECS.values():
                if spec.group == group:
                    value = getattr(scenario.params, spec.name)
                    LeverSlider(spec.name, value, lambda n, v: change(**{n: v}),
                                changed=value != getattr(origin.params, spec.name))
    with solara.Div(classes=["spc-section"]):
        solara.Text("World and run", classes=["spc-section-title"])
        SizeInput("Employees", scenario.params.n_employees, *LIMITS.bounds("n_employees"),
                  lambda v: change(n_employees=v), "planned frontline staff")
        SizeInput("Customers", scenario.params.n_customers, *LIMITS.bounds("n_customers"),
                  lambda v: change(n_customers=v), "people in the market")
        SizeInput("Weeks", scenario.steps, *LIMITS.bounds("steps"), lambda v: change(steps=v),
                  "horizon")
        SizeInput("Replications", scenario.reps, *LIMITS.bounds("reps"),
                  lambda v: change(reps=v), "paired runs for the 95% intervals")
        SizeInput("Seed", scenario.seed, 0, 2**32 - 1, lambda v: change(seed=v),
                  "replication r uses seed + r")


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


def _money(value: float, signed: bool = True) -> str:
    return charts.MEASURES["cum_profit"].fmt(value, signed)


def _ci(est: invest.Estimate, fmt=_money) -> str:
    return f"95% CI {fmt(est.low)} to {fmt(est.high)}" if est.has_ci else "one replication: no CI"


def verdict(inv: invest.Investment, payback: int | None, versus: str) -> str:
    """One sentence on the cumulative cash difference (the mean curve's payback week)."""
    final = _money(inv.profit.mean)
    if inv.identical:
        return (f"No difference to pay back: the plan's runs are exactly those of {versus} "
                "(same levers, same seeds).")
    if payback is None:
        return (f"Not paid back within {inv.weeks} weeks: {final} cumulative profit against "
                f"{versus}.")
    if payback <= 1:
        return f"Ahead from the first week: {final} against {versus} by week {inv.weeks}."
    return (f"Pays back in week {payback}: cumulative profit is {final} against {versus} by "
            f"week {inv.weeks}.")


def investment_rows(inv: invest.Investment, versus: str) -> list[tuple[str, str, str]]:
    """(what, value, detail) lines of the investment view."""
    if inv.identical:
        return [("Difference", "none", f"the plan and {versus} are the same runs")]
    roi = (f"{inv.roi:+,.0f}%" if inv.roi is not None else "n/a")
    roi_note = ("mean profit difference / mean extra cost over the horizon"
                if inv.roi is not None else f"the plan costs no more than {versus}: nothing "
                "invested to return on")
    if inv.payback is None:
        payback, pay_note = "none", (f"0 of {inv.reps} replications paid back within "
                                     f"{inv.weeks} weeks")
    else:
        est = inv.payback
        payback = f"week {est.mean:.0f}"
        ci = (f"95% CI week {max(est.low, 0):.0f} to {est.high:.0f}" if est.has_ci
              else "one paying-back replication: no CI")
        pay_note = (f"{ci}; {inv.paid_back} of {inv.reps} replications paid back within "
                    f"{inv.weeks} weeks (mean over those)")
    return [
        (f"Profit over weeks 1–{inv.weeks}", _money(inv.profit.mean), _ci(inv.profit)),
        (f"NPV at {inv.rate:.1%}/year", _money(inv.npv.mean),
         f"{_ci(inv.npv)}; weekly discounting (1 + r)^(-t/52)"),
        ("Extra cost of the plan", _money(inv.extra_cost.mean), _ci(inv.extra_cost)),
        ("ROI", roi, roi_note),
        ("Payback week", payback, pay_note),
        (f"P(beats {versus})", f"{inv.p_beats:.0%}", invest.beats_note(inv)),
    ]


@solara.component
def RateInput(rate: float, on_rate):
    """The yearly discount rate in %; a refused value is replaced by the last good one."""
    error, set_error = solara.use_state("")
    refusals, set_refusals = solara.use_state(0)

    def accept(value: float | None) -> None:
        if value is None or not 0 <= value <= 100:
            set_error("discount rate: a yearly % between 0 and 100")
            set_refusals(lambda n: n + 1)
            return
        set_error("")
        on_rate(value)

    with solara.Div(classes=["spc-rate"]):
        field = solara.InputFloat("Discount rate (%/year)", value=rate, on_value=accept,
                                  optional=True, dense=True, classes=["spc-input-rate"],
                                  style={"max-width": "190px"})
        aria(field.key(f"rate-{refusals}"), "Discount rate, % per year (0 to 100)")
        if error:
            solara.Text(error, classes=["spc-error"])


@solara.component
def InvestmentView(comparison: Comparison | None, timeline: tuple[Intervention, ...],
                   versus: str, rate: float, set_rate):
    """The plan as an investment: NPV, ROI, payback, P(beats), cash curve, cost lines."""
    with solara.Div(classes=["spc-panel"]):
        with solara.Row(style={"align-items": "center", "flex-wrap": "wrap", "gap": "12px"}):
            solara.Text("The plan as an investment", classes=["spc-panel-title"])
            RateInput(rate, set_rate)
        if comparison is None:
            solara.ProgressLinear(True)
            return
        inv = invest.investment(comparison, rate / 100)
        mean, low, high, payback = comparison.roi()
        solara.Text(verdict(inv, payback, versus), classes=["spc-roi-verdict"])
        with solara.Div(classes=["spc-invest"]):
            for what, value, detail in investment_rows(inv, versus):
                with solara.Div(classes=["spc-invest-row"], attributes={"data-row": what}):
                    solara.Text(what, classes=["spc-invest-what"])
                    solara.Text(value, classes=["spc-invest-value"])
                    solara.Text(detail, classes=["spc-invest-detail"])
        solara.FigureEcharts(charts.roi(np.arange(len(mean)), mean, low, high, payback, timeline,
                                        versus),
                             attributes={"style": "height: 320px"}, responsive=True)
        solara.Text(f"Cost by line over weeks 1–{inv.weeks}", classes=["spc-panel-title"])
        rows = "".join(
            f"<tr data-line='{key}'><td>{invest.COST_LINES[key]}</td><td>{_money(p, False)}</td>"
            f"<td>{_money(b, False)}</td><td>{_money(d.mean)}</td>"
            f"<td>{html.escape(_ci(d))}</td>"
            "</tr>" for key, (p, b, d) in inv.costs.items())
        solara.HTML(tag="table", classes=["spc-table", "spc-costs"], unsafe_innerHTML=(
            f"<thead><tr><th>line</th><th>plan</th><th>{html.escape(versus)}</th>"
            f"<th>difference</th><th></th></tr></thead><tbody>{rows}</tbody>"))


@solara.component
def BridgeView(comparison: Comparison | None, names: tuple[str, str]):
    """Profit bridge from the comparator to the plan over the horizon."""
    if comparison is None:
        solara.ProgressLinear(True)
        return
    b = invest.bridge(comparison)
    weeks = comparison.matrix("scenario", "profit").shape[1] - 1
    with solara.Div(classes=["spc-panel"]):
        solara.Text(f"From {names[1]} to {names[0]}: profit over weeks 1–{weeks}",
                    classes=["spc-panel-title"])
        solara.Text("Revenue = customer-weeks x visits per customer x spend per visit. Its "
                    "difference is split with the logarithmic mean Divisia index (LMDI-I): each "
                    "factor contributes L(plan revenue, comparator revenue) x ln(factor ratio), "
                    "and the three add up exactly to the revenue difference. Each cost line "
                    "follows (more cost counts against the plan). Computed per paired "
                    "replication, then averaged.", classes=["spc-panel-help"])
        solara.FigureEcharts(charts.bridge(names[1], b.comparator_profit,
                                           [(lbl, e.mean) for _, lbl, e in b.steps],
                                           names[0], b.plan_profit),
                             attributes={"style": "height: 360px"}, responsive=True)
        rows = "".join(f"<tr data-step='{key}'><td>{html.escape(lbl)}</td>"
                       f"<td>{_money(e.mean)}</td><td>{html.escape(_ci(e))}</td></tr>"
                       for key, lbl, e in b.steps)
        solara.HTML(tag="table", classes=["spc-table", "spc-bridge"], unsafe_innerHTML=(
            "<thead><tr><th>step</th><th>contribution</th><th></th></tr></thead><tbody>"
            f"<tr><td>{html.escape(names[1])} profit</td><td>{_money(b.comparator_profit, False)}"
            f"</td><td></td></tr>{rows}<tr class='spc-total'><td>{html.escape(names[0])} profit"
            f"</td><td>{_money(b.plan_profit, False)}</td><td>difference "
            f"{_money(b.total)}</td></tr></tbody>"))


def plan_rows(results: list[tuple[str, Comparison]], rate: float = invest.DEFAULT_RATE
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


def plans_table(rows: list[dict], versus: str, rate: float = invest.DEFAULT_RATE) -> str:
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
        cells = [str(i), html.escape(row["plan"]), _cell(row["profit"], _money_fmt),
                 _cell(row["npv"], _money_fmt), pay]
        cells += [_cell(row[k], charts.MEASURES[k].fmt) for k in PLAN_KPIS]
        cells.append(f"{inv.p_beats:.0%}<br><small>of {inv.reps} replications</small>")
        body.append(f"<tr data-plan='{html.escape(row['plan'], quote=True)}'>"
                    + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return ("<thead><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head)
            + "</tr></thead><tbody>" + "".join(body) + "</tbody>")


def _money_fmt(value: float, signed: bool = False) -> str:
    return charts.MEASURES["cum_profit"].fmt(value, signed)


@solara.component
def ComparePlans(scenario: Scenario, shown_name: str, presets: list[str],
                 uploads: dict[str, Scenario], baseline_name: str, session: str,
                 rate: float = invest.DEFAULT_RATE * 100, chosen: list[str] | None = None,
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

    def build() -> tuple[list[str], list[Scenario], Scenario]:
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
                plans.append(_preset(name, scenario))
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
            status.value = _one_line(err)

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
            status.value = _one_line(err)
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


@solara.component
def Files(scenario: Scenario, shown_name: str, comparison: Comparison | None, load_file, save_as,
          make_report=None):
    """Save to the library; export the scenario (``sim run`` re-runs it), results, report."""
    typed, set_typed = solara.use_state("")
    error, set_error = solara.use_state("")
    named = dataclasses.replace(scenario, name=shown_name)
    stem = file_stem(shown_name)

    def save() -> None:
        set_error(save_as(typed))

    with solara.Div(classes=["spc-panel"]):
        solara.Text("Files", classes=["spc-panel-title"])
        solara.Text("The scenario file holds every parameter, the timeline, the seed and the "
                    "replications: `sim run FILE.yaml` reproduces this page's numbers. Saving "
                    "under a name keeps the scenario in the server's library: it is listed "
                    "beside the presets (also as a comparator and a plan to compare) after a "
                    "reload or a restart. The address bar is a link to this view.",
                    classes=["spc-panel-help"])
        with solara.Row(style={"flex-wrap": "wrap", "gap": "12px", "align-items": "center"}):
            aria(solara.InputText("Save under a name", value=typed, on_value=set_typed,
                                  continuous_update=True, classes=["spc-input-name"],
                                  style={"max-width": "260px"}),
                 "Scenario name (letters, digits, spaces, - and _)")
            solara.Button("Save name", outlined=True, on_click=save, classes=["spc-save-name"],
                          disabled=not typed.strip())
        if error:
            solara.Text(error, classes=["spc-error"])
        with solara.Row(style={"flex-wrap": "wrap", "gap": "12px"}):
            solara.FileDownload(named.to_yaml(), filename=f"{stem}.yaml",
                                label="Export scenario YAML", mime_type="text/yaml")
            if comparison is not None:
                solara.FileDownload(lambda: comparison.csv(shown_name),
                                    filename=f"{stem}-results.csv",
                                    label="Export results CSV", mime_type="text/csv")
            if make_report is not None:
                solara.FileDownload(make_report, filename=f"{stem}-report.pdf",
                                    label="Download report (PDF)",
                                    mime_type="application/pdf")
            YamlUpload(load_file)
        solara.HTML(tag="pre", unsafe_innerHTML=html.escape(named.to_yaml()),
                    classes=["spc-yaml"])
