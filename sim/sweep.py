"""``sim sweep``: an experiment's runs on local worker processes or a Dask cluster, crash-safely.

Layout of the output directory::

    OUT/manifest.json        experiment hash, code version, root seed, every run's seed
    OUT/experiment.yaml      the resolved experiment (for people; the hash is in the manifest)
    OUT/design.parquet       one row per design point
    OUT/runs/part-*.parquet  one row per finished run: ids, seed, parameters, status, error, KPIs
    OUT/timeseries/, units/, employees/, customers/   optional, same part names as runs/

Why it is built this way (see LESSONS.md, "Sweeps"): results are committed as small complete
Parquet files written under a temporary name and moved into place with ``os.replace``, so a SIGKILL
at any moment leaves only whole files; the ``runs`` part is written last and is the commit record,
so on resume the optional tables' orphans (written before a crash, with no ``runs`` part) are
deleted and those runs redone. A lock file (``flock``, released by the kernel when the process
dies) stops two sweeps writing one directory. Readers dedupe by ``run_id`` all the same.
"""

from __future__ import annotations

import argparse
import fcntl
import importlib.metadata
import json
import multiprocessing
import os
import subprocess
import sys
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from sim.experiment import Experiment, ExperimentError, Outputs, RunSpec, load_experiment
from sim.runner import atomic_write
from sim.scenario import Scenario

EXTRA_TABLES = ("timeseries", "units", "employees", "customers")
MAX_WORKER_DEATHS = 3  # a run in flight when its worker died this often is recorded as failed


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
            row[kpi] = float((1.0 - window["customer_churn_rate"].mean()) ** 52)
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


def run_sweep(
    experiment: Experiment,
    out: str | os.PathLike[str],
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    resume: bool = False,
    quiet: bool = False,
    run_fn: Callable[[RunTask], RunOutcome] = execute_run,
    flush_seconds: float = 2.0,
    flush_runs: int = 64,
) -> SweepSummary:
    """Run every run of ``experiment`` not yet committed in ``out`` and commit each as it ends."""
    from tqdm import tqdm

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
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
            if scheduler:
                _run_dask(todo, scheduler, run_fn, finished)
            else:
                _run_local(todo, workers or os.cpu_count() or 1, run_fn, finished, flush_seconds)
        finally:
            writer.flush()  # commit whatever finished, also on Ctrl-C
            bar.close()
    return SweepSummary(
        out,
        len(runs),
        len(runs) - len(todo),
        writer.committed,
        writer.failed,
        writer.errors,
        time.perf_counter() - start,
    )


def _died(task: RunTask, attempts: int, why: str) -> RunOutcome:
    return RunOutcome(task.spec, task.values, {}, f"{why} ({attempts} attempts)")


def _run_local(
    tasks: Iterable[RunTask],
    workers: int,
    run_fn: Callable[[RunTask], RunOutcome],
    finished: Callable[[RunOutcome], None],
    tick: float,
) -> None:
    """A process pool, rebuilt when a worker dies; only uncommitted runs are resubmitted.

    When a worker dies every run in flight fails with it, so the culprit is unknown: those runs
    become suspects and are re-run one at a time. A suspect that kills its worker on its own
    ``MAX_WORKER_DEATHS`` times is recorded as failed; the innocent ones simply finish.
    """
    queue = deque(tasks)
    suspects: deque[RunTask] = deque()
    deaths: Counter[int] = Counter()
    context = multiprocessing.get_context("forkserver")  # no fork of a threaded parent
    context.set_forkserver_preload(["sim.model"])  # import the model once, not per worker
    while queue or suspects:
        inflight: dict[Future[RunOutcome], RunTask] = {}
        broken = isolated = False
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            try:
                while (queue or suspects or inflight) and not broken:
                    if suspects and not inflight:
                        isolated = True
                        task = suspects.popleft()
                        inflight[pool.submit(run_fn, task)] = task
                    elif not suspects:
                        isolated = False
                        while queue and len(inflight) < 2 * workers:
                            task = queue.popleft()
                            inflight[pool.submit(run_fn, task)] = task
                    ready, _ = wait(inflight, timeout=tick, return_when=FIRST_COMPLETED)
                    for future in ready:
                        task = inflight.pop(future)
                        error = future.exception()
                        if isinstance(error, BrokenProcessPool):
                            broken = True
                            inflight[future] = task  # back with the other unfinished runs
                        elif error is not None:  # e.g. an unpicklable result
                            finished(
                                RunOutcome(
                                    task.spec, task.values, {}, f"{type(error).__name__}: {error}"
                                )
                            )
                        else:
                            finished(future.result())
            except BrokenProcessPool:
                broken = True
            if broken:
                for task in inflight.values():
                    if not isolated:
                        suspects.append(task)
                        continue
                    deaths[task.spec.run_id] += 1
                    n = deaths[task.spec.run_id]
                    if n >= MAX_WORKER_DEATHS:
                        finished(_died(task, n, "worker process died"))
                    else:
                        suspects.appendleft(task)
                pool.shutdown(wait=False, cancel_futures=True)


def _run_dask(
    tasks: list[RunTask],
    address: str,
    run_fn: Callable[[RunTask], RunOutcome],
    finished: Callable[[RunOutcome], None],
) -> None:
    """The same runs on a Dask cluster: explicit unique keys (never merged), bounded in flight."""
    from distributed import Client, as_completed

    queue = deque(tasks)
    session = uuid.uuid4().hex[:8]
    with Client(address, timeout="30s") as client:
        slots = max(1, sum(client.nthreads().values()))
        pending = as_completed()
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
                finished(
                    RunOutcome(
                        task.spec,
                        task.values,
                        {},
                        f"{type(error).__name__}: {error}".splitlines()[0][:500],
                    )
                )
            future.release()
            if queue:
                submit()


# --- command line -------------------------------------------------------------------------------
def cmd_sweep(args: argparse.Namespace) -> int:
    """Run (or resume) the sweep of an experiment file and print what happened."""
    experiment = load_experiment(args.experiment)
    if not 0 < args.commit_every <= 3600:
        raise ExperimentError(f"--commit-every {args.commit_every}: allowed 0..3600 seconds")
    if args.workers is not None and args.workers < 1:
        raise ExperimentError(f"--workers {args.workers}: need at least 1")
    if args.scheduler and not args.scheduler.startswith(("tcp://", "tls://", "ws://", "inproc://")):
        raise ExperimentError(f"--scheduler {args.scheduler!r}: expected e.g. tcp://HOST:8786")
    out = args.out or str(Path("experiments") / "output" / experiment.name)
    summary = run_sweep(
        experiment,
        out,
        workers=args.workers,
        scheduler=args.scheduler,
        resume=args.resume,
        quiet=args.quiet,
        flush_seconds=args.commit_every,
    )
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
        description="Run every run of EXPERIMENT.yaml and write Parquet results to --out.",
    )
    parser.add_argument("experiment", help="experiment YAML file (see docs/sweeps.md)")
    parser.add_argument("--workers", type=int, help="local worker processes (default: all cores)")
    parser.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="run on this Dask scheduler, e.g. tcp://10.0.0.5:8786",
    )
    parser.add_argument("--out", help="results directory (default: experiments/output/NAME)")
    parser.add_argument(
        "--resume", action="store_true", help="continue a sweep in --out, skipping completed runs"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    parser.add_argument(
        "--commit-every",
        type=float,
        default=2.0,
        metavar="SECONDS",
        help="commit finished runs at least this often (default: 2)",
    )
    parser.set_defaults(func=cmd_sweep)
