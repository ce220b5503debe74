"""``sim sweep``: an experiment's runs on local worker processes or a Dask cluster, crash-safely.

The command and its flow: check every input, open the results directory, run what is not yet
committed, commit each run as it ends. The pieces live beside it: one run and its summary in
:mod:`sim.sweep_run`, the results directory (Parquet parts, manifest, lock) in
:mod:`sim.sweep_store`, the Dask cluster in :mod:`sim.sweep_dask`, local worker processes in
:mod:`sim.sweep_pool` (they never outlive the sweep, however it ends).

Every input is checked before anything is written (flags, the experiment file, the Dask scheduler
answering within ``--connect-timeout``, then ``--out``); a problem is one ``ExperimentError`` line.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sim.runner import prepare_output_dir
from sim.sweep_dask import check_address, connect_scheduler, run_dask
from sim.sweep_design import Experiment, ExperimentError, load_experiment
from sim.sweep_pool import batches, interrupt_on_signals, report_interrupt, run_local
from sim.sweep_run import RunOutcome, RunTask, execute_runs, failed_outcome
from sim.sweep_store import (
    INFLIGHT,
    DirectoryLock,
    ResultWriter,
    check_out,
    clean_orphans,
    completed_run_ids,
    prepare,
)

CONNECT_TIMEOUT = 10.0  # seconds for a Dask scheduler to answer (--connect-timeout)
MIN_CONNECT_SECONDS, MAX_CONNECT_SECONDS = 1.0, 600.0
MIN_COMMIT_SECONDS, MAX_COMMIT_SECONDS = 0.01, 3600.0


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


def _design_point(task: RunTask) -> int:
    """Runs of one design point share their parameters: they can step together."""
    return task.spec.point


def run_sweep(
    experiment: Experiment,
    out: str | os.PathLike[str],
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    connect_timeout: float = CONNECT_TIMEOUT,
    resume: bool = False,
    quiet: bool = False,
    run_fn: Callable[[list[RunTask]], list[RunOutcome]] = execute_runs,
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
        check_out(out)
        with DirectoryLock(out):
            manifest = prepare(experiment, out, resume)
            clean_orphans(out)
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
                    slots = sum(client.nthreads().values())
                    run_dask(batches(todo, slots, _design_point), client, run_fn, finished)
                else:
                    run_local(
                        batches(todo, n_workers, _design_point),
                        n_workers,
                        run_fn,
                        finished,
                        flush_seconds,
                        run_id=lambda task: task.spec.run_id,
                        failed=failed_outcome,
                        handover=out / INFLIGHT,
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
        check_address(args.scheduler)


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
