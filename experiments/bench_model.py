"""Benchmark of the model, measured in one run on this machine (not a test).

Prints:
1. Mesa's own cost per agent of ``AgentSet.shuffle_do`` with an empty step, next to the model's
   cost per agent-step (whole weekly step, all processes) at default and large size; Mesa is
   timed with as many agents as the model it is set against (its cost per agent grows with the
   population: fewer of them fit in the caches);
2. the default scenario's whole-run time (build + 104 weeks), best of several;
3. the large scenario (10,000 employees, 1,000,000 customers, 52 weeks): build and run time and
   peak memory (RSS), measured in a fresh subprocess. It has 5.5x more customers per employee
   than the default, so each employee's weekly capacity is scaled by the same factor (otherwise
   the organisation is simply overwhelmed and the benchmark measures a collapse).

4. replications: 5 replications of the default scenario against one, in one process, with each
   seed's settled start first built (cold) and then read from the start cache (warm); then, with
   the starts cached, 5 replications stepped together as one batch (:mod:`sim.batch`) and 5 run
   one after another, each against one run alone (medians of several repeats, interleaved);
5. the page's work for one lever change: the changed plan's 5 replications on the page's engine
   (2 worker processes; the comparator's replications and the settled starts are already
   there, as on a page in use): the median of five successive slider steps, as seconds and as a
   multiple of one whole default run;
6. a sweep of 1,000 default-size runs (``--sweep-runs``) with ``sim sweep`` on 2 local workers,
   start-up and settling included, as seconds and runs per second;
7. where a default week's time goes: weeks of organisations of half, once and twice the default
   size, fitted as a fixed cost per week plus a cost per agent (least squares).

Every figure is measured in this one invocation (ratios are of figures from the same run).
Usage: python experiments/bench_model.py [--skip-large] [--sweep-runs N]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import mesa
import numpy as np

from sim import ServiceModel

DEFAULT = ServiceModel(rng=1).params
LARGE_CAPACITY = round(
    DEFAULT.capacity_per_employee
    * (1_000_000 / 10_000)
    / (DEFAULT.n_customers / DEFAULT.n_employees),
    1,
)


class _Idle(mesa.Agent):
    def step(self) -> None:
        pass


def mesa_empty_dispatch_ns(n_agents: int, repeats: int = 5) -> float:
    """Mesa's ns per agent for shuffle_do('step') over ``n_agents`` with a step that does nothing.

    The best of ``repeats`` steps, and of at least a million agent-steps in all.
    """
    model = mesa.Model(rng=1)
    _Idle.create_agents(model, n_agents)
    best = float("inf")
    for _ in range(max(repeats, 1_000_000 // n_agents)):
        start = time.perf_counter()
        model.agents.shuffle_do("step")
        best = min(best, time.perf_counter() - start)
    return best / n_agents * 1e9


def timed_run(steps: int, repeats: int = 1, **params: object) -> dict[str, float]:
    """Build and run a model; best-of-``repeats`` build and step times."""
    build, run = float("inf"), float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        model = ServiceModel(rng=1, **params)
        t1 = time.perf_counter()
        model.run(steps)
        t2 = time.perf_counter()
        build, run = min(build, t1 - t0), min(run, t2 - t1)
    agents = model.workforce.n + model.market.n + model.units.n
    return {
        "build_s": build,
        "run_s": run,
        "total_s": build + run,
        "agents": agents,
        "ns_per_agent_step": run / (steps * agents) * 1e9,
    }


def week_cost_by_size(factors: tuple[float, ...] = (0.5, 1.0, 2.0)) -> dict[str, float]:
    """A week's time as fixed us plus ns per agent, fitted over organisations of several sizes."""
    agents, weeks = [], []
    for factor in factors:
        run = timed_run(52, repeats=3, n_employees=round(DEFAULT.n_employees * factor),
                        n_customers=round(DEFAULT.n_customers * factor))
        agents.append(run["agents"])
        weeks.append(run["run_s"] / 52)
    per_agent, fixed = np.polyfit(agents, weeks, 1)
    return {"fixed_us": fixed * 1e6, "per_agent_ns": per_agent * 1e9}


def large_in_subprocess(cache_dir: Path) -> dict[str, float]:
    """The large scenario in a fresh interpreter (its peak RSS is its own), caching in
    ``cache_dir``."""
    code = (
        "import json, resource, sys; sys.path.insert(0, '.');"
        "from experiments.bench_model import timed_run;"
        f"r = timed_run(52, n_employees=10_000, n_customers=1_000_000, "
        f"capacity_per_employee={LARGE_CAPACITY});"
        "r['peak_rss_mb'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024;"
        "print(json.dumps(r))"
    )
    return _fresh_python(code, cache_dir)


def _fresh_python(code: str, cache_dir: Path) -> dict[str, float]:
    """Run ``code`` (which prints one JSON line last) in a fresh interpreter using ``cache_dir``."""
    env = {**os.environ, "SIM_CACHE_DIR": str(cache_dir)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


REPLICATIONS_CODE = """
import json, shutil, sys, time
sys.path.insert(0, '.')
from sim import cache
from sim.runner import run_scenario
from sim.scenario import load_scenario
base = load_scenario('baseline')
def timed(reps, seed):
    t = time.perf_counter()
    run_scenario(base.with_changes(reps=reps, seed=seed))
    return time.perf_counter() - t
out = {'one_cold': timed(1, 101), 'five_cold': timed(5, 201)}
shutil.rmtree(cache.folder('runs'))          # keep the settled starts, drop the finished runs
out.update(one_warm=timed(1, 101), five_warm=timed(5, 201))
from statistics import median
from sim import ServiceModel
from sim.batch import run_together
seeds = range(201, 206)
def clock(run):
    t = time.perf_counter()
    run()
    return time.perf_counter() - t
def one():
    ServiceModel(rng=201).run()
def batched():
    list(run_together(ServiceModel(rng=s) for s in seeds))
def in_turn():
    for s in seeds:
        ServiceModel(rng=s).run()
times = {'one': [], 'batched': [], 'in_turn': []}
for _ in range(5):   # interleaved, so a change of load on the machine touches all three
    for name, run in (('one', one), ('batched', batched), ('in_turn', in_turn)):
        times[name].append(clock(run))
out.update({f'{name}_median': median(t) for name, t in times.items()})
print(json.dumps(out))
"""

PAGE_CODE = """
import json, sys, time
sys.path.insert(0, '.')
from sim.app.library import resolve
from sim.app.state import Engine, baseline_for, compare
if __name__ == '__main__':
    engine = Engine(workers=2)
    plan = resolve('invest_in_training').with_changes(reps=5)
    comparator = baseline_for('today', plan)
    compare(plan, comparator, engine=engine)       # workers up, starts settled, comparator kept
    waits = []
    for step in range(1, 6):  # five slider steps, each a plan not run before
        moved = plan.with_changes(training=plan.params.training + 0.01 * step)
        t = time.perf_counter()
        compare(moved, comparator, engine=engine)
        waits.append(time.perf_counter() - t)
    engine.shutdown()
    print(json.dumps({'page_s': sorted(waits)[2]}))
"""


def sweep_runs_per_second(runs: int, cache_dir: Path) -> dict[str, float]:
    """``sim sweep`` of ``runs`` default-size runs (104 weeks) on 2 local workers."""
    spec = cache_dir / "bench_sweep.yaml"
    points = max(1, runs // 2)
    values = [round(0.25 * i / max(points - 1, 1), 6) for i in range(points)]
    spec.write_text(
        "name: bench_sweep\nscenario: baseline\nsteps: 104\nseed: 7\nreplications: 2\n"
        "design: {method: grid, paired: true}\n"
        f"parameters:\n  training: {values}\n"
        "outputs: {kpis: [profit], summary_weeks: 13}\n")
    env = {**os.environ, "SIM_CACHE_DIR": str(cache_dir)}
    sim = [sys.executable, "-m", "sim.cli"]
    start = time.perf_counter()
    subprocess.run([*sim, "sweep", str(spec), "--workers", "2", "--quiet",
                    "--out", str(cache_dir / "sweep")], check=True, env=env)
    seconds = time.perf_counter() - start
    return {"runs": 2 * points, "seconds": seconds}


def main() -> None:
    """Measure and print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-large", action="store_true", help="skip the 1M-customer run")
    parser.add_argument("--sweep-runs", type=int, default=1000,
                        help="default-size runs in the sweep measurement (default 1000, the "
                             "speed goal's size)")
    args = parser.parse_args()

    default = timed_run(104, repeats=5)
    mesa_ns = mesa_empty_dispatch_ns(default["agents"])
    print(f"Mesa empty shuffle_do:          {mesa_ns:8.1f} ns per agent ({default['agents']:,} "
          f"agents)")
    print(
        f"model, default size:            {default['ns_per_agent_step']:8.1f} ns per agent-step "
        f"({mesa_ns / default['ns_per_agent_step']:.1f}x cheaper than Mesa's empty dispatch; "
        f"{default['agents']:,} agents)"
    )
    print(
        f"default scenario, whole run:    {default['total_s']:8.3f} s "
        f"(build {default['build_s']:.3f} s + 104 weeks {default['run_s']:.3f} s)"
    )
    one = default["total_s"]
    week = week_cost_by_size()
    print(
        f"default week, by size:          {week['fixed_us']:8.0f} us fixed + "
        f"{week['per_agent_ns']:.0f} ns per agent (fitted over 0.5x, 1x and 2x the default "
        f"size; the fixed part alone is {week['fixed_us'] * 1e3 / default['agents']:.0f} ns "
        f"per default agent)"
    )
    with tempfile.TemporaryDirectory(prefix="sim-bench-") as tmp:
        reps = _fresh_python(REPLICATIONS_CODE, Path(tmp) / "reps")
        page = _fresh_python(PAGE_CODE, Path(tmp) / "page")
        sweep = sweep_runs_per_second(args.sweep_runs, Path(tmp))
        shutil.rmtree(tmp, ignore_errors=True)
    print(
        f"5 replications vs 1, in process: {reps['five_cold'] / reps['one_cold']:5.1f}x cold "
        f"({reps['five_cold']:.2f} s vs {reps['one_cold']:.2f} s, each seed's start settled), "
        f"{reps['five_warm'] / reps['one_warm']:.1f}x with settled starts cached "
        f"({reps['five_warm']:.2f} s vs {reps['one_warm']:.2f} s)"
    )
    print(
        f"5 replications batched vs 1:    {reps['batched_median'] / reps['one_median']:8.1f}x "
        f"({reps['batched_median']:.2f} s vs {reps['one_median']:.2f} s; one after another "
        f"{reps['in_turn_median'] / reps['one_median']:.1f}x; medians of 5, starts cached)"
    )
    print(
        f"page, one lever change:         {page['page_s']:8.2f} s for the plan's 5 replications "
        f"on 2 workers, median of 5 changes ({page['page_s'] / one:.1f}x one whole default run)"
    )
    rate = sweep["runs"] / sweep["seconds"]
    print(
        f"sweep, 2 workers:               {rate:8.1f} runs/s ({sweep['runs']} default runs in "
        f"{sweep['seconds']:.1f} s, start-up and settling today's organisation included)"
    )
    if args.skip_large:
        return
    with tempfile.TemporaryDirectory(prefix="sim-bench-large-") as tmp:
        # first with no settled start on disk, then again in a new process that reads it
        cold, warm = (large_in_subprocess(Path(tmp)) for _ in range(2))
    mesa_large_ns = mesa_empty_dispatch_ns(warm["agents"], repeats=3)
    print(f"Mesa empty shuffle_do:          {mesa_large_ns:8.1f} ns per agent "
          f"({warm['agents']:,} agents)")
    print(
        f"model, large size:              {warm['ns_per_agent_step']:8.1f} ns per agent-step "
        f"({mesa_large_ns / warm['ns_per_agent_step']:.1f}x cheaper than Mesa's empty dispatch; "
        f"{warm['agents']:,} agents)"
    )
    for label, large in (("first time", cold), ("start cached", warm)):
        print(
            f"large (10k staff, 1M customers, 52 weeks), {label}: {large['total_s']:.1f} s "
            f"(build {large['build_s']:.1f} s = {large['build_s'] / large['total_s']:.0%} of "
            f"it, + run {large['run_s']:.1f} s), peak RSS {large['peak_rss_mb']:,.0f} MB"
        )


if __name__ == "__main__":
    main()
