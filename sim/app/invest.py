"""The money view of a comparison: NPV, ROI, payback, P(beats), cost lines and the profit bridge.

Everything is computed per paired replication (replication r of the plan against replication r
of the comparator, same seed) over the weeks 1..H of the horizon: week 0 is the settled week
before the plan's levers act, and ``cum_profit`` of week t is the profit of weeks 1..t. Means come
with 95% t-intervals over the replications (:func:`sim.stats.t_interval`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from sim.app.charts import money
from sim.app.state import Comparison
from sim.metrics import COST_KPIS
from sim.stats import DISCOUNT_RATE, discount_factors, t_interval

# Label of each ledger cost line on the page, in the page's order; the time series' column of
# each line is named once, in sim.metrics.COST_KPIS.
COST_LABELS = {"goods": "goods sold", "wages": "wages", "hiring": "hiring",
               "training": "training", "resources": "tools/resources",
               "recognition": "recognition", "rewards": "rewards", "surveys": "surveys",
               "fixed": "fixed"}
COST_LINES: dict[str, str] = {COST_KPIS[line]: label for line, label in COST_LABELS.items()}


@dataclass(frozen=True)
class Estimate:
    """Mean of paired differences over replications and its 95% CI (nan with one)."""

    mean: float
    low: float
    high: float

    @classmethod
    def of(cls, values: np.ndarray) -> Estimate:
        """The estimate from one paired difference per replication."""
        mean, low, high = t_interval(np.asarray(values, dtype=float))
        return cls(float(mean), float(low), float(high))

    @property
    def has_ci(self) -> bool:
        """False with a single replication."""
        return self.low == self.low


@dataclass(frozen=True)
class Investment:
    """The plan as an investment against the comparator over the horizon."""

    reps: int
    weeks: int                      # horizon H (weeks 1..H count)
    rate: float                     # yearly discount rate
    identical: bool                 # the plan's runs are the comparator's (nothing to compare)
    profit: Estimate                # cumulative profit difference at the horizon
    npv: Estimate                   # discounted weekly profit differences, weeks 1..H
    extra_cost: Estimate            # cost difference over the horizon (plan minus comparator)
    roi: float | None               # mean profit difference / mean extra cost, in %
    paybacks: np.ndarray            # per replication: payback week, -1 if not paid back
    payback: Estimate | None        # mean payback week of those that paid back, 95% CI
    p_beats: float                  # share of replications with a positive difference at H
    p_low: float                    # Wilson 95% interval of that share
    p_high: float
    costs: dict[str, tuple[float, float, Estimate]]   # line -> plan, comparator, difference

    @property
    def paid_back(self) -> int:
        """Replications whose cumulative difference is positive from some week to the end."""
        return int((self.paybacks >= 0).sum())


def payback_weeks(diff: np.ndarray) -> np.ndarray:
    """Per replication, the first week from which the cumulative difference stays positive.

    ``diff`` has one row per replication and the weeks 0..H as columns; -1 where the difference
    is not positive at H.
    """
    out = np.full(diff.shape[0], -1, dtype=int)
    for r, row in enumerate(diff):
        if row[-1] > 0:
            negative = np.flatnonzero(row <= 0)
            out[r] = int(negative[-1] + 1) if len(negative) else 0
    return out


def wilson(successes: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """Wilson score 95% interval of a proportion."""
    if n == 0:
        return float("nan"), float("nan")
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))


def horizon_sum(comp: Comparison, which: str, key: str) -> np.ndarray:
    """Per replication, the sum of a weekly column over weeks 1..H."""
    return comp.matrix(which, key)[:, 1:].sum(axis=1)


def identical(comp: Comparison) -> bool:
    """Whether the plan's runs are exactly the comparator's (a self-comparison)."""
    return all(np.array_equal(comp.matrix("scenario", k), comp.matrix("baseline", k))
               for k in ("profit", "revenue", "costs", "engagement_mean", "customers_active"))


def investment(comp: Comparison, rate: float = DISCOUNT_RATE) -> Investment:
    """NPV, ROI, payback per replication, P(beats) and the cost lines of a comparison."""
    cum = comp.matrix("scenario", "cum_profit") - comp.matrix("baseline", "cum_profit")
    reps, weeks = cum.shape[0], cum.shape[1] - 1
    weekly = comp.matrix("scenario", "profit") - comp.matrix("baseline", "profit")
    npv = (weekly[:, 1:] * discount_factors(weeks, rate)).sum(axis=1)
    extra = horizon_sum(comp, "scenario", "costs") - horizon_sum(comp, "baseline", "costs")
    profit = Estimate.of(cum[:, -1])
    extra_cost = Estimate.of(extra)
    roi = 100.0 * profit.mean / extra_cost.mean if extra_cost.mean > 0 else None
    paybacks = payback_weeks(cum)
    done = paybacks[paybacks >= 0]
    payback = Estimate.of(done) if len(done) else None
    beats = int((cum[:, -1] > 0).sum())
    p_low, p_high = wilson(beats, reps)
    costs = {}
    for key in COST_LINES:
        s, b = horizon_sum(comp, "scenario", key), horizon_sum(comp, "baseline", key)
        costs[key] = (float(s.mean()), float(b.mean()), Estimate.of(s - b))
    return Investment(reps, weeks, rate, identical(comp), profit, Estimate.of(npv), extra_cost,
                      roi, paybacks, payback, beats / reps, p_low, p_high, costs)


# --- the profit bridge ------------------------------------------------------------------------

REVENUE_PARTS = {"customers": "customers (customer-weeks)",
                 "visits_per_customer": "visits per customer",
                 "spend_per_visit": "spend per visit"}


def _logmean(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Logarithmic mean L(a, b) = (a - b) / (ln a - ln b), and a where a == b."""
    with np.errstate(divide="ignore", invalid="ignore"):
        out = (a - b) / (np.log(a) - np.log(b))
    return np.where(np.isclose(a, b, rtol=1e-12, atol=0.0), a, out)


def revenue_parts(c1, v1, r1, c0, v0, r0) -> dict[str, np.ndarray]:
    """LMDI-I split of r1 - r0 where r = customers x (visits/customer) x (revenue/visit).

    Each factor's contribution is L(r1, r0) * ln(factor1 / factor0); the three add up exactly to
    r1 - r0 (the logs of the ratios sum to ln(r1/r0)). Replications where a total is not
    positive (no customers or no visits) cannot be split: their whole difference is put on
    spend per visit.
    """
    c1, v1, r1, c0, v0, r0 = (np.asarray(x, dtype=float) for x in (c1, v1, r1, c0, v0, r0))
    ok = (np.minimum.reduce([c1, v1, r1, c0, v0, r0]) > 0)
    safe = [np.where(ok, x, 1.0) for x in (c1, v1, r1, c0, v0, r0)]
    c1s, v1s, r1s, c0s, v0s, r0s = safe
    weight = _logmean(r1s, r0s)
    customers = weight * np.log(c1s / c0s)
    visits = weight * np.log((v1s / c1s) / (v0s / c0s))
    spend = (r1 - r0) - customers - visits   # = weight * ln(spend ratio), closes exactly
    return {"customers": np.where(ok, customers, 0.0),
            "visits_per_customer": np.where(ok, visits, 0.0),
            "spend_per_visit": np.where(ok, spend, r1 - r0)}


@dataclass(frozen=True)
class Bridge:
    """From the comparator's profit to the plan's over weeks 1..H, in additive steps."""

    comparator_profit: float
    plan_profit: float
    steps: list[tuple[str, str, Estimate]]   # (key, label, contribution to the profit)

    @property
    def total(self) -> float:
        """Sum of the mean contributions (the mean profit difference)."""
        return float(sum(e.mean for _, _, e in self.steps))


def bridge(comp: Comparison) -> Bridge:
    """Profit bridge from the comparator to the plan over weeks 1..H.

    Revenue split into customers, visits per customer and spend per visit (LMDI, per
    replication), then each cost line (a cost increase counts negatively).

    Computed per replication and averaged, so the parts add up to the mean profit difference.
    """
    sums = {(w, k): horizon_sum(comp, w, k) for w in ("scenario", "baseline")
            for k in ("customers_active", "visits", "revenue", "profit")}
    parts = revenue_parts(sums["scenario", "customers_active"], sums["scenario", "visits"],
                          sums["scenario", "revenue"], sums["baseline", "customers_active"],
                          sums["baseline", "visits"], sums["baseline", "revenue"])
    steps = [(k, REVENUE_PARTS[k], Estimate.of(v)) for k, v in parts.items()]
    for key, label in COST_LINES.items():
        diff = horizon_sum(comp, "scenario", key) - horizon_sum(comp, "baseline", key)
        steps.append((key, label, Estimate.of(-diff)))
    return Bridge(float(sums["baseline", "profit"].mean()),
                  float(sums["scenario", "profit"].mean()), steps)


def ci_text(est: Estimate, fmt: Callable[[float], str] = money) -> str:
    """The 95% interval of an estimate, in words (``fmt`` writes a value; default: money)."""
    return f"95% CI {fmt(est.low)} to {fmt(est.high)}" if est.has_ci else "one replication: no CI"


def beats_note(inv: Investment) -> str:
    """The probability that the plan beats the comparator, with what it rests on."""
    return (f"{inv.p_beats:.0%} of {inv.reps} paired replications end ahead (an estimate from "
            f"{inv.reps} replications; Wilson 95% interval {inv.p_low:.0%} to {inv.p_high:.0%})")

