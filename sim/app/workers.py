"""Simulation worker processes the page's server can stop one at a time, and that die with it.

Each worker is a separate process (forkserver: the model's imports are loaded once in the fork
server, so a new worker is ready in milliseconds) talking to the server over its own pipe. A worker
takes one or several replications of a scenario and steps them together (:mod:`sim.batch`). A
shared array holds, per worker slot, a stop request and the weeks simulated so far: the worker
reports progress after every week and then checks the stop request, so stopping costs at most
one week of the model (or the models' construction); a worker that does not stop within
``grace`` seconds is killed and replaced.

A worker must never outlive the server, even a SIGKILLed one: each holds the read end of a
"lifeline" pipe whose only write end stays in the server. When the server's process ends, for any
reason, the kernel closes that end, a thread in every worker reads end-of-file and the worker exits
at once. (Polling the server's pid does not work: a killed server stays a zombie, "alive" to
``kill(pid, 0)``, until its parent reaps it.) The fork server exits on its own when the server is
gone, and the resource tracker when its last user has exited. Workers use no semaphores or locks,
so nothing is left for the resource tracker to warn about.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from multiprocessing.connection import Connection
from typing import Any

import pandas as pd

from sim.runner import replication_seed, run_frames
from sim.scenario import ServiceScenario

# Fields of a slot in the shared array.
STOP, WEEKS = 0, 1
FIELDS = 2


class Stopped(Exception):
    """The server asked the worker to stop the replication it was running."""


def simulate(
    scenario: ServiceScenario, replication: int, should_stop=None, on_week=None
) -> pd.DataFrame:
    """One replication's time series, exactly as ``sim run`` computes it (:func:`simulate_many`)."""
    return simulate_many(scenario, [replication], should_stop, on_week)[0]


def simulate_many(
    scenario: ServiceScenario, replications: list[int], should_stop=None, on_week=None
) -> list[pd.DataFrame]:
    """Replications' time series, exactly as ``sim run`` computes them, stepped together.

    Replications ``sim run``, a sweep or another page server has run already come from the run
    cache they share; the others run as one batch (:mod:`sim.batch`), each bit-identical to its
    run alone. After each week, ``on_week(weeks)`` hears the weeks done (the mean over the
    replications) and ``should_stop()`` is asked (raise Stopped if true) unless it was the last.
    """
    runs = [(scenario, r, replication_seed(scenario, r)) for r in replications]
    ran = False

    def week_done(done: int, total: int) -> None:
        nonlocal ran
        ran = True
        if on_week is not None:
            on_week(scenario.steps * done // total)
        if done < total and should_stop is not None and should_stop():
            raise Stopped()

    frames = []
    for (_, _, seed), ((frame, _), _) in zip(runs, run_frames(runs, on_week=week_done),
                                              strict=True):
        frame = frame.copy()
        frame.insert(1, "seed", seed)
        frames.append(frame)
    if on_week is not None and not ran:
        on_week(scenario.steps)
    return frames


def _one_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{err.__class__.__name__}: {text[0]}" if text else err.__class__.__name__


def _exit_with_server(lifeline: Connection) -> None:
    """Block until the server's end of the lifeline is closed, then end this process."""
    try:
        lifeline.recv_bytes()
    except (EOFError, OSError):
        pass
    os._exit(0)


def worker_main(conn: Connection, lifeline: Connection, shared: Any, slot: int) -> None:
    """Run replications sent as ``(ticket, scenario, replications)`` until None or EOF.

    Replies ``("done", ticket, frames)`` (one per replication, in order), ``("stopped", ticket,
    None)`` or ``("error", ticket, one_line)``.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)   # Ctrl-C is the server's to handle
    threading.Thread(target=_exit_with_server, args=(lifeline,), daemon=True).start()
    base = slot * FIELDS
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            break
        if message is None:
            break
        ticket, scenario, replications = message

        def should_stop(ticket: int = ticket) -> bool:
            return shared[base + STOP] == ticket

        def on_week(weeks: int) -> None:
            shared[base + WEEKS] = weeks

        try:
            reply = ("done", ticket, simulate_many(scenario, replications, should_stop, on_week))
        except Stopped:
            reply = ("stopped", ticket, None)
        except Exception as err:  # noqa: BLE001 - report one line to the server, keep serving
            reply = ("error", ticket, _one_line(err))
        try:
            conn.send(reply)
        except (OSError, ValueError):
            break
    os._exit(0)


class Worker:
    """One worker process, its pipe and its slot (server side)."""

    def __init__(self, ctx: Any, lifeline: Connection, shared: Any, slot: int) -> None:
        self.slot = slot
        self.shared = shared
        self.conn, child = ctx.Pipe(duplex=True)
        self.process = ctx.Process(target=worker_main, args=(child, lifeline, shared, slot),
                                   name=f"sim-app-worker-{slot}", daemon=True)
        self.process.start()
        child.close()
        self.jobs: list[Any] = []   # the jobs it runs together, none when idle
        self.ticket = 0
        self.stop_sent = 0.0        # monotonic time of the stop request, 0 if none
        self.used = False           # ran a job: holds model memory and caches
        self.idle_since = time.monotonic()

    def start(self, ticket: int, scenario: ServiceScenario, replications: list[int],
              jobs: list[Any]) -> None:
        """Send replications of ``scenario`` (one job each) to this (idle) worker."""
        self.shared[self.slot * FIELDS + WEEKS] = 0
        self.jobs, self.ticket, self.stop_sent, self.used = jobs, ticket, 0.0, True
        self.conn.send((ticket, scenario, replications))

    def done(self) -> None:
        """The running jobs are over (finished, stopped or failed): the worker is idle."""
        self.jobs, self.stop_sent, self.idle_since = [], 0.0, time.monotonic()

    def weeks(self) -> int:
        """Weeks simulated so far by the running replications (their mean)."""
        return int(self.shared[self.slot * FIELDS + WEEKS]) if self.jobs else 0

    def stop(self) -> None:
        """Ask the running replications to stop before their next week."""
        if self.jobs and not self.stop_sent:
            self.shared[self.slot * FIELDS + STOP] = self.ticket
            self.stop_sent = time.monotonic()

    def kill(self) -> None:
        """End the process now (it stays killed: the caller starts a replacement)."""
        try:
            self.process.kill()
            self.process.join(2.0)
        except (OSError, ValueError, AssertionError):
            pass
        self.close()

    def close(self) -> None:
        """Release the server's end of the pipe and the process handle."""
        try:
            self.conn.close()
        except OSError:
            pass
        try:
            self.process.close()
        except ValueError:  # still running: leave it to the lifeline
            pass


def context() -> Any:
    """The start method for workers: forkserver with the model preloaded, else spawn."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["sim.app.workers", "sim.preload"])
        return ctx
    return multiprocessing.get_context("spawn")
