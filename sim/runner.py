"""Running a scenario's replications and writing their results.

Replication r runs with seed ``scenario.seed + r``, so any single replication can be re-run on
its own, and two scenarios run with the same seed and replications are paired (common random
numbers): compare them replication by replication. Runs that are not in the run cache are run
together as batches (:mod:`sim.batch`), and the starts they need that are not kept yet are
settled together first: the same numbers, for less time.
"""

from __future__ import annotations

import errno
import os
import pickle
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from sim import cache
from sim.batch import run_together, settle_starts
from sim.metrics import HEADLINE
from sim.model import ServiceModel
from sim.organisation import Fit, resolve
from sim.params import ParameterError, Params
from sim.scenario import ServiceScenario
from sim.stats import per_year

ANNUALISED = ("customer_churn_rate", "employee_turnover_rate")


@dataclass
class RunResult:
    """Time series of every replication of one scenario."""

    scenario: ServiceScenario
    timeseries: pd.DataFrame  # one row per replication and step
    units: pd.DataFrame  # one row per replication, step and business unit
    fit: Fit | None = None  # the fit of the scenario's organisation figures, if it had any


def replication_seed(scenario: ServiceScenario, replication: int) -> int:
    """Seed of replication ``replication`` (the same for every scenario with this seed)."""
    return scenario.seed + replication


def run_one(scenario: ServiceScenario, replication: int = 0) -> ServiceModel:
    """Build and run one replication to the scenario's horizon."""
    return ServiceModel(scenario, rng=replication_seed(scenario, replication),
                        replication=replication).run()


def run_settings(scenario: ServiceScenario) -> str:
    """What a run's numbers depend on besides its seed and replication label (cache keys).

    The resolved scenario without its name, story, seed and replication count.
    """
    settings = {k: v for k, v in scenario.to_dict().items()
                if k not in ("name", "description", "seed", "reps")}
    return repr(settings)


def _entry(scenario: ServiceScenario, replication: int, seed: int) -> str:
    """The run cache's name of one run.

    Its settings, seed and replication label, and the code (see :mod:`sim.cache`).
    """
    return cache.key("run", run_settings(scenario), seed, replication) + ".pkl"


Frames = tuple[pd.DataFrame, pd.DataFrame]  # a replication's time series and unit table


def cached_frames(scenario: ServiceScenario, replication: int, seed: int) -> Frames | None:
    """A run's frames from the run cache (shared by ``sim run``, sweeps and the page)."""
    stored = cache.read("runs", _entry(scenario, replication, seed))
    if stored is None:
        return None
    try:
        return pickle.loads(stored)
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, ValueError):
        return None  # a damaged entry is run again


def keep_frames(scenario: ServiceScenario, replication: int, model: ServiceModel) -> Frames:
    """A finished run's frames, stored in the run cache (under the seed it ran with)."""
    frames = (model.timeseries(), model.unit_timeseries())
    cache.write("runs", _entry(scenario, replication, model.scenario.rng),
                pickle.dumps(frames, protocol=pickle.HIGHEST_PROTOCOL))
    return frames


Run = tuple[ServiceScenario, int, int]  # one run: its scenario, replication label and seed


def run_frames(runs: Sequence[Run], *, fresh: bool = False,
               on_week: Callable[[int, int], None] | None = None
               ) -> Iterator[tuple[Frames, ServiceModel | None]]:
    """Each run's time series and unit table, in order: from the run cache, or run and kept.

    Runs missing from the cache (all of them with ``fresh``, for a caller that needs the models)
    run together in batches (:func:`sim.batch.run_together`), each kept under its own entry,
    exactly as if run alone (the run cache is shared by ``sim run``, sweeps and the page). A run
    that ran comes with its model; one read from the cache with None. ``on_week(done, total)``
    hears the run-weeks simulated so far and in all after every week (it may raise to stop).
    """
    stored = [None if fresh else cached_frames(*run) for run in runs]
    missing = [i for i, frames in enumerate(stored) if frames is None]
    settle_starts_of([runs[i] for i in missing])
    made = (ServiceModel(runs[i][0], rng=runs[i][2], replication=runs[i][1]) for i in missing)
    total, done = sum(runs[i][0].steps for i in missing), 0

    def week_done(n: int) -> None:
        nonlocal done
        done += n
        on_week(done, total)

    ran = run_together(made, on_week=None if on_week is None else week_done)
    for run, frames in zip(runs, stored, strict=True):
        if frames is not None:
            yield frames, None
        else:
            model = next(ran)
            yield keep_frames(run[0], run[1], model), model


def settle_starts_of(runs: Sequence[Run]) -> None:
    """Settle the starts ``runs`` need that are not kept yet, seeds of one world together.

    The runs then find their starts kept (:func:`sim.batch.settle_starts`: the same bits). A
    start's parameters do not depend on the seed, so each scenario is resolved once.
    """
    start_params: dict[int, Params] = {}  # by scenario (the runs hold them meanwhile)
    seeds: dict[Params, list[int]] = {}
    for scenario, _, seed in runs:
        if id(scenario) not in start_params:
            start_params[id(scenario)] = resolve(scenario)[0].start_params()
        seeds.setdefault(start_params[id(scenario)], []).append(seed)
    for params, group in seeds.items():
        settle_starts(params, group)


def run_scenario(
    scenario: ServiceScenario, on_progress: Callable[[int, int], None] | None = None
) -> RunResult:
    """Run all replications of ``scenario`` (``on_progress(done, total)`` after each).

    Replications missing from the run cache run together (:func:`run_frames`). A scenario with
    ``organisation:`` figures is fitted once; the result holds the resolved scenario (fitted
    parameters, no figures) and the fit.
    """
    scenario, fitted = resolve(scenario)
    runs = [(scenario, r, replication_seed(scenario, r)) for r in range(scenario.reps)]
    series, units = [], []
    for (_, r, seed), ((frame, unit_frame), _) in zip(runs, run_frames(runs), strict=True):
        frame = frame.copy()
        frame.insert(1, "seed", seed)
        series.append(frame)
        units.append(unit_frame)
        if on_progress:
            on_progress(r + 1, scenario.reps)
    return RunResult(
        scenario, pd.concat(series, ignore_index=True), pd.concat(units, ignore_index=True),
        fitted,
    )


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Write through ``write(tmp)`` and move into place: a reader never sees half a file."""
    tmp = path.with_name(f".{path.name}.tmp")
    write(tmp)
    os.replace(tmp, path)


def prepare_output_dir(path: str | os.PathLike[str]) -> Path:
    """The results directory ``path``, created if missing and checked writable; call it first.

    Raises ParameterError with one line (``--out PATH: ...``) when the directory cannot be
    created or written to, and then leaves nothing behind: directories it made are removed.
    """
    text = os.fspath(path)
    shown = f"--out {text if text.isprintable() else repr(text)}"  # one line, whatever the name
    if text == "":
        raise ParameterError("--out: expected a directory path, got an empty string")
    if "\0" in text:
        raise ParameterError(f"{shown}: a path cannot contain a NUL character")
    directory = Path(text)
    try:
        if directory.exists() and not directory.is_dir():
            raise ParameterError(f"{shown}: exists and is not a directory")
        missing = []  # directories to create, outermost first
        parent = directory
        while not parent.exists() and not parent.is_symlink():
            missing.insert(0, parent)
            if parent.parent == parent:
                break
            parent = parent.parent
        if missing and parent.exists() and not parent.is_dir():
            raise ParameterError(f"{shown}: cannot create directory ({parent} is not a directory)")
    except OSError as err:  # e.g. a name too long, or a parent we may not look into
        raise ParameterError(f"{shown}: cannot create directory ({_reason(err)})") from None
    created: list[Path] = []
    try:
        for step in missing:
            try:
                step.mkdir()
            except OSError as err:
                raise ParameterError(f"{shown}: cannot create directory ({_reason(err)})") from None
            created.append(step)
        if not directory.is_dir():
            raise ParameterError(f"{shown}: is not a directory")
        try:  # os.access says yes to root even on a read-only file system: try a real file
            with tempfile.TemporaryFile(dir=directory):
                pass
        except OSError as err:
            raise ParameterError(f"{shown}: directory is not writable ({_reason(err)})") from None
    except ParameterError:
        for step in reversed(created):
            try:
                step.rmdir()
            except OSError:
                break
        raise
    return directory


def _reason(err: OSError) -> str:
    return err.strerror or os.strerror(err.errno or errno.EIO)


def write_results(result: RunResult, out: str | os.PathLike[str]) -> Path:
    """Write timeseries.parquet, units.parquet and the resolved scenario.yaml into ``out``."""
    directory = prepare_output_dir(out)
    atomic_write(
        directory / "timeseries.parquet", lambda p: result.timeseries.to_parquet(p, index=False)
    )
    atomic_write(directory / "units.parquet", lambda p: result.units.to_parquet(p, index=False))
    atomic_write(directory / "scenario.yaml", lambda p: p.write_text(result.scenario.to_yaml()))
    return directory


def summary(timeseries: pd.DataFrame) -> pd.DataFrame:
    """Start and end of the headline KPIs (mean over replications; weekly rates annualised).

    "start" is the first simulated week for flows (revenue, churn, ...) and step 0 for stocks.
    """
    flows = {
        "service_quality",
        "csat",
        "nps",
        "customer_churn_rate",
        "employee_turnover_rate",
        "revenue",
        "costs",
        "profit",
    }
    by_step = timeseries.groupby("step")[list(HEADLINE)].mean()
    first = by_step.loc[min(1, by_step.index.max())]
    start = pd.Series({k: (first[k] if k in flows else by_step.iloc[0][k]) for k in HEADLINE})
    end = by_step.iloc[-1]
    table = pd.DataFrame({"start": start, "end": end})
    for key in ANNUALISED:
        table.loc[key] = per_year(table.loc[key])
    table = table.rename(index={k: f"{k} (per year)" for k in ANNUALISED})
    table["change"] = table["end"] - table["start"]
    return table.replace([np.inf, -np.inf], np.nan)
