"""Our organisation today: fit the settled start to the numbers a company knows about itself.

A scenario's ``organisation:`` block describes the as-is organisation by figures a company has
(any of them optional): business units, frontline staff, active customers, the shares of staff
engaged and actively disengaged (from its engagement survey), yearly staff turnover, CSAT (0-100)
or NPS, weekly revenue per unit and the profit margin. The fit sets the size parameters from the
counts, then adjusts the few level-setting parameters of the world, one per figure, until the
settled organisation (under today's levers) reproduces the figures:

==========================  =========================================================
figure                      level-setting parameter
==========================  =========================================================
units, staff                ``n_employees``, ``span_of_control``
customers                   ``n_customers`` (people in the market)
engaged / disengaged share  ``engagement_intercept`` (level), ``disposition_sd`` (spread)
staff_turnover              ``quit_base``
csat or nps                 ``standard_quality`` (the service system's quality floor)
revenue_per_unit            ``spend_per_visit``
margin                      ``fixed_cost_per_customer``
==========================  =========================================================

Each evaluation settles the organisation on a few seeds (``fit_seeds``) (the model's own weeks, see
:mod:`sim.start`) and measures the figures over the last ``FIT_WINDOW`` weeks. The people and
customer figures feed each other (engagement lifts service, service lifts customers, customers
load the staff), so they are fitted together by a quasi-Newton method: a Jacobian from forward
differences on common random numbers, then up to ``MAX_ROUNDS`` steps, each correcting the
Jacobian along the step taken (Broyden's update; the response is far from linear). Revenue
scales with spend per visit and the margin with fixed costs, neither feeding back, so those two
are set exactly at the end. When the figures are not within ``TOLERANCE`` after that, a
one-line error names the figures that conflict and the closest values the model reached. The
fit is of the organisation averaged over the fit's seeds; a replication on another seed is another
organisation of the same kind and scatters around the figures (units differ in managers and
markets). Fits are cached in
memory and on disk like settled starts.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from sim import cache, start
from sim.metrics import kpis
from sim.params import SPECS, ParameterError, Params
from sim.rng import Streams
from sim.stats import per_year
from sim.week import run_week

if TYPE_CHECKING:
    from sim.scenario import ServiceScenario

# figure: (low, high, whole number, unit)
FIGURES: dict[str, tuple[float, float, bool, str]] = {
    "units": (1, 100_000, True, "business units"),
    "staff": (1, 1_000_000, True, "frontline employees"),
    "customers": (1, 10_000_000, True, "active customers"),
    "engaged_share": (0.0, 1.0, False, "share of staff"),
    "actively_disengaged_share": (0.0, 1.0, False, "share of staff"),
    "staff_turnover": (0.0, 3.0, False, "share of staff per year"),
    "csat": (0.0, 100.0, False, "0-100"),
    "nps": (-100.0, 100.0, False, "-100..100"),
    "revenue_per_unit": (1.0, 1e9, False, "$ per unit-week"),
    "margin": (-1.0, 0.9, False, "profit / revenue"),
}
# how close a fitted figure must come (absolute, in the figure's own unit; relative where noted)
TOLERANCE = {
    "customers": 0.02,  # relative
    "engaged_share": 0.02,
    "actively_disengaged_share": 0.02,
    "staff_turnover": 0.05,  # relative
    "csat": 1.0,
    "nps": 3.0,
    "revenue_per_unit": 0.01,  # relative
    "margin": 0.005,
}
RELATIVE = ("customers", "staff_turnover", "revenue_per_unit")
# figure: (level-setting parameter, moved on a log scale, finite-difference step)
COUPLED = {
    "customers": ("n_customers", True, 0.1),
    "engaged_share": ("engagement_intercept", False, 0.3),
    "actively_disengaged_share": ("disposition_sd", True, 0.15),
    "staff_turnover": ("quit_base", True, 0.2),
    "csat": ("standard_quality", False, 0.1),
    "nps": ("standard_quality", False, 0.1),
}
FIT_WINDOW = 104  # weeks measured at the end of each settling
FIT_STAFF_WEEKS = 40_000  # staff-weeks measured per evaluation: small organisations use more seeds
MAX_ROUNDS = 8  # quasi-Newton (Broyden) steps after the first Jacobian


class OrganisationError(ParameterError):
    """Figures of an organisation that are invalid or cannot hold together."""


@dataclass(frozen=True)
class Fit:
    """The fitted world: parameter values, and each figure's target and achieved value."""

    params: dict[str, float | int]
    achieved: dict[str, float]
    targets: dict[str, float]
    rounds: int

    def report(self) -> str:
        """One line: each figure, achieved against target."""
        parts = [f"{key} {self.achieved[key]:.4g} (target {self.targets[key]:.4g})"
                 for key in self.targets if key in self.achieved]
        return f"organisation fitted in {self.rounds} round(s): " + ", ".join(parts)


def check_figures(data: Any) -> dict[str, float]:
    """Validate an ``organisation:`` block; one-line OrganisationError on any problem."""
    if not isinstance(data, dict):
        raise OrganisationError(
            f"organisation: expected a mapping of figures, got {data!r} "
            f"(allowed: {', '.join(FIGURES)})"
        )
    figures: dict[str, float] = {}
    for key, value in data.items():
        if key not in FIGURES:
            raise OrganisationError(
                f"organisation: unknown figure {key!r} (allowed: {', '.join(FIGURES)})"
            )
        low, high, whole, unit = FIGURES[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(
            value
        ):
            raise OrganisationError(
                f"organisation.{key}: expected a finite number, got {value!r} "
                f"(allowed {low:g}..{high:g} {unit})"
            )
        if whole and float(value) != int(value):
            raise OrganisationError(f"organisation.{key}: expected a whole number, got {value!r}")
        if not low <= value <= high:
            raise OrganisationError(
                f"organisation.{key}={value!r} is out of range: allowed {low:g}..{high:g} {unit}"
            )
        figures[key] = int(value) if whole else float(value)
    _check_consistency(figures)
    return figures


def _check_consistency(f: dict[str, float]) -> None:
    engaged, disengaged = f.get("engaged_share"), f.get("actively_disengaged_share")
    if engaged is not None and disengaged is not None and engaged + disengaged >= 1.0:
        raise OrganisationError(
            f"organisation: engaged_share {engaged} and actively_disengaged_share {disengaged} "
            "conflict: together they must be below 1 (the rest are 'not engaged')"
        )
    if "units" in f and "staff" not in f:
        raise OrganisationError("organisation: units needs staff too (staff per unit sets the "
                                "span of control)")
    if "units" in f and span_for(f["staff"], f["units"]) is None:
        low, high = SPECS["span_of_control"].low, SPECS["span_of_control"].high
        raise OrganisationError(
            f"organisation: units {f['units']} and staff {f['staff']} conflict: staff per unit "
            f"must be {low}..{high} (span of control)"
        )
    if "csat" in f and "nps" in f:
        raise OrganisationError("organisation: give csat or nps, not both (each sets the "
                                "service quality level)")


def span_for(staff: int, units: int) -> int | None:
    """The span of control that gives exactly ``units`` units of ``staff``, if one does."""
    spec = SPECS["span_of_control"]
    fits = [s for s in range(int(spec.low), int(spec.high) + 1)
            if max(1, round(staff / s)) == units]
    return min(fits, key=lambda s: abs(s - staff / units)) if fits else None


def resolve(scenario: ServiceScenario) -> tuple[ServiceScenario, Fit | None]:
    """The scenario with its world fitted to its ``organisation:`` figures (if it has any).

    The resolved scenario holds the fitted parameters and no figures, so it re-runs to the same
    numbers without fitting again.
    """
    if not scenario.organisation:
        return scenario, None
    result = fit(scenario.start_params(), dict(scenario.organisation))
    resolved = dataclasses.replace(
        scenario, params=scenario.params.replace(**result.params), organisation=None
    )
    return resolved, result


# --- the fit ------------------------------------------------------------------------------------
_memory: dict[str, Fit | None] = {}


def fit(params: Params, figures: dict[str, float]) -> Fit:
    """Fit the world parameters of ``params`` (today's levers kept) to ``figures`` (cached)."""
    name = cache.key("fit", sorted(params.to_dict().items()), sorted(figures.items())) + ".json"
    if name not in _memory:
        stored = cache.read("fits", name)
        try:
            _memory[name] = Fit(**json.loads(stored)) if stored is not None else None
        except (ValueError, TypeError):
            _memory[name] = None  # a damaged entry is fitted again
        if _memory[name] is None:
            _memory[name] = _fit(params, figures)
            cache.write("fits", name, json.dumps(_memory[name].__dict__).encode())
    return _memory[name]


def _fit(params: Params, figures: dict[str, float]) -> Fit:
    values: dict[str, float | int] = {}
    if "staff" in figures:
        values["n_employees"] = figures["staff"]
        if "units" in figures:
            values["span_of_control"] = span_for(figures["staff"], figures["units"])
    if "customers" in figures:
        values["n_customers"] = _clip("n_customers", round(
            figures["customers"] / params.initial_active_share))
    targets = {k: v for k, v in figures.items() if k in TOLERANCE}
    coupled = [k for k in COUPLED if k in targets]
    rounds = 0

    def evaluate(x: np.ndarray) -> tuple[dict[str, float], np.ndarray]:
        nonlocal rounds
        rounds += 1
        values.update(_from_x(coupled, x))
        got = _measure(params.replace(**values))
        return got, np.array([got[k] for k in coupled])

    if coupled:
        x = _to_x(coupled, params.replace(**values))
        got, y = evaluate(x)
        jacobian = np.empty((len(coupled), len(coupled)))
        for j, key in enumerate(coupled):  # forward differences on common random numbers
            step = np.zeros(len(coupled))
            step[j] = COUPLED[key][2]
            jacobian[:, j] = (evaluate(x + step)[1] - y) / step[j]
        want = np.array([targets[k] for k in coupled])
        scale = np.array([_tolerance(k, targets[k]) for k in coupled])
        best = (np.max(np.abs(y - want) / scale), x, got)
        for _ in range(MAX_ROUNDS):
            if best[0] <= 1.0:
                break
            dx = _bounded(coupled, x + np.linalg.lstsq(jacobian, want - y, rcond=None)[0]) - x
            x = x + dx
            got, y_new = evaluate(x)
            if dx @ dx > 0:  # Broyden: correct the Jacobian along the step just taken
                jacobian += np.outer(y_new - y - jacobian @ dx, dx) / (dx @ dx)
            y = y_new
            best = min(best, (np.max(np.abs(y - want) / scale), x, got), key=lambda b: b[0])
        _, x, got = best
        values.update(_from_x(coupled, x))
    else:
        got = _measure(params.replace(**values))
        rounds += 1
    # revenue scales with spend and the margin with fixed costs; neither feeds back: exact steps
    if "revenue_per_unit" in targets or "margin" in targets:
        values.update(_money_step(params.replace(**values), got, targets))
        got = _measure(params.replace(**values))
        rounds += 1
    off = [key for key, target in targets.items() if not _close(key, got[key], target)]
    if off:
        closest = ", ".join(f"{k} {got[k]:.4g} (target {targets[k]:.4g})" for k in off)
        raise OrganisationError(
            f"organisation: {' and '.join(off)} cannot hold together with the rest; "
            f"the closest the model reached: {closest}"
        )
    return Fit(values, {k: got[k] for k in targets}, targets, rounds)


def _to_x(coupled: list[str], params: Params) -> np.ndarray:
    """Level-setting parameters in the space the fit moves in (logs of scale parameters)."""
    out = []
    for key in coupled:
        name, log, _ = COUPLED[key]
        value = float(getattr(params, name))
        out.append(math.log(value) if log else value)
    return np.array(out)


def _from_x(coupled: list[str], x: np.ndarray) -> dict[str, float | int]:
    out: dict[str, float | int] = {}
    for key, value in zip(coupled, x, strict=True):
        name, log, _ = COUPLED[key]
        out[name] = _clip(name, math.exp(value) if log else value)
    return out


def _bounded(coupled: list[str], x: np.ndarray) -> np.ndarray:
    """``x`` with every parameter inside its range."""
    values = _from_x(coupled, x)
    return np.array([
        math.log(values[COUPLED[k][0]]) if COUPLED[k][1] else float(values[COUPLED[k][0]])
        for k in coupled
    ])


def _money_step(params: Params, got: dict[str, float], targets: dict[str, float]
                ) -> dict[str, float]:
    """Spend per visit for the revenue figure and fixed costs for the margin figure."""
    new: dict[str, float] = {}
    revenue = got["_revenue"]
    if "revenue_per_unit" in targets:
        ratio = targets["revenue_per_unit"] / max(got["revenue_per_unit"], 1e-9)
        new["spend_per_visit"] = _clip("spend_per_visit", params.spend_per_visit * ratio)
        revenue *= new["spend_per_visit"] / params.spend_per_visit
    if "margin" in targets:
        # the cost of goods moves with the (possibly re-set) revenue; the rest does not
        other = got["_costs"] - got["_fixed"] - got["_goods"] + params.goods_cost_share * revenue
        fixed_total = revenue * (1.0 - targets["margin"]) - other
        if fixed_total < 0:
            raise OrganisationError(
                f"organisation: margin {targets['margin']} conflicts with the cost of goods, "
                f"people and policies: at most {1 - other / revenue:.3f} with no premises or "
                f"overheads at goods_cost_share {params.goods_cost_share:g}"
            )
        new["fixed_cost_per_customer"] = _clip(
            "fixed_cost_per_customer", fixed_total / params.n_customers)
    return new


def fit_seeds(params: Params) -> range:
    """Enough seeds that each evaluation measures ``FIT_STAFF_WEEKS`` (noise below tolerance)."""
    return range(1, 1 + max(2, math.ceil(FIT_STAFF_WEEKS / (params.n_employees * FIT_WINDOW))))


def _measure(params: Params) -> dict[str, float]:
    """The figures of the settled organisation, averaged over the fit seeds' last weeks."""
    rows = []
    for seed in fit_seeds(params):
        streams = Streams(seed)
        org = start.build(params, streams)
        for week in range(1, start.SETTLE_WEEKS + 1):
            result = run_week(org, params, streams, week, stream="settle.")
            if week > start.SETTLE_WEEKS - FIT_WINDOW:
                rows.append(kpis(result, 0.0))
    mean = {key: float(np.mean([row[key] for row in rows])) for key in rows[0]}
    revenue = max(mean["revenue"], 1e-9)
    return {
        "customers": mean["customers_active"],
        "engaged_share": mean["engaged_share"],
        "actively_disengaged_share": mean["actively_disengaged_share"],
        "staff_turnover": per_year(mean["employee_turnover_rate"]),
        "csat": 100.0 * mean["csat"],
        "nps": mean["nps"],
        "revenue_per_unit": mean["revenue"] / params.n_units,
        "margin": mean["profit"] / revenue,
        "_revenue": mean["revenue"],
        "_costs": mean["costs"],
        "_fixed": mean["fixed_cost"],
        "_goods": mean["goods_cost"],
    }


def _tolerance(key: str, target: float) -> float:
    return TOLERANCE[key] * max(abs(target), 1e-9) if key in RELATIVE else TOLERANCE[key]


def _close(key: str, value: float, target: float) -> bool:
    return abs(value - target) <= _tolerance(key, target)


def _clip(name: str, value: float) -> float | int:
    spec = SPECS[name]
    value = min(max(value, spec.low), spec.high)
    return int(round(value)) if spec.kind is int else float(value)
