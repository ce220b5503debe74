"""The comparison the page runs, with progress, early results, Cancel and Run again.

Every edit starts a new one: at once, or after a short pause (``DEBOUNCE_S``) when it follows
another edit that closely (a slider dragged), so a burst of edits runs once, at its end.

The run happens in a background thread that hands replications to the shared, fairly queued
workers of :mod:`sim.app.state`, so the page stays usable. :func:`use_run` is a hook of the page:
call it once per render, unconditionally.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

import solara
from reacton.core import get_render_context

from sim.app.entries import one_line
from sim.app.state import ENGINE, Cancelled, Comparison, Progress, baseline_for, compare
from sim.params import ParameterError
from sim.scenario import ServiceScenario

DEBOUNCE_S = 0.12


@dataclass(frozen=True)
class Run:
    """The page's comparison: the one shown, and whether a newer one is running."""

    comparison: Comparison | None
    # Read only by the small components that show it, so an update re-renders them, not the page.
    progress: solara.Reactive[Progress | None]
    running: bool
    started_at: float          # time.perf_counter() when the running comparison started
    generation: int            # finished comparisons (tests wait on it)
    shown_for: str             # the settings of the final comparison shown (its ``wanted``)
    cancel: Callable[[], None]
    again: Callable[[], None]


def use_run(scenario: ServiceScenario, baseline_name: str, key: str, wanted: str, session: str,
            set_info: Callable[[str], None], set_notice: Callable[[str], None]) -> Run:
    """Compare ``scenario`` (``key`` fingerprints it) with ``baseline_name`` when either changes.

    ``wanted`` fingerprints the settings on screen; ``session`` is this tab in the fair queue.
    Refusals and failures go to ``set_notice`` in one line, a cancel by the visitor to ``set_info``.
    """
    comparison, set_comparison = solara.use_state(cast(Comparison | None, None))
    progress = solara.use_memo(lambda: solara.reactive(cast(Progress | None, None)), [])
    counter, set_counter = solara.use_state(0)
    started_at = solara.use_ref(time.perf_counter())
    user_cancelled = solara.use_ref(False)
    generation, set_generation = solara.use_state(0)
    shown_for, set_shown_for = solara.use_state("")
    first_seconds = solara.use_ref(cast(float | None, None))  # early results of the last run
    last_start = solara.use_ref(-DEBOUNCE_S)  # time.perf_counter() when the last run was asked
    run_id = f"{key}|{baseline_name}|{counter}"
    finished, set_finished = solara.use_state("")  # the run whose results are shown, at the end
    render = get_render_context()

    def compute(cancel: threading.Event) -> None:
        # A newer run (an edit since) sets ``cancel``: this run's results, early or final, must
        # never land after it. The check is inside the render batch that applies them.
        def show_early(early: Comparison) -> None:
            with render:
                if cancel.is_set():
                    return
                early.seconds = time.perf_counter() - started_at.current
                first_seconds.current = early.seconds
                set_comparison(early)
                set_shown_for("")

        first_seconds.current = None
        user_cancelled.current = False
        asked = time.perf_counter()
        in_a_burst = asked - last_start.current < DEBOUNCE_S
        last_start.current = asked
        if in_a_burst and cancel.wait(DEBOUNCE_S):
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
            set_notice(one_line(err))
            return
        except Exception as err:  # noqa: BLE001 - show one line, never a stack trace
            set_notice(f"The run failed: {one_line(err)}")
            return
        result.seconds = time.perf_counter() - started_at.current
        result.first_seconds = first_seconds.current or result.seconds
        with render:
            if cancel.is_set():
                return
            set_comparison(result)
            set_shown_for(wanted)
        # Then, in one more render, the status: whoever sees the run finished (a visitor, a
        # test) has been sent its results already.
        with render:
            set_generation(lambda g: g + 1)
            set_finished(run_id)

    task = solara.use_thread(compute, dependencies=[key, baseline_name, counter],
                             intrusive_cancel=False)
    # A closed tab (or a session Solara culls) unmounts the page: drop its queued work at once.
    solara.use_effect(lambda: (lambda: ENGINE.cancel(session)), [])

    def cancel_run() -> None:
        user_cancelled.current = True
        ENGINE.cancel(session)     # stop this tab's replications now, not after a grace period
        task.cancel()

    def run_again() -> None:
        set_info("")
        set_counter(counter + 1)

    running = finished != run_id and task.state in (
        solara.ResultState.STARTING, solara.ResultState.RUNNING, solara.ResultState.WAITING)
    return Run(comparison, progress, running, started_at.current, generation, shown_for,
               cancel_run, run_again)
