"""Benchmark of the model, measured in one run on this machine (not a test).

Prints:
1. Mesa's own cost per agent of ``AgentSet.shuffle_do`` with an empty step, next to the model's
   cost per agent-step (whole weekly step, all processes) at default and large size;
2. the default scenario's whole-run time (build + 104 weeks), best of several;
3. the large scenario (10,000 employees, 1,000,000 customers, 52 weeks): build and run time and
   peak memory (RSS), measured in a fresh subprocess. It has 5.5x more customers per employee
   than the default, so each employee's weekly capacity is scaled by the same factor (otherwise
   the organisation is simply overwhelmed and the benchmark measures a collapse).

Usage: python experiments/bench_model.py [--skip-large]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import mesa

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


def mesa_empty_dispatch_ns(n_agents: int = 100_000, repeats: int = 5) -> float:
    """Mesa's ns per agent for shuffle_do('step') with a step that does nothing."""
    model = mesa.Model(rng=1)
    _Idle.create_agents(model, n_agents)
    best = float("inf")
    for _ in range(repeats):
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


def large_in_subprocess() -> dict[str, float]:
    """The large scenario in a fresh interpreter, so its peak RSS is its own."""
    code = (
        "import json, resource, sys; sys.path.insert(0, '.');"
        "from experiments.bench_model import timed_run;"
        f"r = timed_run(52, n_employees=10_000, n_customers=1_000_000, "
        f"capacity_per_employee={LARGE_CAPACITY});"
        "r['peak_rss_mb'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024;"
        "print(json.dumps(r))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    """Measure and print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-large", action="store_true", help="skip the 1M-customer run")
    args = parser.parse_args()

    mesa_ns = mesa_empty_dispatch_ns()
    default = timed_run(104, repeats=5)
    print(f"Mesa empty shuffle_do:          {mesa_ns:8.1f} ns per agent")
    print(
        f"model, default size:            {default['ns_per_agent_step']:8.1f} ns per agent-step "
        f"({mesa_ns / default['ns_per_agent_step']:.1f}x cheaper than Mesa's empty dispatch; "
        f"{default['agents']:,} agents)"
    )
    print(
        f"default scenario, whole run:    {default['total_s']:8.3f} s "
        f"(build {default['build_s']:.3f} s + 104 weeks {default['run_s']:.3f} s)"
    )
    if args.skip_large:
        return
    large = large_in_subprocess()
    print(
        f"model, large size:              {large['ns_per_agent_step']:8.1f} ns per agent-step "
        f"({mesa_ns / large['ns_per_agent_step']:.1f}x cheaper than Mesa's empty dispatch; "
        f"{large['agents']:,} agents)"
    )
    print(
        f"large (10k staff, 1M customers, 52 weeks): {large['total_s']:.1f} s "
        f"(build {large['build_s']:.1f} s + run {large['run_s']:.1f} s), "
        f"peak RSS {large['peak_rss_mb']:,.0f} MB"
    )


if __name__ == "__main__":
    main()
