"""The page's header: title, the status of the comparison, Undo and Redo, Cancel and Run.

The status element carries what the browser tests wait on: ``data-running``, ``data-generation``
(finished comparisons) and ``data-wanted`` (a fingerprint of the settings on screen; the KPI
cards carry that of the comparison they show).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import solara

from sim.app.entries import seeds_text
from sim.app.running import Run
from sim.app.state import Comparison, Progress


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


def run_summary(comparison: Comparison) -> str:
    """The header's line after a run: its real run time, replications and seeds."""
    ran = comparison.scenario.scenario
    n = ran.reps
    return (f"Last run: first charts {comparison.first_seconds:.2f} s · all {n} paired "
            f"replication{'s' if n != 1 else ''} {comparison.seconds:.2f} s · "
            f"{seeds_text(ran.seed, n)}")


@solara.component
def Header(run: Run, reps: int, wanted: str, can_undo: bool, can_redo: bool,
           undo_redo: Callable[[str], None]):
    """Title and status bar; ``reps`` are the replications of the settings on screen."""
    comparison = run.comparison
    with solara.Div(classes=["spc-header"]):
        with solara.Div():
            solara.Text("Service-profit chain", classes=["spc-brand"])
            solara.Text("What-if explorer", classes=["spc-title"])
        # Tests wait on these: a finished comparison of the settings now on screen.
        status = {"data-running": str(run.running).lower(), "data-generation": str(run.generation),
                  "data-wanted": wanted}
        with solara.Div(classes=["spc-status"], attributes=status):
            # The first children always exist, so the browser keeps the Undo and Redo
            # buttons' elements when a run starts or ends (a replaced element loses clicks).
            with solara.Div(style={"display": "contents"}):
                if run.running:
                    shown = comparison.scenario.scenario.reps if comparison else 0
                    RunStatus(run.progress, shown if shown < reps else 0, reps, run.started_at)
                elif comparison is not None:
                    solara.Text(run_summary(comparison),
                                classes=["spc-status-text", "spc-status-done"])
            UndoRedo(can_undo, can_redo, undo_redo)
            if run.running:
                solara.Button("Cancel", icon_name="mdi-stop", outlined=True,
                              on_click=run.cancel, classes=["spc-cancel"])
            solara.Button("Run", icon_name="mdi-play", color="primary",
                          on_click=run.again, classes=["spc-run"])


@solara.component
def UndoRedo(can_undo: bool, can_redo: bool, undo_redo: Callable[[str], None]):
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
