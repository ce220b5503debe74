"""Local worker processes for ``sim sweep`` that never outlive the sweep, however it ends.

The pool is a :class:`~concurrent.futures.ProcessPoolExecutor` on the ``forkserver`` start method
(the forkserver imports the model once; workers are forked from it, never from the threaded
parent). Left alone, a SIGKILL of the parent would orphan all of it: each worker blocks on its task
queue (or on writing a result nobody reads), and the forkserver and the resource tracker wait for
the workers. So:

* **Workers** run :func:`worker_init` (the executor's ``initializer``): a daemon thread blocks on
  the parent sentinel, a pipe whose write end only the parent holds (multiprocessing's own
  ``parent_process().join()``). The kernel closes it when the parent dies, by any signal, and the
  worker ends with ``os._exit`` at once, mid-run or idle. Workers ignore SIGINT: a Ctrl-C at the
  terminal reaches the whole process group, and a run interrupted inside its worker must not come
  back as a "failed" result (failed runs are final on ``--resume``); the parent decides.
* **The forkserver** exits by itself when every holder of its "alive" pipe is gone (the parent and
  the workers), so it follows the workers within milliseconds; the **resource tracker** likewise
  (it then unlinks the pool's semaphores). This module is preloaded into the forkserver, where an
  ``atexit`` hook removes multiprocessing's ``pymp-*`` temporary directory (it holds the
  forkserver's socket) when the parent died without removing it.
* **The parent**, on any interruption (Ctrl-C, the SIGTERM that ``sim sweep`` turns into an
  exception, an error), kills the workers before re-raising: runs in flight are dropped, never
  recorded, and ``--resume`` redoes them.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import multiprocessing
import multiprocessing.forkserver
import os
import pickle
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

# At most this many runs step together in a worker (sim.batch): past a few members a batch's
# cost grows by about half a run per member (experiments/bench_model.py), so more saves little.
MAX_BATCH = 8
MAX_WORKER_DEATHS = 3  # a run in flight when its worker died this often is recorded as failed
# this module first (its exit hook), then the model with its kernels loaded
FORKSERVER_PRELOAD = ["sim.sweep_pool", "sim.model", "sim.preload"]
ORPHANED_EXIT = 75  # exit status of a worker that found its parent gone

_IMPORT_PID = os.getpid()
_IMPORT_PPID = os.getppid()


# --- in the workers -------------------------------------------------------------------------------
def worker_init(cache_dir: str) -> None:
    """Executor ``initializer``: ignore Ctrl-C and exit as soon as the parent process is gone.

    Workers fork from a forkserver started once per process, so they take the parent's cache
    setting as it is now (``SIM_CACHE_DIR``), not as it was when the forkserver started.
    """
    os.environ["SIM_CACHE_DIR"] = cache_dir
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    parent = multiprocessing.parent_process()
    if parent is not None:
        threading.Thread(
            target=_exit_with, args=(parent,), name="sim-sweep-parent-watch", daemon=True
        ).start()


def _exit_with(parent: Any) -> None:
    parent.join()  # returns when the parent's end of the sentinel pipe closes: it has ended
    os._exit(ORPHANED_EXIT)  # no cleanup: the results belong to the parent, which is gone


# --- in the forkserver ----------------------------------------------------------------------------
def _remove_orphaned_socket_dir() -> None:
    """In the forkserver, at exit: remove the ``pymp-*`` directory if its owner died first.

    Only the forkserver process qualifies (it has a listening address and no "alive" pipe of its
    own; the parent has both, workers leave with ``os._exit``), and only when its parent has gone
    (``getppid`` changed), since a living parent removes that directory itself when it exits.
    """
    if os.getpid() != _IMPORT_PID or os.getppid() == _IMPORT_PPID:
        return
    server = getattr(multiprocessing.forkserver, "_forkserver", None)
    address = getattr(server, "_forkserver_address", None)
    if not isinstance(address, str) or getattr(server, "_forkserver_alive_fd", 0) is not None:
        return
    directory = os.path.dirname(address)
    if os.path.basename(directory).startswith("pymp-"):
        shutil.rmtree(directory, ignore_errors=True)


atexit.register(_remove_orphaned_socket_dir)


# --- in the parent --------------------------------------------------------------------------------
def context() -> Any:
    """The forkserver context with the model (and this module's exit hook) preloaded."""
    ctx = multiprocessing.get_context("forkserver")  # no fork of a threaded parent
    ctx.set_forkserver_preload(FORKSERVER_PRELOAD)  # takes effect when the server first starts
    return ctx


def start_forkserver() -> Any:
    """The forkserver context (:func:`context`), its server started now if it is not running.

    A Ctrl-C reaches the whole process group, and a forkserver still importing the model would
    die of it with a traceback. Started from the main thread while it ignores SIGINT, the server
    ignores it too (an ignored signal stays ignored across ``exec``, and Python leaves it so),
    as it does anyway once loaded; this process is stopped by the Ctrl-C as before.

    ``sim sweep`` and ``sim optimise`` call this before they import the model (``sim.cli``), so
    the server loads it on the other core meanwhile: their first runs start about a second sooner.
    """
    ctx = context()
    if threading.current_thread() is not threading.main_thread():  # signals: main thread only
        multiprocessing.forkserver.ensure_running()
        return ctx
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        multiprocessing.forkserver.ensure_running()
    finally:
        signal.signal(signal.SIGINT, previous)
    return ctx


def stop_forkserver() -> None:
    """Stop this process's forkserver now, if it runs (at the end of a command that started it).

    Left to itself, a forkserver still loading the model would go on for a second or so after
    its command ended (on bad input, say): it notices its parent has gone only once loaded.
    """
    server = multiprocessing.forkserver._forkserver
    pid = getattr(server, "_forkserver_pid", None)
    if pid is None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    with contextlib.suppress(OSError):  # reaped already, or its socket removed
        server._stop()  # closes the "alive" pipe, reaps the server, removes its socket


def stop_workers(pool: ProcessPoolExecutor) -> None:
    """Kill the pool's worker processes now (runs in flight are lost) and shut the pool down."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    for process in processes:
        try:
            process.kill()
        except (OSError, ValueError, AttributeError):  # already gone or closed
            pass
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        try:
            process.join(timeout=5)
        except (OSError, ValueError, AttributeError, AssertionError):
            pass


def batches[Task](tasks: Sequence[Task], workers: int, group: Callable[[Task], Hashable]
                  ) -> list[list[Task]]:
    """``tasks`` in the batches a worker steps together: consecutive tasks of one ``group``.

    A batch holds at most :data:`MAX_BATCH` tasks, and fewer when there are few tasks, so that
    every worker gets at least two batches.
    """
    size = max(1, min(MAX_BATCH, len(tasks) // (2 * max(workers, 1))))
    out: list[list[Task]] = []
    for task in tasks:
        if out and len(out[-1]) < size and group(out[-1][0]) == group(task):
            out[-1].append(task)
        else:
            out.append([task])
    return out


def together_or_alone[Task, Outcome](tasks: Sequence[Task], together: Callable[[], list[Outcome]],
                                     alone: Callable[[Task], Outcome]) -> list[Outcome]:
    """``together()``'s outcomes of ``tasks`` (stepped as one batch), each timed as its share.

    If the batch raises, each task runs ``alone``, so a failing run records its own error.
    Outcomes carry ``seconds``.
    """
    start = time.perf_counter()
    try:
        outcomes = together()
    except Exception:  # noqa: BLE001 - run alone, each records its own error
        return [alone(task) for task in tasks]
    seconds = (time.perf_counter() - start) / len(tasks)
    for outcome in outcomes:
        outcome.seconds = seconds  # type: ignore[attr-defined]
    return outcomes


def _handed_over[Task, Outcome](run_fn: Callable[[list[Task]], list[Outcome]], directory: str,
                                batch: list[Task]) -> str:
    """In a worker: run ``batch`` and leave its outcomes in a file of ``directory``; its name.

    Only the name goes back through the pool's pipe: a message that short is written at once, so
    a worker killed while handing over (an interrupted sweep) cannot leave half a message in
    the pipe, which would block the pool's reader thread, and the sweep's exit, for ever.
    """
    outcomes = run_fn(batch)
    fd, path = tempfile.mkstemp(suffix=".pkl", dir=directory)
    with os.fdopen(fd, "wb") as file:
        pickle.dump(outcomes, file, protocol=pickle.HIGHEST_PROTOCOL)
    return path


def _taken(path: str) -> list[Any]:
    """In the parent: the outcomes a worker left in ``path`` (the file is removed)."""
    with open(path, "rb") as file:
        outcomes = pickle.load(file)
    os.unlink(path)
    return outcomes


def run_local[Task, Outcome](
    batches: Iterable[list[Task]],
    workers: int,
    run_fn: Callable[[list[Task]], list[Outcome]],
    finished: Callable[[Outcome], None],
    tick: float,
    run_id: Callable[[Task], int],
    failed: Callable[[Task, str], Outcome],
    handover: Path | None = None,
) -> None:
    """Run ``batches`` of tasks on a process pool, rebuilt when a worker dies.

    A worker takes a batch and returns one outcome per task; ``finished`` gets each outcome.
    With ``handover`` (a directory, made and removed here) the outcomes come back through files
    in it, for outcomes too large for one pipe write (see :func:`_handed_over`).
    When a worker dies every run in flight fails with it, so the culprit is unknown: those runs
    become suspects and are re-run one at a time, each alone. A suspect that kills its worker on
    its own ``MAX_WORKER_DEATHS`` times becomes ``failed(task, why)``; the innocent ones simply
    finish. An exception that is not about a run (an interruption, an error in ``finished``)
    kills the workers before it propagates.
    """
    if handover is not None:
        handover.mkdir(parents=True, exist_ok=True)
        run_fn = functools.partial(_handed_over, run_fn, str(handover))
    try:
        _run_until_done(deque(batches), workers, run_fn, finished, tick, run_id, failed,
                        take=_taken if handover is not None else list)
    finally:
        if handover is not None:
            shutil.rmtree(handover, ignore_errors=True)


def _run_until_done[Task, Outcome](
    queue: deque[list[Task]],
    workers: int,
    run_fn: Callable[[list[Task]], Any],
    finished: Callable[[Outcome], None],
    tick: float,
    run_id: Callable[[Task], int],
    failed: Callable[[Task, str], Outcome],
    take: Callable[[Any], list[Outcome]],
) -> None:
    """:func:`run_local`'s loop: a pool until every batch is done, a new one after a death.

    ``take`` turns what a worker returned into its outcomes.
    """
    suspects: deque[list[Task]] = deque()
    deaths: Counter[int] = Counter()
    ctx = start_forkserver()
    while queue or suspects:
        inflight: dict[Future[Any], list[Task]] = {}
        broken = isolated = False
        with ProcessPoolExecutor(
            max_workers=workers, mp_context=ctx, initializer=worker_init,
            initargs=(os.environ.get("SIM_CACHE_DIR", ""),),
        ) as pool:
            try:
                while (queue or suspects or inflight) and not broken:
                    # a batch leaves its queue once submitted: a pool found broken on submit
                    # raises, and the batch must stay queued, not be lost
                    if suspects and not inflight:
                        isolated = True
                        future = pool.submit(run_fn, suspects[0])
                        inflight[future] = suspects.popleft()
                    elif not suspects:
                        isolated = False
                        while queue and len(inflight) < 2 * workers:
                            future = pool.submit(run_fn, queue[0])
                            inflight[future] = queue.popleft()
                    ready, _ = wait(inflight, timeout=tick, return_when=FIRST_COMPLETED)
                    for future in ready:
                        batch = inflight.pop(future)
                        error = future.exception()
                        if isinstance(error, BrokenProcessPool):
                            broken = True
                            inflight[future] = batch  # back with the other unfinished runs
                        elif error is not None:  # e.g. an unpicklable result
                            for task in batch:
                                finished(failed(task, f"{type(error).__name__}: {error}"))
                        else:
                            for outcome in take(future.result()):
                                finished(outcome)
            except BrokenProcessPool:
                broken = True
            except BaseException:
                stop_workers(pool)
                stop_forkserver()  # else it may yet fork a worker whose pool is gone
                raise
            if broken:
                for batch in inflight.values():
                    for task in batch:
                        if not isolated:
                            suspects.append([task])
                            continue
                        deaths[run_id(task)] += 1
                        n = deaths[run_id(task)]
                        if n >= MAX_WORKER_DEATHS:
                            finished(failed(task, f"worker process died ({n} attempts)"))
                        else:
                            suspects.appendleft([task])
                pool.shutdown(wait=False, cancel_futures=True)


# --- interruption: SIGTERM and SIGHUP unwind like Ctrl-C ----------------------------------------
class Interrupted(KeyboardInterrupt):
    """SIGTERM or SIGHUP during a long command: unwinds like Ctrl-C (work done is kept)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@contextlib.contextmanager
def interrupt_on_signals() -> Iterator[None]:
    """Turn SIGTERM and SIGHUP into :class:`Interrupted` (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: Any) -> None:
        raise Interrupted(signum)

    old = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


def report_interrupt(stop: KeyboardInterrupt, out: str, kept: str) -> int:
    """One line on stderr for an interrupted command; its exit status (128 + signal)."""
    signum = getattr(stop, "signum", signal.SIGINT)
    hint = (f"; {kept} are kept in {out}: add --resume to continue"
            if (Path(out) / "manifest.json").exists() else "")
    print(f"sim: interrupted ({signal.Signals(signum).name}){hint}", file=sys.stderr)
    return 128 + signum
