"""Why a plan differs from its comparator: drivers, levers, the chain's loops and sensitivity.

Every view here rests on paired replications: replication r of the plan and of the comparator
share seed r (common random numbers), so a difference is computed per replication and only then
averaged, and the same inputs always give the same numbers.

* **Engagement drivers.** Engagement is pulled towards ``logistic(z)``, where the logit ``z`` is a
  sum of driver terms (:func:`sim.workforce.engagement_terms`, the very dict the model sums each
  week). The mean of a sum is the sum of the means, so the difference in the mean logit between
  plan and comparator splits exactly into one difference per driver (no residual, no ordering).
* **Levers (Shapley values).** A lever is a parameter whose weekly setting differs between plan and
  comparator (its initial value and its timeline events are one player). The value of a
  coalition is the profit over the horizon of the comparator with that coalition's settings taken
  from the plan. Shapley values share the profit difference among the levers and sum to it
  exactly (efficiency), exactly enumerated up to :data:`MAX_EXACT` levers, estimated from seeded
  random orders beyond (each order also sums exactly to the difference).
* **The chain.** The paired change of each node of the service-profit chain at a chosen week, and
  a rule that says whether the cycle of success or the cycle of failure dominates.
* **Tornado.** One KPI's change when each lever alone moves ±10% of its range from the plan.

No model code is copied here: the terms come from the model's own function, runs from the model.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from sim import leadership, workforce
from sim.app.state import END_WEEKS, FLOWS, Comparison
from sim.elementary import logistic
from sim.model import ServiceModel
from sim.params import SPECS, ParameterError
from sim.runner import replication_seed
from sim.scenario import Intervention, ServiceScenario
from sim.stats import t_interval


class Stopped(Exception):
    """The caller asked a long computation to stop (the page's Cancel or a newer request)."""


# --- engagement drivers ---------------------------------------------------------------------

# Plain names of the terms of the engagement logit (sim.workforce.engagement_terms); a term the
# model gains later is shown under its key until it is named here.
DRIVER_LABELS: dict[str, str] = {
    "intercept": "Baseline (intercept)",
    "trust": "Trust in the manager",
    "resources": "Tools and resources",
    "alignment": "Goal alignment (knowing why)",
    "recognition": "Recognition",
    "rewards": "Customer-linked rewards",
    "mentoring": "Mentoring",
    "autonomy": "Autonomy",
    "voice": "Voice climate",
    "surveys": "Surveys acted upon",
    "customer_feedback": "Customer feedback",
    "fit": "Person-job fit",
    "pay": "Pay",
    "mood": "Mood",
    "burnout": "Burnout",
    "disposition": "Personal disposition (who is employed)",
}


def driver_label(key: str) -> str:
    """The plain name of an engagement driver."""
    return DRIVER_LABELS.get(key, key.replace("_", " ").capitalize())


@dataclass(frozen=True)
class TermSnapshot:
    """Mean engagement terms over the staff in post at one moment of one model."""

    terms: dict[str, float]    # driver -> mean additive term of the logit
    logit: float               # mean of the summed logit (the same sum the model takes)
    target: float              # mean engagement target, logistic(logit) per person
    engagement: float          # mean engagement (the KPI engagement_mean)


def term_snapshot(model: ServiceModel) -> TermSnapshot:
    """The engagement equation's terms on the model's state now, under its current levers.

    Read at the end of a week: the pull the organisation's state puts on each employee's
    engagement (its target), split by driver exactly as :func:`sim.workforce.engagement_target`
    sums it.
    """
    org, params = model.organisation, model.params
    wf = org.workforce
    lead = leadership.behaviour(params, org.units)
    mentoring = workforce.mentoring_received(params, lead, org.team_size())
    terms = workforce.engagement_terms(params, wf, lead, org.units, mentoring)
    on = wf.filled
    n = max(int(np.count_nonzero(on)), 1)
    z_all = np.broadcast_to(workforce.engagement_logit(terms.values()), on.shape)

    def mean(values: np.ndarray | float) -> float:
        if np.ndim(values) == 0:
            return float(values)
        return float(np.sum(values, where=on, dtype=np.float64) / n)

    return TermSnapshot({k: mean(v) for k, v in terms.items()}, mean(z_all),
                        mean(logistic(z_all)), mean(wf.engagement))


@dataclass(frozen=True)
class EngagementPath:
    """One replication's mean engagement terms at the end of each week 1..H."""

    drivers: tuple[str, ...]
    terms: np.ndarray          # (H, drivers)
    logit: np.ndarray          # (H,)
    target: np.ndarray         # (H,)
    engagement: np.ndarray     # (H,)


def engagement_path(scenario: ServiceScenario, replication: int,
                    should_stop: Callable[[], bool] | None = None) -> EngagementPath:
    """Run one replication (as ``sim run`` would) and record the engagement terms every week.

    ``should_stop()`` is asked before each week; if true, :class:`Stopped` is raised.
    """
    model = ServiceModel(scenario, rng=replication_seed(scenario, replication),
                         replication=replication)
    rows: list[TermSnapshot] = []
    for _ in range(max(scenario.steps - model.steps, 0)):
        if should_stop is not None and should_stop():
            raise Stopped()
        model.step()
        rows.append(term_snapshot(model))
    drivers = tuple(rows[0].terms) if rows else ()
    return EngagementPath(
        drivers,
        np.array([[r.terms[d] for d in drivers] for r in rows], dtype=float).reshape(
            len(rows), len(drivers)),
        np.array([r.logit for r in rows]), np.array([r.target for r in rows]),
        np.array([r.engagement for r in rows]))


@dataclass(frozen=True)
class EngagementAttribution:
    """Plan minus comparator at one week, per paired replication (rows)."""

    week: int
    drivers: tuple[str, ...]
    diffs: np.ndarray          # (reps, drivers): difference of each driver's mean term
    logit: np.ndarray          # (reps,): difference of the mean logit (the sum of the rows)
    target: np.ndarray         # (reps,): difference of the mean engagement target
    engagement: np.ndarray     # (reps,): difference of mean engagement

    def mean(self) -> dict[str, float]:
        """Mean difference per driver over the replications."""
        return dict(zip(self.drivers, self.diffs.mean(axis=0).tolist(), strict=True))


def attribute_engagement(plan: Sequence[EngagementPath], comparator: Sequence[EngagementPath],
                         week: int) -> EngagementAttribution:
    """Split the change of the mean engagement logit at ``week`` (1..H) into its drivers.

    Paths are paired by position (replication r with replication r).
    """
    if len(plan) != len(comparator) or not plan:
        raise ValueError("need the same, non-zero number of plan and comparator replications")
    drivers = plan[0].drivers
    if any(p.drivers != drivers for p in (*plan, *comparator)):
        raise ValueError("the replications record different drivers")
    i = week - 1
    if not 0 <= i < len(plan[0].logit):
        raise ValueError(f"week {week} is outside 1..{len(plan[0].logit)}")

    def stack(field: str) -> np.ndarray:
        return (np.array([getattr(p, field)[i] for p in plan])
                - np.array([getattr(c, field)[i] for c in comparator]))

    return EngagementAttribution(week, drivers, stack("terms"), stack("logit"), stack("target"),
                                 stack("engagement"))


# --- levers: Shapley values -------------------------------------------------------------------

MAX_EXACT = 6             # exact Shapley values up to this many levers (2**6 = 64 coalitions)
SAMPLED_COALITIONS = 64   # beyond: seeded random orders, about this many coalitions in all
ORGANISATION = "organisation"   # a plan's figures of today's organisation, as one player


def setting_path(scenario: ServiceScenario, name: str) -> np.ndarray:
    """A parameter's setting in each week 1..H: its value, then its timeline events."""
    path = np.full(scenario.steps, float(getattr(scenario.params, name)))
    for event in scenario.timeline:             # sorted by week; later events win
        if name in event.changes:
            path[event.week - 1:] = float(event.changes[name])
    return path


def players(plan: ServiceScenario, comparator: ServiceScenario) -> list[str]:
    """The parameters whose weekly settings differ between plan and comparator (schema order).

    A lever set at the start and again by the timeline is one player. Differing figures of today's
    organisation (``organisation:``) are one more player.
    """
    if plan.steps != comparator.steps:
        raise ValueError("plan and comparator must have the same horizon")
    found = [n for n in SPECS
             if not np.array_equal(setting_path(plan, n), setting_path(comparator, n))]
    if plan.organisation != comparator.organisation:
        found.append(ORGANISATION)
    return found


def coalition(
    plan: ServiceScenario, comparator: ServiceScenario, members: frozenset[str]
) -> ServiceScenario:
    """The comparator with the settings of ``members`` taken from the plan (start and timeline).

    Raises ParameterError if that mix is not a valid scenario (a cross-field rule).
    """
    names = members - {ORGANISATION}
    params = comparator.params.replace(**{n: getattr(plan.params, n) for n in names})
    weeks: dict[int, dict[str, float | int]] = {}
    for source, keep in ((comparator, lambda k: k not in names), (plan, lambda k: k in names)):
        for event in source.timeline:
            changes = {k: v for k, v in event.changes.items() if keep(k)}
            if changes:
                weeks.setdefault(event.week, {}).update(changes)
    timeline = tuple(Intervention(week=w, changes=c) for w, c in sorted(weeks.items()))
    label = "+".join(sorted(members)) or "none"
    return replace(comparator, name=f"{comparator.name} with {label} of {plan.name}",
                   params=params, timeline=timeline,
                   organisation=plan.organisation if ORGANISATION in members
                   else comparator.organisation)


@dataclass(frozen=True)
class ShapleyDesign:
    """Which coalitions to run: all of them (exact), or the prefixes of seeded random orders."""

    players: tuple[str, ...]
    coalitions: tuple[frozenset[str], ...]     # the empty and the full coalition included
    orders: tuple[tuple[str, ...], ...] | None  # None: exact

    @property
    def exact(self) -> bool:
        """Whether every coalition is enumerated."""
        return self.orders is None


def design(player_names: Sequence[str], seed: int = 0, max_exact: int = MAX_EXACT,
           budget: int = SAMPLED_COALITIONS) -> ShapleyDesign:
    """All 2**n coalitions for n <= ``max_exact`` players, else random orders within ``budget``.

    The orders are drawn from ``seed``, so a plan's estimate is the same every time.
    """
    names = tuple(player_names)
    n = len(names)
    if n <= max_exact:
        subsets = tuple(frozenset(c) for k in range(n + 1)
                        for c in itertools.combinations(names, k))
        return ShapleyDesign(names, subsets, None)
    count = max(1, (budget - 2) // (n - 1))
    rng = np.random.default_rng(seed)
    orders = tuple(tuple(names[i] for i in rng.permutation(n)) for _ in range(count))
    seen = dict.fromkeys(frozenset(o[:k]) for o in orders for k in range(n + 1))
    return ShapleyDesign(names, tuple(seen), orders)


def shapley(design: ShapleyDesign,
            value: Mapping[frozenset[str], np.ndarray]) -> dict[str, np.ndarray]:
    """Each player's Shapley value, per replication, from the values of the design's coalitions.

    Exact: phi_i = sum over S without i of |S|! (n-|S|-1)! / n! * (v(S + i) - v(S)).
    Sampled: the mean over the orders of i's marginal contribution where it joins. Either way
    the values sum to v(all) - v(none) (efficiency).
    """
    names, n = design.players, len(design.players)
    out: dict[str, np.ndarray] = {}
    if design.orders is None:
        weight = [math.factorial(s) * math.factorial(n - s - 1) / math.factorial(n)
                  for s in range(n)]
        for p in names:
            total = np.zeros_like(np.asarray(value[frozenset()], dtype=float))
            others = [q for q in names if q != p]
            for k in range(n):
                for c in itertools.combinations(others, k):
                    s = frozenset(c)
                    total = total + weight[k] * (np.asarray(value[s | {p}], dtype=float)
                                                 - np.asarray(value[s], dtype=float))
            out[p] = total
        return out
    for p in names:
        gains = []
        for order in design.orders:
            before = frozenset(order[:order.index(p)])
            gains.append(np.asarray(value[before | {p}], dtype=float)
                         - np.asarray(value[before], dtype=float))
        out[p] = np.mean(gains, axis=0)
    return out


# --- KPIs of paired runs ------------------------------------------------------------------------

def paired_diffs(comp: Comparison, key: str, week: int | None = None) -> np.ndarray:
    """Per replication, plan minus comparator of ``key`` at ``week`` (default: the horizon).

    As the page's cards read a KPI: stocks in that week, weekly flows averaged over the
    END_WEEKS weeks ending there (weekly rates annualised, by :meth:`Comparison.matrix`).
    """
    plan, base = comp.matrix("scenario", key), comp.matrix("baseline", key)
    last = plan.shape[1] - 1 if week is None else int(week)
    if not 0 <= last < plan.shape[1]:
        raise ValueError(f"week {week} is outside 0..{plan.shape[1] - 1}")
    first = max(0, last - END_WEEKS + 1) if key in FLOWS else last
    return plan[:, first:last + 1].mean(axis=1) - base[:, first:last + 1].mean(axis=1)


def horizon_profit(comp: Comparison) -> np.ndarray:
    """Per replication, the plan's profit over weeks 1..H minus the comparator's."""
    return paired_diffs(comp, "cum_profit")


# --- the chain ------------------------------------------------------------------------------

# The nodes of the service-profit chain as the model measures them, and how they read.
CHAIN_LABELS: dict[str, str] = {
    "trust_mean": "Trust in managers",
    "burnout_mean": "Burnout",
    "engagement_mean": "Engagement",
    "employee_turnover_rate": "Staff turnover",
    "service_quality": "Service quality",
    "csat": "Customer satisfaction",
    "feedback_mean": "Customer feedback to staff",
    "loyalty_mean": "Loyalty",
    "customers_active": "Active customers",
    "workload_mean": "Workload",
    "revenue": "Revenue",
    "profit": "Profit",
}
LOWER_IS_BETTER = frozenset({"burnout_mean", "employee_turnover_rate", "workload_mean"})
# The reinforcing loop whose direction is judged: engagement serves customers better, satisfied
# customers stay and buy, and their satisfaction comes back to the staff who served them.
LOOP = ("engagement_mean", "service_quality", "csat", "loyalty_mean", "customers_active",
        "revenue")
LOOP_MIN = 3              # nodes that must move together for a loop to dominate


@dataclass(frozen=True)
class NodeChange:
    """A node's paired change at one week and its reading."""

    key: str
    mean: float
    low: float
    high: float
    direction: str          # "better", "worse" or "unclear"


def node_change(key: str, diffs: np.ndarray) -> NodeChange:
    """The mean paired change and its 95% CI; better/worse only if the CI excludes zero.

    With one replication there is no CI: the sign of the change decides.
    """
    mean, low, high = (float(x) for x in t_interval(np.asarray(diffs, dtype=float)))
    sign = 0
    if low == low:                      # a CI: it must lie on one side of zero
        sign = 1 if low > 0 else (-1 if high < 0 else 0)
    elif mean != 0:
        sign = 1 if mean > 0 else -1
    if key in LOWER_IS_BETTER:
        sign = -sign
    return NodeChange(key, mean, low, high, {1: "better", -1: "worse", 0: "unclear"}[sign])


def chain_changes(comp: Comparison, week: int) -> dict[str, NodeChange]:
    """Every chain node's paired change at ``week``."""
    return {k: node_change(k, paired_diffs(comp, k, week)) for k in CHAIN_LABELS}


def dominant_loop(changes: Mapping[str, NodeChange], week: int) -> tuple[str, str]:
    """Which loop dominates at ``week``, and one plain sentence saying so.

    Rule (docs/app.md): among the loop's nodes (engagement, service quality, customer
    satisfaction, loyalty, active customers, revenue), count those clearly better and clearly
    worse (paired 95% CI excluding zero). At least LOOP_MIN better and none worse: the cycle of
    success; at least LOOP_MIN worse and none better: the cycle of failure; otherwise neither.
    """
    better = [CHAIN_LABELS[k].lower() for k in LOOP if changes[k].direction == "better"]
    worse = [CHAIN_LABELS[k].lower() for k in LOOP if changes[k].direction == "worse"]
    n = len(LOOP)
    if len(better) >= LOOP_MIN and not worse:
        return "success", (f"At week {week} the cycle of success dominates: {len(better)} of "
                           f"{n} links of the loop are clearly better ({_words(better)}) and "
                           "none worse.")
    if len(worse) >= LOOP_MIN and not better:
        return "failure", (f"At week {week} the cycle of failure dominates: {len(worse)} of "
                           f"{n} links of the loop are clearly worse ({_words(worse)}) and "
                           "none better.")
    if not better and not worse:
        return "none", (f"At week {week} neither loop dominates: no link of the loop has "
                        "changed clearly beyond the noise of the replications.")
    parts = [f"{_words(better)} better" if better else "",
             f"{_words(worse)} worse" if worse else ""]
    return "mixed", (f"At week {week} neither loop dominates yet: "
                     f"{' and '.join(p for p in parts if p)}, the rest unclear.")


def _words(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


# --- tornado -----------------------------------------------------------------------------------

TORNADO_SHARE = 0.10      # each lever moves this share of its range down and up


def tornado_levers() -> list[str]:
    """Every lever of the schema (ParamSpec.role == "lever"), in schema order."""
    return [n for n, s in SPECS.items() if s.role == "lever"]


def shifted(plan: ServiceScenario, lever: str, delta: float) -> ServiceScenario:
    """The plan with every setting of ``lever`` (start and timeline) moved by ``delta``.

    Clipped to the lever's range; whole-number levers are rounded.
    """
    spec = SPECS[lever]

    def move(value: float | int) -> float | int:
        moved = min(max(float(value) + delta, float(spec.low)), float(spec.high))
        return int(round(moved)) if spec.kind is int else moved

    timeline = tuple(
        Intervention(week=e.week, changes={k: (move(v) if k == lever else v)
                                           for k, v in e.changes.items()})
        for e in plan.timeline)
    params = plan.params.replace(**{lever: move(getattr(plan.params, lever))})
    return replace(plan, params=params, timeline=timeline,
                   name=f"{plan.name} with {lever} {delta:+g}")


@dataclass(frozen=True)
class TornadoCase:
    """One side of one lever's bar: its setting and its scenario (None if refused)."""

    lever: str
    side: str                   # "low" or "high"
    value: float | int
    scenario: ServiceScenario | None
    note: str = ""


def tornado_cases(plan: ServiceScenario, share: float = TORNADO_SHARE) -> list[TornadoCase]:
    """Low and high settings of every lever around the plan's, ±``share`` of its range."""
    cases = []
    for lever in tornado_levers():
        spec = SPECS[lever]
        step = share * (float(spec.high) - float(spec.low))
        for side, delta in (("low", -step), ("high", step)):
            try:
                scenario = shifted(plan, lever, delta)
                value = getattr(scenario.params, lever)
                cases.append(TornadoCase(lever, side, value, scenario))
            except ParameterError as err:   # e.g. more units than customers
                value = getattr(plan.params, lever)
                cases.append(TornadoCase(lever, side, value, None, str(err).splitlines()[0]))
    return cases


@dataclass(frozen=True)
class TornadoBar:
    """One lever: the KPI's paired change (per replication) at its low and high setting."""

    lever: str
    low_value: float | int
    high_value: float | int
    low: np.ndarray            # per replication, KPI(low) - KPI(plan); zeros if not run
    high: np.ndarray

    @property
    def swing(self) -> float:
        """The larger absolute mean change of the two sides (what the bars are sorted by)."""
        return max(abs(float(self.low.mean())), abs(float(self.high.mean())))


def tornado(cases: Sequence[TornadoCase], effect: Callable[[ServiceScenario], np.ndarray],
            reps: int) -> list[TornadoBar]:
    """The bars, largest swing first; ``effect(scenario)`` is a case's paired KPI change.

    A side whose setting equals the plan's (a lever at the end of its range) or that could not
    be built has no change.
    """
    by_lever: dict[str, dict[str, TornadoCase]] = {}
    for case in cases:
        by_lever.setdefault(case.lever, {})[case.side] = case
    bars = []
    for lever, sides in by_lever.items():
        values = {}
        for side in ("low", "high"):
            case = sides[side]
            values[side] = (np.zeros(reps) if case.scenario is None
                            else np.asarray(effect(case.scenario), dtype=float))
        bars.append(TornadoBar(lever, sides["low"].value, sides["high"].value, values["low"],
                               values["high"]))
    return sorted(bars, key=lambda b: -b.swing)
