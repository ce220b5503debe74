"""``sim optimise SPEC.yaml``: multi-objective search over levers with NSGA-II (Optuna).

A *spec file* names a base scenario, the levers to search with their ranges, one to four
objectives (any outcome of :data:`sim.ema.OUTCOMES`, e.g. two-year ``npv`` and
``engagement_mean``, each maximised or minimised) and constraints (an outcome's mean at most or at
least a bound, e.g. ``people_spend`` within a budget)::

    name: people_budget
    scenario: baseline                   # preset or scenario YAML (relative to this file)
    set: {n_employees: 110}              # fixed world overrides (optional)
    steps: 104
    seed: 1                              # replication r runs with seed + r, for every candidate
    replications: 3
    trials: 120                          # candidates evaluated in all
    population: 20                       # NSGA-II population (a generation)
    discount_rate: 0.08                  # annual, for npv
    summary_weeks: 13                    # KPIs = mean of the last 13 weeks
    levers:
      training: {low: 0.0, high: 0.2}
      resources: {low: 0.2, high: 1.0}
    objectives:
      - {outcome: npv, direction: maximize}
      - {outcome: engagement_mean, direction: maximize}
    constraints:
      - {outcome: people_spend, max: 36000}

Every candidate runs from today's organisation on the same seeds (common random numbers), so
differences between candidates are paired; each objective is reported with its standard error
over replications, and with its paired difference from the current policy (the base scenario's
own lever values, evaluated once on the same seeds) and that difference's standard error.

The search is Optuna's NSGA-II sampler with constraints (``Trial.set_constraint``, or the
sampler's ``constraints_func`` before Optuna 5: infeasible candidates lose to feasible ones).
Candidates are drawn a generation at a time and their runs go to local worker processes
(:func:`sim.sweep_pool.run_local`, as ``sim sweep``) or a Dask cluster.
The sampler is re-seeded for every candidate from the root seed and the candidate's number, so
the search is a function of the spec alone: any number of workers, and an interrupted study
resumed with ``--resume``, give the same candidates and numbers. The study lives in
``DIR/study.journal`` (Optuna's journal storage, append-only): a finished candidate is never
evaluated again; candidates drawn but not finished when the run stopped are evaluated on resume.

Writes ``DIR/manifest.json``, ``spec.yaml``, ``study.journal``, ``reference.json`` (the current
policy), ``trials.parquet`` (every candidate), ``pareto.parquet`` (the feasible non-dominated
candidates) and ``pareto.png``. A bad spec or flag is refused with one line, nothing written.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import sys
import time
import uuid
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from sim.ema import SUMMARY_WEEKS, check_outcomes, check_rate, outcomes_of
from sim.params import SPECS, ParameterError, check_keys, check_names, shown
from sim.scenario import (
    MAX_STEPS,
    ServiceScenario,
    check_int,
    check_text,
    load_scenario,
    parse_input,
    read_input,
)
from sim.stats import DISCOUNT_RATE
from sim.sweep_pool import interrupt_on_signals, report_interrupt

TOP_KEYS = (
    "name", "description", "scenario", "set", "steps", "seed", "replications", "trials",
    "population", "discount_rate", "summary_weeks", "levers", "objectives", "constraints",
)
DIRECTIONS = ("maximize", "minimize")
MAX_OBJECTIVES = 4
MAX_TRIALS = 100_000
OWN_ENTRIES = frozenset({
    "manifest.json", "spec.yaml", "study.journal", "study.journal.lock", "reference.json",
    "trials.parquet", "pareto.parquet", "pareto.png",
})
STUDY_FILE = "study.journal"
REFERENCE_TRIAL = -1  # the current policy's runs (not an Optuna trial)


class SpecError(ParameterError):
    """A spec file that cannot be searched as written (one line naming the key)."""


@dataclass(frozen=True)
class Objective:
    """An outcome to maximise or minimise (its mean over the replications)."""

    outcome: str
    direction: str


@dataclass(frozen=True)
class Constraint:
    """The mean of ``outcome`` must stay at most (``kind="max"``) or at least ``bound``."""

    outcome: str
    kind: str
    bound: float

    def violation(self, value: float) -> float:
        """Optuna's convention: <= 0 when satisfied, the excess otherwise."""
        return value - self.bound if self.kind == "max" else self.bound - value


@dataclass(frozen=True)
class Spec:
    """A validated optimisation spec."""

    name: str
    description: str
    scenario: str  # as written (a preset name or a path)
    base: ServiceScenario  # with ``set`` and ``steps`` applied; its seed is replication 0's
    levers: dict[str, tuple[float | int, float | int]]
    objectives: tuple[Objective, ...]
    constraints: tuple[Constraint, ...]
    replications: int
    trials: int
    population: int
    discount_rate: float = DISCOUNT_RATE
    summary_weeks: int = SUMMARY_WEEKS

    @property
    def seeds(self) -> list[int]:
        """Seeds of the replications, the same for every candidate (common random numbers)."""
        return [self.base.seed + r for r in range(self.replications)]

    @property
    def reported(self) -> tuple[str, ...]:
        """Outcomes kept per candidate: the objectives', then the constraints'."""
        names = [o.outcome for o in self.objectives] + [c.outcome for c in self.constraints]
        return tuple(dict.fromkeys(names))

    def current(self) -> dict[str, float | int]:
        """The base scenario's own values of the searched levers (the current policy)."""
        return {name: getattr(self.base.params, name) for name in self.levers}

    def to_dict(self) -> dict[str, Any]:
        """The resolved spec as plain data (what the hash covers)."""
        return {
            "name": self.name,
            "description": self.description,
            "scenario": self.scenario,
            "base": self.base.to_dict(),
            "levers": {k: list(v) for k, v in self.levers.items()},
            "objectives": [{"outcome": o.outcome, "direction": o.direction}
                           for o in self.objectives],
            "constraints": [{"outcome": c.outcome, c.kind: c.bound} for c in self.constraints],
            "replications": self.replications,
            "trials": self.trials,
            "population": self.population,
            "discount_rate": self.discount_rate,
            "summary_weeks": self.summary_weeks,
        }

    def digest(self) -> str:
        """SHA-256 of the resolved spec (``--resume`` must match it)."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()


# --- the spec file -----------------------------------------------------------------------------
def load_spec(path: str | os.PathLike[str]) -> Spec:
    """Read and validate a spec YAML file."""
    path = Path(path)
    return parse_spec(read_input(path, "spec", SpecError), source=path.name, directory=path.parent)


def parse_spec(data: Any, source: str = "spec", directory: Path | None = None) -> Spec:
    """Validate spec data (parsed YAML); any problem is one SpecError line naming the key."""
    return parse_input(_parse, data, source, directory, SpecError)


def _parse(data: Any, source: str, directory: Path) -> Spec:
    if not isinstance(data, dict):
        raise SpecError(f"{source}: expected a mapping of keys, got {type(data).__name__}")
    check_keys(data, TOP_KEYS, source, SpecError)
    for key in ("levers", "objectives"):
        if key not in data:
            raise SpecError(f"{source}: missing key {key!r}")
    scenario = data.get("scenario", "baseline")
    if not isinstance(scenario, str):
        raise ParameterError(
            f"scenario: expected a preset name or YAML path, got {shown(scenario)}"
        )
    candidate = directory / scenario
    base = load_scenario(candidate if scenario.endswith((".yaml", ".yml")) and candidate.is_file()
                         else scenario)
    fixed = data.get("set") or {}
    if not isinstance(fixed, dict):
        raise ParameterError(f"set: expected a mapping of parameter: value, got {shown(fixed)}")
    check_names(fixed)
    fixed = {k: _checked(k, v, f"set.{k}") for k, v in fixed.items()}
    steps = check_int("steps", data.get("steps", base.steps), 1, MAX_STEPS)
    seed = check_int("seed", data.get("seed", base.seed), 0, 2**32 - 1 - 1000)
    base = base.with_changes(steps=steps, seed=seed, reps=1, **fixed)

    levers = _levers(data["levers"])
    overlap = sorted(set(levers) & set(fixed))
    if overlap:
        raise ParameterError(f"levers: {overlap[0]!r} is both searched and fixed in 'set'")
    objectives = _objectives(data["objectives"])
    constraints = _constraints(data.get("constraints") or [])
    trials = check_int("trials", data.get("trials", 50), 1, MAX_TRIALS)
    population = check_int("population", data.get("population", max(2, min(20, trials))), 2,
                           1000)
    name = check_text(data, "name", Path(source).stem)
    if (not name.strip() or name in (".", "..") or len(name) > 120 or not name.isprintable()
            or any(c in name for c in "/\\")):
        raise ParameterError(f"name: {shown(name)} cannot name a results folder (one line, no "
                             "'/', at most 120 characters)")
    return Spec(
        name=name,
        description=check_text(data, "description", ""),
        scenario=scenario,
        base=base,
        levers=levers,
        objectives=objectives,
        constraints=constraints,
        replications=check_int("replications", data.get("replications", 3), 1, 1000),
        trials=trials,
        population=population,
        discount_rate=check_rate(data.get("discount_rate", DISCOUNT_RATE)),
        summary_weeks=check_int("summary_weeks", data.get("summary_weeks",
                                                          min(SUMMARY_WEEKS, steps)), 1, steps),
    )


def _checked(name: str, value: Any, where: str) -> float | int:
    try:
        return SPECS[name].check(value)
    except ParameterError as err:
        raise ParameterError(f"{where}: {str(err).removeprefix(f'{name}: ')}") from None


def _levers(raw: Any) -> dict[str, tuple[float | int, float | int]]:
    if not isinstance(raw, dict) or not raw:
        raise ParameterError("levers: expected a mapping of lever name to {low: L, high: H}")
    check_names(raw)
    out: dict[str, tuple[float | int, float | int]] = {}
    for name, value in raw.items():
        spec = SPECS[name]
        where = f"levers.{name}"
        if spec.role != "lever":
            raise ParameterError(
                f"{where}: a {spec.role} (group {spec.group}), not a lever a company decides "
                "(see ParamSpec.role)"
            )
        if spec.structural:
            raise ParameterError(
                f"{where}: structural (it shapes today's organisation), not a lever that acts "
                "from week 1"
            )
        if not isinstance(value, dict) or set(value) != {"low", "high"}:
            raise ParameterError(f"{where}: expected {{low: L, high: H}}, got {shown(value)}")
        low, high = _checked(name, value["low"], where), _checked(name, value["high"], where)
        if not low < high:
            raise ParameterError(f"{where}: low={low} must be below high={high}")
        out[name] = (low, high)
    return out


def _objectives(raw: Any) -> tuple[Objective, ...]:
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_OBJECTIVES:
        raise ParameterError(
            f"objectives: expected a list of 1..{MAX_OBJECTIVES} {{outcome: NAME, direction: "
            "maximize|minimize}}"
        )
    out = []
    for i, item in enumerate(raw):
        where = f"objectives[{i}]"
        if not isinstance(item, dict) or set(item) != {"outcome", "direction"}:
            raise ParameterError(
                f"{where}: expected {{outcome: NAME, direction: maximize|minimize}}, got "
                f"{shown(item)}"
            )
        (outcome,) = check_outcomes([item["outcome"]], f"{where}.outcome")
        if item["direction"] not in DIRECTIONS:
            raise ParameterError(
                f"{where}.direction: {shown(item['direction'])} is not maximize or minimize"
            )
        if any(o.outcome == outcome for o in out):
            raise ParameterError(f"{where}: {outcome!r} is already an objective")
        out.append(Objective(outcome, item["direction"]))
    return tuple(out)


def _constraints(raw: Any) -> tuple[Constraint, ...]:
    if not isinstance(raw, list):
        raise ParameterError(
            "constraints: expected a list of {outcome: NAME, max: X} or {outcome: NAME, min: X}"
        )
    out = []
    for i, item in enumerate(raw):
        where = f"constraints[{i}]"
        if not isinstance(item, dict) or len(item) != 2 or "outcome" not in item or not (
            set(item) - {"outcome"} <= {"max", "min"}
        ):
            raise ParameterError(
                f"{where}: expected {{outcome: NAME, max: X}} or {{outcome: NAME, min: X}}, got "
                f"{shown(item)}"
            )
        (outcome,) = check_outcomes([item["outcome"]], f"{where}.outcome")
        kind = "max" if "max" in item else "min"
        bound = item[kind]
        if isinstance(bound, bool) or not isinstance(bound, (int, float)) or not math.isfinite(
            bound
        ):
            raise ParameterError(f"{where}.{kind}: expected a finite number, got {shown(bound)}")
        out.append(Constraint(outcome, kind, float(bound)))
    return tuple(out)


# --- one run (in a worker) ---------------------------------------------------------------------
@dataclass(frozen=True)
class Evaluation:
    """One run of one candidate: its lever values on one replication's seed."""

    trial: int  # Optuna's trial number; REFERENCE_TRIAL for the current policy
    replication: int
    seed: int
    values: dict[str, float | int]
    base: ServiceScenario
    outcomes: tuple[str, ...]
    summary_weeks: int
    discount_rate: float

    @property
    def run_id(self) -> int:
        """A unique number per run (the pool's bookkeeping)."""
        return (self.trial + 1) * 100_000 + self.replication


@dataclass
class Result:
    """What a run sends back: its outcomes, or why it failed."""

    task: Evaluation
    outcomes: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    seconds: float = 0.0


def evaluate(task: Evaluation) -> Result:
    """Run one candidate on one seed from today's organisation; errors become data."""
    from sim.model import ServiceModel

    start = time.perf_counter()
    try:
        scenario = task.base.with_changes(seed=task.seed, reps=1, **task.values)
        model = ServiceModel(scenario, replication=task.replication).run()
        values = outcomes_of(model.timeseries(), task.summary_weeks, task.discount_rate,
                             task.outcomes)
        return Result(task, values, None, time.perf_counter() - start)
    except Exception as err:  # noqa: BLE001 - a failing run fails its candidate, not the study
        message = f"{type(err).__name__}: {err}".splitlines()[0][:300]
        return Result(task, {}, message, time.perf_counter() - start)


def evaluate_together(tasks: list[Evaluation]) -> list[Result]:
    """A candidate's runs on its seeds, stepped together (:mod:`sim.batch`).

    Each result is the one :func:`evaluate` gives; runs of different candidates, or a batch
    that fails, go one by one.
    """
    from sim.batch import run_together
    from sim.model import ServiceModel
    from sim.runner import settle_starts_of
    from sim.sweep_pool import together_or_alone

    first = tasks[0]
    if len(tasks) == 1 or any(t.trial != first.trial for t in tasks):
        return [evaluate(task) for task in tasks]

    def together() -> list[Result]:
        candidate = first.base.with_changes(reps=1, **first.values)
        settle_starts_of([(candidate, t.replication, t.seed) for t in tasks])
        models = [ServiceModel(candidate.with_changes(seed=t.seed), replication=t.replication)
                  for t in tasks]
        list(run_together(models))
        return [Result(task, outcomes_of(model.timeseries(), task.summary_weeks,
                                         task.discount_rate, task.outcomes))
                for task, model in zip(tasks, models, strict=True)]

    return together_or_alone(tasks, together, evaluate)


def _failed(task: Evaluation, why: str) -> Result:
    return Result(task, {}, (why or "failed").splitlines()[0][:300])


def _execute(
    tasks: list[Evaluation], finished: Callable[[Result], None], workers: int, client: Any
) -> None:
    """Run ``tasks`` in this process (workers 0), on local processes, or on a Dask cluster."""
    if client is not None:
        from distributed import as_completed

        session = uuid.uuid4().hex[:8]
        futures = {
            client.submit(evaluate, task, key=f"sim-optimise-{session}-{task.run_id}",
                          pure=False): task
            for task in tasks
        }
        pending = as_completed(loop=client.loop)  # this client, not a global default one
        for future in futures:
            pending.add(future)
        for future in pending:
            task = futures[future]
            if future.status == "finished":
                finished(future.result())
            else:
                error = future.exception()
                finished(_failed(task, f"{type(error).__name__}: {error}"))
            future.release()
        return
    from sim.sweep_pool import batches, run_local

    by_candidate = batches(tasks, max(workers, 1), lambda t: t.trial)
    if workers == 0:
        for batch in by_candidate:
            for result in evaluate_together(batch):
                finished(result)
        return
    run_local(by_candidate, workers, evaluate_together, finished, 1.0,
              run_id=lambda t: t.run_id, failed=_failed)


# --- the study ---------------------------------------------------------------------------------
@dataclass
class Summary:
    """What ``optimise`` did."""

    out: Path
    trials: int  # candidates in the study (finished or failed)
    evaluated: int  # candidates evaluated by this call
    failed: int
    pareto: pd.DataFrame
    table: pd.DataFrame
    seconds: float


def _sampler_seed(spec: Spec, number: int) -> int:
    sequence = np.random.SeedSequence(spec.base.seed, spawn_key=(7, number))
    return int(sequence.generate_state(1, dtype=np.uint32)[0])


def _constraint_values(trial: Any) -> list[float]:
    """NSGA-II's ``constraints_func``: the violations stored with the trial (<= 0: satisfied)."""
    return list(trial.user_attrs.get("violations", []))


def _per_trial_constraints() -> bool:
    """Whether this Optuna records constraints per trial (``Trial.set_constraint``, 5.0 on)."""
    from optuna.trial import Trial

    return hasattr(Trial, "set_constraint")


def _sampler(spec: Spec, number: int) -> Any:
    import optuna

    old_api = spec.constraints and not _per_trial_constraints()  # Optuna 3.6..4.x
    return optuna.samplers.NSGAIISampler(
        population_size=spec.population,
        seed=_sampler_seed(spec, number),
        constraints_func=_constraint_values if old_api else None,
    )


def _distributions(spec: Spec) -> dict[str, Any]:
    from optuna.distributions import FloatDistribution, IntDistribution

    return {
        name: IntDistribution(int(lo), int(hi)) if SPECS[name].kind is int
        else FloatDistribution(float(lo), float(hi))
        for name, (lo, hi) in spec.levers.items()
    }


def _repair_journal(path: Path) -> None:
    """Drop a half-written last line (a kill during an append) so appends stay readable."""
    if not path.is_file():
        return
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        with open(path, "r+b") as handle:
            handle.truncate(data.rfind(b"\n") + 1)


def _check_out(out: Path, spec: Spec, resume: bool) -> None:
    manifest = out / "manifest.json"
    if manifest.exists():
        try:
            old = json.loads(manifest.read_text())
        except (OSError, ValueError):
            old = {}
        if not isinstance(old, dict) or "spec_hash" not in old:
            raise SpecError(f"--out {out}: manifest.json is not a `sim optimise` manifest")
        if not resume:
            raise SpecError(
                f"--out {out} already holds the study {old.get('name')!r}: add --resume to "
                "continue it, or choose another --out"
            )
        if old["spec_hash"] != spec.digest():
            raise SpecError(
                f"--out {out} was written by a different spec (hash {str(old['spec_hash'])[:12]},"
                f" this file {spec.digest()[:12]}): resume with the original file or use "
                "another --out"
            )
        return
    foreign = sorted(p.name for p in out.iterdir()
                     if p.name not in OWN_ENTRIES and not p.name.startswith("."))
    if foreign or (out / STUDY_FILE).exists():
        what = shown(foreign[0], 40) if foreign else STUDY_FILE + " without a manifest"
        raise SpecError(f"--out {out}: not empty and not a study's results (holds {what}); "
                        "use a new or empty directory")


def optimise(
    spec: Spec,
    out: str | os.PathLike[str],
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    connect_timeout: float = 10.0,
    resume: bool = False,
    quiet: bool = False,
    on_trial: Callable[[int, str], None] | None = None,
) -> Summary:
    """Run (or resume) the search of ``spec`` into ``out``; returns what it did.

    ``workers``: local worker processes (default: one per core; 0 runs in this process);
    ``scheduler``: a Dask scheduler's address instead. ``on_trial(number, state)`` is called
    after each candidate is recorded (an exception there stops the study, which ``--resume``
    continues). Nothing is written until the scheduler (if any) answered and ``out`` is usable.
    """
    import optuna
    from tqdm import tqdm

    from sim.runner import atomic_write, prepare_output_dir
    from sim.sweep_dask import connect_scheduler
    from sim.sweep_store import DirectoryLock, code_version

    started = time.perf_counter()
    client = connect_scheduler(scheduler, connect_timeout) if scheduler else None
    n_workers = (os.cpu_count() or 1) if workers is None else workers
    session = uuid.uuid4().hex[:12]
    try:
        out = prepare_output_dir(out)
        _check_out(out, spec, resume)
        with DirectoryLock(out, "`sim optimise`", SpecError):
            manifest_path = out / "manifest.json"
            if not manifest_path.exists():
                manifest = {
                    "name": spec.name, "spec_hash": spec.digest(),
                    "code_version": code_version(),
                    "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                    "seeds": spec.seeds,
                    "seed_rule": "replication r of every candidate runs with seed + r",
                    "sampler_seed_rule": "candidate n: np.random.SeedSequence(seed, spawn_key="
                    "(7, n)).generate_state(1, uint32)[0]",
                }
                atomic_write(out / "spec.yaml",
                             lambda p: p.write_text(yaml.safe_dump(spec.to_dict(),
                                                                   sort_keys=False)))
                atomic_write(manifest_path,
                             lambda p: p.write_text(json.dumps(manifest, indent=1) + "\n"))
            journal = out / STUDY_FILE
            _repair_journal(journal)
            optuna.logging.set_verbosity(optuna.logging.WARNING)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                from optuna.storages import JournalStorage
                from optuna.storages.journal import JournalFileBackend

                storage = JournalStorage(JournalFileBackend(str(journal)))
            study = optuna.create_study(
                study_name=spec.name, storage=storage, load_if_exists=True,
                directions=[o.direction for o in spec.objectives], sampler=_sampler(spec, 0),
            )
            reference = _reference(spec, out, n_workers, client)
            done = sum(t.state.is_finished() for t in study.get_trials(deepcopy=False))
            if not quiet:
                where = (f"Dask scheduler {scheduler}" if client is not None else
                         "this process" if n_workers == 0 else
                         f"{n_workers} local worker process{'es' if n_workers != 1 else ''}")
                print(f"{spec.name}: {spec.trials} candidates ({done} already done), NSGA-II "
                      f"population {spec.population}, {spec.replications} paired replications "
                      f"x {spec.base.steps} weeks of scenario {spec.scenario}, on {where}; "
                      f"results in {out}", flush=True)
            bar = tqdm(total=spec.trials, initial=done, unit="candidate", disable=quiet,
                       desc=spec.name, dynamic_ncols=True, file=sys.stderr)
            evaluated = 0
            try:
                while True:
                    batch = _next_batch(study, spec)
                    if not batch:
                        break

                    def told(number: int, state: str) -> None:
                        nonlocal evaluated
                        evaluated += 1
                        bar.update(1)
                        if on_trial is not None:
                            on_trial(number, state)

                    _run_batch(study, spec, batch, n_workers, client, session, told)
                    _write_tables(study, spec, reference, out)
            finally:
                bar.close()
            table, pareto = _write_tables(study, spec, reference, out)
            _figure(table, pareto, spec, reference, out / "pareto.png")
    finally:
        if client is not None:
            client.close()
    failed = int((table["state"] != "COMPLETE").sum()) if not table.empty else 0
    return Summary(out, len(table), evaluated, failed, pareto, table,
                   time.perf_counter() - started)


def _next_batch(study: Any, spec: Spec) -> list[Any]:
    """The candidates to evaluate next: unfinished ones, plus new ones to the generation's end.

    Batches are whole generations (trial numbers ``k * population`` onwards), so an interrupted
    study resumes at the same boundaries; each new candidate is drawn by a sampler seeded for
    its number.
    """
    from optuna.trial import Trial, TrialState

    trials = study.get_trials(deepcopy=False)
    n = len(trials)
    running = [Trial(study, t._trial_id) for t in trials if t.state == TrialState.RUNNING]
    if running and n % spec.population == 0:
        end = n
    else:
        end = min(spec.trials, (n // spec.population + 1) * spec.population)
    batch = running
    for number in range(n, end):
        study.sampler = _sampler(spec, number)
        batch.append(study.ask(_distributions(spec)))
    return batch


def _run_batch(
    study: Any, spec: Spec, batch: list[Any], workers: int, client: Any, session: str,
    told: Callable[[int, str], None],
) -> None:
    from optuna.trial import TrialState

    by_number = {trial.number: trial for trial in batch}
    params = {trial.number: trial.params for trial in batch}
    tasks = [
        Evaluation(number, r, seed, _typed(params[number]), spec.base, spec.reported,
                   spec.summary_weeks, spec.discount_rate)
        for number in sorted(by_number) for r, seed in enumerate(spec.seeds)
    ]
    results: dict[int, list[Result]] = {number: [] for number in by_number}

    def finished(result: Result) -> None:
        number = result.task.trial
        results[number].append(result)
        if len(results[number]) < spec.replications:
            return
        runs = sorted(results.pop(number), key=lambda r: r.task.replication)
        trial = by_number[number]
        errors = [r.error for r in runs if r.error is not None]
        per_run = {k: [r.outcomes.get(k, float("nan")) for r in runs] for k in spec.reported}
        trial.set_user_attr("replications", per_run)
        trial.set_user_attr("seeds", spec.seeds)
        trial.set_user_attr("session", session)
        trial.set_user_attr("seconds", float(sum(r.seconds for r in runs)))
        means = {k: float(np.mean(v)) if not errors else float("nan")
                 for k, v in per_run.items()}
        values = [means[o.outcome] for o in spec.objectives]
        if errors or not all(math.isfinite(v) for v in means.values()):
            trial.set_user_attr("error", errors[0] if errors else "an outcome is not finite")
            study.tell(trial, state=TrialState.FAIL)
            told(number, "FAIL")
            return
        violations = [c.violation(means[c.outcome]) for c in spec.constraints]
        trial.set_user_attr("violations", violations)
        if _per_trial_constraints():
            for i, (constraint, value) in enumerate(zip(spec.constraints, violations,
                                                        strict=True)):
                trial.set_constraint(f"{i}:{constraint.outcome}:{constraint.kind}", value)
        study.tell(trial, values)
        told(number, "COMPLETE")

    _execute(tasks, finished, workers, client)


def _typed(values: dict[str, Any]) -> dict[str, float | int]:
    return {k: int(v) if SPECS[k].kind is int else float(v) for k, v in values.items()}


def _reference(spec: Spec, out: Path, workers: int, client: Any) -> dict[str, Any]:
    """The current policy's outcomes on the study's seeds (``reference.json``, computed once)."""
    from sim.runner import atomic_write

    path = out / "reference.json"
    if path.is_file():
        try:
            data = json.loads(path.read_text())
            if isinstance(data, dict) and set(data.get("replications", {})) == set(spec.reported):
                return data
        except (OSError, ValueError):
            pass
    values = spec.current()
    tasks = [Evaluation(REFERENCE_TRIAL, r, seed, values, spec.base, spec.reported,
                        spec.summary_weeks, spec.discount_rate)
             for r, seed in enumerate(spec.seeds)]
    runs: list[Result] = []
    _execute(tasks, runs.append, min(workers, len(tasks)) if workers else 0, client)
    runs.sort(key=lambda r: r.task.replication)
    errors = [r.error for r in runs if r.error is not None]
    data = {
        "levers": values,
        "seeds": spec.seeds,
        "replications": {k: [r.outcomes.get(k, float("nan")) for r in runs] for k in spec.reported},
        "error": errors[0] if errors else None,
    }
    atomic_write(path, lambda p: p.write_text(json.dumps(data, indent=1) + "\n"))
    return data


# --- results -----------------------------------------------------------------------------------
def _se(values: np.ndarray) -> float:
    return float(values.std(ddof=1) / math.sqrt(len(values))) if len(values) > 1 else float("nan")


def trials_table(study: Any, spec: Spec, reference: dict[str, Any]) -> pd.DataFrame:
    """One row per finished candidate, with the noise of every reported outcome.

    Columns: levers, each reported outcome's mean and standard error, its paired difference
    from the current policy (and that difference's standard error), constraint violations,
    feasibility and whether it is on the Pareto front.
    """
    from optuna.trial import TrialState

    generation_key = "NSGAIISampler:generation"
    rows = []
    for trial in study.get_trials(deepcopy=False):
        if not trial.state.is_finished():
            continue
        row: dict[str, Any] = {
            "trial": trial.number,
            "generation": trial.system_attrs.get(generation_key, -1),
            "state": trial.state.name,
            **_typed(trial.params),
        }
        per_run = trial.user_attrs.get("replications", {})
        for name in spec.reported:
            values = np.asarray(per_run.get(name, []), dtype=float)
            base = np.asarray(reference["replications"].get(name, []), dtype=float)
            ok = len(values) == spec.replications and trial.state == TrialState.COMPLETE
            row[name] = float(values.mean()) if ok else float("nan")
            row[f"{name}_se"] = _se(values) if ok else float("nan")
            paired = ok and len(base) == len(values)
            row[f"{name}_vs_current"] = float((values - base).mean()) if paired else float("nan")
            row[f"{name}_vs_current_se"] = _se(values - base) if paired else float("nan")
        violations = trial.user_attrs.get("violations", [])
        for c, v in zip(spec.constraints, violations, strict=False):
            row[f"violation_{c.outcome}_{c.kind}"] = float(v)
        row["feasible"] = trial.state == TrialState.COMPLETE and all(v <= 0 for v in violations)
        row["seconds"] = float(trial.user_attrs.get("seconds", float("nan")))
        row["error"] = trial.user_attrs.get("error")
        rows.append(row)
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    table = table.sort_values("trial", ignore_index=True)
    # NSGA-II may draw a candidate again (a child equal to its parent): same numbers, one entry
    first = table.groupby(list(spec.levers), sort=False)["trial"].transform("min")
    table["duplicate_of"] = np.where(first != table["trial"], first, -1)
    table["pareto"] = pareto_mask(table, spec)
    return table


def pareto_mask(table: pd.DataFrame, spec: Spec) -> np.ndarray:
    """Feasible candidates no other feasible one dominates (objectives' means; no duplicates)."""
    signs = np.array([1.0 if o.direction == "maximize" else -1.0 for o in spec.objectives])
    values = table[[o.outcome for o in spec.objectives]].to_numpy(float) * signs
    feasible = table["feasible"].to_numpy(bool).copy()
    if "duplicate_of" in table:
        feasible &= table["duplicate_of"].to_numpy() < 0
    mask = np.zeros(len(table), dtype=bool)
    for i in np.flatnonzero(feasible):
        others = values[feasible]
        dominated = np.any(np.all(others >= values[i], axis=1) & np.any(others > values[i], axis=1))
        mask[i] = not dominated
    return mask


def _write_tables(
    study: Any, spec: Spec, reference: dict[str, Any], out: Path
) -> tuple[pd.DataFrame, pd.DataFrame]:
    from sim.runner import atomic_write

    table = trials_table(study, spec, reference)
    pareto = table[table["pareto"]] if not table.empty else table
    pareto = pareto.sort_values(spec.objectives[0].outcome,
                                ascending=spec.objectives[0].direction == "minimize",
                                ignore_index=True) if not pareto.empty else pareto
    atomic_write(out / "trials.parquet", lambda p: table.to_parquet(p, index=False))
    atomic_write(out / "pareto.parquet", lambda p: pareto.to_parquet(p, index=False))
    return table, pareto


def _figure(table: pd.DataFrame, pareto: pd.DataFrame, spec: Spec, reference: dict[str, Any],
            path: Path) -> None:
    """Candidates on the first two objectives (or the one objective against trial number).

    The feasible, the infeasible and the Pareto front with +-1 standard error, and the current
    policy.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from sim.runner import atomic_write

    fig, ax = plt.subplots(figsize=(7, 5))
    names = [o.outcome for o in spec.objectives]
    x_name, y_name = (names[0], names[1]) if len(names) > 1 else ("trial", names[0])
    ref = {k: float(np.mean(v)) for k, v in reference["replications"].items()}
    if not table.empty:
        done = table[table["state"] == "COMPLETE"]
        feasible, infeasible = done[done["feasible"]], done[~done["feasible"]]
        ax.scatter(infeasible[x_name], infeasible[y_name], marker="x", color="lightgrey",
                   label=f"infeasible ({len(infeasible)})")
        ax.scatter(feasible[x_name], feasible[y_name], s=14, color="grey",
                   label=f"feasible ({len(feasible)})")
        if not pareto.empty:
            front = pareto.sort_values(x_name)
            xerr = front[f"{x_name}_se"] if x_name != "trial" else None
            ax.errorbar(front[x_name], front[y_name], xerr=xerr, yerr=front[f"{y_name}_se"],
                        fmt="o-", color="tab:red", ms=5, capsize=3, lw=1,
                        label=f"Pareto front ({len(front)}), ±1 SE")
    if x_name != "trial" and x_name in ref and y_name in ref:
        ax.scatter([ref[x_name]], [ref[y_name]], marker="*", s=180, color="tab:blue",
                   zorder=5, label="current policy")
    elif y_name in ref:
        ax.axhline(ref[y_name], color="tab:blue", ls="--", label="current policy")
    ax.set_xlabel(x_name)
    ax.set_ylabel(y_name)
    extra = f"; also {', '.join(names[2:])}" if len(names) > 2 else ""
    limits = "; ".join(f"{c.outcome} {'<=' if c.kind == 'max' else '>='} {c.bound:g}"
                       for c in spec.constraints)
    ax.set_title(f"{spec.name}: {spec.replications} paired replications"
                 + (f"; {limits}" if limits else "") + extra, fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    atomic_write(path, lambda p: fig.savefig(p, dpi=120, format="png"))
    plt.close(fig)


# --- command line ------------------------------------------------------------------------------
def check_flags(args: argparse.Namespace) -> None:
    """Refuse out-of-range or contradictory flags with one line each."""
    from sim.sweep import max_workers

    if args.workers is not None:
        if args.scheduler:
            raise SpecError(f"--workers {args.workers}: only for local runs; with --scheduler "
                            "the cluster's workers run the candidates")
        if not 1 <= args.workers <= max_workers():
            raise SpecError(f"--workers {args.workers}: allowed 1..{max_workers()} "
                            f"(4 per core on this machine's {os.cpu_count()} cores)")
    if not 1.0 <= args.connect_timeout <= 600.0:
        raise SpecError(f"--connect-timeout {args.connect_timeout:g}: allowed 1..600 seconds")


def cmd_optimise(args: argparse.Namespace) -> int:
    """Run (or resume) a spec's search and print the Pareto front."""
    check_flags(args)
    spec = load_spec(args.spec)
    out = args.out if args.out is not None else str(Path("experiments") / "output" / spec.name)
    try:
        with interrupt_on_signals():
            summary = optimise(spec, out, workers=args.workers, scheduler=args.scheduler,
                               connect_timeout=args.connect_timeout, resume=args.resume,
                               quiet=args.quiet)
    except KeyboardInterrupt as stop:
        return report_interrupt(stop, out, "finished candidates")
    if not args.quiet:
        print(report(summary, spec))
    return 0


def report(summary: Summary, spec: Spec) -> str:
    """The Pareto front as text: levers, objectives with standard errors, vs the current policy."""
    lines = [
        f"{spec.name}: {summary.trials} candidates ({summary.evaluated} evaluated now, "
        f"{summary.failed} failed) in {summary.seconds:.1f} s; Pareto front: "
        f"{len(summary.pareto)} feasible candidates; results in {summary.out}"
    ]
    if summary.pareto.empty:
        return "\n".join(lines)
    columns = ["trial", *spec.levers]
    shown_frame = summary.pareto[columns].copy()
    for name in spec.reported:
        shown_frame[name] = [
            f"{m:,.4g} ± {s:,.2g} ({d:+,.3g} ± {ds:,.2g})"
            for m, s, d, ds in zip(summary.pareto[name], summary.pareto[f"{name}_se"],
                                   summary.pareto[f"{name}_vs_current"],
                                   summary.pareto[f"{name}_vs_current_se"], strict=True)
        ]
    lines.append("mean ± standard error over the paired replications (paired difference from "
                 "the current policy ± its standard error):")
    lines.append(shown_frame.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    lines.append(f"wrote {summary.out}/pareto.parquet, trials.parquet, pareto.png")
    return "\n".join(lines)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``sim optimise`` to the CLI."""
    parser = subparsers.add_parser(
        "optimise",
        help="multi-objective search over levers (NSGA-II), paired replications",
        description="Search the levers of SPEC.yaml for the Pareto front of its objectives "
        "under its constraints (Optuna's NSGA-II), every candidate on the same seeds. "
        "Bad input is refused with one line (exit status 2) before anything is written. "
        "See docs/discovery.md.",
    )
    parser.add_argument("spec", help="optimisation spec YAML file")
    parser.add_argument("--workers", type=int, metavar="N",
                        help="local worker processes, 1..4 per core (default: one per core)")
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="run the candidates' runs on this Dask scheduler")
    parser.add_argument("--connect-timeout", type=float, default=10.0, metavar="SECONDS",
                        help="how long to wait for the Dask scheduler (1..600, default 10)")
    parser.add_argument("--out", metavar="DIR",
                        help="results directory (default: experiments/output/NAME)")
    parser.add_argument("--resume", action="store_true",
                        help="continue the study in --out (finished candidates are kept)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar or report")
    parser.set_defaults(func=cmd_optimise)
