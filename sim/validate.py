"""``sim validate``: where the model stands on every calibration target of the evidence.

Each target (ids T1-T17 of the project's evidence table) is a published pattern with a stated
tolerance, written here before measuring and kept: the band a measured value must fall in,
taken from the width of the published range (or, for a single figure, from the spread the
sources report). Every target is measured on the default organisation under "change from
today" (every scenario starts from the baseline's settled organisation of its seed), on paired
replications (seeds 1..R), over weeks 1-104, with a 95% t-interval across replications. A
target passes when its measured value lies inside its band. Targets the model has no mechanism
for are listed and fail, rather than being left out.

    sim validate [--quick] [--reps R] [--out DIR]

The last line is exactly ``validation: K/M targets within tolerance``; the exit status is 0
only when K == M.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from sim import customers, encounters
from sim.model import ServiceModel
from sim.runner import prepare_output_dir
from sim.state import ACTIVE
from sim.stats import per_year, t_interval, t_quantile
from sim.unit_analytics import quartile_comparison, unit_table

WEEKS = 104
DEFAULT_REPS, QUICK_REPS = 12, 4
EARLY, LATE = (1, 13), (92, 104)
PROMOTER, PASSIVE = 9, 7  # 0-10 ratings: very satisfied 9-10, satisfied 7-8 (Reichheld 2003)
QUIT_RAISE = 1.5  # T11: quitting raised by half from week 1 in the same organisation


@dataclass(frozen=True)
class Target:
    """A published pattern and the band a measured value must fall in to pass."""

    id: str
    pattern: str
    published: str
    low: float
    high: float
    unit: str
    source: str


TARGETS = (
    Target("T1a", "engaged share of staff", "23% (global) to 31% (US)", 0.20, 0.34, "share",
           "Gallup State of the Global Workplace 2024; US surveys"),
    Target("T1b", "actively disengaged share of staff", "15% (global) to 17% (US)", 0.12, 0.20,
           "share", "same"),
    Target("T2", "managers' share of between-team variance in engagement", "at least 70%",
           0.65, 1.0, "R^2", "Gallup, State of the American Manager (2015)"),
    Target("T3", "top vs bottom engagement quartile: customer ratings", "about +10%", 6.0, 14.0,
           "% difference", "Gallup Q12 meta-analysis (2012-2024 editions)"),
    Target("T4", "top vs bottom quartile: profitability", "+21 to +23%", 13.0, 31.0,
           "% difference", "same"),
    Target("T5", "top vs bottom quartile: productivity (revenue per employee)", "+14 to +21%",
           8.0, 27.0, "% difference", "same"),
    Target("T6", "top vs bottom quartile: staff turnover (turnover above 40%/year)",
           "-18 to -25%", -31.0, -12.0, "% difference", "same"),
    Target("T7a", "very satisfied customers vs average: spend per week", "about +23%", 13.0,
           33.0, "% difference", "Gallup customer engagement (CE3)"),
    Target("T7b", "dissatisfied customers vs average: spend per week", "about -13%", -23.0,
           -3.0, "% difference", "same"),
    Target("T8a", "yearly defection of 'satisfied' (7-8 of 10) customers", "15-40%", 0.15,
           0.40, "share per year", "Jones & Sasser (1995)"),
    Target("T8b", "defection of satisfied over very satisfied (9-10) customers",
           "about 6x (repurchase)", 3.0, 12.0, "ratio", "same"),
    Target("T9", "customers who leave after a very bad experience", "17-32%", 0.17, 0.32,
           "share", "PwC, Experience is everything (2018)"),
    Target("T10a", "engagement vs individual performance (service quality)", "rho about .48",
           0.33, 0.63, "correlation", "meta-analysis, Eur. J. Work & Org. Psychology (2021/22)"),
    Target("T10b", "engagement vs absence", "rho about -.17", -0.27, -0.07, "correlation",
           "same; Schaufeli, Bakker & van Rhenen (2009)"),
    Target("T11", "cost of replacing a frontline employee", "median 21% of annual pay "
           "(2% to 150%)", 0.02, 1.50, "x annual pay", "Boushey & Glynn (2012)"),
    Target("T12", "yearly frontline turnover in a high-turnover service setting", "40-150%",
           0.40, 1.50, "share per year", "BLS quit rates; industry reports"),
    Target("T13", "service quality a year after a cut is restored (vs never cut)",
           "does not fully recover", -1.0, -0.001, "quality difference",
           "Oliva & Sterman (2001, 2010)"),
    Target("T14", "negative over positive word of mouth of the extremes",
           "negative somewhat stronger, not 10x", 1.0, 3.0, "ratio",
           "Anderson (1998); de Matos & Rossi (2008)"),
    Target("T15", "profit shortfall of an internally focused firm (weeks 53-104)",
           "more than 20%", 0.20, 10.0, "share of baseline profit", "seed 001"),
    Target("T16", "capability cut: weekly profit vs baseline, weeks 1-13 minus 92-104 sign",
           "better before worse", 1.0, 1.0, "both signs as published",
           "Repenning & Sterman (2001); Schlesinger & Heskett (1991)"),
    Target("T17", "investment in people: weekly profit vs baseline, early and late",
           "worse before better", 1.0, 1.0, "both signs as published",
           "Repenning & Sterman (2001, 2002)"),
)


@dataclass
class Study:
    """The runs every target is measured on (paired replications, seeds 1..reps)."""

    reps: int
    overrides: dict[str, float]  # parameter values for every run (world parameters, sizes)
    first_seed: int
    baseline: list[ServiceModel] = dataclasses.field(default_factory=list)
    series: dict[str, pd.DataFrame] = dataclasses.field(default_factory=dict)
    unit_table: pd.DataFrame | None = None  # the baseline's units over weeks 1-104

    def weekly(self, name: str, key: str) -> pd.DataFrame:
        """Replications x weeks of ``key`` in scenario ``name``."""
        return self.series[name].pivot(index="replication", columns="step", values=key)

    def paired(self, name: str, key: str, weeks: tuple[int, int]) -> np.ndarray:
        """Per-replication mean difference of ``key`` to the baseline over ``weeks``."""
        diff = self.weekly(name, key) - self.weekly("baseline", key)
        return diff.loc[:, weeks[0]:weeks[1]].mean(axis=1).to_numpy()


def run_study(reps: int, overrides: dict[str, float] | None = None, first_seed: int = 1
              ) -> Study:
    """Run the baseline (kept as models), the presets the targets need, and a quit experiment.

    Replication r runs on seed ``first_seed + r`` in every scenario (paired).
    """
    study = Study(reps, dict(overrides or {}), first_seed)
    seed = first_seed
    frames = []
    for r in range(reps):
        model = ServiceModel("baseline", rng=seed + r, replication=r, **study.overrides)
        model.run(WEEKS)
        study.baseline.append(model)
        frames.append(model.timeseries())
    study.series["baseline"] = pd.concat(frames, ignore_index=True)
    for name in ("cost_cutting", "employees_first", "internal_focus", "training_cut_and_restore"):
        frames = [ServiceModel(name, rng=seed + r, replication=r, **study.overrides).run(WEEKS)
                  .timeseries() for r in range(reps)]
        study.series[name] = pd.concat(frames, ignore_index=True)
    frames = []
    for r in range(reps):  # more quits from week 1 in the same organisation (T11)
        model = ServiceModel("baseline", rng=seed + r, replication=r, **study.overrides)
        model.params = model.params.replace(quit_base=model.params.quit_base * QUIT_RAISE)
        frames.append(model.run(WEEKS).timeseries())
    study.series["more_quits"] = pd.concat(frames, ignore_index=True)
    return study



# --- measures: each returns one value per replication (or one value) -------------------------
def _units(study: Study) -> pd.DataFrame:
    """The baseline's unit table over weeks 1-104 (built once per study, used by T3-T6)."""
    if study.unit_table is None:
        frames = [m.unit_timeseries() for m in study.baseline]
        study.unit_table = unit_table(pd.concat(frames, ignore_index=True), start=1, end=WEEKS)
    return study.unit_table


def _quartile(key: str) -> Callable[[Study], tuple[float, float, float]]:
    """Top vs bottom engagement quartile, pooled over replications, with a jackknife CI.

    Quartiles are formed within each replication (one organisation, as in a study) and pooled
    (a ratio of pooled means: per-organisation ratios explode when a quartile's margin is near
    zero); the interval comes from leaving out one replication at a time.
    """
    def pooled(table: pd.DataFrame) -> float:
        return quartile_comparison(table)[key]

    def measure(study: Study) -> tuple[float, float, float]:
        table = _units(study)
        value = pooled(table)
        reps = sorted(table["replication"].unique())
        if len(reps) < 2:
            return value, value, value
        leave_one_out = np.array([pooled(table[table["replication"] != r]) for r in reps])
        n = len(reps)
        se = math.sqrt((n - 1) / n * np.sum((leave_one_out - leave_one_out.mean()) ** 2))
        half = t_quantile(n) * se
        return value, value - half, value + half
    return measure


def _weekly_mean(key: str) -> Callable[[Study], np.ndarray]:
    return lambda study: study.weekly("baseline", key).loc[:, 1:WEEKS].mean(axis=1).to_numpy()


def _manager_share(study: Study) -> np.ndarray:
    """R^2 of unit engagement on the manager's traits and engagement (per replication)."""
    out = []
    for model in study.baseline:
        frame = model.unit_timeseries()
        window = frame[frame["step"] >= 1].groupby("unit")
        y = window["engagement"].mean().to_numpy()
        x = np.column_stack([model.units.trait_offset.T, window["manager_engagement"].mean(),
                             np.ones(len(y))])
        fitted = x @ np.linalg.lstsq(x, y, rcond=None)[0]
        out.append(1.0 - np.sum((y - fitted) ** 2) / np.sum((y - y.mean()) ** 2))
    return np.array(out)


def _ratings(model: ServiceModel) -> tuple[np.ndarray, np.ndarray]:
    """Active customers' 0-10 ratings and market slots at the end of the run."""
    active = np.flatnonzero(model.market.status == ACTIVE)
    return np.rint(model.market.satisfaction[active] * 10.0), active


def _spend_gap(promoters: bool) -> Callable[[Study], np.ndarray]:
    """Expected weekly spend of very satisfied (or dissatisfied) customers vs all, in %."""
    def measure(study: Study) -> np.ndarray:
        out = []
        for model in study.baseline:
            rating, active = _ratings(model)
            spend = (encounters.visit_probability(model.params, model.market)[active]
                     * encounters.spend_per_visit(model.params, model.market.loyalty[active]))
            group = rating >= PROMOTER if promoters else rating <= 6
            out.append(100.0 * (spend[group].mean() / spend.mean() - 1.0))
        return np.array(out)
    return measure


def _defection(model: ServiceModel, group: np.ndarray, active: np.ndarray) -> float:
    weekly = customers.churn_chance(model.params, model.market.loyalty[active[group]]).mean()
    return per_year(weekly)


def _satisfied_defection(study: Study) -> np.ndarray:
    out = []
    for model in study.baseline:
        rating, active = _ratings(model)
        out.append(_defection(model, (rating >= PASSIVE) & (rating < PROMOTER), active))
    return np.array(out)


def _defection_ratio(study: Study) -> np.ndarray:
    out = []
    for model in study.baseline:
        rating, active = _ratings(model)
        satisfied = _defection(model, (rating >= PASSIVE) & (rating < PROMOTER), active)
        out.append(satisfied / _defection(model, rating >= PROMOTER, active))
    return np.array(out)


def _leave_after_bad(study: Study) -> np.ndarray:
    left = study.weekly("baseline", "churned_after_bad_encounter").loc[:, 1:].sum(axis=1)
    bad = (study.weekly("baseline", "very_bad_share")
           * study.weekly("baseline", "visits")).loc[:, 1:].sum(axis=1)
    return (left / bad.where(bad > 0)).to_numpy()


def _engagement_performance(study: Study) -> np.ndarray:
    out = []
    for model in study.baseline:
        staff = np.flatnonzero(model.workforce.filled)
        quality = encounters.core_quality(model.params, model.workforce, model.units, staff)
        out.append(np.corrcoef(model.workforce.engagement[staff], quality)[0, 1])
    return np.array(out)


def _engagement_absence(study: Study) -> np.ndarray:
    """Correlation of engagement with the share of the last year's weeks away (a year in post)."""
    out = []
    for model in study.baseline:
        wf = model.workforce
        staff = np.flatnonzero(wf.filled & (wf.tenure >= 52))
        out.append(np.corrcoef(wf.engagement[staff], wf.absence_rate[staff])[0, 1])
    return np.array(out)


def _replacement_cost(study: Study) -> np.ndarray:
    """Profit lost per extra quit when quitting rises by half, in years of a frontline wage."""
    quits = study.paired("more_quits", "quits", (1, WEEKS)) * WEEKS
    profit = study.paired("more_quits", "profit", (1, WEEKS)) * WEEKS
    wage = study.baseline[0].params.wage_weekly * study.baseline[0].params.pay_level * 52
    return -profit / np.where(quits > 0, quits, np.nan) / wage


def _yearly_turnover(study: Study) -> np.ndarray:
    weekly = study.weekly("baseline", "employee_turnover_rate").loc[:, 1:].mean(axis=1)
    return per_year(weekly).to_numpy()


def _hysteresis(study: Study) -> np.ndarray:
    return study.paired("training_cut_and_restore", "service_quality", LATE)


def _word_of_mouth(study: Study) -> np.ndarray:
    params = study.baseline[0].params
    return np.array([params.wom_detractor_p / params.wom_promoter_p])


def _internal_shortfall(study: Study) -> np.ndarray:
    base = study.weekly("baseline", "profit").loc[:, 53:WEEKS].mean(axis=1)
    return (-study.paired("internal_focus", "profit", (53, WEEKS)) / base.to_numpy())


def _shape(name: str, early_sign: int) -> Callable[[Study], np.ndarray]:
    """1 when the early and late paired differences both have the published signs (CIs)."""
    def measure(study: Study) -> np.ndarray:
        early = _interval(study.paired(name, "profit", EARLY))
        late = _interval(study.paired(name, "profit", LATE))
        ok = (early_sign * early[1] > 0 and early_sign * early[2] > 0
              and -early_sign * late[1] > 0 and -early_sign * late[2] > 0)
        return np.array([1.0 if ok else 0.0])
    return measure


# Each measure gives one value per replication (summarised by a t-interval) or, where a pooled
# estimate is stabler, the estimate with its interval.
MEASURES: dict[str, Callable[[Study], np.ndarray | tuple[float, float, float]]] = {
    "T1a": _weekly_mean("engaged_share"),
    "T1b": _weekly_mean("actively_disengaged_share"),
    "T2": _manager_share,
    "T3": _quartile("customer_ratings_pct"),
    "T4": _quartile("profitability_pct"),
    "T5": _quartile("productivity_pct"),
    "T6": _quartile("turnover_pct"),
    "T7a": _spend_gap(promoters=True),
    "T7b": _spend_gap(promoters=False),
    "T8a": _satisfied_defection,
    "T8b": _defection_ratio,
    "T9": _leave_after_bad,
    "T10a": _engagement_performance,
    "T10b": _engagement_absence,
    "T11": _replacement_cost,
    "T12": _yearly_turnover,
    "T13": _hysteresis,
    "T14": _word_of_mouth,
    "T15": _internal_shortfall,
    "T16": _shape("cost_cutting", early_sign=1),
    "T17": _shape("employees_first", early_sign=-1),
}


def _interval(values: np.ndarray) -> tuple[float, float, float]:
    """Mean and 95% t-interval (NaN interval for fewer than two finite values)."""
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return math.nan, math.nan, math.nan
    mean = float(values.mean())
    if len(values) < 2 or np.all(values == values[0]):
        return mean, mean, mean
    return t_interval(values)


def validate(reps: int, overrides: dict[str, float] | None = None, first_seed: int = 1
             ) -> pd.DataFrame:
    """The validation table: one row per target (see :func:`run_study` for the arguments)."""
    study = run_study(reps, overrides, first_seed)
    rows = []
    for target in TARGETS:
        measured = MEASURES[target.id](study)
        value, low, high = measured if isinstance(measured, tuple) else _interval(measured)
        passed = bool(np.isfinite(value) and target.low <= value <= target.high)
        rows.append({
            "id": target.id, "pattern": target.pattern, "target": target.published,
            "measured": value, "ci_low": low, "ci_high": high,
            "tolerance": f"{target.low:g}..{target.high:g} {target.unit}",
            "low": target.low, "high": target.high,
            "result": "PASS" if passed else ("NOT MODELLED" if not np.isfinite(value)
                                             else "FAIL"),
            "source": target.source,
        })
    return pd.DataFrame(rows)


def _markdown(table: pd.DataFrame, reps: int) -> str:
    lines = [f"Validation on the default organisation, {reps} paired replications, weeks "
             f"1-{WEEKS}, change from today (`sim validate`).", "",
             "| id | pattern | target | measured [95% CI] | tolerance | result |",
             "|---|---|---|---|---|---|"]
    for row in table.itertuples():
        lines.append(f"| {row.id} | {row.pattern} | {row.target} | {_shown(row)} | "
                     f"{row.tolerance} | {row.result} |")
    return "\n".join(lines) + "\n"


def _shown(row) -> str:
    if not np.isfinite(row.measured):
        return "-"
    if row.ci_low == row.ci_high:
        return f"{row.measured:.3g}"
    return f"{row.measured:.3g} [{row.ci_low:.3g}, {row.ci_high:.3g}]"


def cmd_validate(args: argparse.Namespace) -> int:
    """Measure every target, print and write the table, and say how many pass."""
    reps = args.reps or (QUICK_REPS if args.quick else DEFAULT_REPS)
    if not 2 <= reps <= 200:
        from sim.params import ParameterError
        raise ParameterError(f"--reps={reps} is out of range: allowed 2..200")
    out = prepare_output_dir(args.out)
    table = validate(reps)
    for row in table.itertuples():
        print(f"{row.id:<5} {row.result:<12} {row.pattern}: {_shown(row)} "
              f"(target {row.target}; tolerance {row.tolerance})")
    table.to_csv(out / "validation.csv", index=False)
    (out / "validation.md").write_text(_markdown(table, reps))
    passed = int((table["result"] == "PASS").sum())
    print(f"wrote {out}/validation.csv and validation.md")
    print(f"validation: {passed}/{len(table)} targets within tolerance")
    return 0 if passed == len(table) else 1


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``sim validate``."""
    parser = subparsers.add_parser(
        "validate", help="measure every calibration target with a 95%% CI against its tolerance")
    parser.add_argument("--quick", action="store_true",
                        help=f"{QUICK_REPS} replications instead of {DEFAULT_REPS} (for CI)")
    parser.add_argument("--reps", type=int, help="replications (overrides --quick)")
    parser.add_argument("--out", default=str(Path("results") / "validation"),
                        help="folder for validation.csv and validation.md "
                             "(default results/validation)")
    parser.set_defaults(func=cmd_validate)
