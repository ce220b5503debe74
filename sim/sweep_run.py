"""One run of a sweep, as a worker executes it: the task, its outcome and its summary KPIs.

A run is a pure function of its task (the experiment's base scenario, the design point and the
run's seed), whatever process or machine executes it; a failing run is recorded, not raised.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from sim.scenario import ServiceScenario
from sim.stats import kept_for_a_year
from sim.sweep_design import Outputs, RunSpec


@dataclass(frozen=True)
class RunTask:
    """Everything a worker needs for one run (small and picklable)."""

    spec: RunSpec
    values: dict[str, float | int]
    base: ServiceScenario
    outputs: Outputs


@dataclass
class RunOutcome:
    """What a run sends back: its summary row and, when asked, its detailed tables."""

    spec: RunSpec
    values: dict[str, float | int]
    summary: dict[str, float]
    error: str | None = None
    seconds: float = 0.0
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)


def execute_run(task: RunTask) -> RunOutcome:
    """Run one model and summarise it; an exception becomes a recorded error, not a crash.

    A run ``sim run``, the page or another sweep has made already comes from the run cache,
    unless the agents' tables are wanted (they need the model itself).
    """
    from sim.runner import run_frames

    start = time.perf_counter()
    spec = task.spec
    try:
        scenario = task.base.with_changes(seed=spec.seed, reps=1, **task.values)
        run = (scenario, spec.replication, spec.seed)
        [((series, units), model)] = run_frames([run], fresh=task.outputs.agents)
        return _outcome(task, series, units, model, time.perf_counter() - start)
    except Exception as err:  # noqa: BLE001 - a failing run is data, the sweep goes on
        message = f"{type(err).__name__}: {err}".splitlines()[0][:500]
        return RunOutcome(spec, task.values, {}, message, time.perf_counter() - start)


def execute_runs(tasks: Sequence[RunTask]) -> list[RunOutcome]:
    """Run several runs of one design point stepped together; each outcome as :func:`execute_run`.

    Replications of one design point share their parameters, so they run as one batch
    (:mod:`sim.batch`), each bit-identical to its run alone. Runs with differing values, or a
    batch that raises, go one by one, so each failing run is recorded with its own error.
    """
    from sim.runner import run_frames
    from sim.sweep_pool import together_or_alone

    if len(tasks) == 1 or any(t.values != tasks[0].values or t.base != tasks[0].base
                              or t.outputs != tasks[0].outputs for t in tasks):
        return [execute_run(task) for task in tasks]
    first = tasks[0]
    runs = [(first.base.with_changes(seed=t.spec.seed, reps=1, **t.values), t.spec.replication,
             t.spec.seed) for t in tasks]

    def together() -> list[RunOutcome]:
        # each outcome is made as its run comes back: a model kept for its agents' tables is
        # let go before the next is made (large runs do not share a batch, see sim.batch)
        ran = run_frames(runs, fresh=first.outputs.agents)
        return [_outcome(task, series, units, model, 0.0)
                for task, ((series, units), model) in zip(tasks, ran, strict=True)]

    return together_or_alone(tasks, together, execute_run)


def _outcome(task: RunTask, series: pd.DataFrame, units: pd.DataFrame, model: Any,
             seconds: float) -> RunOutcome:
    """A finished run's summary row and the tables its outputs ask for."""
    tables: dict[str, pd.DataFrame] = {}
    if task.outputs.timeseries:
        tables["timeseries"] = series
    if task.outputs.units:
        tables["units"] = units
    if model is not None and task.outputs.agents:
        tables.update(agent_snapshots(model))
    return RunOutcome(task.spec, task.values, summarise(series, task.outputs), None, seconds,
                      tables)


def summarise(series: pd.DataFrame, outputs: Outputs) -> dict[str, float]:
    """Summary KPIs of one run: means over the last ``summary_weeks`` weeks."""
    window = series.iloc[-outputs.summary_weeks :]
    row = {}
    for kpi in outputs.kpis:
        if kpi == "customer_retention":  # annual retention implied by the weekly churn rate
            row[kpi] = float(kept_for_a_year(window["customer_churn_rate"].mean()))
        elif kpi == "cum_profit_final":
            row[kpi] = float(series["cum_profit"].iloc[-1])
        else:
            row[kpi] = float(window[kpi].mean())
    return row


def agent_snapshots(model: Any) -> dict[str, pd.DataFrame]:
    """Agent-level state at the last step (only when ``outputs.agents``: it is big)."""
    wf, market = model.workforce, model.market
    filled = np.flatnonzero(wf.filled)
    employees = pd.DataFrame(
        {
            "slot": filled,
            "unit": wf.unit[filled],
            **{k: getattr(wf, k)[filled] for k in ("engagement", "trust", "skill", "burnout")},
            "tenure": wf.tenure[filled],
        }
    )
    customers = pd.DataFrame(
        {
            "slot": np.arange(market.n),
            "unit": market.unit,
            "status": market.status,
            **{k: getattr(market, k) for k in ("satisfaction", "loyalty", "tenure")},
        }
    )
    return {"employees": employees, "customers": customers}


def failed_outcome(task: RunTask, why: str) -> RunOutcome:
    """The outcome of a run that never reported (its worker died, or Dask lost it): ``why``."""
    return RunOutcome(task.spec, task.values, {}, why.splitlines()[0][:500] if why else why)

