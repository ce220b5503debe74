"""What the page computes, kept free of UI code so it can be tested and reused.

A page run compares a scenario with a baseline over the same replication seeds (common random
numbers). Replications run in a few worker processes shared by every session (browser tab) of
the server; :class:`Engine` queues them fairly across sessions (:mod:`sim.app.fairqueue`), keeps
at most one comparison in flight per session (a newer one supersedes it), stops runs nobody waits
for any more, and reports progress. Each finished replication is cached by its fully resolved
scenario and index, so re-running, changing the replication count or switching back to an
earlier setting costs nothing.
"""

from __future__ import annotations

import atexit
import os
import socket
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from multiprocessing.connection import wait

import numpy as np
import pandas as pd

from sim.app import workers as wk
from sim.app.fairqueue import RUNNING, FairQueue, Job
from sim.app.library import resolve
from sim.app.limits import LIMITS, Limits
from sim.runner import ANNUALISED, RunResult, run_settings
from sim.scenario import ServiceScenario
from sim.stats import half_width, normal_quantile, per_year, t_interval

# Weekly flows are noisy: their end value is the mean of the last END_WEEKS weeks.
FLOWS = frozenset({"service_quality", "csat", "nps", "customer_churn_rate",
                   "employee_turnover_rate", "revenue", "costs", "profit"})
END_WEEKS = 4
# KPIs a company sees only through its surveys: the true KPI and the survey's estimate of it.
SURVEYED = {"engagement_mean": "engagement_surveyed", "csat": "csat_surveyed",
            "nps": "nps_surveyed"}
# Parameters that describe the world rather than a policy: the baseline shares them.
SHARED_SIZES = ("n_employees", "n_customers", "initial_active_share")
simulate = wk.simulate
# The default comparator: today's organisation with its levers unchanged (the baseline preset).
TODAY = "today"
TODAY_PRESET = "baseline"
TODAY_TEXT = "Today's organisation with its levers unchanged."


class Cancelled(Exception):
    """The comparison was cancelled or superseded; its result is no longer wanted."""


@dataclass(frozen=True)
class Progress:
    """How far a comparison is: replications and simulated weeks done of all."""

    runs_done: int
    runs: int
    weeks_done: int
    weeks: int
    running: int      # this comparison's replications running in a worker right now

    @property
    def fraction(self) -> float:
        """Share of the simulated weeks done."""
        return self.weeks_done / self.weeks if self.weeks else 1.0


@dataclass(eq=False)
class _Request:
    """One session's comparison in flight."""

    session: str
    weeks: dict[Hashable, int]                   # every replication it needs -> its weeks
    results: dict[Hashable, pd.DataFrame] = field(default_factory=dict)
    error: str | None = None
    ended: bool = False                          # superseded, cancelled or server shutdown
    event: threading.Event = field(default_factory=threading.Event)


class Engine:
    """Worker processes, a fair queue of replications and a cache, shared by all sessions.

    Sharing is safe because cached results are immutable data, never live models.
    """

    def __init__(self, workers: int | None = None, cache_bytes: int = 64_000_000,
                 grace: float = 0.3, linger: float = 0.5, recycle_after: float = 60.0,
                 limits: Limits | None = LIMITS) -> None:
        self.workers = workers or max(1, min(4, os.cpu_count() or 1))
        self.cache_bytes = cache_bytes
        self.grace = grace            # seconds a stopped replication may take before a kill
        self.linger = linger          # seconds an abandoned replication runs on, to be reclaimed
        # A worker idle this long after running something is replaced by a fresh one, so the
        # memory of finished runs (models, the model's cache of settled starts) goes back to the
        # system once the visitors have left.
        self.recycle_after = recycle_after
        self.limits = limits
        self._lock = threading.RLock()
        self._cache: OrderedDict[Hashable, pd.DataFrame] = OrderedDict()
        self._cached_bytes = 0
        self._requests: dict[str, _Request] = {}
        self._reset()

    def _reset(self) -> None:
        self._queue = FairQueue(self.workers)
        self._pool: list[wk.Worker] = []
        self._thread: threading.Thread | None = None
        self._closing = False
        self._ticket = 0
        self.kills = 0                # workers killed because they did not stop in time
        self.recycled = 0             # idle workers replaced by fresh ones

    # --- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        """Start the workers and the dispatcher (in the background; idempotent)."""
        with self._lock:
            if self._thread is not None:
                return
            self._closing = False
            self._wake_r, self._wake_w = socket.socketpair()
            self._wake_w.setblocking(False)
            self._thread = threading.Thread(target=self._dispatch, name="sim-app-dispatcher",
                                            daemon=True)
            self._thread.start()
            atexit.register(self.shutdown)

    def shutdown(self) -> None:
        """Stop the workers and the dispatcher; pending comparisons fail (server exit, tests)."""
        with self._lock:
            thread, self._closing = self._thread, True
            for req in self._requests.values():
                req.ended = True
                req.event.set()
            if thread is None:
                self._closing = False
                return
            self._wake()
        thread.join(10)
        with self._lock:
            atexit.unregister(self.shutdown)
            for sock in (self._wake_r, self._wake_w):
                sock.close()
            self._reset()

    def pids(self) -> list[int]:
        """Process ids of the workers (tests)."""
        with self._lock:
            return [w.process.pid for w in self._pool]

    def stats(self) -> dict[str, int]:
        """Busy workers, queued replications, sessions in flight, cached replications, ..."""
        with self._lock:
            return {"workers": len(self._pool),
                    "busy": sum(bool(w.jobs) for w in self._pool),
                    "queued": sum(j.state != RUNNING for j in self._queue.jobs.values()),
                    "sessions": len(self._requests), "cached": len(self._cache),
                    "cached_bytes": self._cached_bytes, "kills": self.kills,
                    "recycled": self.recycled}

    # --- what sessions call -------------------------------------------------------------------
    def run(self, scenarios: list[ServiceScenario], session: str = "default",
            cancel: threading.Event | None = None,
            on_progress: Callable[[Progress], None] | None = None,
            on_prefix: Callable[[list[RunResult]], None] | None = None) -> list[RunResult]:
        """Run every replication of each scenario for ``session``; raise Cancelled.

        A session has at most one comparison in flight: a new call supersedes (and the old one
        raises Cancelled) and replications only the old one wanted are dropped or stopped.
        ``on_prefix(results)`` receives the first k (>= 2) replications of every scenario when
        they are ready but not yet all, so a caller can show early results.
        """
        if self.limits is not None:
            for scenario in scenarios:
                self.limits.check(scenario)
        idents = [ident(s) for s in scenarios]
        jobs = {(ident, r): (scenario, r) for ident, scenario in zip(idents, scenarios, strict=True)
                for r in range(scenario.reps)}
        req = _Request(session, {key: scenario.steps for key, (scenario, _) in jobs.items()})
        with self._lock:
            if self._closing:
                raise Cancelled()
            self._end(session, keep=jobs)
            self._requests[session] = req
            for key, payload in jobs.items():
                if key in self._cache:
                    self._cache.move_to_end(key)
                    req.results[key] = self._cache[key]
                else:
                    self._queue.want(session, key, payload, payload[0].steps, group=key[0])
            self._wake()
        self.start()
        try:
            return self._await(req, idents, scenarios, cancel, on_progress, on_prefix)
        finally:
            with self._lock:
                if self._requests.get(session) is req:
                    # Abandoned (the page's settings changed): what runs may be wanted again by
                    # the session's next request in a moment, so it is stopped only after linger.
                    self._end(session, linger=True)

    def cancel(self, session: str) -> None:
        """End ``session``'s comparison in flight, if any, and stop its replications now."""
        with self._lock:
            self._end(session)

    def _end(self, session: str, keep: dict | None = None, linger: bool = False) -> None:
        """Under the lock: end the session's request; stop what nobody else wants."""
        old = self._requests.pop(session, None)
        if old is not None:
            old.ended = True
            old.event.set()
        for job in self._queue.withdraw(session, keep=keep or ()):
            if linger:
                job.unwanted_since = time.monotonic()
            else:
                self._stop(job)
        self._wake()

    def _stop(self, job: Job) -> None:
        if self._queue.stop(job) and job.worker is not None:
            job.worker.stop()

    def _await(self, req: _Request, idents: list[str], scenarios: list[ServiceScenario],
               cancel: threading.Event | None, on_progress, on_prefix) -> list[RunResult]:
        shown, last = 0, 0.0
        reported: Progress | None = None
        while True:
            if (cancel is not None and cancel.is_set()) or req.ended:
                raise Cancelled()
            with self._lock:
                if req.error is not None:
                    raise RuntimeError(req.error)
                done = len(req.results)
                progress = self._progress(req)
                prefix = self._prefix(req, idents, min(s.reps for s in scenarios))
            if done == len(req.weeks):
                break
            now = time.monotonic()
            if on_progress and progress != reported and (
                    now - last > 1.0 or reported is None
                    or progress.runs_done != reported.runs_done):
                on_progress(progress)
                reported, last = progress, now
            if on_prefix and prefix >= 2 and prefix > shown:
                shown = prefix
                on_prefix(self._collect(req, idents, [s.with_changes(reps=prefix)
                                                      for s in scenarios]))
            req.event.wait(0.1)
            req.event.clear()
        if on_progress:
            on_progress(progress)
        return self._collect(req, idents, scenarios)

    def _progress(self, req: _Request) -> Progress:
        weeks_done, running = 0, 0
        for key, weeks in req.weeks.items():
            if key in req.results:
                weeks_done += weeks
                continue
            job = self._queue.jobs.get(key)
            if job is not None and job.state == RUNNING and job.worker is not None:
                running += 1
                weeks_done += job.worker.weeks()
        return Progress(len(req.results), len(req.weeks), weeks_done, sum(req.weeks.values()),
                        running)

    @staticmethod
    def _prefix(req: _Request, idents: list[str], reps: int) -> int:
        k = 0
        while k < reps and all((i, k) in req.results for i in idents):
            k += 1
        return k

    @staticmethod
    def _collect(
        req: _Request, idents: list[str], scenarios: list[ServiceScenario]
    ) -> list[RunResult]:
        return [RunResult(scenario, pd.concat([req.results[(ident, r)]
                                               for r in range(scenario.reps)],
                                              ignore_index=True), pd.DataFrame())
                for ident, scenario in zip(idents, scenarios, strict=True)]

    # --- the dispatcher thread ------------------------------------------------------------------
    def _wake(self) -> None:
        if self._thread is None:
            return
        try:
            self._wake_w.send(b"\0")
        except (BlockingIOError, OSError):
            pass  # already awake (or closing)

    def _dispatch(self) -> None:
        ctx = wk.context()
        lifeline, self._lifeline = ctx.Pipe(duplex=False)  # the write end never leaves us
        shared = ctx.RawArray("q", self.workers * wk.FIELDS)
        self._spawn = lambda slot: wk.Worker(ctx, lifeline, shared, slot)
        pool = [self._spawn(i) for i in range(self.workers)]
        with self._lock:
            self._pool = pool
        try:
            while True:
                with self._lock:
                    if self._closing:
                        break
                    self._schedule()
                    busy = {w.conn: w for w in self._pool if w.jobs}
                ready = wait([*busy, self._wake_r], timeout=0.2)
                for conn in ready:
                    if conn is self._wake_r:
                        try:
                            self._wake_r.recv(4096)
                        except OSError:
                            pass
                        continue
                    worker = busy[conn]
                    try:
                        message = conn.recv()
                    except (EOFError, OSError):
                        message = ("error", worker.ticket,
                                   "a simulation worker stopped unexpectedly (out of memory?)")
                        with self._lock:
                            self._replace(worker)
                    with self._lock:
                        self._finish(worker, *message)
        finally:
            with self._lock:
                pool, self._pool = self._pool, []
            for worker in pool:
                try:
                    worker.conn.send(None)
                except (OSError, ValueError):
                    pass
            self._lifeline.close()       # every worker exits now, even one mid-replication
            for worker in pool:
                worker.process.join(2.0)
                if worker.process.is_alive():
                    worker.kill()
                worker.close()
            lifeline.close()

    def _schedule(self) -> None:
        """Under the lock: kill overdue stops, start queued jobs, stop jobs for fairness."""
        now = time.monotonic()
        for job in list(self._queue.jobs.values()):
            if job.state == RUNNING and not job.owners and job.unwanted_since \
                    and now - job.unwanted_since > self.linger:
                self._stop(job)
        for worker in list(self._pool):
            if worker.jobs and worker.stop_sent and now - worker.stop_sent > self.grace:
                jobs = worker.jobs
                self._replace(worker)
                self.kills += 1
                self._finish(worker, "stopped", worker.ticket, None, jobs)
        idle = [w for w in self._pool if not w.jobs]
        if not self._queue.jobs:
            for worker in idle:
                if worker.used and now - worker.idle_since > self.recycle_after:
                    self._replace(worker)
                    self.recycled += 1
            idle = [w for w in self._pool if not w.jobs]
        while idle:
            sessions = self._queue.waiting_sessions()
            job = self._queue.next()
            if job is None:
                break
            # the scenario's queued replications are shared out over the free workers this
            # session may have (the free ones, split among the sessions waiting), and a worker
            # steps its share together (a batch costs far less than its runs one by one)
            workers = max(1, len(idle) // sessions)
            share = -(-(1 + self._queue.waiting_with(job)) // workers)
            jobs = [job, *self._queue.companions(job, share - 1)]
            worker = idle.pop()
            self._ticket += 1
            for each in jobs:
                each.worker = worker
            scenario = job.payload[0]
            worker.start(self._ticket, scenario, [each.payload[1] for each in jobs], jobs)
        for job in self._queue.preemptions(len(idle)):
            job.worker.stop()

    def _replace(self, worker: wk.Worker) -> None:
        """Under the lock: kill a worker and put a fresh one in its slot."""
        worker.kill()
        if worker in self._pool:
            self._pool[self._pool.index(worker)] = self._spawn(worker.slot)

    def _finish(self, worker: wk.Worker, kind: str, ticket: int, data,
                jobs: list[Job] | None = None) -> None:
        """Under the lock: a worker's reply (or its death) about the jobs it was running."""
        if jobs is None:
            if ticket != worker.ticket or not worker.jobs:
                return
            jobs = worker.jobs
        worker.done()
        for i, job in enumerate(jobs):
            if kind == "stopped":
                self._queue.stopped(job)
                continue
            self._queue.finished(job)
            result = data[i] if kind == "done" else data
            if kind == "done":
                self._store(job.key, result)
            for session in job.owners:
                req = self._requests.get(session)
                if req is None or job.key not in req.weeks:
                    continue
                if kind == "done":
                    req.results[job.key] = result
                else:
                    req.error = str(result)
                req.event.set()

    def _store(self, key: Hashable, frame: pd.DataFrame) -> None:
        size = int(frame.memory_usage(index=True).sum())
        if key in self._cache:
            return
        self._cache[key] = frame
        self._cached_bytes += size
        while self._cached_bytes > self.cache_bytes and len(self._cache) > 1:
            _, old = self._cache.popitem(last=False)
            self._cached_bytes -= int(old.memory_usage(index=True).sum())


ENGINE = Engine()


def ident(scenario: ServiceScenario) -> str:
    """What the numbers of a scenario's replications depend on (the key of the kept runs).

    The run cache's settings and the seed: a renamed or re-labelled scenario reuses the runs.
    """
    return f"{run_settings(scenario)}|seed={scenario.seed}"


def baseline_for(name: str, scenario: ServiceScenario) -> ServiceScenario:
    """Preset ``name`` run on the scenario's world: same sizes, horizon, start, seed and reps.

    ``today`` (the default comparator) is today's organisation unchanged: the baseline preset.
    A saved scenario (``saved: NAME``) of the library serves as well.

    Timeline events of the preset beyond the horizon are dropped (they would never happen).
    """
    preset = resolve(TODAY_PRESET if name == TODAY else name)
    sizes = {key: getattr(scenario.params, key) for key in SHARED_SIZES}
    timeline = tuple(e for e in preset.timeline if e.week <= scenario.steps)
    return ServiceScenario(
        name=name,
        description=TODAY_TEXT if name == TODAY else preset.description,
        params=preset.params.replace(**sizes),
        steps=scenario.steps,
        timeline=timeline,
        seed=scenario.seed,
        reps=scenario.reps,
        start=scenario.start,
    )


@dataclass(frozen=True)
class KpiStat:
    """End-of-horizon value of one KPI and its paired difference to the baseline."""

    key: str
    scenario: float
    baseline: float
    diff: float
    low: float      # 95% CI of the mean paired difference (nan with one replication)
    high: float


@dataclass
class Comparison:
    """A scenario and its baseline, replication by replication."""

    scenario: RunResult
    baseline: RunResult
    seconds: float = 0.0         # from the visitor's change to this result
    first_seconds: float = 0.0   # from the change to the first (early) charts
    _matrices: dict = field(default_factory=dict, repr=False, compare=False)
    _shapes: dict = field(default_factory=dict, repr=False, compare=False)

    def matrix(self, which: str, key: str) -> np.ndarray:
        """Replications x steps array of one KPI (weekly rates annualised; computed once)."""
        table = self._matrices.get((which, key))
        if table is None:
            frame = getattr(self, which).timeseries
            shape = self._shapes.get(which)
            if shape is None:
                shape = self._shapes[which] = _replication_major(frame)
            table = (frame[key].to_numpy(float).reshape(shape) if shape else
                     frame.pivot(index="replication", columns="step", values=key).to_numpy(float))
            table = per_year(table) if key in ANNUALISED else table
            table.flags.writeable = False
            self._matrices[(which, key)] = table
        return table

    def end(self, key: str) -> KpiStat:
        """End value of ``key`` (mean over replications) and the paired difference.

        Stocks are read in the final week, flows averaged over the last END_WEEKS weeks.
        """
        last = END_WEEKS if key in FLOWS else 1
        s = self.matrix("scenario", key)[:, -last:].mean(axis=1)
        b = self.matrix("baseline", key)[:, -last:].mean(axis=1)
        mean, low, high = t_interval(s - b)
        return KpiStat(key, float(s.mean()), float(b.mean()), float(mean), float(low), float(high))

    def survey(self, key: str) -> tuple[float, float] | None:
        """What the plan's surveys read for a true KPI at the horizon, with a 95% margin.

        Both are means over replications: the surveyed value and the sampling margin of what
        was read; None if no survey measures the KPI. Read as the true KPI is: in the final week, or
        over the last END_WEEKS weeks of a flow, whose weekly customer surveys are independent
        samples (their average has the smaller error).
        """
        surveyed = SURVEYED.get(key)
        if surveyed is None:
            return None
        last = END_WEEKS if key in FLOWS else 1
        values = self.matrix("scenario", surveyed)[:, -last:]
        errors = self.matrix("scenario", f"{surveyed}_se")[:, -last:]
        margin = normal_quantile() * np.sqrt((errors**2).mean(axis=1) / last)
        return float(np.nanmean(values)), float(np.nanmean(margin))

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
        half = half_width(table)
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

    def csv(self, plan: str | None = None) -> str:
        """Both runs' time series as one tidy CSV.

        Column ``run``: plan or comparator; column ``name``: the plan's name (``plan``, default
        the scenario's) and the comparator's (e.g. today).
        """
        frames = [self.scenario.timeseries.assign(
                      run="plan", name=plan or self.scenario.scenario.name),
                  self.baseline.timeseries.assign(run="comparator",
                                                  name=self.baseline.scenario.name)]
        table = pd.concat(frames, ignore_index=True)
        first = ["run", "name"]
        return table[[*first, *[c for c in table.columns if c not in first]]].to_csv(index=False)


def _replication_major(frame: pd.DataFrame) -> tuple[int, int] | None:
    """(replications, steps) if ``frame`` is replication after replication, step by step.

    Runs are concatenated so; such a frame's KPI matrix is then a reshape of its column, no pivot
    needed. None for any other order.
    """
    replications = np.unique(frame["replication"].to_numpy())
    steps = np.unique(frame["step"].to_numpy())
    shape = (len(replications), len(steps))
    if len(frame) != shape[0] * shape[1]:
        return None
    ordered = (np.array_equal(frame["replication"].to_numpy(), np.repeat(replications, shape[1]))
               and np.array_equal(frame["step"].to_numpy(), np.tile(steps, shape[0])))
    return shape if ordered else None


def compare(
    scenario: ServiceScenario,
    baseline: ServiceScenario,
    cancel: threading.Event | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    on_early: Callable[[Comparison], None] | None = None,
    engine: Engine = ENGINE,
    session: str = "default",
) -> Comparison:
    """Run (or fetch) both scenarios' replications for ``session`` and pair them.

    ``on_early`` receives a comparison of the first replications while the rest still run.
    """
    start = time.perf_counter()

    def early(results: list[RunResult]) -> None:
        if on_early is not None:
            on_early(Comparison(*results, time.perf_counter() - start))

    ran, base = engine.run([scenario, baseline], session, cancel, on_progress, early)
    return Comparison(ran, base, time.perf_counter() - start)


def compare_many(plans: list[ServiceScenario], comparator: ServiceScenario,
                 cancel: threading.Event | None = None,
                 on_progress: Callable[[Progress], None] | None = None,
                 engine: Engine = ENGINE, session: str = "default") -> list[Comparison]:
    """Every plan against one comparator on the same seeds: one Comparison per plan.

    All runs go through the engine as one request of ``session`` (the fair queue, the cache,
    cancel); a plan identical to another or to the comparator is run once.
    """
    start = time.perf_counter()
    *ran, base = engine.run([*plans, comparator], session, cancel, on_progress)
    seconds = time.perf_counter() - start
    return [Comparison(r, base, seconds, seconds) for r in ran]
