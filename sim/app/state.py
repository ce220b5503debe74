"""What the page computes, kept free of UI code so it can be tested and reused.

A page run compares a scenario with a baseline over the same replication seeds (common random
numbers). Replications run in a small process pool so the page stays responsive and both cores
work; each finished replication is cached by its fully resolved scenario and index, so re-running,
changing the replication count or switching back to an earlier setting costs nothing.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from sim.runner import ANNUALISED, RunResult, replication_seed, run_one
from sim.scenario import Intervention, Scenario, load_scenario

# Weekly flows are noisy: their end value is the mean of the last END_WEEKS weeks.
FLOWS = frozenset({"service_quality", "csat", "nps", "customer_churn_rate",
                   "employee_turnover_rate", "revenue", "costs", "profit"})
END_WEEKS = 4
# Parameters that describe the world rather than a policy: the baseline shares them.
SHARED_SIZES = ("n_employees", "n_customers", "initial_active_share")


class Cancelled(Exception):
    """The settings changed while a comparison was running; its result is no longer wanted."""


def simulate(scenario: Scenario, replication: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One replication's time series and unit table, exactly as ``sim run`` computes them."""
    model = run_one(scenario, replication)
    frame = model.timeseries()
    frame.insert(1, "seed", replication_seed(scenario, replication))
    return frame, model.unit_timeseries()


def _watch_server(server_pid: int) -> None:
    """Worker initializer: exit when the server process is gone, so no worker outlives it."""
    def watch() -> None:
        while True:
            time.sleep(1.0)
            try:
                os.kill(server_pid, 0)
            except OSError:
                os._exit(0)

    threading.Thread(target=watch, daemon=True).start()


def _warm() -> None:
    """Import the model in a worker before the first real request."""


class Engine:
    """A process pool plus a cache of finished replications, shared by all sessions.

    Sharing is safe because cached results are immutable data, never live models.
    """

    def __init__(self, workers: int | None = None, cache_size: int = 400) -> None:
        self.workers = workers or max(1, min(4, os.cpu_count() or 1))
        self.cache_size = cache_size
        self._cache: OrderedDict[tuple[str, int], tuple[pd.DataFrame, pd.DataFrame]] = OrderedDict()
        self._pending: dict[tuple[str, int], Future] = {}
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None

    def pool(self) -> ProcessPoolExecutor:
        """The worker pool, started on first use (forkserver: safe beside the server's threads)."""
        with self._lock:
            if self._pool is None:
                method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() \
                    else "spawn"
                self._pool = ProcessPoolExecutor(
                    self.workers, mp_context=multiprocessing.get_context(method),
                    initializer=_watch_server, initargs=(os.getpid(),))
                for _ in range(self.workers):
                    self._pool.submit(_warm)
            return self._pool

    def _store(self, key: tuple[str, int], future: Future) -> None:
        """Keep a finished replication, even if the run that asked for it was cancelled."""
        with self._lock:
            if self._pending.get(key) is future:
                del self._pending[key]
            if not future.cancelled() and future.exception() is None:
                self._cache[key] = future.result()
                while len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)

    def _submit(self, key: tuple[str, int], scenario: Scenario, r: int) -> Future:
        with self._lock:
            future = self._pending.get(key)
            if future is not None and not future.cancelled():
                return future
        try:
            future = self.pool().submit(simulate, scenario, r)
        except BrokenProcessPool:
            with self._lock:
                self._pool = None
                self._pending.clear()
            future = self.pool().submit(simulate, scenario, r)
        with self._lock:
            self._pending[key] = future
        future.add_done_callback(lambda f: self._store(key, f))
        return future

    def _prefix(self, idents: list[str], reps: int) -> int:
        """How many leading replications are cached for every scenario."""
        with self._lock:
            k = 0
            while k < reps and all((i, k) in self._cache for i in idents):
                k += 1
        return k

    def run(self, scenarios: list[Scenario], cancel: threading.Event | None = None,
            on_progress: Callable[[int, int], None] | None = None,
            on_prefix: Callable[[int], None] | None = None) -> list[RunResult]:
        """Run every replication of each scenario (cached ones are free); raise Cancelled.

        ``on_prefix(k)`` is called when the first k (>= 2) replications of every scenario are
        ready but not yet all, so a caller can show early results. On cancel, replications not
        yet started are dropped so the pool is free for the next request; those already running
        finish into the cache.
        """
        idents = [s.with_changes(reps=1).to_yaml() for s in scenarios]
        jobs: dict[tuple[str, int], tuple[Scenario, int]] = {}
        for ident, scenario in zip(idents, scenarios, strict=True):
            for r in range(scenario.reps):
                jobs[(ident, r)] = (scenario, r)
        with self._lock:
            todo = [key for key in jobs if key not in self._cache]
        total = len(jobs)
        owner = {self._submit(key, *jobs[key]): key for key in todo}
        waiting = set(owner)
        shown = 0
        if on_progress:
            on_progress(total - len(waiting), total)
        while waiting:
            if cancel is not None and cancel.is_set():
                for future in waiting:
                    future.cancel()
                raise Cancelled()
            finished, waiting = wait(waiting, timeout=0.05)
            for future in finished:
                key = owner[future]
                if future.cancelled():  # another visitor's run gave up on a shared replication
                    retry = self._submit(key, *jobs[key])
                    owner[retry] = key
                    waiting.add(retry)
                    continue
                self._store(key, future)
                if isinstance(future.exception(), BrokenProcessPool):
                    with self._lock:
                        self._pool = None
                    raise RuntimeError("the simulation workers stopped; please run again")
                future.result()  # re-raise a model error here, in the page's thread
            if finished and on_progress:
                on_progress(total - len(waiting), total)
            if finished and on_prefix and waiting:
                k = self._prefix(idents, min(s.reps for s in scenarios))
                if k >= 2 and k > shown:
                    shown = k
                    on_prefix(k)
        results = []
        with self._lock:
            for ident, scenario in zip(idents, scenarios, strict=True):
                parts = [self._cache[(ident, r)] for r in range(scenario.reps)]
                results.append(RunResult(
                    scenario, pd.concat([p[0] for p in parts], ignore_index=True),
                    pd.concat([p[1] for p in parts], ignore_index=True)))
        return results

    def shutdown(self) -> None:
        """Stop the workers (tests and server shutdown)."""
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool = None


ENGINE = Engine()


def baseline_for(name: str, scenario: Scenario) -> Scenario:
    """Preset ``name`` run on the scenario's world: same sizes, horizon, seed and replications.

    Timeline events of the preset beyond the horizon are dropped (they would never happen).
    """
    preset = load_scenario(name)
    sizes = {key: getattr(scenario.params, key) for key in SHARED_SIZES}
    timeline = tuple(e for e in preset.timeline if e.week <= scenario.steps)
    return Scenario(name=preset.name, description=preset.description,
                    params=preset.params.replace(**sizes), steps=scenario.steps, timeline=timeline,
                    seed=scenario.seed, reps=scenario.reps)


def build_scenario(name: str, description: str, params: dict[str, float | int], steps: int,
                   seed: int, reps: int, timeline: list[Intervention]) -> Scenario:
    """The page's settings as a validated Scenario (raises ParameterError with one line)."""
    base = Scenario(name=name, description=description, steps=steps, seed=seed, reps=reps)
    base = base.with_changes(**params)
    events = tuple(sorted((e for e in timeline if e.week <= steps), key=lambda e: e.week))
    return Scenario(name=base.name, description=base.description, params=base.params,
                    steps=base.steps, timeline=events, seed=base.seed, reps=base.reps)


@dataclass(frozen=True)
class KpiStat:
    """End-of-horizon value of one KPI and its paired difference to the baseline."""

    key: str
    scenario: float
    baseline: float
    diff: float
    low: float      # 95% CI of the mean paired difference (nan with one replication)
    high: float


def t_interval(diffs: np.ndarray) -> tuple[float, float, float]:
    """Mean and 95% t-interval of paired differences (one row per replication)."""
    diffs = np.asarray(diffs, dtype=float)
    mean = float(diffs.mean(axis=0)) if diffs.ndim == 1 else diffs.mean(axis=0)
    n = diffs.shape[0]
    if n < 2:
        nan = np.full_like(np.asarray(mean, dtype=float), np.nan)
        return mean, nan, nan
    half = stats.t.ppf(0.975, n - 1) * diffs.std(axis=0, ddof=1) / np.sqrt(n)
    return mean, mean - half, mean + half


def _annualise(values: np.ndarray) -> np.ndarray:
    return 1.0 - (1.0 - values) ** 52


@dataclass
class Comparison:
    """A scenario and its baseline, replication by replication."""

    scenario: RunResult
    baseline: RunResult
    seconds: float = 0.0         # from the visitor's change to this result
    first_seconds: float = 0.0   # from the change to the first (early) charts

    def matrix(self, which: str, key: str) -> np.ndarray:
        """Replications x steps array of one KPI (weekly rates annualised)."""
        frame = getattr(self, which).timeseries
        table = frame.pivot(index="replication", columns="step", values=key).to_numpy(float)
        return _annualise(table) if key in ANNUALISED else table

    def end(self, key: str) -> KpiStat:
        """End value of ``key`` (mean over replications) and the paired difference.

        Stocks are read in the final week, flows averaged over the last END_WEEKS weeks.
        """
        last = END_WEEKS if key in FLOWS else 1
        s = self.matrix("scenario", key)[:, -last:].mean(axis=1)
        b = self.matrix("baseline", key)[:, -last:].mean(axis=1)
        mean, low, high = t_interval(s - b)
        return KpiStat(key, float(s.mean()), float(b.mean()), float(mean), float(low), float(high))

    def band(self, which: str, key: str,
             window: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per-week mean and 95% interval of the mean over replications.

        ``window`` > 1 first takes each replication's trailing average over that many weeks.
        """
        table = self.matrix(which, key)
        if window > 1:
            table = pd.DataFrame(table.T).rolling(window, min_periods=1).mean().to_numpy().T
        mean = table.mean(axis=0)
        if table.shape[0] < 2:
            return mean, mean, mean
        half = stats.t.ppf(0.975, table.shape[0] - 1) * table.std(axis=0, ddof=1) \
            / np.sqrt(table.shape[0])
        return mean, mean - half, mean + half

    def roi(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, int | None]:
        """Cumulative profit difference (mean, 95% CI) per week and the payback week.

        The payback week is the first week from which the mean cumulative difference stays
        positive to the horizon; None if it never does.
        """
        diff = self.matrix("scenario", "cum_profit") - self.matrix("baseline", "cum_profit")
        mean, low, high = t_interval(diff)
        positive = mean > 0
        payback = None
        if positive[-1]:
            negative_weeks = np.flatnonzero(~positive)
            payback = int(negative_weeks[-1] + 1) if len(negative_weeks) else 0
        return mean, low, high, payback

    def csv(self) -> str:
        """Both runs' time series as one tidy CSV (column ``run``: scenario or baseline)."""
        frames = [self.scenario.timeseries.assign(run="scenario"),
                  self.baseline.timeseries.assign(run="baseline")]
        table = pd.concat(frames, ignore_index=True)
        return table[["run", *[c for c in table.columns if c != "run"]]].to_csv(index=False)


def compare(scenario: Scenario, baseline: Scenario, cancel: threading.Event | None = None,
            on_progress: Callable[[int, int], None] | None = None,
            on_early: Callable[[Comparison], None] | None = None,
            engine: Engine = ENGINE) -> Comparison:
    """Run (or fetch) both scenarios' replications and pair them.

    ``on_early`` receives a comparison of the first replications while the rest still run.
    """
    start = time.perf_counter()

    def early(k: int) -> None:
        if on_early is not None:
            ran, base = engine.run([scenario.with_changes(reps=k), baseline.with_changes(reps=k)])
            on_early(Comparison(ran, base, time.perf_counter() - start))

    ran, base = engine.run([scenario, baseline], cancel, on_progress, early)
    return Comparison(ran, base, time.perf_counter() - start)
