"""Which replication runs next, fairly across sessions (pure bookkeeping, no processes).

Each session (a browser tab) asks for a set of jobs, one job per replication. A job wanted by
several sessions runs once; it is accounted to the first session still wanting it. When a worker
is free, the session with the fewest busy workers (then the one served longest ago) gets it, and
its oldest job starts, with more of the session's queued jobs of the same group (replications of
one scenario) if the caller asks: they run together in that worker, as one batch. When every
worker is busy and a session has nothing running, a batch nobody wants any more is stopped, or
else a session holding more than its fair share of workers (workers / active sessions) gives one
back: the batch it started last is stopped and its jobs queued again at their old places. A
session that withdraws (a newer request, a cancel, a closed tab) forgets the queued jobs nobody
else wants; the caller decides when to stop the running ones.

The caller (:class:`sim.app.state.Engine`) holds a lock around every method and turns the
decisions into messages to worker processes.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Container, Hashable
from dataclasses import dataclass, field
from typing import Any

QUEUED, RUNNING = "queued", "running"


@dataclass(eq=False)
class Job:
    """One unit of work (a replication) and who wants it."""

    key: Hashable
    payload: Any
    weeks: int                         # for progress: the steps the job simulates
    group: Hashable = None             # a session's jobs of one group may run as one batch
    owners: list[str] = field(default_factory=list)  # wanting sessions, first = accounted
    state: str = QUEUED
    order: int = 0                     # queue position (kept when a job is stopped and requeued)
    started: int = 0                   # dispatch number (shared by a batch's jobs)
    stopping: bool = False             # its worker was told to stop
    worker: Any = None                 # set by the caller while running
    unwanted_since: float = 0.0        # set by the caller when the last owner withdrew

    @property
    def session(self) -> str | None:
        """The session the job is accounted to."""
        return self.owners[0] if self.owners else None


class FairQueue:
    """Queued and running jobs of all sessions, and the fair choice of what runs next."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.jobs: dict[Hashable, Job] = {}
        self._order = itertools.count()
        self._dispatches = itertools.count(1)
        self._served: dict[str, int] = {}   # session -> dispatch number of its last job

    # --- what sessions ask -------------------------------------------------------------------
    def want(self, session: str, key: Hashable, payload: Any, weeks: int,
             group: Hashable = None) -> Job:
        """Ask for ``key`` on behalf of ``session`` (shared if queued or running already)."""
        job = self.jobs.get(key)
        if job is None:
            job = self.jobs[key] = Job(key, payload, weeks, group, order=next(self._order))
        if session not in job.owners:
            job.owners.append(session)
        job.unwanted_since = 0.0
        return job

    def withdraw(self, session: str, keep: Container[Hashable] = ()) -> list[Job]:
        """Drop ``session``'s interest in all jobs but ``keep``; return running ones now unwanted.

        Queued jobs nobody wants are forgotten at once; the caller decides whether (or when) to
        stop the returned running ones (:meth:`stop`).
        """
        stop = []
        for job in list(self.jobs.values()):
            if session not in job.owners or job.key in keep:
                continue
            job.owners.remove(session)
            if job.owners:
                continue
            if job.state == QUEUED:
                del self.jobs[job.key]
            elif not job.stopping:
                stop.append(job)
        if not keep:
            self._served.pop(session, None)
        return stop

    def stop(self, job: Job) -> bool:
        """Mark a running job and its batch as being stopped; False if it already is."""
        if job.state != RUNNING or job.stopping:
            return False
        for other in self.batch(job):
            other.stopping = True
        return True

    def batch(self, job: Job) -> list[Job]:
        """The running jobs started together with ``job`` (itself included)."""
        return [j for j in self.jobs.values() if j.state == RUNNING and j.started == job.started]

    # --- what workers report -----------------------------------------------------------------
    def finished(self, job: Job) -> None:
        """A job's worker returned (a result, an error, or stopped): the job leaves the queue."""
        if self.jobs.get(job.key) is job:
            del self.jobs[job.key]

    def stopped(self, job: Job) -> bool:
        """A job's worker stopped it before the end: queue it again if still wanted."""
        if not job.owners:
            self.finished(job)
            return False
        job.state, job.stopping, job.worker = QUEUED, False, None
        return True

    # --- decisions -----------------------------------------------------------------------------
    def _running(self) -> list[Job]:
        """Running jobs that somebody wants and that are not being stopped."""
        return [j for j in self.jobs.values() if j.state == RUNNING and not j.stopping
                and j.owners]

    @staticmethod
    def _workers_by_session(running: list[Job]) -> Counter:
        """Busy workers per session: a batch (jobs started together) is one worker."""
        return Counter(session for session, _ in {(j.session, j.started) for j in running})

    def next(self) -> Job | None:
        """The job a free worker should start now (marked running), or None."""
        queued = [j for j in self.jobs.values() if j.state == QUEUED and j.owners]
        if not queued:
            return None
        counts = self._workers_by_session(self._running())
        session = min({j.session for j in queued},
                      key=lambda s: (counts[s], self._served.get(s, 0), s))
        job = min((j for j in queued if j.session == session), key=lambda j: j.order)
        job.state, job.started = RUNNING, next(self._dispatches)
        self._served[session] = job.started
        return job

    def _group_queue(self, job: Job) -> list[Job]:
        """The queued jobs of ``job``'s session and group, oldest first."""
        if job.group is None:
            return []
        return sorted((j for j in self.jobs.values() if j.state == QUEUED and j.owners
                       and j.session == job.session and j.group == job.group),
                      key=lambda j: j.order)

    def waiting_sessions(self) -> int:
        """Sessions with queued jobs (each will want a worker of its own)."""
        return len({j.session for j in self.jobs.values() if j.state == QUEUED and j.owners})

    def waiting_with(self, job: Job) -> int:
        """How many queued jobs could join ``job``'s batch (see :meth:`companions`)."""
        return len(self._group_queue(job))

    def companions(self, job: Job, limit: int) -> list[Job]:
        """Up to ``limit`` queued jobs to run in one batch with ``job`` (started by :meth:`next`).

        They are its session's oldest of its group, marked running with it.
        """
        more = self._group_queue(job)[:max(limit, 0)]
        for other in more:
            other.state, other.started = RUNNING, job.started
        return more

    def preemptions(self, idle: int) -> list[Job]:
        """Running jobs to stop so that a session with nothing running gets a worker soon.

        ``idle`` is the number of free workers. Workers already stopping a job count as free
        for this purpose, so one call per scheduling round never stops more than needed.
        """
        running = self._running()
        freeing = idle + len({j.started for j in self.jobs.values()
                              if j.state == RUNNING and j.stopping})
        unwanted = sorted((j for j in self.jobs.values()
                           if j.state == RUNNING and not j.stopping and not j.owners),
                          key=lambda j: -j.started)
        counts = self._workers_by_session(running)
        waiting = {j.session for j in self.jobs.values() if j.state == QUEUED and j.owners}
        active = waiting | set(counts)
        if not waiting or not active:
            return []
        fair = max(1, self.workers // len(active))
        starving = sorted((s for s in waiting if counts[s] < fair),
                          key=lambda s: (counts[s], self._served.get(s, 0), s))
        out = []
        for session in starving:
            if freeing > 0:
                freeing -= 1
                continue
            unwanted = [j for j in unwanted if not j.stopping]
            if unwanted:
                job = unwanted.pop(0)
                self.stop(job)
                counts[session] += 1
                out.append(job)
                continue
            greedy = [s for s in counts if counts[s] > fair]
            if not greedy:
                break
            victim = max(greedy, key=lambda s: (counts[s], s))
            job = max((j for j in running if j.session == victim and not j.stopping),
                      key=lambda j: j.started)
            self.stop(job)
            counts[victim] -= 1
            counts[session] += 1
            out.append(job)
        return out
