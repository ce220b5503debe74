"""Business-unit analytics: the per-unit table and the engagement-quartile comparison.

Large business-unit meta-analyses (Gallup Q12; targets T3-T6 of ``sim validate``) compare the
units in the top quartile of employee engagement with those in the bottom quartile. This module
does the same with simulated units, so the model can be checked against those patterns
(calibration) and users can read their own runs the way a field study would.

Definitions (all computed over a window of weeks, by default the second half of the run, so the
start-up weeks do not dominate):

* ``engagement``, ``csat`` (customer satisfaction, 0-1): unit means over the window of the
  company's surveys (the engagement survey and rated visits; ``engagement_true`` and
  ``csat_true`` are the model's true values); ``loyalty``: the unit's mean loyalty.
* ``revenue_growth``: mean weekly revenue in the last quarter of the window over the first
  quarter, minus one.
* ``profit``: summed profit; ``revenue``: summed revenue; ``margin`` = profit / revenue.
* ``turnover``: yearly staff turnover, ``1 - (1 - mean weekly quit rate) ** 52``;
  ``churn``: yearly customer churn the same way; ``retention`` = 1 - churn.

Quartile comparison: within each replication, units are ranked by window engagement; the top
and bottom quartiles (``ceil(n/4)`` units each) are pooled over replications and compared as
relative differences in percent, ``100 * (top - bottom) / |bottom|``, for customer ratings
(csat), profitability (margin) and turnover.
"""

from __future__ import annotations

import argparse
import math
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from sim.stats import per_year

if TYPE_CHECKING:
    from sim.model import ServiceModel

UNIT_TABLE_COLUMNS = ("engagement", "csat", "engagement_true", "csat_true", "loyalty",
                      "revenue_growth", "revenue", "profit",
                      "margin", "turnover", "churn", "retention", "customers", "staff")
COMPARISON_KEYS = ("customer_ratings_pct", "profitability_pct", "turnover_pct")


def _as_frame(run: pd.DataFrame | ServiceModel) -> pd.DataFrame:
    if isinstance(run, pd.DataFrame):
        frame = run
    else:
        frame = run.unit_timeseries()
    if "replication" not in frame.columns:
        frame = frame.assign(replication=0)
    return frame


def unit_table(run: pd.DataFrame | ServiceModel, start: int | None = None,
               end: int | None = None, surveyed: bool = True) -> pd.DataFrame:
    """One row per replication and unit with the outcomes a business-unit study would record.

    Args:
        run: a model (after ``run()``) or its ``unit_timeseries()`` (several replications allowed).
        start: first week of the window (default: ``end // 2 + 1``, the second half, e.g.
            weeks 53-104; never step 0, which has no encounters, revenue or quits).
        end: last week of the window (default: the last step).
        surveyed: ``engagement`` and ``csat`` as the company's surveys measured them (the
            default, as in a field study: attenuated by sampling and item noise, see
            :mod:`sim.surveys`); False uses the true values. Both are kept, the true ones as
            ``engagement_true`` and ``csat_true``.
    """
    frame = _as_frame(run)
    last = int(frame["step"].max())
    end = last if end is None else end
    start = max(1, end // 2 + 1 if start is None else start)
    if start > end:
        raise ValueError(f"window start {start} is after its end {end}")
    window = frame[(frame["step"] >= start) & (frame["step"] <= end)]
    keys = ["replication", "unit"]
    grouped = window.groupby(keys)
    table = grouped[["engagement", "csat", "loyalty", "customers", "staff"]].mean()
    table["engagement_true"], table["csat_true"] = table["engagement"], table["csat"]
    if surveyed:
        table["engagement"] = grouped["engagement_surveyed"].mean()  # NaN-skipping means
        table["csat"] = grouped["csat_surveyed"].mean()
    table["revenue"] = grouped["revenue"].sum()
    table["profit"] = grouped["profit"].sum()
    table["margin"] = table["profit"] / table["revenue"].where(table["revenue"] != 0)
    table["turnover"] = per_year(grouped["turnover"].mean())
    table["churn"] = per_year(grouped["churn"].mean())
    table["retention"] = 1.0 - table["churn"]
    quarter = max(1, (end - start + 1) // 4)
    early = window[window["step"] < start + quarter].groupby(keys)["revenue"].mean()
    late = window[window["step"] > end - quarter].groupby(keys)["revenue"].mean()
    table["revenue_growth"] = late / early.where(early != 0) - 1.0
    return table[list(UNIT_TABLE_COLUMNS)].reset_index()


def _relative_pct(top: float, bottom: float) -> float:
    if bottom == 0 or not np.isfinite(bottom) or not np.isfinite(top):
        return float("nan")
    return 100.0 * (top - bottom) / abs(bottom)


def quartile_comparison(table: pd.DataFrame) -> dict[str, float]:
    """Top- vs bottom-engagement-quartile units, in percent.

    Quartiles are formed within each replication (each replication is one organisation, as in
    a study); the units of each quartile are then pooled over replications and the relative
    difference is taken of the pooled means (a ratio of means: stabler than a mean of per-run
    ratios when a quartile's margin is close to zero).

    Args:
        table: the output of :func:`unit_table`.

    Returns:
        ``customer_ratings_pct`` (csat), ``profitability_pct`` (margin = pooled profit / pooled
        revenue), ``turnover_pct`` (negative when top units lose fewer staff) and
        ``productivity_pct`` (pooled revenue per employee), plus ``n_per_quartile`` (units per
        quartile in one replication).
    """
    tops, bottoms = [], []
    k = 1
    for _, units in table.groupby("replication"):
        k = max(1, math.ceil(len(units) / 4))
        ranked = units.sort_values(["engagement", "unit"], kind="stable")
        bottoms.append(ranked.head(k))
        tops.append(ranked.tail(k))
    top, bottom = pd.concat(tops), pd.concat(bottoms)
    return {
        "customer_ratings_pct": _relative_pct(top["csat"].mean(), bottom["csat"].mean()),
        "profitability_pct": _relative_pct(top["profit"].sum() / top["revenue"].sum(),
                                           bottom["profit"].sum() / bottom["revenue"].sum()),
        "turnover_pct": _relative_pct(top["turnover"].mean(), bottom["turnover"].mean()),
        "productivity_pct": _relative_pct(top["revenue"].sum() / top["staff"].sum(),
                                          bottom["revenue"].sum() / bottom["staff"].sum()),
        "n_per_quartile": float(k),
    }


RELATION_OUTCOMES = ("csat", "margin", "turnover", "productivity", "loyalty")


def engagement_relations(table: pd.DataFrame) -> pd.DataFrame:
    """Unit outcomes against unit engagement: correlation and regression slope with 95% CIs.

    Within each replication (one organisation) engagement and the outcome are centred, then the
    units of all replications are pooled, so differences between organisations do not count;
    the correlation's interval is Fisher's, the slope's the regression's t-interval. With the
    default, survey-measured table the relations are attenuated as in field studies.
    """
    from scipy import stats

    frame = table.assign(productivity=table["revenue"] / table["staff"].where(table["staff"] > 0))
    rows = []
    for outcome in RELATION_OUTCOMES:
        pair = frame[["replication", "engagement", outcome]].dropna()
        centred = pair[["engagement", outcome]] - pair.groupby("replication")[
            ["engagement", outcome]].transform("mean")
        x, y = centred["engagement"].to_numpy(), centred[outcome].to_numpy()
        n, groups = len(x), pair["replication"].nunique()
        if n - groups < 3 or np.std(x) == 0 or np.std(y) == 0:
            rows.append({"outcome": outcome, "n_units": n})
            continue
        r = float(np.corrcoef(x, y)[0, 1])
        z = math.atanh(min(max(r, -1 + 1e-12), 1 - 1e-12))
        half = 1.96 / math.sqrt(max(n - groups - 2, 1))
        fit = stats.linregress(x, y)
        t = stats.t.ppf(0.975, n - groups - 1)
        rows.append({"outcome": outcome, "n_units": n, "r": r,
                     "r_low": math.tanh(z - half), "r_high": math.tanh(z + half),
                     "slope": fit.slope, "slope_low": fit.slope - t * fit.stderr,
                     "slope_high": fit.slope + t * fit.stderr})
    return pd.DataFrame(rows)


def rank_persistence(history: pd.DataFrame, keys: tuple[str, ...], split: int
                     ) -> dict[str, list[float]]:
    """How far units keep their ranks, one Spearman correlation per replication and outcome.

    The unit ranks of each outcome over weeks 1..``split`` against those over the weeks after:
    persistent unit differences show up as correlations well above zero.
    """
    from scipy.stats import spearmanr

    rho: dict[str, list[float]] = {key: [] for key in keys}
    for _, frame in _as_frame(history).groupby("replication"):
        first = unit_table(frame, start=1, end=split).set_index("unit")
        second = unit_table(frame, start=split + 1).set_index("unit")
        for key in keys:
            rho[key].append(float(spearmanr(first[key], second[key]).statistic))
    return rho


def _cmd_units(args: argparse.Namespace) -> int:
    """Print the per-unit table and the quartile comparison of a scenario's replications."""
    from sim.runner import run_scenario
    from sim.scenario import load_scenario

    scenario = load_scenario(args.scenario).with_changes(seed=args.seed, reps=args.reps)
    if args.out is not None:
        _check_csv_target(args.out)  # before the run: a bad --out costs no waiting
    result = run_scenario(scenario)
    table = unit_table(result.units)
    print(f"{scenario.name}: {scenario.reps} replication(s) x {scenario.steps} weeks, "
          f"seed {scenario.seed}; window: second half of the run")
    print(table.to_string(index=False, float_format=lambda v: f"{v:,.3f}"))
    comparison = quartile_comparison(table)
    print(f"\ntop vs bottom engagement quartile ({comparison['n_per_quartile']:.0f} units each):")
    for key in COMPARISON_KEYS:
        print(f"  {key:<22} {comparison[key]:+.1f}%")
    relations = engagement_relations(table)
    print("\nunit outcomes against unit engagement (within organisations; 95% CIs):")
    for row in relations.itertuples():
        if pd.isna(getattr(row, "r", np.nan)):
            print(f"  {row.outcome:<13} too few units")
            continue
        print(f"  {row.outcome:<13} r {row.r:+.2f} [{row.r_low:+.2f}, {row.r_high:+.2f}]   "
              f"slope {row.slope:+.3g} [{row.slope_low:+.3g}, {row.slope_high:+.3g}] "
              f"per unit of engagement ({row.n_units} units)")
    if args.out:
        table.to_csv(args.out, index=False)
        print(f"wrote {args.out}")
    return 0


def _check_csv_target(out: str) -> None:
    """Refuse (one line, nothing created) an ``--out`` file that could not be written."""
    from pathlib import Path

    from sim.params import ParameterError
    from sim.runner import prepare_output_dir

    target = Path(out)
    named = out if out.isprintable() else repr(out)
    if out == "":
        raise ParameterError("--out: expected a CSV file name, got an empty string")
    if target.is_dir():
        raise ParameterError(f"--out {named}: expected a CSV file name, not a directory")
    try:
        prepare_output_dir(target.parent)
    except ParameterError as err:  # "--out PARENT: reason" -> "--out FILE: folder PARENT: reason"
        reason = str(err).partition(": ")[2]
        raise ParameterError(f"--out {named}: folder {target.parent}: {reason}") from None


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``sim units SCENARIO [--seed S] [--reps R] [--out FILE.csv]``."""
    units = subparsers.add_parser("units", help="per-unit table and engagement-quartile comparison")
    units.add_argument("scenario", help="preset name (see `sim scenarios`) or path to a YAML file")
    units.add_argument("--seed", type=int, help="seed of replication 0 (default: the scenario's)")
    units.add_argument("--reps", type=int, help="replications (seeds seed, seed+1, ...)")
    units.add_argument("--out", help="also write the unit table to this CSV file")
    units.set_defaults(func=_cmd_units)
