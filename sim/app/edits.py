"""The visitor's scenario and every way it changes, with Undo and Redo.

Levers, sizes, the timeline, a picked preset, a loaded file and a save under a name all go
through :func:`use_edits`.

:func:`use_edits` is a hook of the page (call it once per render, unconditionally). It keeps the
newest scenario in a ref as well as in the state, so two quick edits (a size, then the weeks) both
apply and the page's limits judge them together, even before the page has re-rendered.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

import solara

from sim.app.entries import load_entry, one_line
from sim.app.files import read_scenario, reps_note
from sim.app.library import LIBRARY, listed
from sim.app.limits import LIMITS
from sim.app.link import View
from sim.params import ParameterError
from sim.scenario import Intervention, ServiceScenario

HISTORY = 100      # edits that Undo can take back
ECHO_S = 1.0       # a slider may send its old value back this long after Undo moved it


@dataclass(frozen=True)
class Edits:
    """The scenario on screen, where it came from, the page's messages, and how to change it."""

    preset: str                    # the picker entry the levers came from
    scenario: ServiceScenario
    origin: ServiceScenario               # the preset or file the levers came from
    notice: str                    # a refusal, in one line
    info: str                      # what just happened (loaded, saved, cancelled)
    pending: str | None            # a preset awaiting a yes (it would drop an edited timeline)
    uploads: dict[str, ServiceScenario]   # loaded files by picker entry
    can_undo: bool
    can_redo: bool
    set_scenario: Callable[..., None]
    set_info: Callable[[str], None]
    set_notice: Callable[[str], None]
    set_pending: Callable[[str | None], None]
    undo_redo: Callable[[str], None]     # stable across renders
    change: Callable[..., str]
    choose_preset: Callable[..., None]
    set_timeline: Callable[[tuple[Intervention, ...]], None]
    load_file: Callable[[str, str | None], None]
    save_as: Callable[[str], str]


def use_edits(start: View, presets: list[str], saved: list[str],
              on_saved: Callable[[], None]) -> Edits:
    """The edits of the view ``start`` (a link's); ``on_saved`` runs after a save to the library."""
    preset, set_preset = solara.use_state(start.preset)
    scenario, set_scenario_state = solara.use_state(start.scenario)
    origin, set_origin = solara.use_state(start.origin)
    notice, set_notice = solara.use_state(" · ".join(start.notices))
    info, set_info = solara.use_state("")
    pending, set_pending = solara.use_state(cast(str | None, None))
    uploads, set_uploads = solara.use_state(cast(dict[str, ServiceScenario], {}))
    latest = solara.use_ref(scenario)
    source = solara.use_ref((preset, origin))   # the newest picker entry and its scenario
    past = solara.use_ref(cast(list, []))       # (scenario, source) before each edit
    future = solara.use_ref(cast(list, []))     # what Undo took back, for Redo
    _, set_history = solara.use_state(0)        # re-renders the Undo and Redo buttons
    jumped = solara.use_ref((0.0, cast(ServiceScenario | None, None)))  # last Undo/Redo: when, from

    def set_scenario(
        new: ServiceScenario, origin_of: tuple[str, ServiceScenario] | None = None
    ) -> None:
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
            set_notice(one_line(err))
            return one_line(err)
        return ""

    def choose_preset(name: str, confirmed: bool = False) -> None:
        if name not in presets and name not in saved:   # the loaded file's entry: no change
            return
        try:
            new = load_entry(name, latest.current)
        except ParameterError as err:
            set_notice(one_line(err))
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
            set_notice(one_line(err))

    def load_file(name: str, text: str | None) -> None:
        try:
            new = read_scenario(name, text)
        except ParameterError as err:
            set_notice(one_line(err))
            set_info("")
            return
        except Exception as err:  # noqa: BLE001 - a visitor's file must never crash the page
            set_notice(f"{name}: cannot be used as a scenario ({one_line(err)})")
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
            return one_line(err)
        entry = listed(new.name)
        on_saved()
        set_scenario(new, (entry, new))
        set_info(f"Saved as \u201c{new.name}\u201d in the library: listed as \u201c{entry}\u201d "
                 "beside the presets, as a comparator and among the plans to compare.")
        return ""

    return Edits(preset, scenario, origin, notice, info, pending, uploads, bool(past.current),
                 bool(future.current), set_scenario, set_info, set_notice, set_pending,
                 undo_redo, change, choose_preset, set_timeline, load_file, save_as)
