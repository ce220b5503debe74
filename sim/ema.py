"""The model as an EMA Workbench model, and sweep results in the Workbench's format.

The EMA Workbench (exploratory modelling and analysis, ``ema_workbench`` on PyPI) samples
*uncertainties* (the world) and *levers* (policies), runs a model at every combination and
analyses the outcomes (scenario discovery with PRIM or CART, feature scoring, many-objective
search). :func:`build_model` wraps :class:`sim.model.ServiceModel` as a Workbench
``ReplicatorModel``:

* **Uncertainties and levers** are generated from :data:`sim.params.SPECS`: a parameter's
  ``role`` (:attr:`sim.params.ParamSpec.role`, the one place that says it) decides whether it is
  an uncertainty (behaviour, market, finance) or a lever (people, leadership, hr, customers,
  organisation); size parameters are held fixed. By default every uncertainty and every lever
  that can change from week 1 (structural ones such as ``span_of_control`` shape today's
  organisation itself and are refused as levers) is exposed over its whole admissible range
  (``low..high`` of its spec). Those ranges are what the model accepts, not what is plausible:
  pass the names you study, or a mapping ``{name: (low, high)}`` with narrower ranges.
* **Semantics** are the project's: every run starts from today's organisation (:mod:`sim.start`,
  the settled organisation of the seed under the scenario's world), and the levers act from
  week 1. Replication ``r`` runs with seed ``seed + r`` (as ``sim run``), the same for every
  experiment, so any two experiments are paired (common random numbers).
* **Outcomes** (scalars, averaged over replications): each KPI of :data:`sim.metrics.KPI_COLUMNS`
  as the mean of the last ``summary_weeks`` weeks (as ``sim sweep`` summarises a run), the
  derived ``customer_retention`` and ``cum_profit_final`` (as in sweeps), ``npv`` (weekly profits
  of weeks 1..horizon discounted at ``discount_rate`` a year, see :func:`npv`) and
  ``people_spend`` (mean weekly spending on training, resources, recognition, rewards and
  surveys over weeks 1..horizon). Optionally weekly series (``KPI_weekly``, weeks 0..horizon,
  the mean over replications).

:func:`load_sweep` goes the other way: it reads a finished ``sim sweep`` directory as the
Workbench's ``(experiments, outcomes)`` pair, so the Workbench's analysis functions run on
sweeps computed locally or on a Dask cluster; :func:`experiment_data` writes the experiment
file of a sweep over the same uncertainties. See ``docs/discovery.md``.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.metrics import HEADLINE, KPI_COLUMNS
from sim.params import SPECS, ParameterError, check_names, shown
from sim.scenario import ServiceScenario, load_scenario
from sim.stats import DISCOUNT_RATE, discount_factors, kept_for_a_year

SUMMARY_WEEKS = 13  # KPIs at the horizon: the mean of the last 13 weeks, as sweeps summarise
PEOPLE_SPEND_COLUMNS = (
    "training_cost",
    "resources_cost",
    "recognition_cost",
    "rewards_cost",
    "surveys_cost",
)
DERIVED_OUTCOMES = ("customer_retention", "cum_profit_final", "npv", "people_spend")
OUTCOMES = (*KPI_COLUMNS, *DERIVED_OUTCOMES)  # every scalar outcome a run yields
DEFAULT_OUTCOMES = (*HEADLINE, *DERIVED_OUTCOMES)
MODEL_NAME = "service_profit_chain"
ID_COLUMNS = ("run_id", "point", "replication", "seed")


# --- outcomes of one run -----------------------------------------------------------------------
def npv(profit: Sequence[float] | np.ndarray, rate: float = DISCOUNT_RATE) -> float:
    """Net present value of weekly profits paid at the end of weeks 1, 2, ...

    ``rate`` is yearly, compounded weekly (see :func:`sim.stats.discount_factors`).
    """
    values = np.asarray(profit, dtype=float)
    return float(np.sum(values * discount_factors(len(values), rate)))


def check_rate(rate: Any, key: str = "discount_rate") -> float:
    """An annual discount rate in 0..1, or a one-line ParameterError naming ``key``."""
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not math.isfinite(rate):
        raise ParameterError(f"{key}: expected a number 0..1 (a year), got {shown(rate)}")
    if not 0.0 <= rate <= 1.0:
        raise ParameterError(f"{key}={rate!r} is out of range: allowed 0..1 (a year)")
    return float(rate)


def outcomes_of(
    series: pd.DataFrame,
    summary_weeks: int = SUMMARY_WEEKS,
    discount_rate: float = DISCOUNT_RATE,
    names: Iterable[str] = OUTCOMES,
) -> dict[str, float]:
    """Scalar outcomes of one run's weekly series (``ServiceModel.timeseries()``).

    KPIs are means over the last ``summary_weeks`` rows (what ``sim sweep`` keeps);
    ``customer_retention`` is ``(1 - mean weekly churn) ** 52`` over the same weeks;
    ``cum_profit_final`` the cumulative profit of weeks 1..horizon; ``npv`` the discounted sum of
    the same weekly profits; ``people_spend`` the mean weekly cost of training, resources,
    recognition, rewards and surveys over weeks 1..horizon (week 0 is today's organisation).
    """
    window = series.iloc[-summary_weeks:]
    later = series[series["step"] >= 1]
    out: dict[str, float] = {}
    for name in names:
        if name == "customer_retention":
            out[name] = float(kept_for_a_year(window["customer_churn_rate"].mean()))
        elif name == "cum_profit_final":
            out[name] = float(series["cum_profit"].iloc[-1])
        elif name == "npv":
            out[name] = npv(later["profit"].to_numpy(float), discount_rate)
        elif name == "people_spend":
            spend = later[list(PEOPLE_SPEND_COLUMNS)].sum(axis=1)
            out[name] = float(spend.mean()) if len(spend) else float("nan")
        elif name in KPI_COLUMNS:
            out[name] = float(window[name].mean())
        else:
            raise ParameterError(f"unknown outcome {shown(name)} (see sim.ema.OUTCOMES)")
    return out


def check_outcomes(names: Iterable[Any], key: str = "outcomes") -> tuple[str, ...]:
    """Outcome names, each known, or a one-line error listing the nearest valid ones."""
    import difflib

    checked = []
    for name in names:
        if not isinstance(name, str) or name not in OUTCOMES:
            near = difflib.get_close_matches(str(name), OUTCOMES, n=3)
            hint = f"; did you mean {', '.join(near)}?" if near else ""
            raise ParameterError(f"{key}: unknown outcome {shown(name)}{hint}")
        checked.append(name)
    return tuple(dict.fromkeys(checked))


# --- parameters --------------------------------------------------------------------------------
def ranges(role: str, chosen: Any = None) -> dict[str, tuple[float | int, float | int]]:
    """Names and ranges of the parameters of ``role`` ("uncertainty" or "lever") to expose.

    ``chosen`` is ``None`` (every parameter of that role, whole admissible range; levers without
    the structural ones), a list of names (their whole ranges) or a mapping ``{name: (low, high)}``
    (``None`` for the whole range). Refused with one line: unknown names, a parameter of another
    role, a structural lever, a range outside the spec or empty.
    """
    if role not in ("uncertainty", "lever"):
        raise ValueError(f"role must be 'uncertainty' or 'lever', got {role!r}")
    if chosen is None:
        return {
            name: (spec.low, spec.high)
            for name, spec in SPECS.items()
            if spec.role == role and not (role == "lever" and spec.structural)
        }
    if isinstance(chosen, str) or not isinstance(chosen, (Mapping, Iterable)):
        raise ParameterError(f"{role}s: expected a list of names or a mapping name: (low, high)")
    items = chosen.items() if isinstance(chosen, Mapping) else ((n, None) for n in chosen)
    out: dict[str, tuple[float | int, float | int]] = {}
    for name, bounds in items:
        check_names({name: None})
        spec = SPECS[name]
        if spec.role != role:
            raise ParameterError(
                f"{name}: a {spec.role} (group {spec.group}), not a {role} "
                "(see ParamSpec.role in sim/params.py)"
            )
        if role == "lever" and spec.structural:
            raise ParameterError(
                f"{name}: structural (it shapes today's organisation), so it cannot be a lever "
                "that acts from week 1; vary it as part of the world with `fixed`"
            )
        if bounds is None:
            low, high = spec.low, spec.high
        else:
            if isinstance(bounds, (str, Mapping)) or len(bounds) != 2:
                raise ParameterError(f"{name}: expected (low, high), got {shown(bounds)}")
            low, high = spec.check(bounds[0]), spec.check(bounds[1])
        if not low < high:
            raise ParameterError(f"{name}: low={low} must be below high={high}")
        out[name] = (low, high)
    return out


def workbench_parameters(bounds: Mapping[str, tuple[float | int, float | int]]) -> list[Any]:
    """``RealParameter``/``IntegerParameter`` objects of the Workbench for ``bounds``."""
    wb = _workbench()
    params = []
    for name, (low, high) in bounds.items():
        if SPECS[name].kind is int:
            params.append(wb.IntegerParameter(name, int(low), int(high)))
        else:
            params.append(wb.RealParameter(name, float(low), float(high)))
    return params


# --- the Workbench model -----------------------------------------------------------------------
class Evaluate:
    """The function the Workbench calls: one run of the model, its outcomes as a dict.

    Picklable (a module-level class holding plain data), so the Workbench's multiprocessing
    evaluator can send it to its workers. Keyword arguments are parameter values (uncertainties
    and levers) and ``seed`` (from the replication).
    """

    def __init__(
        self,
        scenario: ServiceScenario,
        outcomes: Sequence[str] = DEFAULT_OUTCOMES,
        summary_weeks: int = SUMMARY_WEEKS,
        discount_rate: float = DISCOUNT_RATE,
        timeseries: Sequence[str] = (),
    ) -> None:
        self.scenario = scenario
        self.outcomes = tuple(outcomes)
        self.summary_weeks = summary_weeks
        self.discount_rate = discount_rate
        self.timeseries = tuple(timeseries)

    def __call__(self, seed: int, **values: Any) -> dict[str, Any]:
        """Run one replication with these parameter values; return its outcomes."""
        from sim.model import ServiceModel

        typed = {
            k: int(round(v)) if SPECS[k].kind is int else float(v) for k, v in values.items()
        }
        model = ServiceModel(self.scenario, rng=int(seed), **typed).run()
        series = model.timeseries()
        result: dict[str, Any] = outcomes_of(
            series, self.summary_weeks, self.discount_rate, self.outcomes
        )
        for kpi in self.timeseries:
            result[f"{kpi}_weekly"] = series[kpi].to_numpy(float)
        return result


def mean_over_replications(values: Sequence[float]) -> float:
    """A scalar outcome of an experiment: the mean over its replications."""
    return float(np.mean(values))


def mean_series(values: Sequence[np.ndarray]) -> np.ndarray:
    """A weekly outcome of an experiment: the week-by-week mean over its replications."""
    return np.mean(np.vstack(values), axis=0)


def build_model(
    name: str = MODEL_NAME,
    *,
    scenario: ServiceScenario | str = "baseline",
    uncertainties: Any = None,
    levers: Any = None,
    fixed: Mapping[str, Any] | None = None,
    steps: int | None = None,
    replications: int = 1,
    seed: int | None = None,
    discount_rate: float = DISCOUNT_RATE,
    summary_weeks: int | None = None,
    outcomes: Sequence[str] = DEFAULT_OUTCOMES,
    timeseries: Sequence[str] = (),
    directions: Mapping[str, str] | None = None,
) -> Any:
    """The service-profit chain as an EMA Workbench ``ReplicatorModel``.

    Args:
        name: the Workbench model's name (a Python identifier).
        scenario: the base scenario (a preset name, a YAML path or a ServiceScenario): its
            levers are the policy where the Workbench samples none, its start is today's
            organisation.
        uncertainties: world parameters to sample (see :func:`ranges`; default: all of them).
        levers: policy parameters to sample (see :func:`ranges`; default: all that act from
            week 1); ``[]`` for none.
        fixed: parameter values held fixed in every run (e.g. the size: ``n_employees``).
        steps: weeks per run (default: the scenario's).
        replications: runs per experiment, with seeds ``seed + r`` shared by all experiments.
        seed: seed of replication 0 (default: the scenario's).
        discount_rate: annual rate of ``npv`` (default 0.08).
        summary_weeks: KPIs are means over this many last weeks (default 13 or the horizon if
            shorter, as sweeps).
        outcomes: scalar outcomes (see :data:`OUTCOMES`), the mean over replications.
        timeseries: KPIs also kept week by week, as outcome ``KPI_weekly``.
        directions: ``{outcome: "maximize" | "minimize"}`` for the Workbench's optimisers.
    """
    wb = _workbench()
    base = load_scenario(scenario) if isinstance(scenario, str) else scenario
    fixed = dict(fixed or {})
    check_names(fixed)
    unc = ranges("uncertainty", uncertainties)
    lev = ranges("lever", levers)
    overlap = sorted(set(fixed) & (set(unc) | set(lev)))
    if overlap:
        raise ParameterError(f"fixed: {overlap[0]!r} is also sampled; fix it or sample it")
    base = base.with_changes(steps=steps, seed=seed, reps=1, **fixed)
    from sim.scenario import check_int

    replications = check_int("replications", replications, 1, 10_000)
    if summary_weeks is None:
        summary_weeks = min(SUMMARY_WEEKS, base.steps)
    summary_weeks = check_int("summary_weeks", summary_weeks, 1, base.steps)
    rate = check_rate(discount_rate)
    outcomes = check_outcomes(outcomes)
    series = tuple(dict.fromkeys(timeseries))
    for kpi in series:
        if kpi not in KPI_COLUMNS:
            raise ParameterError(f"timeseries: unknown KPI {shown(kpi)}")
    kinds = {"maximize": wb.ScalarOutcome.MAXIMIZE, "minimize": wb.ScalarOutcome.MINIMIZE}
    directions = dict(directions or {})
    for key, value in directions.items():
        if key not in outcomes or value not in kinds:
            raise ParameterError(
                f"directions: {shown(key)}: {shown(value)} (an outcome of this model: "
                "maximize or minimize)"
            )

    model = wb.ReplicatorModel(
        name, function=Evaluate(base, outcomes, summary_weeks, rate, series)
    )
    model.uncertainties = workbench_parameters(unc)
    model.levers = workbench_parameters(lev)
    model.outcomes = [
        wb.ScalarOutcome(
            kpi,
            kind=kinds.get(directions.get(kpi, ""), wb.ScalarOutcome.INFO),
            function=mean_over_replications,
        )
        for kpi in outcomes
    ] + [wb.TimeSeriesOutcome(f"{kpi}_weekly", function=mean_series) for kpi in series]
    model.replications = [{"seed": base.seed + r} for r in range(replications)]
    return model


def _workbench() -> Any:
    """The ``ema_workbench`` package, imported quietly (it warns about optional evaluators)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import ema_workbench

    return ema_workbench


# --- sweeps: the same questions through `sim sweep` --------------------------------------------
def experiment_data(
    *,
    name: str,
    samples: int,
    scenario: str = "baseline",
    uncertainties: Any = None,
    levers: Any = (),
    fixed: Mapping[str, Any] | None = None,
    steps: int | None = None,
    replications: int = 1,
    seed: int = 1,
    kpis: Sequence[str] | None = None,
    timeseries: bool = False,
) -> dict[str, Any]:
    """An experiment file's content (for ``sim sweep``) sampling the same parameter ranges.

    A Latin hypercube of ``samples`` points over the uncertainties and levers together (the
    Workbench samples them separately and crosses the two designs; a sweep samples one joint
    design), paired replications. Dump it with ``yaml.safe_dump`` and run ``sim sweep``; then
    ``sim discover`` applies PRIM or CART to the results. Validated by the sweep's own parser.
    """
    from sim.sweep_design import parse_experiment

    bounds = {**ranges("uncertainty", uncertainties), **ranges("lever", levers)}
    data: dict[str, Any] = {
        "name": name,
        "description": f"Latin hypercube over {len(bounds)} parameters (from sim.ema)",
        "scenario": scenario,
        "set": dict(fixed or {}),
        "seed": seed,
        "replications": replications,
        "design": {"method": "lhs", "samples": samples, "paired": True},
        "parameters": {n: {"low": lo, "high": hi} for n, (lo, hi) in bounds.items()},
        "outputs": {"timeseries": timeseries},
    }
    if steps is not None:
        data["steps"] = steps
    if kpis is not None:
        data["outputs"]["kpis"] = list(kpis)
    if not data["set"]:
        del data["set"]
    parse_experiment(data, source=f"{name}.yaml")
    return data


def load_sweep(directory: str | os.PathLike[str]) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """A finished sweep's successful runs as the Workbench's ``(experiments, outcomes)``.

    ``experiments`` has one row per run (index ``run_id``): the varied parameters, then
    ``point``, ``replication`` and ``seed`` (identifiers, like the Workbench's ``scenario`` and
    ``policy`` columns: drop them before an analysis). ``outcomes`` maps each kept KPI to an
    array aligned with the rows. Failed runs are left out (``experiments.attrs["failed"]`` counts
    them). Anything that is not a readable sweep directory is refused with one line.
    """
    from sim.sweep_store import load_table

    path = Path(directory)
    where = shown(str(path), 80)
    if not path.exists():
        raise ParameterError(f"{where}: no such directory")
    if not path.is_dir():
        raise ParameterError(f"{where}: not a directory (expected a `sim sweep` results folder)")
    manifest_path = path / "manifest.json"
    if not manifest_path.is_file():
        raise ParameterError(f"{where}: no manifest.json (not a `sim sweep` results folder)")
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, ValueError, RecursionError) as err:
        raise ParameterError(f"{where}/manifest.json: cannot read ({type(err).__name__})") from None
    names = manifest.get("parameters") if isinstance(manifest, dict) else None
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise ParameterError(f"{where}/manifest.json: no list of varied 'parameters'")
    try:
        runs = load_table(path, "runs")
    except (OSError, ValueError) as err:
        raise ParameterError(
            f"{where}: cannot read the runs ({type(err).__name__}: {shown(str(err), 80)})"
        ) from None
    if runs.empty:
        raise ParameterError(f"{where}: no finished runs yet")
    missing = [c for c in (*ID_COLUMNS, "status", *names) if c not in runs.columns]
    if missing:
        raise ParameterError(f"{where}: the runs lack column {missing[0]!r}")
    ok = runs[runs["status"] == "ok"]
    if ok.empty:
        raise ParameterError(f"{where}: every one of its {len(runs)} runs failed")
    kept = manifest.get("outputs")
    if not isinstance(kept, list):
        kept = [c for c in runs.columns if c in OUTCOMES]
    kpis = [k for k in kept if isinstance(k, str) and k in runs.columns and k not in names]
    experiments = ok[[*names, "point", "replication", "seed"]].copy()
    experiments.index = pd.Index(ok["run_id"].to_numpy(), name="run_id")
    experiments.attrs["failed"] = int(len(runs) - len(ok))
    experiments.attrs["parameters"] = list(names)
    outcomes = {k: ok[k].to_numpy(dtype=float) for k in kpis}
    return experiments, outcomes
