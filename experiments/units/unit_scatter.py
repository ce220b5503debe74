"""Business units of the default organisation: a scatter of engagement, CSAT and margin.

Runs the baseline on seeds 1..R (one organisation each), builds the unit table a field study
would (surveyed engagement and CSAT, weeks 1-104) and draws two panels: CSAT against
engagement and margin against engagement, coloured by the other outcome, each organisation's
units centred on its own means as in ``sim units``. It also measures how a unit's ranks persist
from year 1 to year 2 (Spearman, per organisation). Writes ``output/unit_scatter.png`` and
``output/units.md``.

    python experiments/units/unit_scatter.py [--reps 8]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from sim import ServiceModel  # noqa: E402
from sim.unit_analytics import (  # noqa: E402
    engagement_relations,
    quartile_comparison,
    rank_persistence,
    unit_table,
)

OUT = Path(__file__).resolve().parent / "output"
WEEKS = 104
PERSISTENT = ("csat", "turnover", "profit")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=8)
    args = parser.parse_args()
    frames = [ServiceModel(rng=1 + r, replication=r).run(WEEKS).unit_timeseries()
              for r in range(args.reps)]
    history = pd.concat(frames, ignore_index=True)
    table = unit_table(history, start=1, end=WEEKS)
    centred = table.assign(
        **{k: table[k] - table.groupby("replication")[k].transform("mean")
           for k in ("engagement", "csat", "margin")})

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.2))
    dots = left.scatter(100 * centred["engagement"], 100 * centred["csat"],
                        c=100 * table["margin"], cmap="viridis", s=18)
    left.set(xlabel="unit engagement, surveyed (points from its organisation's mean)",
             ylabel="unit CSAT, surveyed (points from mean)")
    fig.colorbar(dots, ax=left, label="margin (%)")
    dots = right.scatter(100 * centred["engagement"], 100 * centred["margin"],
                         c=100 * table["csat"], cmap="magma", s=18)
    right.set(xlabel="unit engagement, surveyed (points from mean)",
              ylabel="unit margin (points from mean)")
    fig.colorbar(dots, ax=right, label="CSAT, surveyed (0-100)")
    fig.suptitle(f"Units of the default organisation, {args.reps} organisations, weeks 1-{WEEKS}")
    fig.tight_layout()
    OUT.mkdir(parents=True, exist_ok=True)
    fig.savefig(OUT / "unit_scatter.png", dpi=120)

    rho = rank_persistence(history, PERSISTENT, split=WEEKS // 2)
    quartiles = quartile_comparison(table)
    relations = engagement_relations(table).set_index("outcome")
    lines = [f"Units of the default organisation: {args.reps} organisations (seeds 1-{args.reps}),"
             f" {len(table)} units, weeks 1-{WEEKS}, surveyed engagement and CSAT.", "",
             "| measure | value |", "|---|---|"]
    lines += [f"| year 1 vs year 2 rank correlation, {key} (mean ± sd over organisations) | "
              f"{np.mean(v):.2f} ± {np.std(v, ddof=1):.2f} |" for key, v in rho.items()]
    lines += [f"| top vs bottom engagement quartile, {k} | {quartiles[k]:+.1f} % |"
              for k in ("customer_ratings_pct", "profitability_pct", "productivity_pct",
                        "turnover_pct")]
    lines += [f"| r(engagement, {k}) within organisations [95% CI] | {row['r']:+.2f} "
              f"[{row['r_low']:+.2f}, {row['r_high']:+.2f}] |" for k, row in relations.iterrows()]
    lines += [f"| sd of unit CSAT / engagement / margin (points) | "
              f"{100 * centred['csat'].std():.1f} / {100 * centred['engagement'].std():.1f} / "
              f"{100 * centred['margin'].std():.1f} |"]
    (OUT / "units.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"wrote {OUT / 'unit_scatter.png'} and units.md")


if __name__ == "__main__":
    main()
