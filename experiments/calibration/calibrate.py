"""Calibrate the uncertain behaviour parameters to field findings (pattern-oriented).

Method: Optuna's TPE sampler (multivariate, fixed seed) proposes values of the parameters in
``SEARCH``; each candidate is scored on ``--reps`` paired replications (seeds 1..R) of the
``baseline`` and ``internal_focus`` presets, and the loss is the sum over targets of the squared
distance outside each target's band, in units of the target's tolerance (zero inside the band).
Candidates are evaluated two at a time (``--workers``) and told back in a fixed order, so the
same command gives the same search. The best candidate is re-evaluated on ``--final-reps``
fresh replications (seeds 101..) to write the target table, so the table is not flattered by
the noise the search selected for.

Targets (EVIDENCE.md ids): T1 engaged 20-25 % and actively disengaged 13-18 % of staff; T3/T4/T6
top- vs bottom-engagement-quartile units: customer ratings about +10 %, profitability about
+20-25 %, turnover 15-20 % lower; T12 yearly frontline turnover 30-60 %; T8 yearly customer
retention 70-90 %; T15 internal focus at least 20 % below external focus on profit.
All rates and unit outcomes are measured over the second year (weeks 53-104).

Usage::

    .venv/bin/python experiments/calibration/calibrate.py [--budget N] [--reps R] [--apply]
    .venv/bin/python experiments/calibration/calibrate.py --evaluate-only   # current defaults

``--apply`` writes the calibrated values as the defaults in ``sim/params.py`` (default number and
source text only).
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import re
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sim.analytics import quartile_comparison, unit_table  # noqa: E402
from sim.model import ServiceModel  # noqa: E402
from sim.params import SPECS  # noqa: E402
from sim.scenario import load_scenario  # noqa: E402

OUTPUT = Path(__file__).resolve().parent / "output"
PARAMS_FILE = ROOT / "sim" / "params.py"

# Uncertain behaviour parameters searched, with the search range (inside the schema's range).
SEARCH: dict[str, tuple[float, float]] = {
    "engagement_intercept": (-6.5, -3.0),
    "disposition_sd": (0.3, 1.6),
    "manager_spread": (0.05, 0.35),
    "eng_w_customer_feedback": (0.5, 4.0),
    "quit_base": (0.004, 0.014),
    "quit_w_engagement": (1.0, 6.0),
    "churn_base": (0.001, 0.004),
    "internal_overhead": (0.1, 0.5),
    "p_leave_after_bad": (0.1, 0.35),
}
ROUNDING = {"quit_base": 4, "churn_base": 4}  # decimals kept in the defaults (others: 3)


@dataclass(frozen=True)
class Target:
    """A calibration target: the band it should fall in and the tolerance that scales misses."""

    key: str
    evidence: str
    description: str
    low: float
    high: float
    tolerance: float


TARGETS: tuple[Target, ...] = (
    Target("engaged_share", "T1", "share of staff engaged", 0.20, 0.25, 0.03),
    Target("actively_disengaged_share", "T1", "share of staff actively disengaged",
           0.13, 0.18, 0.03),
    Target("customer_ratings_pct", "T3", "top vs bottom engagement quartile: customer ratings (%)",
           7.0, 13.0, 4.0),
    Target("profitability_pct", "T4", "top vs bottom quartile: profitability (margin, %)",
           18.0, 27.0, 8.0),
    Target("turnover_pct", "T6", "top vs bottom quartile: staff turnover (%)", -22.0, -13.0, 6.0),
    Target("staff_turnover_year", "T12", "yearly frontline staff turnover", 0.30, 0.60, 0.05),
    Target("customer_retention_year", "T8", "yearly customer retention", 0.70, 0.90, 0.05),
    Target("internal_focus_profit_gap", "T15",
           "profit shortfall of internal focus vs baseline (share)", 0.20, 1.0, 0.05),
)


@dataclass(frozen=True)
class RunSize:
    """Size of each evaluation run (full size by default; the smoke test shrinks it)."""

    steps: int = 104
    n_employees: int | None = None
    n_customers: int | None = None

    def overrides(self) -> dict[str, int]:
        out: dict[str, int] = {}
        if self.n_employees is not None:
            out["n_employees"] = self.n_employees
        if self.n_customers is not None:
            out["n_customers"] = self.n_customers
        return out


def _run(preset: str, seed: int, values: dict[str, float], size: RunSize) -> ServiceModel:
    scenario = load_scenario(preset).with_changes(steps=size.steps, **size.overrides(), **values)
    return ServiceModel(scenario, seed=seed).run()


def measure(values: dict[str, float], seeds: list[int], size: RunSize) -> dict[str, float]:
    """Every target's statistic for parameter ``values`` (mean over paired replications)."""
    start = max(1, size.steps // 2 + 1)
    per_rep, tables = [], []
    for seed in seeds:
        base = _run("baseline", seed, values, size)
        internal = _run("internal_focus", seed, values, size)
        ts = base.timeseries()
        window = ts[ts["step"] >= start]
        tables.append(unit_table(base, start=start).assign(replication=seed))
        profit_base = window["profit"].sum()
        its = internal.timeseries()
        profit_internal = its[its["step"] >= start]["profit"].sum()
        per_rep.append({
            "engaged_share": window["engaged_share"].mean(),
            "actively_disengaged_share": window["actively_disengaged_share"].mean(),
            "staff_turnover_year": 1 - (1 - window["employee_turnover_rate"].mean()) ** 52,
            "customer_retention_year": (1 - window["customer_churn_rate"].mean()) ** 52,
            "internal_focus_profit_gap": ((profit_base - profit_internal) / abs(profit_base)
                                          if profit_base else float("nan")),
            "profit_margin": profit_base / window["revenue"].sum(),
        })
    stats = pd.DataFrame(per_rep).mean().to_dict()
    comparison = quartile_comparison(pd.concat(tables, ignore_index=True))
    stats.update({k: comparison[k] for k in ("customer_ratings_pct", "profitability_pct",
                                             "turnover_pct")})
    return stats


def loss(stats: dict[str, float]) -> float:
    """Sum of squared misses outside each band, in tolerance units (NaN counts as a big miss)."""
    total = 0.0
    for t in TARGETS:
        value = stats[t.key]
        if not math.isfinite(value):
            total += 100.0
            continue
        miss = max(t.low - value, 0.0, value - t.high) / t.tolerance
        total += miss * miss
    return total


def _evaluate(args: tuple[dict[str, float], list[int], RunSize]) -> tuple[float, dict[str, float]]:
    values, seeds, size = args
    stats = measure(values, seeds, size)
    return loss(stats), stats


def search(budget: int, reps: int, workers: int, size: RunSize, seed: int = 0
           ) -> tuple[dict[str, float], pd.DataFrame]:
    """Run the TPE search; return the best values and the history of every trial."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.TPESampler(seed=seed, multivariate=True,
                                         n_startup_trials=max(2, min(30, budget // 4)))
    study = optuna.create_study(direction="minimize", sampler=sampler)
    defaults = {k: float(SPECS[k].default) for k in SEARCH}
    study.enqueue_trial(defaults)  # the starting point is always scored
    seeds = list(range(1, reps + 1))
    history = []
    pool = ProcessPoolExecutor(workers) if workers > 1 else None
    try:
        done = 0
        while done < budget:
            batch = [study.ask() for _ in range(min(workers, budget - done))]
            values = [{k: t.suggest_float(k, *SEARCH[k]) for k in SEARCH} for t in batch]
            jobs = [(v, seeds, size) for v in values]
            results = list(pool.map(_evaluate, jobs)) if pool else [_evaluate(j) for j in jobs]
            for trial, v, (score, stats) in zip(batch, values, results, strict=True):
                study.tell(trial, score)
                history.append({"trial": trial.number, "loss": score, **v, **stats})
            done += len(batch)
            best = min(h["loss"] for h in history)
            print(f"\rtrials {done}/{budget}  best loss {best:.3f}", end="", flush=True)
    finally:
        if pool:
            pool.shutdown()
    print()
    return dict(study.best_params), pd.DataFrame(history)


def rounded(values: dict[str, float]) -> dict[str, float]:
    """Calibrated values with the decimals kept in the defaults."""
    return {k: round(float(v), ROUNDING.get(k, 3)) for k, v in values.items()}


def target_table(stats: dict[str, float]) -> pd.DataFrame:
    """Target vs achieved, with the band, tolerance and whether it is met."""
    rows = []
    for t in TARGETS:
        value = stats[t.key]
        rows.append({"id": t.evidence, "target": t.description, "low": t.low, "high": t.high,
                     "tolerance": t.tolerance, "achieved": value,
                     "in_band": t.low <= value <= t.high,
                     "within_tolerance": t.low - t.tolerance <= value <= t.high + t.tolerance})
    return pd.DataFrame(rows)


def _markdown(table: pd.DataFrame, extra: dict[str, float], note: str) -> str:
    lines = [note, "", "| id | target | band | tolerance | achieved | in band | within tolerance |",
             "|---|---|---|---|---|---|---|"]
    for r in table.itertuples():
        lines.append(f"| {r.id} | {r.target} | {r.low:g} to {r.high:g} | ±{r.tolerance:g} | "
                     f"{r.achieved:.3f} | {'yes' if r.in_band else 'no'} | "
                     f"{'yes' if r.within_tolerance else 'no'} |")
    lines += ["", "Also measured: " + ", ".join(f"{k} = {v:.3f}" for k, v in extra.items()), ""]
    return "\n".join(lines)


def figures(history: pd.DataFrame | None, table: pd.DataFrame, out: Path) -> None:
    """Loss by trial and target-vs-achieved bars (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if history is not None and len(history):
        fig, ax = plt.subplots(figsize=(6, 3.5))
        ax.plot(history["trial"], history["loss"], ".", alpha=0.5, label="candidate")
        ax.plot(history["trial"], history["loss"].cummin(), "-", label="best so far")
        ax.set_yscale("symlog", linthresh=0.1)
        ax.set_xlabel("trial")
        ax.set_ylabel("loss (squared misses / tolerance)")
        ax.legend()
        fig.tight_layout()
        fig.savefig(out / "search_history.png", dpi=120)
        plt.close(fig)
    fig, axes = plt.subplots(1, len(table), figsize=(2.0 * len(table), 3.4))
    for ax, r in zip(axes, table.itertuples(), strict=True):
        ax.axhspan(r.low - r.tolerance, r.high + r.tolerance, color="0.9", label="tolerance")
        ax.axhspan(r.low, r.high, color="tab:green", alpha=0.3, label="band")
        ax.plot([0], [r.achieved], "o", color="tab:blue" if r.within_tolerance else "tab:red")
        ax.set_xticks([])
        ax.set_title(f"{r.id}\n{r.target[:28]}", fontsize=7)
        span = r.high - r.low + 2 * r.tolerance
        ax.set_ylim(min(r.low - r.tolerance, r.achieved) - 0.2 * span,
                    max(r.high + r.tolerance, r.achieved) + 0.2 * span)
    fig.tight_layout()
    fig.savefig(out / "targets.png", dpi=120)
    plt.close(fig)


def apply_defaults(values: dict[str, float], note: str, path: Path = PARAMS_FILE) -> None:
    """Write ``values`` as defaults in sim/params.py: the default number and the source text.

    The new source is ``"<note>; prior: <previous source>"`` (the prior evidence is kept), on
    its own line(s) so the file stays within 100 columns.
    """
    text = path.read_text()
    for name, value in values.items():
        head = re.search(rf"^    {name}: (float|int) = _p\(\s*", text, flags=re.M)
        if head is None:
            raise KeyError(f"parameter {name} not found in {path}")
        end = re.search(r"^    \w+: (float|int) = _p\(|^    def ", text[head.end():], flags=re.M)
        stop = head.end() + (end.start() if end else len(text) - head.end())
        block = text[head.end():stop]
        number = re.match(r"[-+0-9._eE]+", block)
        block = f"{value!r}" + block[number.end():]
        strings = list(re.finditer(r'"[^"]*"', block))
        first = len(strings) - 1  # the source: the trailing run of adjacent string literals
        while first > 0 and not block[strings[first - 1].end():strings[first].start()].strip():
            first -= 1
        prior = "".join(m.group(0)[1:-1] for m in strings[first:]).split("; prior: ")[-1]
        indent = " " * len(head.group(0))
        source = f'"{note}; "\n{indent}"prior: {prior}"'
        before = block[:strings[first].start()].rstrip()
        rest = block[strings[-1].end():]
        if rest.startswith(", structural=True)"):
            rest = ",\n" + indent + rest[2:]
        block = f"{before}\n{indent}{source}{rest}"
        text = text[:head.end()] + block + text[stop:]
    path.write_text(text)


def _git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, text=True,
                              capture_output=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=int, default=200, help="candidates evaluated")
    parser.add_argument("--reps", type=int, default=4, help="paired replications per candidate")
    parser.add_argument("--final-reps", type=int, default=12,
                        help="fresh replications for the final target table")
    parser.add_argument("--workers", type=int, default=2, help="processes")
    parser.add_argument("--seed", type=int, default=0, help="sampler seed")
    parser.add_argument("--steps", type=int, default=104, help="weeks per run")
    parser.add_argument("--n-employees", type=int, help="smaller runs (smoke tests only)")
    parser.add_argument("--n-customers", type=int, help="smaller runs (smoke tests only)")
    parser.add_argument("--out", type=Path, default=OUTPUT, help="output directory")
    parser.add_argument("--evaluate-only", action="store_true",
                        help="no search: write the target table of the current defaults")
    parser.add_argument("--apply", action="store_true",
                        help="write the calibrated values as defaults in sim/params.py")
    args = parser.parse_args(argv)
    size = RunSize(args.steps, args.n_employees, args.n_customers)
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.time()

    history = None
    if args.evaluate_only:
        best = {k: float(SPECS[k].default) for k in SEARCH}
    else:
        raw, history = search(args.budget, args.reps, args.workers, size, args.seed)
        best = rounded(raw)
        history.to_csv(args.out / "trials.csv", index=False)
    final_seeds = list(range(101, 101 + args.final_reps))
    stats = measure(best, final_seeds, size)
    table = target_table(stats)
    table.to_csv(args.out / "targets.csv", index=False)
    what = "current defaults" if args.evaluate_only else "calibrated values"
    note = (f"Target vs achieved for the {what}: baseline and internal_focus, "
            f"{args.final_reps} fresh paired replications (seeds {final_seeds[0]}-"
            f"{final_seeds[-1]}), {size.steps} weeks, statistics over the second half of the run. "
            f"Loss {loss(stats):.3f}.")
    extra = {"loss": loss(stats), "profit_margin": stats["profit_margin"]}
    (args.out / "targets.md").write_text(_markdown(table, extra, note))
    figures(history, table, args.out)
    record: dict[str, Any] = {
        "method": "Optuna TPE (multivariate), loss = sum of squared misses outside target bands "
                  "in tolerance units" if not args.evaluate_only else "evaluation of defaults",
        "sampler_seed": args.seed, "budget": args.budget, "reps_per_candidate": args.reps,
        "final_reps": args.final_reps, "steps": size.steps, "run_overrides": size.overrides(),
        "code_commit": _git_commit(), "date": dt.date.today().isoformat(),
        "search_ranges": {k: list(v) for k, v in SEARCH.items()},
        "previous_defaults": {k: SPECS[k].default for k in SEARCH},
        "calibrated": best, "achieved": {k: float(v) for k, v in stats.items()},
        "loss": float(loss(stats)), "seconds": round(time.time() - started, 1),
    }
    name = "defaults_evaluation.yaml" if args.evaluate_only else "calibrated.yaml"
    (args.out / name).write_text(yaml.safe_dump(record, sort_keys=False))
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(f"loss {loss(stats):.3f}; wrote {args.out}/{name}, targets.md, targets.csv, PNGs "
          f"in {time.time() - started:.0f} s")
    if args.apply and not args.evaluate_only:
        apply_defaults(best, "calibrated (experiments/calibration)")
        print(f"applied the calibrated defaults to {PARAMS_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
