"""Welch's method for the warm-up length of today's organisation (sim.start.SETTLE_WEEKS).

Builds the first-guess organisation of several seeds, runs it for many weeks on the settle
streams, and prints the ensemble mean of each stock per 26-week block: the warm-up must cover
the blocks in which the means still trend. Writes experiments/settle/output/welch.csv.

    .venv/bin/python experiments/settle/welch.py [--weeks 520] [--seeds 8]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from sim import start
from sim.metrics import measure
from sim.params import Params
from sim.rng import Streams
from sim.week import run_week

STOCKS = (
    "engagement_mean", "trust_mean", "burnout_mean", "skill_mean", "service_quality", "csat",
    "customers_active", "prospects", "loyalty_mean", "process_quality_mean",
    "manager_engagement_mean", "vacancies", "employee_turnover_rate", "revenue", "profit",
)
BLOCK = 26


def ensemble(weeks: int, seeds: int, params: Params) -> pd.DataFrame:
    runs = []
    for seed in range(1, seeds + 1):
        streams = Streams(seed)
        org = start.build(params, streams)
        rows = []
        for week in range(1, weeks + 1):
            result = run_week(org, params, streams, week, stream="settle.")
            kpis = measure(result, 0.0)[0]
            rows.append([kpis[k] for k in STOCKS])
        runs.append(rows)
    mean = np.asarray(runs).mean(axis=0)[: weeks // BLOCK * BLOCK]
    blocks = mean.reshape(-1, BLOCK, len(STOCKS)).mean(axis=1)
    frame = pd.DataFrame(blocks, columns=list(STOCKS))
    frame.insert(0, "weeks", [f"{i * BLOCK + 1}-{(i + 1) * BLOCK}" for i in range(len(frame))])
    return frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weeks", type=int, default=520)
    parser.add_argument("--seeds", type=int, default=8)
    args = parser.parse_args()
    frame = ensemble(args.weeks, args.seeds, Params())
    out = Path(__file__).resolve().parent / "output"
    out.mkdir(exist_ok=True)
    frame.to_csv(out / "welch.csv", index=False)
    with pd.option_context("display.width", 250, "display.max_columns", 30):
        print(frame.set_index("weeks").T.to_string(float_format=lambda v: f"{v:.4g}"))


if __name__ == "__main__":
    main()
