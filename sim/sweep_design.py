"""Experiment files: which parameters to vary, how (design), how often (replications), what to keep.

An experiment file looks like::

    name: grid_training_resources # default: the file name; also the default output folder
    description: Training x resources, 5 replications each.
    scenario: baseline            # preset name or scenario YAML (relative to this file);
                                  # default: baseline (``sim sweep`` says so when it starts)
    set: {n_customers: 2000}      # fixed overrides applied to every run (optional)
    steps: 52                     # weeks per run (default: the scenario's)
    seed: 20240601                # root seed of the whole experiment
    replications: 5
    design:
      method: grid                # grid | lhs | sobol | morris
      samples: 64                 # lhs: points; sobol: base N (power of 2); morris: trajectories
      levels: 4                   # morris only (even)
      second_order: false         # sobol only
      paired: true                # same replication seeds at every point (common random numbers)
    parameters:
      training: [0.0, 0.1, 0.2]             # grid: explicit values ...
      resources: {low: 0.2, high: 1.0, num: 3}  # or evenly spaced; other designs: {low, high}
    outputs:
      kpis: [profit, engagement_mean]       # summary columns per run (default: headline KPIs)
      summary_weeks: 13                     # summaries average the last 13 weeks
      timeseries: false                     # keep every run's weekly series
      units: false                          # keep every run's per-unit weekly series
      agents: false                         # keep agent-level snapshots at the last step (big)

Everything is validated on load; a problem raises :class:`ExperimentError` with one line naming
the key, the value and what is allowed: unknown keys, wrong types, NaN and infinities anywhere
(values, ranges, counts), a design key the method does not use, a grid whose whole-number values
repeat after rounding, and designs over ``MAX_RUNS`` runs (counted before anything is sampled).

Seeds are derived per run with ``np.random.SeedSequence(seed, spawn_key=(group, replication))``
where ``group`` is 0 for every point when ``paired`` (the default: replication r has the same seed
at every design point, so differences between points are paired) and the design point's index
otherwise. A run is therefore a pure
function of the experiment and its run id, whatever executes it.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sim.metrics import HEADLINE, KPI_COLUMNS
from sim.params import SPECS, ParameterError, check_keys, check_names, shown
from sim.scenario import (
    MAX_STEPS,
    ScenarioError,
    ServiceScenario,
    check_int,
    check_text,
    load_scenario,
    parse_input,
    read_input,
)

METHODS = ("grid", "lhs", "sobol", "morris")
TOP_KEYS = (
    "name",
    "description",
    "scenario",
    "set",
    "steps",
    "seed",
    "replications",
    "design",
    "parameters",
    "outputs",
)
DESIGN_KEYS = ("method", "samples", "levels", "second_order", "paired")
OUTPUT_KEYS = ("kpis", "summary_weeks", "timeseries", "units", "agents")
# Derived summary columns available besides the KPI columns of the time series.
DERIVED = ("customer_retention", "cum_profit_final")
MAX_RUNS = 5_000_000


class ExperimentError(ScenarioError):
    """An experiment file that cannot be run as written (one line naming the problem)."""


@dataclass(frozen=True)
class Outputs:
    """What every run keeps: summary KPIs always, the rest only when asked."""

    kpis: tuple[str, ...] = HEADLINE
    summary_weeks: int = 13
    timeseries: bool = False
    units: bool = False
    agents: bool = False


@dataclass(frozen=True)
class RunSpec:
    """One run of the sweep: a design point, a replication and the seed derived for them."""

    run_id: int
    point: int
    replication: int
    seed: int


@dataclass(frozen=True)
class Experiment:
    """A validated experiment: base scenario, design, replications, seeds and outputs."""

    name: str
    description: str
    base: ServiceScenario  # scenario with fixed overrides and steps applied
    parameters: dict[str, Any]  # grid: tuple of values; other designs: (low, high)
    method: str
    replications: int
    seed: int
    samples: int = 0
    levels: int = 4
    second_order: bool = False
    paired: bool = True
    outputs: Outputs = field(default_factory=Outputs)
    source: str = "experiment"
    scenario: str = "baseline"  # as the file gives it (a preset name or a path)
    scenario_default: bool = True  # the file names no scenario: baseline by default

    # --- design ---------------------------------------------------------------------------------
    @property
    def names(self) -> list[str]:
        """Varied parameters, in file order (the columns of the design)."""
        return list(self.parameters)

    def problem(self) -> dict[str, Any]:
        """The SALib problem definition (bounds of the varied parameters)."""
        return {
            "num_vars": len(self.parameters),
            "names": self.names,
            "bounds": [list(map(float, self.parameters[n])) for n in self.names],
        }

    def raw_design(self) -> np.ndarray:
        """The design matrix as sampled (before rounding integer parameters); one row per point."""
        if self.method == "grid":
            return np.array(list(itertools.product(*self.parameters.values())), dtype=float)
        if self.method == "lhs":
            from SALib.sample import latin

            return latin.sample(self.problem(), self.samples, seed=self.seed)
        if self.method == "sobol":
            from SALib.sample import sobol

            return sobol.sample(
                self.problem(), self.samples, calc_second_order=self.second_order, seed=self.seed
            )
        from SALib.sample import morris

        return morris.sample(self.problem(), self.samples, num_levels=self.levels, seed=self.seed)

    def design(self) -> list[dict[str, float | int]]:
        """Parameter values of every design point, typed and range-checked."""
        rows = []
        for row in self.raw_design():
            point = {}
            for name, value in zip(self.names, row, strict=True):
                spec = SPECS[name]
                point[name] = spec.check(round(value) if spec.kind is int else float(value))
            rows.append(point)
        return rows

    def runs(self, n_points: int | None = None) -> list[RunSpec]:
        """Every run: ``run_id = point * replications + replication``, with its derived seed."""
        n_points = len(self.raw_design()) if n_points is None else n_points
        rep_seeds = [self._seed(0, r) for r in range(self.replications)] if self.paired else None
        specs = []
        for p in range(n_points):
            for r in range(self.replications):
                seed = rep_seeds[r] if rep_seeds is not None else self._seed(p, r)
                specs.append(RunSpec(p * self.replications + r, p, r, seed))
        return specs

    def _seed(self, group: int, replication: int) -> int:
        sequence = np.random.SeedSequence(self.seed, spawn_key=(group, replication))
        return int(sequence.generate_state(1, dtype=np.uint32)[0])

    def scenario_for(self, point: dict[str, float | int], seed: int) -> ServiceScenario:
        """The scenario of one run (validated: a bad combination raises ParameterError)."""
        return self.base.with_changes(seed=seed, reps=1, **point)

    # --- identity -------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The resolved experiment as plain data (what the hash covers)."""
        return {
            "name": self.name,
            "description": self.description,
            "base": self.base.to_dict(),
            "parameters": {k: list(v) for k, v in self.parameters.items()},
            "method": self.method,
            "samples": self.samples,
            "levels": self.levels,
            "second_order": self.second_order,
            "paired": self.paired,
            "replications": self.replications,
            "seed": self.seed,
            "outputs": {
                "kpis": list(self.outputs.kpis),
                "summary_weeks": self.outputs.summary_weeks,
                "timeseries": self.outputs.timeseries,
                "units": self.outputs.units,
                "agents": self.outputs.agents,
            },
        }

    def digest(self) -> str:
        """SHA-256 of the resolved experiment and its generated design (resume must match it)."""
        payload = json.dumps(self.to_dict(), sort_keys=True, default=float).encode()
        design = np.ascontiguousarray(self.raw_design(), dtype=float).tobytes()
        return hashlib.sha256(payload + design).hexdigest()


# --- parsing ------------------------------------------------------------------------------------
def load_experiment(path: str | Path) -> Experiment:
    """Read and validate an experiment YAML file."""
    path = Path(path)
    data = read_input(path, "experiment", ExperimentError)
    return parse_experiment(data, source=path.name, directory=path.parent)


def parse_experiment(
    data: Any, source: str = "experiment", directory: Path | None = None
) -> Experiment:
    """Validate experiment data (already parsed from YAML) and build an Experiment."""
    return parse_input(_parse, data, source, directory, ExperimentError)


def _parse(data: Any, source: str, directory: Path) -> Experiment:
    if not isinstance(data, dict):
        raise ExperimentError(f"{source}: expected a mapping of keys, got {type(data).__name__}")
    check_keys(data, TOP_KEYS, source, ExperimentError)
    for key in ("parameters",):
        if key not in data:
            raise ExperimentError(f"{source}: missing key {key!r}")

    scenario_default = "scenario" not in data
    scenario = data.get("scenario", "baseline")
    base = _base_scenario(scenario, directory)
    fixed = _mapping(data, "set", "a mapping of parameter: value")
    check_names(fixed)
    fixed = {k: _check(SPECS[k], v, f"set.{k}") for k, v in fixed.items()}
    base = base.with_changes(steps=_int(data, "steps", base.steps, 1, MAX_STEPS), reps=1, **fixed)

    design = _mapping(data, "design", "a mapping with 'method'")
    check_keys(design, DESIGN_KEYS, "design", ExperimentError)
    method = design.get("method", "grid")
    if not isinstance(method, str) or method not in METHODS:
        raise ParameterError(f"design.method: {shown(method)} is not one of {', '.join(METHODS)}")
    for key, users in (("levels", ("morris",)), ("second_order", ("sobol",))):
        if key in design and method not in users:
            raise ParameterError(f"design.{key}: only used by a {' or '.join(users)} design")

    parameters = _parameters(data["parameters"], method)
    overlap = sorted(set(parameters) & set(fixed))
    if overlap:
        raise ParameterError(f"parameters: {overlap[0]!r} is both varied and fixed in 'set'")

    samples = 0
    if method != "grid":
        samples = _int(design, "samples", None, 1, MAX_RUNS, prefix="design.")
        if method == "sobol" and samples & (samples - 1):
            raise ParameterError(
                f"design.samples={samples}: Sobol sampling needs a power of 2 (e.g. "
                f"{2 ** round(math.log2(samples))})"
            )
    elif "samples" in design:
        raise ParameterError("design.samples: not used by a grid (list the values instead)")
    levels = _int(design, "levels", 4, 2, 100, prefix="design.")
    if method == "morris" and levels % 2:
        raise ParameterError(
            f"design.levels={levels}: Morris sampling needs an even number of levels (e.g. "
            f"{levels + 1}); with an odd number its grid is not sampled evenly"
        )
    second_order = _bool(design, "second_order", False, "design.")
    paired = _bool(design, "paired", True, "design.")
    if method in ("sobol", "morris") and len(parameters) < 2:
        raise ParameterError(f"design.method={method}: vary at least 2 parameters")

    experiment = Experiment(
        name=_name(data, Path(source).stem),
        description=check_text(data, "description", ""),
        base=base,
        parameters=parameters,
        method=method,
        replications=_int(data, "replications", 1, 1, 10_000),
        seed=_int(data, "seed", base.seed, 0, 2**32 - 1),
        samples=samples,
        levels=levels,
        second_order=second_order,
        paired=paired,
        outputs=_outputs(_mapping(data, "outputs", "a mapping"), base.steps),
        source=source,
        scenario=scenario,
        scenario_default=scenario_default,
    )
    n_points = design_size(experiment)  # before sampling: a huge design is refused, not built
    if n_points * experiment.replications > MAX_RUNS:
        raise ParameterError(
            f"{n_points} design points x {experiment.replications} replications exceeds "
            f"{MAX_RUNS:,} runs"
        )
    experiment.design()  # range-checks every sampled value
    return experiment


def design_size(experiment: Experiment) -> int:
    """Number of design points, counted without sampling (what SALib's samplers return)."""
    d = len(experiment.parameters)
    if experiment.method == "grid":
        return math.prod(len(v) for v in experiment.parameters.values())
    if experiment.method == "lhs":
        return experiment.samples
    if experiment.method == "sobol":
        return experiment.samples * ((2 * d + 2) if experiment.second_order else (d + 2))
    return experiment.samples * (d + 1)  # morris: trajectories of d + 1 points


def _base_scenario(name: Any, directory: Path) -> ServiceScenario:
    if not isinstance(name, str):
        raise ParameterError(f"scenario: expected a preset name or YAML path, got {name!r}")
    candidate = directory / name
    if name.endswith((".yaml", ".yml")) and candidate.is_file():
        return load_scenario(candidate)
    return load_scenario(name)


def _parameters(raw: Any, method: str) -> dict[str, Any]:
    if not isinstance(raw, dict) or not raw:
        raise ParameterError("parameters: expected a mapping of parameter name to values or range")
    check_names(raw)
    out: dict[str, Any] = {}
    for name, value in raw.items():
        spec = SPECS[name]
        where = f"parameters.{name}"
        if isinstance(value, list):
            if method != "grid":
                raise ParameterError(
                    f"{where}: a {method} design needs a range {{low: L, high: H}}, got {value!r}"
                )
            if not value:
                raise ParameterError(f"{where}: empty list of values")
            values = tuple(_check(spec, v, where) for v in value)
            if len(set(values)) != len(values):
                raise ParameterError(f"{where}: repeated values in {value!r}")
            out[name] = values
            continue
        if not isinstance(value, dict):
            raise ParameterError(
                f"{where}: expected a list of values or {{low: L, high: H}}, got {value!r}"
            )
        allowed = ("low", "high", "num") if method == "grid" else ("low", "high")
        check_keys(value, allowed, where, ExperimentError)
        for key in ("low", "high"):
            if key not in value:
                raise ParameterError(f"{where}: missing {key!r} (allowed {spec.low}..{spec.high})")
        low, high = _check(spec, value["low"], where), _check(spec, value["high"], where)
        if not low < high:
            raise ParameterError(f"{where}: low={low} must be below high={high}")
        if method == "grid":
            num = _int(value, "num", None, 2, 1000, prefix=f"{where}.")
            grid = np.linspace(low, high, num)
            values = tuple(spec.check(round(v) if spec.kind is int else float(v)) for v in grid)
            if len(set(values)) != len(values):
                most = f" (at most {high - low + 1} whole numbers)" if spec.kind is int else ""
                raise ParameterError(
                    f"{where}: num={num} repeats values between {low} and {high}{most}"
                )
            out[name] = values
        else:
            out[name] = (low, high)
    return out


def _outputs(raw: Any, steps: int) -> Outputs:
    if not isinstance(raw, dict):
        raise ParameterError(f"outputs: expected a mapping, got {raw!r}")
    check_keys(raw, OUTPUT_KEYS, "outputs", ExperimentError)
    kpis = raw.get("kpis", list(HEADLINE))
    if isinstance(kpis, str) or not isinstance(kpis, list) or not kpis:
        raise ParameterError(f"outputs.kpis: expected a list of KPI names, got {kpis!r}")
    for kpi in kpis:
        if kpi not in KPI_COLUMNS and kpi not in DERIVED:
            import difflib

            near = difflib.get_close_matches(str(kpi), [*KPI_COLUMNS, *DERIVED], n=3)
            hint = f"; did you mean {', '.join(near)}?" if near else ""
            raise ParameterError(f"outputs.kpis: unknown KPI {kpi!r}{hint}")
    return Outputs(
        kpis=tuple(dict.fromkeys(kpis)),
        summary_weeks=_int(raw, "summary_weeks", min(13, steps), 1, steps, prefix="outputs."),
        timeseries=_bool(raw, "timeseries", False, "outputs."),
        units=_bool(raw, "units", False, "outputs."),
        agents=_bool(raw, "agents", False, "outputs."),
    )


# --- small checks -------------------------------------------------------------------------------
def _mapping(data: dict[str, Any], key: str, what: str) -> dict[str, Any]:
    """``data[key]`` if a mapping; absent or empty (``key:`` alone) means an empty one."""
    value = data.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ParameterError(f"{key}: expected {what}, got {shown(value)}")
    return value


def _name(data: dict[str, Any], default: str) -> str:
    """The experiment's name: one line, usable as a folder name (the default --out)."""
    name = check_text(data, "name", default)
    if (
        not name.strip()
        or name in (".", "..")
        or len(name) > 120
        or not name.isprintable()
        or any(c in name for c in "/\\")
    ):
        raise ParameterError(
            f"name: {shown(name)} cannot name a results folder (one line, no '/', at most "
            "120 characters)"
        )
    return name


def plain(value: Any, limit: int = 80) -> str:
    """A value as it was typed, cut to ``limit`` characters, for one-line messages.

    A printable string (an address, a file name) is shown as is, anything else as its repr.
    """
    text = repr(value) if not isinstance(value, str) or not value.isprintable() else value
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


def _check(spec: Any, value: Any, where: str) -> float | int:
    if isinstance(value, float) and not math.isfinite(value):  # whatever ParamSpec.check does
        raise ParameterError(
            f"{where}: expected a finite number, got {value!r} (allowed {spec.low}..{spec.high})"
        )
    try:
        return spec.check(value)
    except ParameterError as err:
        text = str(err).removeprefix(f"{spec.name}: ")  # "where" names it already
        raise ParameterError(f"{where}: {text}") from None


def _int(
    data: dict[str, Any], key: str, default: int | None, low: int, high: int, prefix: str = ""
) -> int:
    if key not in data and default is None:
        raise ParameterError(f"{prefix}{key}: missing (a whole number {low}..{high})")
    return check_int(f"{prefix}{key}", data.get(key, default), low, high)


def _bool(data: dict[str, Any], key: str, default: bool, prefix: str = "") -> bool:
    value = data.get(key, default)
    if not isinstance(value, bool):
        raise ParameterError(f"{prefix}{key}: expected true or false, got {value!r}")
    return value
