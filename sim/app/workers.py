"""Simulation worker processes the page's server can stop one at a time, and that die with it.

Each worker is a separate process (forkserver: the model's imports are loaded once in the fork
server, so a new worker is ready in milliseconds) talking to the server over its own pipe. A shared
array holds, per worker slot, a stop request and the weeks simulated so far: the worker checks the
stop request before every week and reports progress after it, so stopping a replication costs at
most one week of the model (or the model's construction); a worker that does not stop within
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

from sim.model import ServiceModel
from sim.runner import cached_frames, keep_frames, replication_seed
from sim.scenario import ServiceScenario

# Fields of a slot in the shared array.
STOP, WEEKS = 0, 1
FIELDS = 2


class Stopped(Exception):
    """The server asked the worker to stop the replication it was running."""


def simulate(
    scenario: ServiceScenario, replication: int, should_stop=None, on_week=None
) -> pd.DataFrame:
    """One replication's time series, exactly as ``sim run`` computes it, week by week.

    ``should_stop()`` is asked before each week (raise Stopped if true); ``on_week(weeks)`` hears
    the weeks done after each. A replication ``sim run``, a sweep or another page server has
    run already comes from the run cache they share.
    """
    stored = cached_frames(scenario, replication, replication_seed(scenario, replication))
    if stored is None:
        model = ServiceModel(scenario, rng=replication_seed(scenario, replication),
                             replication=replication)
        for _ in range(max(scenario.steps - model.steps, 0)):  # what ServiceModel.run() does
            if should_stop is not None and should_stop():
                raise Stopped()
            model.step()
            if on_week is not None:
                on_week(model.steps)
        stored = keep_frames(scenario, replication, model)
    elif on_week is not None:
        on_week(scenario.steps)
    frame = stored[0].copy()
    frame.insert(1, "seed", replication_seed(scenario, replication))
    return frame


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
    """Run replications sent as ``(ticket, scenario, replication)`` until None or EOF.

    Replies ``("done", ticket, frame)``, ``("stopped", ticket, None)`` or
    ``("error", ticket, one_line)``.
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
        ticket, scenario, replication = message

        def should_stop(ticket: int = ticket) -> bool:
            return shared[base + STOP] == ticket

        def on_week(weeks: int) -> None:
            shared[base + WEEKS] = weeks

        try:
            reply = ("done", ticket, simulate(scenario, replication, should_stop, on_week))
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
        self.job: Any = None        # the job it runs, None when idle
        self.ticket = 0
        self.stop_sent = 0.0        # monotonic time of the stop request, 0 if none
        self.used = False           # ran a job: holds model memory and caches
        self.idle_since = time.monotonic()

    def start(self, ticket: int, scenario: ServiceScenario, replication: int, job: Any) -> None:
        """Send a replication to this (idle) worker."""
        self.shared[self.slot * FIELDS + WEEKS] = 0
        self.job, self.ticket, self.stop_sent, self.used = job, ticket, 0.0, True
        self.conn.send((ticket, scenario, replication))

    def done(self) -> None:
        """The running job is over (finished, stopped or failed): the worker is idle."""
        self.job, self.stop_sent, self.idle_since = None, 0.0, time.monotonic()

    def weeks(self) -> int:
        """Weeks simulated so far by the running replication."""
        return int(self.shared[self.slot * FIELDS + WEEKS]) if self.job is not None else 0

    def stop(self) -> None:
        """Ask the running replication to stop before its next week."""
        if self.job is not None and not self.stop_sent:
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
        ctx.set_forkserver_preload(["sim.app.workers"])
        return ctx
    return multiprocessing.get_context("spawn")
