"""When does a change pay? Paired weekly profit differences of every preset against the baseline.

Every preset starts from today's organisation (the baseline's, settled) and changes its levers
at week 1. For each preset: the paired difference of weekly profit in weeks 1-13, 92-104 and
144-156 (mean over replications with a 95% t-interval), the cumulative difference at the
horizon, and the turning week: the first week from which the cumulative difference keeps its
final sign (the payback week of a change that ends ahead; the week a cut's early gain is used
up), per replication, with its mean and 95% t-interval.
Writes experiments/timing/output/timing.md and timing.csv.

    .venv/bin/python experiments/timing/run_timing.py [--reps 10] [--weeks 156]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from sim.runner import run_scenario
from sim.scenario import load_scenario, preset_names
from sim.stats import t_interval

BLOCKS = ((1, 13), (92, 104), (144, 156))


def weekly_profit(name: str, reps: int, weeks: int) -> pd.DataFrame:
    scenario = load_scenario(name).with_changes(steps=weeks, seed=1, reps=reps)
    series = run_scenario(scenario).timeseries
    return series.pivot(index="replication", columns="step", values="profit")


def turning_week(cumulative: np.ndarray) -> float:
    """First week (1-based) from which the cumulative difference keeps its final sign.

    For a change that ends ahead this is its payback week; for one that ends behind, the week
    its early gain (if any) is used up.
    """
    final = np.sign(cumulative[-1])
    other = np.flatnonzero(np.sign(cumulative) != final)
    return float(other[-1] + 2) if len(other) else 1.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=10)
    parser.add_argument("--weeks", type=int, default=156)
    args = parser.parse_args()
    base = weekly_profit("baseline", args.reps, args.weeks)
    rows = []
    for name in preset_names():
        if name == "baseline":
            continue
        diff = weekly_profit(name, args.reps, args.weeks) - base
        row: dict[str, object] = {"scenario": name}
        for first, last in BLOCKS:
            mean, low, high = t_interval(diff.loc[:, first:last].mean(axis=1).to_numpy())
            row[f"weeks {first}-{last}"] = f"{mean:+,.0f} [{low:+,.0f}, {high:+,.0f}]"
        cumulative = diff.loc[:, 1:].cumsum(axis=1).to_numpy()
        mean, low, high = t_interval(cumulative[:, -1])
        row[f"cumulative to week {args.weeks}"] = f"{mean:+,.0f} [{low:+,.0f}, {high:+,.0f}]"
        weeks = np.array([turning_week(c) for c in cumulative])
        ahead = int((cumulative[:, -1] > 0).sum())
        mean, low, high = t_interval(weeks)
        row["turning week"] = f"{mean:.0f} [{low:.0f}, {high:.0f}]"
        row["ahead at horizon"] = f"{ahead}/{len(weeks)}"
        rows.append(row)
    table = pd.DataFrame(rows)
    out = Path(__file__).resolve().parent / "output"
    out.mkdir(exist_ok=True)
    table.to_csv(out / "timing.csv", index=False)
    text = table.to_markdown(index=False) if _has_tabulate() else table.to_string(index=False)
    (out / "timing.md").write_text(
        f"Paired weekly profit difference to the baseline ($ per week; mean [95% CI]), "
        f"{args.reps} replications, {args.weeks} weeks, change from today.\n\n{text}\n"
    )
    print(text)


def _has_tabulate() -> bool:
    try:
        import tabulate  # noqa: F401
    except ImportError:
        return False
    return True


if __name__ == "__main__":
    main()
