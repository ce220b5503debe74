"""``sim sweep``: an experiment's runs on local worker processes or a Dask cluster, crash-safely.

Layout of the output directory::

    OUT/manifest.json        experiment hash, code version, root seed, every run's seed
    OUT/experiment.yaml      the resolved experiment (for people; the hash is in the manifest)
    OUT/design.parquet       one row per design point
    OUT/runs/part-*.parquet  one row per finished run: ids, seed, parameters, status, error, KPIs
    OUT/timeseries/, units/, employees/, customers/   optional, same part names as runs/

Why it is built this way (lessons from comparable tools): results are committed as small complete
Parquet files written under a temporary name and moved into place with ``os.replace``, so a SIGKILL
at any moment leaves only whole files; the ``runs`` part is written last and is the commit record,
so on resume the optional tables' orphans (written before a crash, with no ``runs`` part) are
deleted and those runs redone. A lock file (``flock``, released by the kernel when the process
dies) stops two sweeps writing one directory. Readers dedupe by ``run_id`` all the same.

Every input is checked before anything is written (flags, the experiment file, the Dask scheduler
answering within ``--connect-timeout``, then ``--out``); a problem is one ``ExperimentError`` line.
Local worker processes never outlive the sweep, however it ends: see :mod:`sim.sweep_pool`.
"""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import importlib.metadata
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from sim.runner import atomic_write, prepare_output_dir
from sim.scenario import Scenario
from sim.stats import kept_for_a_year
from sim.sweep_design import Experiment, ExperimentError, Outputs, RunSpec, load_experiment
from sim.sweep_pool import (
    MAX_WORKER_DEATHS,
    interrupt_on_signals,
    report_interrupt,
    run_local,
)

EXTRA_TABLES = ("timeseries", "units", "employees", "customers")
# What a results directory may hold besides dot-files (the lock, temporary files).
OWN_ENTRIES = frozenset(
    {"manifest.json", "experiment.yaml", "design.parquet", "runs", "analysis", *EXTRA_TABLES}
)
SCHEDULER_SCHEMES = ("tcp", "tls", "ws", "wss")
CONNECT_TIMEOUT = 10.0  # seconds for a Dask scheduler to answer (--connect-timeout)
MIN_CONNECT_SECONDS, MAX_CONNECT_SECONDS = 1.0, 600.0
MIN_COMMIT_SECONDS, MAX_COMMIT_SECONDS = 0.01, 3600.0
__all__ = ["MAX_WORKER_DEATHS", "load_table", "run_sweep"]


# --- one run (executed in a worker) -------------------------------------------------------------
@dataclass(frozen=True)
class RunTask:
    """Everything a worker needs for one run (small and picklable)."""

    spec: RunSpec
    values: dict[str, float | int]
    base: Scenario
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
    """Run one model and summarise it; an exception becomes a recorded error, not a crash."""
    from sim.model import ServiceModel

    start = time.perf_counter()
    spec = task.spec
    try:
        scenario = task.base.with_changes(seed=spec.seed, reps=1, **task.values)
        model = ServiceModel(scenario, replication=spec.replicate).run()
        series = model.timeseries()
        summary = summarise(series, task.outputs)
        tables: dict[str, pd.DataFrame] = {}
        if task.outputs.timeseries:
            tables["timeseries"] = series
        if task.outputs.units:
            tables["units"] = model.unit_timeseries()
        if task.outputs.agents:
            tables.update(agent_snapshots(model))
        return RunOutcome(spec, task.values, summary, None, time.perf_counter() - start, tables)
    except Exception as err:  # noqa: BLE001 - a failing run is data, the sweep goes on
        message = f"{type(err).__name__}: {err}".splitlines()[0][:500]
        return RunOutcome(spec, task.values, {}, message, time.perf_counter() - start)


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


# --- results on disk ----------------------------------------------------------------------------
def _atomic_parquet(table: pa.Table, path: Path) -> None:
    atomic_write(path, lambda tmp: pq.write_table(table, tmp))


def _atomic_text(text: str, path: Path) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(text))


class ResultWriter:
    """Buffers finished runs and commits them as small complete Parquet parts."""

    def __init__(
        self, out: Path, experiment: Experiment, flush_seconds: float = 2.0, flush_runs: int = 64
    ) -> None:
        self.out = out
        self.experiment = experiment
        self.flush_seconds = flush_seconds
        self.flush_runs = flush_runs
        self.buffer: list[RunOutcome] = []
        self.last_flush = time.monotonic()
        self.schema = runs_schema(experiment)
        self.failed = 0
        self.errors: list[str] = []
        self.committed = 0

    def add(self, outcome: RunOutcome) -> None:
        """Queue a finished run for the next commit."""
        self.buffer.append(outcome)
        if outcome.error is not None:
            self.failed += 1
            if len(self.errors) < 5:
                self.errors.append(f"run {outcome.spec.run_id}: {outcome.error}")

    def maybe_flush(self) -> None:
        """Commit when enough runs or enough time has gone by."""
        if len(self.buffer) >= self.flush_runs or (
            self.buffer and time.monotonic() - self.last_flush >= self.flush_seconds
        ):
            self.flush()

    def flush(self) -> None:
        """Write optional tables first, then the runs part that commits them."""
        self.last_flush = time.monotonic()
        if not self.buffer:
            return
        batch = sorted(self.buffer, key=lambda o: o.spec.run_id)
        token = f"{batch[0].spec.run_id:08d}-{uuid.uuid4().hex[:8]}"
        for name in EXTRA_TABLES:
            frames = [_label(o.tables[name], o.spec) for o in batch if name in o.tables]
            if frames:
                frame = pd.concat(frames, ignore_index=True)
                table = pa.Table.from_pandas(frame, preserve_index=False)
                _atomic_parquet(table, self.out / name / f"part-{token}.parquet")
        rows = [_run_row(o, self.experiment) for o in batch]
        table = pa.Table.from_pylist(rows, schema=self.schema)
        _atomic_parquet(table, self.out / "runs" / f"part-{token}.parquet")
        self.committed += len(batch)
        self.buffer.clear()


def _label(frame: pd.DataFrame, spec: RunSpec) -> pd.DataFrame:
    frame = frame.drop(columns=["replication"], errors="ignore")
    frame.insert(0, "seed", np.int64(spec.seed))
    frame.insert(0, "replicate", np.int64(spec.replicate))
    frame.insert(0, "point", np.int64(spec.point))
    frame.insert(0, "run_id", np.int64(spec.run_id))
    return frame


def runs_schema(experiment: Experiment) -> pa.Schema:
    """Fixed schema of the runs table (identical for every part, failed runs included)."""
    from sim.params import SPECS

    fields = [pa.field(n, pa.int64()) for n in ("run_id", "point", "replicate", "seed")]
    fields += [
        pa.field(n, pa.int64() if SPECS[n].kind is int else pa.float64()) for n in experiment.names
    ]
    fields += [pa.field("status", pa.string()), pa.field("error", pa.string())]
    fields += [pa.field(k, pa.float64()) for k in experiment.outputs.kpis]
    fields += [pa.field("seconds", pa.float64())]
    return pa.schema(fields)


def _run_row(outcome: RunOutcome, experiment: Experiment) -> dict[str, Any]:
    spec = outcome.spec
    row: dict[str, Any] = {
        "run_id": spec.run_id,
        "point": spec.point,
        "replicate": spec.replicate,
        "seed": spec.seed,
    }
    row.update(outcome.values)
    row["status"] = "ok" if outcome.error is None else "failed"
    row["error"] = outcome.error
    for kpi in experiment.outputs.kpis:
        row[kpi] = outcome.summary.get(kpi)
    row["seconds"] = outcome.seconds
    return row


def _parts(out: Path, name: str) -> list[Path]:
    return sorted((out / name).glob("part-*.parquet"))


def load_table(out: str | os.PathLike[str], name: str = "runs") -> pd.DataFrame:
    """Read a results table (``runs``, ``timeseries``, ...), deduplicated by run id, sorted."""
    parts = _parts(Path(out), name)
    if not parts:
        return pd.DataFrame()
    frame = pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)
    if name == "runs":
        frame = frame.drop_duplicates("run_id", keep="last")
        return frame.sort_values("run_id", ignore_index=True)
    sort = [c for c in ("run_id", "step", "unit", "slot") if c in frame.columns]
    return frame.drop_duplicates(sort, keep="last").sort_values(sort, ignore_index=True)


def completed_run_ids(out: Path) -> set[int]:
    """Run ids already committed (failed runs included: they are deterministic too)."""
    done: set[int] = set()
    for part in _parts(out, "runs"):
        done.update(pq.read_table(part, columns=["run_id"]).column(0).to_pylist())
    return done


def _clean_orphans(out: Path) -> None:
    """Drop temporary files and optional-table parts whose runs part was never committed."""
    committed = {p.name for p in _parts(out, "runs")}
    for name in ("runs", *EXTRA_TABLES):
        directory = out / name
        if not directory.is_dir():
            continue
        for tmp in directory.glob(".*.tmp"):
            tmp.unlink(missing_ok=True)
        if name != "runs":
            for part in _parts(out, name):
                if part.name not in committed:
                    part.unlink(missing_ok=True)


# --- identity and locking -----------------------------------------------------------------------
def code_version() -> str:
    """``git describe`` of the package's checkout if there is one, else the installed version."""
    here = Path(__file__).resolve().parent
    try:
        result = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--tags"],
            cwd=here,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
        return f"git:{result.stdout.strip()}"
    except (OSError, subprocess.SubprocessError):
        try:
            return f"package:{importlib.metadata.version('service-profit-sim')}"
        except importlib.metadata.PackageNotFoundError:
            return "unknown"


class DirectoryLock:
    """An exclusive ``flock`` on ``OUT/.lock``; the kernel releases it if the process dies."""

    def __init__(self, out: Path) -> None:
        self.path = out / ".lock"
        self.handle: Any = None

    def __enter__(self) -> DirectoryLock:
        self.handle = open(self.path, "a+")  # noqa: SIM115 - held for the sweep's lifetime
        try:
            fcntl.flock(self.handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.handle.seek(0)
            holder = self.handle.read().strip() or "another process"
            self.handle.close()
            raise ExperimentError(
                f"{self.path.parent}: another sweep is writing here ({holder}); "
                "wait for it or use another --out"
            ) from None
        self.handle.seek(0)
        self.handle.truncate()
        self.handle.write(f"pid {os.getpid()} on {os.uname().nodename}\n")
        self.handle.flush()
        return self

    def __exit__(self, *exc: object) -> None:
        fcntl.flock(self.handle, fcntl.LOCK_UN)
        self.handle.close()


# --- the sweep ----------------------------------------------------------------------------------
@dataclass
class SweepSummary:
    """What a sweep did (printed by the CLI, returned to scripts)."""

    out: Path
    total: int
    skipped: int
    ran: int
    failed: int
    errors: list[str]
    seconds: float


def prepare(experiment: Experiment, out: Path, resume: bool) -> dict[str, Any]:
    """Check the directory against the experiment and write the manifest; returns it."""
    digest = experiment.digest()
    manifest_path = out / "manifest.json"
    if manifest_path.exists():
        old = json.loads(manifest_path.read_text())
        if not resume:
            raise ExperimentError(
                f"{out} already holds results of experiment {old.get('name')!r}: "
                "add --resume to continue it, or choose another --out"
            )
        if old.get("experiment_hash") != digest:
            raise ExperimentError(
                f"{out} was written by a different experiment (hash "
                f"{old.get('experiment_hash', '?')[:12]}, this file {digest[:12]}): "
                "resume with the original file or use another --out"
            )
    elif _parts(out, "runs"):
        raise ExperimentError(f"{out}: results without a manifest.json; use another --out")

    design = experiment.design()
    runs = experiment.runs(len(design))
    version = code_version()
    manifest = {
        "name": experiment.name,
        "experiment_hash": digest,
        "code_version": version,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "method": experiment.method,
        "parameters": experiment.names,
        "outputs": list(experiment.outputs.kpis),
        "points": len(design),
        "replications": experiment.replications,
        "root_seed": experiment.seed,
        "paired_seeds": experiment.paired,
        "seed_rule": "np.random.SeedSequence(root_seed, spawn_key=(0 if paired else point, "
        "replicate)).generate_state(1, uint32)[0]",
        "run_id_rule": "point * replications + replicate",
        "seeds": [[r.run_id, r.point, r.replicate, r.seed] for r in runs],
    }
    if manifest_path.exists():
        old = json.loads(manifest_path.read_text())
        manifest["created"] = old.get("created", manifest["created"])
        versions = old.get("code_versions", [old.get("code_version")])
        if version not in versions:
            print(
                f"sim sweep: warning: resuming results of code {versions[-1]} with {version}",
                file=sys.stderr,
            )
            versions.append(version)
        manifest["code_versions"] = versions
    else:
        manifest["code_versions"] = [version]
    for name in ("runs", *EXTRA_TABLES):
        (out / name).mkdir(exist_ok=True)
    _atomic_text(json.dumps(manifest, indent=1) + "\n", manifest_path)
    _atomic_text(yaml.safe_dump(experiment.to_dict(), sort_keys=False), out / "experiment.yaml")
    design_frame = pd.DataFrame(design)
    design_frame.insert(0, "point", np.arange(len(design), dtype=np.int64))
    design_table = pa.Table.from_pandas(design_frame, preserve_index=False)
    _atomic_parquet(design_table, out / "design.parquet")
    manifest["_design"] = design
    manifest["_runs"] = runs
    return manifest


def connect_scheduler(address: str, timeout: float) -> Any:
    """A Dask client of the scheduler at ``address``, or one line saying why there is none.

    Checked first, before anything is written: the address's form, then a handshake under a hard
    ``timeout`` (nothing listening, a server that never answers, or one that is not a Dask
    scheduler all end within it), then the client itself.
    """
    _check_address(address)
    address_shown = _shown(address)
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


def _check_address(address: str) -> None:
    """Refuse what is not ``SCHEME://HOST:PORT`` for a scheme Dask speaks."""
    example = "expected e.g. tcp://HOST:8786"
    scheme, sep, location = address.partition("://")
    if not sep or scheme not in SCHEDULER_SCHEMES:
        raise ExperimentError(
            f"--scheduler {_shown(address)}: {example} ({', '.join(SCHEDULER_SCHEMES)})"
        )
    host, colon, port = location.rpartition(":")
    host = host.strip("[]")
    if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ExperimentError(f"--scheduler {_shown(address)}: {example} (a host and a port)")


def _shown(value: Any, limit: int = 80) -> str:
    text = repr(value) if not isinstance(value, str) or not value.isprintable() else value
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


def _check_out(out: Path) -> None:
    """Refuse an existing directory that holds other things than a sweep's results."""
    if (out / "manifest.json").exists():
        return  # a sweep's results: prepare() decides (resume, or refuse)
    foreign = sorted(
        p.name for p in out.iterdir() if p.name not in OWN_ENTRIES and not p.name.startswith(".")
    )
    if foreign:
        raise ExperimentError(
            f"--out {out}: not empty and not a sweep's results (holds {_shown(foreign[0], 40)}"
            f"{f' and {len(foreign) - 1} more' if len(foreign) > 1 else ''}); "
            "use a new or empty directory"
        )


def run_sweep(
    experiment: Experiment,
    out: str | os.PathLike[str],
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    connect_timeout: float = CONNECT_TIMEOUT,
    resume: bool = False,
    quiet: bool = False,
    run_fn: Callable[[RunTask], RunOutcome] = execute_run,
    flush_seconds: float = 2.0,
    flush_runs: int = 64,
) -> SweepSummary:
    """Run every run of ``experiment`` not yet committed in ``out`` and commit each as it ends.

    Nothing is written until the Dask scheduler (if any) has answered and ``out`` is known to be
    usable: a bad address or directory raises :class:`ExperimentError` with one line.
    """
    from tqdm import tqdm

    start = time.perf_counter()
    client = connect_scheduler(scheduler, connect_timeout) if scheduler else None
    try:
        out = prepare_output_dir(out)
        _check_out(out)
        with DirectoryLock(out):
            manifest = prepare(experiment, out, resume)
            _clean_orphans(out)
            done = completed_run_ids(out)
            design, runs = manifest["_design"], manifest["_runs"]
            todo = [
                RunTask(r, design[r.point], experiment.base, experiment.outputs)
                for r in runs
                if r.run_id not in done
            ]
            n_workers = workers or os.cpu_count() or 1
            if not quiet:
                print(start_line(experiment, len(design), len(runs) - len(todo), out,
                                 _where(client, n_workers)), flush=True)
            writer = ResultWriter(out, experiment, flush_seconds, flush_runs)
            bar = tqdm(
                total=len(runs),
                initial=len(runs) - len(todo),
                unit="run",
                disable=quiet,
                desc=experiment.name,
                dynamic_ncols=True,
                file=sys.stderr,
            )

            def finished(outcome: RunOutcome) -> None:
                writer.add(outcome)
                bar.update(1)
                if writer.failed:
                    bar.set_postfix(failed=writer.failed, refresh=False)
                writer.maybe_flush()

            try:
                if client is not None:
                    _run_dask(todo, client, run_fn, finished)
                else:
                    run_local(
                        todo,
                        n_workers,
                        run_fn,
                        finished,
                        flush_seconds,
                        run_id=lambda task: task.spec.run_id,
                        failed=_failed,
                    )
            finally:
                writer.flush()  # commit whatever finished, also on Ctrl-C or SIGTERM
                bar.close()
    finally:
        if client is not None:
            client.close()
    return SweepSummary(
        out,
        len(runs),
        len(runs) - len(todo),
        writer.committed,
        writer.failed,
        writer.errors,
        time.perf_counter() - start,
    )


def start_line(experiment: Experiment, points: int, done: int, out: Path, where: str) -> str:
    """What is about to run, on what, from which scenario (the default one said so)."""
    total = points * experiment.replications
    scenario = f"scenario {experiment.scenario}"
    if experiment.scenario_default:
        scenario += " (the default: the file names no 'scenario')"
    already = f", {done} already done" if done else ""
    return (
        f"{experiment.name}: {total} runs ({points} points x {experiment.replications} "
        f"replications{already}) of {scenario}, {experiment.base.steps} weeks each, "
        f"on {where}; results in {out}"
    )


def _where(client: Any, workers: int) -> str:
    if client is None:
        return f"{workers} local worker process{'es' if workers != 1 else ''}"
    threads = sum(client.nthreads().values())
    return f"Dask scheduler {client.scheduler.address} ({threads} worker threads now)"


def _failed(task: RunTask, why: str) -> RunOutcome:
    return RunOutcome(task.spec, task.values, {}, why.splitlines()[0][:500] if why else why)


def _run_dask(
    tasks: list[RunTask],
    client: Any,
    run_fn: Callable[[RunTask], RunOutcome],
    finished: Callable[[RunOutcome], None],
) -> None:
    """The same runs on a Dask cluster: explicit unique keys (never merged), bounded in flight."""
    from distributed import as_completed

    queue = deque(tasks)
    session = uuid.uuid4().hex[:8]
    slots = max(1, sum(client.nthreads().values()))
    pending = as_completed(loop=client.loop)  # this client, not a global default one
    inflight: dict[str, RunTask] = {}

    def submit() -> None:
        task = queue.popleft()
        key = f"sim-run-{session}-{task.spec.run_id}"
        pending.add(client.submit(run_fn, task, key=key, pure=False, retries=0))
        inflight[key] = task

    for _ in range(min(len(queue), 2 * slots)):
        submit()
    for future in pending:
        task = inflight.pop(future.key)
        if future.status == "finished":
            finished(future.result())
        else:  # KilledWorker after the scheduler's retries, or a lost result
            error = future.exception()
            finished(_failed(task, f"{type(error).__name__}: {error}"))
        future.release()
        if queue:
            submit()

# --- command line -------------------------------------------------------------------------------
def max_workers() -> int:
    """The most local workers ``--workers`` accepts: 4 per core (more only costs memory)."""
    return 4 * (os.cpu_count() or 1)


def check_flags(args: argparse.Namespace) -> None:
    """Refuse out-of-range or contradictory flags with one line each."""
    low, high = MIN_COMMIT_SECONDS, MAX_COMMIT_SECONDS
    if not low <= args.commit_every <= high:  # NaN fails too
        raise ExperimentError(
            f"--commit-every {args.commit_every:g}: allowed {low:g}..{high:g} seconds"
        )
    if args.workers is not None:
        if args.scheduler:
            raise ExperimentError(
                f"--workers {args.workers}: only for local runs; with --scheduler the cluster's "
                "workers run the sweep"
            )
        if not 1 <= args.workers <= max_workers():
            raise ExperimentError(
                f"--workers {args.workers}: allowed 1..{max_workers()} "
                f"(4 per core on this machine's {os.cpu_count()} cores)"
            )
    if not MIN_CONNECT_SECONDS <= args.connect_timeout <= MAX_CONNECT_SECONDS:
        raise ExperimentError(
            f"--connect-timeout {args.connect_timeout:g}: allowed "
            f"{MIN_CONNECT_SECONDS:g}..{MAX_CONNECT_SECONDS:g} seconds"
        )
    if args.scheduler is not None:
        _check_address(args.scheduler)


def cmd_sweep(args: argparse.Namespace) -> int:
    """Run (or resume) the sweep of an experiment file and print what happened."""
    check_flags(args)
    experiment = load_experiment(args.experiment)
    out = args.out
    if out is None:
        out = str(Path("experiments") / "output" / experiment.name)
    try:
        with interrupt_on_signals():
            summary = run_sweep(
                experiment,
                out,
                workers=args.workers,
                scheduler=args.scheduler,
                connect_timeout=args.connect_timeout,
                resume=args.resume,
                quiet=args.quiet,
                flush_seconds=args.commit_every,
            )
    except KeyboardInterrupt as stop:
        return report_interrupt(stop, out, "committed runs")
    if not args.quiet or summary.failed:
        where = args.scheduler or f"{args.workers or os.cpu_count()} local worker(s)"
        print(
            f"{experiment.name}: {summary.total} runs ({summary.skipped} already done, "
            f"{summary.ran} run now on {where}) in {summary.seconds:.1f} s; "
            f"{summary.failed} failed; results in {summary.out}"
        )
        for line in summary.errors:
            print(f"  failed {line}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``sim sweep`` to the CLI."""
    parser = subparsers.add_parser(
        "sweep",
        help="run an experiment's sweep (local processes or a Dask cluster)",
        description="Run every run of EXPERIMENT.yaml and write Parquet results to --out. "
        "Bad input is refused with one line (exit status 2) before anything is written.",
    )
    parser.add_argument("experiment", help="experiment YAML file (see docs/sweeps.md)")
    parser.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="local worker processes, 1..4 per core (default: one per core)",
    )
    parser.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="run on this Dask scheduler, e.g. tcp://10.0.0.5:8786; it must answer within "
        "--connect-timeout, before anything is written",
    )
    parser.add_argument(
        "--connect-timeout",
        type=float,
        default=CONNECT_TIMEOUT,
        metavar="SECONDS",
        help=f"how long to wait for the Dask scheduler to answer "
        f"({MIN_CONNECT_SECONDS:g}..{MAX_CONNECT_SECONDS:g}, default: {CONNECT_TIMEOUT:g})",
    )
    parser.add_argument(
        "--out", metavar="DIR", help="results directory (default: experiments/output/NAME)"
    )
    parser.add_argument(
        "--resume", action="store_true", help="continue a sweep in --out, skipping completed runs"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    parser.add_argument(
        "--commit-every",
        type=float,
        default=2.0,
        metavar="SECONDS",
        help=f"commit finished runs at least this often "
        f"({MIN_COMMIT_SECONDS:g}..{MAX_COMMIT_SECONDS:g}, default: 2)",
    )
    parser.set_defaults(func=cmd_sweep)
