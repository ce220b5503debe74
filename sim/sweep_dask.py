"""A sweep's runs on a Dask cluster.

The scheduler is checked before anything is written; the runs are submitted with unique keys
(never merged), a bounded number in flight.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections import deque
from collections.abc import Callable
from typing import Any

from sim.sweep_design import ExperimentError, plain
from sim.sweep_run import RunOutcome, RunTask, failed_outcome

SCHEDULER_SCHEMES = ("tcp", "tls", "ws", "wss")


def connect_scheduler(address: str, timeout: float) -> Any:
    """A Dask client of the scheduler at ``address``, or one line saying why there is none.

    Checked first, before anything is written: the address's form, then a handshake under a hard
    ``timeout`` (nothing listening, a server that never answers, or one that is not a Dask
    scheduler all end within it), then the client itself.
    """
    check_address(address)
    address_shown = plain(address)
    failed = f"--scheduler {address_shown}: no Dask scheduler answered within {timeout:g} s"
    outcome: dict[str, Any] = {}

    def probe() -> None:  # its own thread and event loop: also works under a running loop
        try:
            outcome["reply"] = asyncio.run(asyncio.wait_for(_identity(address), timeout))
        except BaseException as err:  # noqa: BLE001 - reported below as one line
            outcome["error"] = err

    thread = threading.Thread(target=probe, name="sim-sweep-connect", daemon=True)
    thread.start()
    thread.join(timeout + 5)
    if thread.is_alive() or "error" in outcome:
        error = outcome.get("error")
        if error is None or isinstance(error, (OSError, TimeoutError, asyncio.TimeoutError)):
            raise ExperimentError(failed) from None
        raise ExperimentError(
            f"--scheduler {address_shown}: something answered, but not a Dask scheduler "
            f"({type(error).__name__})"
        ) from None
    reply = outcome.get("reply")
    if not isinstance(reply, dict) or reply.get("type") != "Scheduler":
        kind = reply.get("type") if isinstance(reply, dict) else type(reply).__name__
        raise ExperimentError(
            f"--scheduler {address_shown}: a Dask {kind} answered, not a scheduler"
        )
    from distributed import Client

    try:
        return Client(address, timeout=f"{timeout}s", set_as_default=False)
    except (OSError, TimeoutError) as err:
        raise ExperimentError(failed) from err


async def _identity(address: str) -> Any:
    from distributed.comm import connect

    comm = await connect(address, timeout=None)  # the caller's wait_for bounds the whole exchange
    try:
        await comm.write({"op": "identity", "reply": True})
        return await comm.read()
    finally:
        comm.abort()


def check_address(address: str) -> None:
    """Refuse what is not ``SCHEME://HOST:PORT`` for a scheme Dask speaks."""
    example = "expected e.g. tcp://HOST:8786"
    scheme, sep, location = address.partition("://")
    if not sep or scheme not in SCHEDULER_SCHEMES:
        raise ExperimentError(
            f"--scheduler {plain(address)}: {example} ({', '.join(SCHEDULER_SCHEMES)})"
        )
    host, colon, port = location.rpartition(":")
    host = host.strip("[]")
    if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ExperimentError(f"--scheduler {plain(address)}: {example} (a host and a port)")


def run_dask(
    batches: list[list[RunTask]],
    client: Any,
    run_fn: Callable[[list[RunTask]], list[RunOutcome]],
    finished: Callable[[RunOutcome], None],
) -> None:
    """The same batches on a Dask cluster: explicit unique keys (never merged), bounded in flight.

    A batch that fails (KilledWorker after the scheduler's retries, a lost result) records
    each of its runs as failed.
    """
    from distributed import as_completed

    queue = deque(batches)
    session = uuid.uuid4().hex[:8]
    slots = max(1, sum(client.nthreads().values()))
    pending = as_completed(loop=client.loop)  # this client, not a global default one
    inflight: dict[str, list[RunTask]] = {}

    def submit() -> None:
        batch = queue.popleft()
        key = f"sim-run-{session}-{batch[0].spec.run_id}"
        pending.add(client.submit(run_fn, batch, key=key, pure=False, retries=0))
        inflight[key] = batch

    for _ in range(min(len(queue), 2 * slots)):
        submit()
    for future in pending:
        batch = inflight.pop(future.key)
        if future.status == "finished":
            for outcome in future.result():
                finished(outcome)
        else:
            error = future.exception()
            for task in batch:
                finished(failed_outcome(task, f"{type(error).__name__}: {error}"))
        future.release()
        if queue:
            submit()
