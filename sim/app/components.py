"""The page's building blocks: lever sliders, KPI cards, the timeline editor, the inside view."""

from __future__ import annotations

import html
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import solara

from sim.app import charts
from sim.app.limits import LIMITS
from sim.app.state import END_WEEKS, FLOWS, Comparison
from sim.metrics import UNIT_COLUMNS
from sim.model import ServiceModel
from sim.params import LEVERS, SPECS, ParameterError
from sim.scenario import MAX_STEPS, Intervention, ServiceScenario, TimelineEntry
from sim.state import ACTIVE

LEVER_TITLES = {"people": "People", "leadership": "Leadership", "hr": "HR and listening",
                "customers": "Customers", "organisation": "Organisation"}
# The network view draws every node: keep it to sizes a browser draws smoothly.
NETWORK_MAX_STAFF = 1500
NETWORK_MAX_CUSTOMERS = 20000
PLAY_SECONDS_PER_WEEK = 0.3


def aria(element, text: str):
    """Give an input's real element an accessible name (aria-label); call while rendering.

    Vuetify passes the attribute to the ``<input>`` of text fields and selects and to the
    ``role=slider`` thumb of sliders.
    """
    def put() -> None:
        try:
            widget = solara.get_widget(element)
        except KeyError:  # not mounted (yet): the next render puts it
            return
        if (widget.attributes or {}).get("aria-label") != text:
            widget.attributes = {**(widget.attributes or {}), "aria-label": text}

    solara.use_effect(put)
    return element


def _label(name: str) -> str:
    return name.replace("_", " ").capitalize()


def _step(name: str) -> float:
    spec = SPECS[name]
    if spec.kind is int:
        return 1
    width = float(spec.high) - float(spec.low)
    return 0.01 if width <= 1.0 else 0.05


@solara.component
def LeverSlider(name: str, value: float | int, on_value: Callable[[str, Any], None],
                changed: bool):
    """A slider with its range from the schema, its unit and its one-line meaning."""
    spec = SPECS[name]
    shown = f"{value:g}" if spec.kind is float else str(value)
    with solara.Div(classes=["spc-lever", "spc-lever-changed" if changed else ""],
                    attributes={"data-lever": name}):
        with solara.Row(justify="space-between", classes=["spc-lever-head"]):
            solara.Text(_label(name), classes=["spc-lever-name"])
            solara.Text(f"{shown} {spec.unit}", classes=["spc-lever-value"])
        kwargs = dict(label="", value=value, min=spec.low, max=spec.high,
                      on_value=lambda v: on_value(name, v), thumb_label=False)
        if spec.kind is int:
            slider = solara.SliderInt(**kwargs)
        else:
            slider = solara.SliderFloat(step=_step(name), **kwargs)
        unit = f" {spec.unit}" if spec.unit else ""
        aria(slider, f"{_label(name)} ({spec.low:g} to {spec.high:g}{unit})")
        solara.Text(spec.meaning, classes=["spc-lever-help"])


def kpi_card_html(key: str, comparison: Comparison | None, names: tuple[str, str]) -> str:
    """End value of a KPI, the comparator's, and the paired difference with a 95% CI (HTML).

    ``names`` are the plan's and the comparator's names as shown on the page.
    """
    m = charts.MEASURES[key]
    parts = [f'<div class="spc-card" data-kpi="{key}">',
             _span("spc-card-label", m.label)]
    if comparison is None:
        return "".join([*parts, _span("spc-card-value", "…"), "</div>"])
    stat = comparison.end(key)
    when = f"last {END_WEEKS} weeks" if key in FLOWS else "final week"
    parts += [_span("spc-card-value", m.fmt(stat.scenario)),
              _span("spc-card-base", f"{when} · {names[1]}: {m.fmt(stat.baseline)}")]
    survey = comparison.survey(key)
    if survey is not None:
        parts.append(_span("spc-card-survey",
                           f"as surveyed: {m.fmt(survey[0])} ± {m.fmt(survey[1])}"))
    excludes_zero = stat.low == stat.low and (stat.low > 0 or stat.high < 0)
    better = (stat.diff > 0) == m.higher_is_better
    tone = "neutral" if not excludes_zero else ("good" if better else "bad")
    ci = (f"95% CI {m.fmt(stat.low, True)} to {m.fmt(stat.high, True)}"
          if stat.low == stat.low else "one replication: no CI")
    parts += [f'<div class="spc-delta spc-delta-{tone}">',
              _span("spc-delta-value", f"{m.fmt(stat.diff, True)} vs {names[1]}"),
              _span("spc-delta-ci", ci), "</div></div>"]
    return "".join(parts)


def _span(css_class: str, text: str) -> str:
    return f'<span class="{css_class}">{html.escape(text)}</span>'


# How a timeline row changes its lever: the editor's choices, in words.
HOW = {"set": "from then on", "for_weeks": "for N weeks, then restore",
       "ramp": "ramp linearly until week"}
# Levers a timeline cannot change, and why (from the schema's ``structural`` flag).
FIXED_LEVERS = tuple(n for n, s in SPECS.items() if s.is_lever and n not in LEVERS)


def lever_choice(name: str) -> str:
    """A lever as the editor lists it: readable name and unit, both from the schema."""
    unit = SPECS[name].unit
    return f"{charts.lever_title(name)} ({unit})" if unit else charts.lever_title(name)


LEVER_CHOICES = {lever_choice(n): n for n in LEVERS}


@dataclass(frozen=True)
class Row:
    """One row of the editor: a setting from its week on, for N weeks, or a ramp."""

    week: int
    lever: str
    value: float | int
    how: str = "set"             # a key of HOW
    extent: int | None = None    # N weeks, or the ramp's last week

    def text(self) -> str:
        """The row in words, with the lever's readable name and unit."""
        name = charts.lever_title(self.lever).lower()
        value = charts.lever_value(self.lever, self.value)
        if self.how == "for_weeks":
            return (f"set {name} to {value} for {self.extent} weeks, then restore "
                    f"(week {self.week + (self.extent or 0)})")
        if self.how == "ramp":
            return f"ramp {name} linearly to {value} by week {self.extent}"
        return f"set {name} to {value}"


def timeline_rows(timeline: tuple[Intervention, ...]) -> list[Row]:
    """The editor's rows of a timeline (a compact entry with several levers: one row each)."""
    rows: list[Row] = []
    seen: list[TimelineEntry] = []
    for event in timeline:
        entry = event.entry
        if entry is None:
            rows += [Row(event.week, k, v) for k, v in event.changes.items()]
        elif not any(e is entry for e in seen):
            seen.append(entry)
            extent = entry.for_weeks if entry.to_week is None else entry.to_week
            rows += [Row(entry.week, k, v, entry.kind, extent) for k, v in entry.changes.items()]
    return rows


def timeline_events(rows: list[Row]) -> tuple[Intervention, ...]:
    """Rows back into a timeline (plain settings of one week merged)."""
    by_week: dict[int, dict[str, float | int]] = {}
    events = []
    for row in rows:
        if row.how == "set":
            by_week.setdefault(row.week, {})[row.lever] = row.value
        else:
            entry = TimelineEntry(row.week, {row.lever: row.value},
                                  for_weeks=row.extent if row.how == "for_weeks" else None,
                                  to_week=row.extent if row.how == "ramp" else None)
            events.append(Intervention(row.week, dict(entry.changes), entry))
    events += [Intervention(week=w, changes=c) for w, c in by_week.items()]
    return tuple(sorted(events, key=lambda e: e.week))


def check_row(row: Row, steps: int) -> Row:
    """``row`` if it can be scheduled in 1..``steps``, else ParameterError with one line."""
    if not 1 <= row.week <= steps:
        raise ParameterError(f"week {row.week:,} refused: it must be between 1 and {steps}")
    value = SPECS[row.lever].check(row.value)
    if row.how == "for_weeks" and (row.extent is None or not 1 <= row.extent <= LIMITS.max_weeks):
        raise ParameterError(f"for N weeks: {row.extent} refused: N must be between 1 and "
                             f"{LIMITS.max_weeks}")
    if row.how == "ramp" and (row.extent is None or not row.week < row.extent <= MAX_STEPS):
        raise ParameterError(f"ramp until week {row.extent} refused: it must be after week "
                             f"{row.week}")
    return Row(row.week, row.lever, value, row.how, row.extent)


@solara.component
def TimelineEditor(
    scenario: ServiceScenario, on_timeline: Callable[[tuple[Intervention, ...]], None]
):
    """Add, edit and remove timeline rows ("at week W set L to V", for N weeks, ramps)."""
    rows = timeline_rows(scenario.timeline)
    week, set_week = solara.use_state(min(26, scenario.steps))
    lever, set_lever = solara.use_state("training")
    value, set_value = solara.use_state(float(SPECS["training"].default))
    how, set_how = solara.use_state("set")
    extent, set_extent = solara.use_state(cast(int | None, 8))
    editing, set_editing = solara.use_state(cast(int | None, None))
    error, set_error = solara.use_state("")
    refusals, set_refusals = solara.use_state(0)     # a refused number must not stay displayed

    def choose_lever(choice: str) -> None:
        name = LEVER_CHOICES.get(choice, "training")
        set_lever(name)
        set_value(float(getattr(scenario.params, name)))

    def choose_how(text: str) -> None:
        key = next((k for k, t in HOW.items() if t == text), "set")
        set_how(key)
        if key == "ramp":
            set_extent(min((week or 1) + 12, MAX_STEPS))
        elif key == "for_weeks":
            set_extent(8)

    def submit() -> None:
        try:
            if week is None:
                raise ParameterError("week (none) refused: it must be between 1 and "
                                     f"{scenario.steps}")
            row = check_row(Row(int(week), lever, value if value is not None else float("nan"),
                                how, extent), scenario.steps)
        except ParameterError as err:
            text = str(err).splitlines()[0]
            set_error(text if "refused" in text else f"{text} (refused)")
            # A refused number does not stay in its input: it goes back to a valid one.
            set_week(min(26, scenario.steps) if week is None or not 1 <= week <= scenario.steps
                     else week)
            set_value(float(getattr(scenario.params, lever)))
            set_extent(8 if how == "for_weeks" else min(int(week or 1) + 12, MAX_STEPS))
            set_refusals(lambda n: n + 1)
            return
        new = [r for i, r in enumerate(rows) if i != editing]
        new = [r for r in new if not (r.week == row.week and r.lever == row.lever)]
        set_error("")
        set_editing(None)
        on_timeline(timeline_events([*new, row]))

    def edit(i: int) -> None:
        row = rows[i]
        set_week(row.week)
        set_lever(row.lever)
        set_value(float(row.value))
        set_how(row.how)
        set_extent(row.extent)
        set_editing(i)

    def remove(i: int) -> None:
        set_editing(None)
        on_timeline(timeline_events([r for j, r in enumerate(rows) if j != i]))

    spec = SPECS[lever]
    with solara.Div(classes=["spc-panel"]):
        solara.Text("Intervention timeline", classes=["spc-panel-title"])
        solara.Text("What if we change a lever during the run? A setting applies from the start "
                    "of its week; \"for N weeks\" puts the value in force before it back "
                    "afterwards; a ramp moves the lever linearly, week by week, from the value in "
                    "force at its first week to the target. Marked on every chart (dashed line; "
                    "shaded span for N weeks and ramps).", classes=["spc-panel-help"])
        if not rows:
            solara.Text("No events yet: the levers stay as set for the whole run.",
                        classes=["spc-empty"])
        for i, row in enumerate(rows):
            with solara.Div(classes=["spc-event", f"spc-event-{row.how}",
                                     "spc-event-editing" if i == editing else ""],
                            style={"display": "flex", "align-items": "center", "gap": "12px"}):
                solara.Text(f"Week {row.week}", classes=["spc-event-week"])
                solara.Text(row.text(), classes=["spc-event-text"])
                solara.Button(icon_name="mdi-pencil", icon=True, on_click=lambda i=i: edit(i),
                              classes=["spc-event-edit"],
                              attributes={"aria-label": f"Edit week {row.week}: {row.text()}"})
                solara.Button(icon_name="mdi-delete-outline", icon=True,
                              on_click=lambda i=i: remove(i), classes=["spc-event-remove"],
                              attributes={"aria-label": f"Remove week {row.week}: {row.text()}"})
        with solara.Row(classes=["spc-event-form"], style={"align-items": "center",
                                                           "flex-wrap": "wrap"}):
            aria(solara.InputInt("Week", value=week, on_value=set_week, optional=True,
                                 classes=["spc-input-week"], style={"max-width": "90px"}
                                 ).key(f"week-{refusals}"),
                 f"Event week (1 to {scenario.steps})")
            aria(solara.Select("Lever", value=lever_choice(lever), values=list(LEVER_CHOICES),
                               on_value=choose_lever, classes=["spc-input-lever"],
                               style={"max-width": "300px"}),
                 "Event lever")
            aria(solara.InputFloat(f"Value ({spec.low:g}..{spec.high:g})", value=value,
                                   on_value=set_value, optional=True, classes=["spc-input-value"],
                                   style={"max-width": "150px"}).key(f"value-{refusals}"),
                 f"Event value ({spec.low:g} to {spec.high:g} {spec.unit})")
            aria(solara.Select("How", value=HOW[how], values=list(HOW.values()),
                               on_value=choose_how, classes=["spc-input-how"],
                               style={"max-width": "230px"}), "How the lever changes")
            if how != "set":
                ExtentInput(how, extent, set_extent, scenario.steps).key(f"extent-{refusals}")
            solara.Button("Save event" if editing is not None else "Add event",
                          color="primary", on_click=submit, classes=["spc-add-event"])
            if editing is not None:
                solara.Button("Cancel", text=True, on_click=lambda: set_editing(None))
        if error:
            solara.Text(error, classes=["spc-error"])
        for name in FIXED_LEVERS:
            solara.Text(f"{charts.lever_title(name)} cannot be scheduled: it is structural (it "
                        "sets how many business units and managers there are, and they are "
                        "built once, at the start of the run). Set it with its slider.",
                        classes=["spc-lever-help", "spc-fixed-lever"])


@solara.component
def ExtentInput(how: str, extent: int | None, set_extent, steps: int):
    """N weeks of a "for N weeks" row, or the last week of a ramp.

    Its own component: it comes and goes with the row's kind, and its accessible name is set by
    a hook, which a component must call on every render.
    """
    what = "N weeks" if how == "for_weeks" else "Until week"
    aria(solara.InputInt(what, value=extent, on_value=set_extent, optional=True,
                         classes=["spc-input-extent"], style={"max-width": "110px"}),
         f"Number of weeks (1 to {LIMITS.max_weeks})" if how == "for_weeks"
         else f"Ramp until week (after the event week, up to {steps})")


def _snapshot(model: ServiceModel, lay: charts.Layout | None,
              peers: tuple[np.ndarray, np.ndarray]) -> dict[str, Any]:
    """Chart options of the model's current week (computed off the render path)."""
    table = model.unit_kpis
    cols = {c: i for i, c in enumerate(UNIT_COLUMNS)}
    week = int(model.steps)
    out: dict[str, Any] = {
        "week": week,
        "units": charts.units_scatter(table[:, cols["engagement"]], table[:, cols["csat"]],
                                      table[:, cols["profit"]], week),
    }
    if lay is not None:
        wf, market = model.workforce, model.market
        out["network"] = charts.network(lay, peers[0], peers[1], wf.filled, wf.engagement,
                                        wf.unit, model.units.manager_engagement,
                                        market.status == ACTIVE, market.satisfaction, week)
    return out


@solara.component
def InsideView(scenario: ServiceScenario, key: str):
    """Replication 0 of the scenario, week by week: units and the network, with play mode.

    The model lives in the server process (it is stepped interactively), so it is built only up
    to ``LIMITS.max_inside_people`` employees and customers.
    """
    people = scenario.params.n_employees + scenario.params.n_customers
    fits = people <= LIMITS.max_inside_people

    def build() -> tuple[ServiceModel, charts.Layout | None, tuple[np.ndarray, np.ndarray]] | None:
        if not fits:
            return None
        model = ServiceModel(scenario, rng=scenario.seed)
        wf, market = model.workforce, model.market
        lay = None
        edges = np.array(model.peer_network.edges, dtype=int).reshape(-1, 2)
        if wf.n <= NETWORK_MAX_STAFF and market.n <= NETWORK_MAX_CUSTOMERS:
            lay = charts.layout(model.units.n, wf.unit, market.unit, scenario.seed)
        return model, lay, (edges[:, 0], edges[:, 1])

    built = solara.use_memo(build, [key])
    model, lay, peers = built if built is not None else (None, None, None)
    snap, set_snap = solara.use_state(cast(dict[str, Any], {}))
    playing, set_playing = solara.use_state(False)
    lock = solara.use_memo(threading.Lock, [key])

    def first() -> None:
        if model is None:
            set_snap({})
            return
        with lock:
            set_snap(_snapshot(model, lay, peers))

    solara.use_effect(first, [key])

    def advance(weeks: int) -> None:
        if model is None:
            return
        with lock:
            for _ in range(weeks):
                if model.steps >= scenario.steps:
                    break
                model.step()
            set_snap(_snapshot(model, lay, peers))

    def play(cancel: threading.Event) -> None:
        if not playing or model is None:
            return
        while not cancel.is_set() and model.steps < scenario.steps:
            start = time.perf_counter()
            advance(1)
            cancel.wait(max(0.0, PLAY_SECONDS_PER_WEEK - (time.perf_counter() - start)))
        set_playing(False)

    solara.use_thread(play, dependencies=[playing, key])
    week = snap.get("week", 0) if snap else 0
    if not fits:
        with solara.Div(classes=["spc-panel"]):
            solara.Text("Watch the spirals form", classes=["spc-panel-title"])
            solara.Text(f"The inside view runs in the page's server and is shown for up to "
                        f"{LIMITS.max_inside_people:,} employees and customers together (this "
                        f"scenario has {people:,}).", classes=["spc-empty"])
        return
    with solara.Div(classes=["spc-panel"]):
        with solara.Row(style={"align-items": "center"}, classes=["spc-play"]):
            solara.Text("Watch the spirals form", classes=["spc-panel-title"])
            solara.Text(f"replication 1 · week {week} of {scenario.steps}",
                        classes=["spc-week"])
            solara.Button("Pause" if playing else "Play", color="primary",
                          icon_name="mdi-pause" if playing else "mdi-play",
                          on_click=lambda: set_playing(not playing), classes=["spc-play-btn"],
                          disabled=week >= scenario.steps)
            solara.Button("Step", icon_name="mdi-skip-next", outlined=True,
                          on_click=lambda: advance(1), disabled=playing or week >= scenario.steps)
            solara.Button("To the end", icon_name="mdi-skip-forward", outlined=True,
                          on_click=lambda: advance(scenario.steps), disabled=playing)
        if not snap:
            solara.ProgressLinear(True)
            return
        with solara.Columns([5, 7]):
            solara.FigureEcharts(snap["units"], attributes={"style": "height: 440px"})
            if "network" in snap:
                solara.FigureEcharts(snap["network"], attributes={"style": "height: 440px"})
            else:
                solara.Text("The network view draws every person; it is shown for sizes up to "
                            f"{NETWORK_MAX_STAFF:,} staff and {NETWORK_MAX_CUSTOMERS:,} customers.",
                            classes=["spc-empty"])
