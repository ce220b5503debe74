"""Benchmark of the sweep runner: 1 vs 2 local workers, per-run overhead, memory over a long sweep.

    .venv/bin/python experiments/bench_sweep.py              # throughput + overhead (~1 min)
    .venv/bin/python experiments/bench_sweep.py --long 1000  # plus a 1,000-run memory check

Prints measured numbers only (it is not a test). Runs are default-size (220 staff, 4,000
customers, 104 weeks). Overhead = wall time per run of a 1-worker sweep (pool start, seeding,
pickling, summarising, Parquet commits) minus the same runs' pure model time in this process.
Memory = RSS of the sweep process plus all its descendants (forkserver and workers), sampled
every 0.2 s, averaged over the first and the last 100 committed runs.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path

import psutil
import pyarrow.parquet as pq

from sim.model import ServiceModel
from sim.sweep import run_sweep
from sim.sweep_design import parse_experiment
from sim.sweep_store import load_table


def experiment(runs: int, name: str):
    """``runs`` default-size replications of one design point (distinct seeds)."""
    return parse_experiment({
        "name": name, "scenario": "baseline", "seed": 99, "replications": runs,
        "parameters": {"training": [0.05]}, "outputs": {"kpis": ["profit", "engagement_mean"]},
    })


def timed_sweep(runs: int, workers: int) -> tuple[float, float]:
    """Wall time of the sweep and mean model time per run measured inside the workers."""
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        run_sweep(experiment(runs, f"bench{workers}"), out, workers=workers, quiet=True)
        wall = time.perf_counter() - start
        return wall, float(load_table(out)["seconds"].mean())


def pure_model_seconds(runs: int) -> float:
    exp = experiment(runs, "pure")
    start = time.perf_counter()
    for spec in exp.runs():
        ServiceModel(exp.scenario_for(exp.design()[0], spec.seed)).run().timeseries()
    return (time.perf_counter() - start) / runs


def tree_rss_mb() -> float:
    me = psutil.Process()
    total = me.memory_info().rss
    for child in me.children(recursive=True):
        try:
            total += child.memory_info().rss
        except psutil.Error:
            pass
    return total / 2**20


def memory_over_long_sweep(runs: int, workers: int) -> tuple[float, float, float]:
    samples: list[tuple[float, float]] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            samples.append((time.time(), tree_rss_mb()))
            time.sleep(0.2)

    with tempfile.TemporaryDirectory() as out:
        thread = threading.Thread(target=sample, daemon=True)
        thread.start()
        start = time.perf_counter()
        run_sweep(experiment(runs, "long"), out, workers=workers, quiet=True, flush_runs=20)
        seconds = time.perf_counter() - start
        stop.set()
        thread.join()
        # Progress over time from the commits: each part's mtime and row count.
        parts = sorted((p.stat().st_mtime, pq.read_metadata(p).num_rows)
                       for p in (Path(out) / "runs").glob("part-*.parquet"))
    done, t_first, t_last = 0, None, None
    for mtime, rows in parts:
        done += rows
        if t_first is None and done >= 100:
            t_first = mtime
        if t_last is None and done >= runs - 100:
            t_last = mtime
    first = [rss for t, rss in samples if t <= t_first]
    last = [rss for t, rss in samples if t >= t_last]
    return sum(first) / len(first), sum(last) / len(last), seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=40, help="runs per throughput sweep")
    parser.add_argument("--long", type=int, default=0, help="runs of the memory sweep (e.g. 1000)")
    args = parser.parse_args()

    print(f"cores: {psutil.cpu_count()}, load average: {psutil.getloadavg()[0]:.2f}")
    pure = pure_model_seconds(min(args.runs, 10))
    one, in_worker = timed_sweep(args.runs, 1)
    two, _ = timed_sweep(args.runs, 2)
    print(f"pure model time: {pure * 1000:.0f} ms per default run (in-process)")
    print(f"1 worker : {args.runs / one:.2f} runs/s ({one:.1f} s for {args.runs} runs)")
    print(f"2 workers: {args.runs / two:.2f} runs/s ({two:.1f} s for {args.runs} runs)")
    print(f"throughput ratio 2 vs 1 workers: {one / two:.2f}x")
    print(f"runner overhead: {(one / args.runs - pure) * 1000:.1f} ms per run "
          "(1-worker wall time per run minus pure model time in this process; includes pool "
          "start-up)")
    print(f"runner overhead vs in-worker run time ({in_worker * 1000:.0f} ms): "
          f"{(one / args.runs - in_worker) * 1000:.1f} ms per run")
    if args.long:
        first, last, seconds = memory_over_long_sweep(args.long, 2)
        print(f"long sweep: {args.long} runs on 2 workers in {seconds:.0f} s "
              f"({args.long / seconds:.2f} runs/s)")
        print(f"memory (RSS of sweep + workers): first 100 runs {first:.0f} MB, "
              f"last 100 runs {last:.0f} MB ({last - first:+.0f} MB)")


if __name__ == "__main__":
    main()
