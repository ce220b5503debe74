"""Scan the cost-of-goods share against T4 (profitability gap of engagement quartiles).

The cost of goods moves with sales and feeds back into nothing the people or customers do, so
each share is compared on the same organisations: spend per visit is raised so that the gross
profit of a visit stays what it was at share 0 (``BASE_SPEND``), the organisation fit sets
premises and overheads to the default 10% margin, and the baseline is run on the validation's
seeds. Prints, per share, T4 and T5 as ``sim validate`` measures them, the units' mean margin
and its spread.

    python experiments/calibration/goods_share.py [--reps 12] [--shares 0,0.6,0.65,0.7,0.75]

A share whose 10% margin is impossible (people and policies cost more than the gross profit)
is reported as such. The table is also written to ``output/goods_share.csv``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from sim import validate
from sim.model import ServiceModel
from sim.organisation import OrganisationError, fit
from sim.params import Params

BASE_SPEND = 300.0  # spend per visit at goods share 0 (the default before the cost of goods)
MARGIN = 0.10  # the default organisation's margin (the fit's figure)
OUT = Path(__file__).resolve().parent / "output" / "goods_share.csv"


def scan(shares: list[float], reps: int) -> list[dict[str, float]]:
    """T4, T5 and unit margins for each goods share."""
    rows = []
    for share in shares:
        params = Params(goods_cost_share=share, spend_per_visit=BASE_SPEND / (1.0 - share))
        try:
            fixed = fit(params, {"margin": MARGIN}).params["fixed_cost_per_customer"]
        except OrganisationError as err:
            print(f"goods_cost_share {share:g}: {err}", flush=True)
            continue
        overrides = {"goods_cost_share": share, "spend_per_visit": params.spend_per_visit,
                     "fixed_cost_per_customer": fixed}
        study = validate.Study(reps, overrides, 1)
        study.baseline = [ServiceModel("baseline", rng=1 + r, replication=r, **overrides)
                          .run(validate.WEEKS) for r in range(reps)]
        units = validate._units(study)
        t4 = validate.MEASURES["T4"](study)
        t5 = validate.MEASURES["T5"](study)
        rows.append({"goods_cost_share": share, "spend_per_visit": params.spend_per_visit,
                     "fixed_cost_per_customer": fixed, "T4": t4[0], "T4_low": t4[1],
                     "T4_high": t4[2], "T5": t5[0], "margin_mean": float(units["margin"].mean()),
                     "margin_sd": float(units["margin"].std()),
                     "loss_making_units": float(np.mean(units["margin"] < 0))})
        print(" ".join(f"{k} {v:.4g}" for k, v in rows[-1].items()), flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=12)
    parser.add_argument("--shares", default="0,0.6,0.65,0.7,0.75")
    args = parser.parse_args()
    rows = scan([float(s) for s in args.shares.split(",")], args.reps)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(OUT, index=False)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
