"""Emergent dynamics of the service-profit chain: three experiments, figures and a short report.

(a) Cycles of success and failure. A sweep of one lever (staffing ratio) from the same start
    (same seeds) shows how outcomes respond to it. Then, inside one organisation whose managers
    are made identical, half the units get a small nudge up (+0.05 on every manager trait) and
    half a nudge down, after the start: the gap between the halves is followed week by week,
    with the customer -> morale loop on and cut (eng_w_customer_feedback =
    burnout_customer_strain = 0), to show how much of the divergence the loop makes.
(b) Erosion and slow recovery. ``training_cut_and_restore`` (training and resources cut for a
    year, restored at week 52) against ``baseline``, paired replications, run for three years:
    when do engagement, skill, customers and profit come back within noise of the baseline?
(c) Turnover cascade. At week 40 a third of the staff of five units leave at once (e.g. poached
    by a competitor); paired runs without the shock measure the extra quits that follow, with
    and without the workload -> burnout link (burnout_overload = 0).

All comparisons are paired (common random numbers: the same seeds with and without the
change). Usage: ``.venv/bin/python experiments/dynamics/run_dynamics.py [--reps R]`` (a few
minutes on two cores). Writes ``experiments/dynamics/output/*.png`` and ``report.md``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sim.model import ServiceModel  # noqa: E402
from sim.scenario import load_scenario  # noqa: E402
from sim.stats import per_year  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

OUT = Path(__file__).resolve().parent / "output"
SEEDS_FROM = 1


def run(preset: str, seed: int, steps: int = 104, **params: float) -> ServiceModel:
    """One run of a preset with parameter overrides."""
    scenario = load_scenario(preset).with_changes(steps=steps, **params)
    return ServiceModel(scenario, rng=seed).run()


def ci95(values: np.ndarray, axis: int = 0) -> np.ndarray:
    """Half-width of a normal 95 % interval of the mean."""
    n = values.shape[axis]
    return 1.96 * values.std(axis=axis, ddof=1) / np.sqrt(n) if n > 1 else np.zeros(
        np.delete(values.shape, axis))


# --- (a) cycles of success and failure -----------------------------------------------------------
def cycles(reps: int, notes: list[str]) -> None:
    levels = np.round(np.arange(0.70, 1.001, 0.03), 2)
    rows = []
    for level in levels:
        for r in range(reps):
            ts = run("baseline", SEEDS_FROM + r, staffing_ratio=float(level)).timeseries()
            last = ts[ts["step"] > 78]
            rows.append({"staffing_ratio": level, "rep": r,
                         "engagement": last["engagement_mean"].mean(),
                         "csat": last["csat"].mean(),
                         "turnover": per_year(last["employee_turnover_rate"].mean()),
                         "profit": last["profit"].sum() / 26 / 1000,
                         "customers": last["customers_active"].mean()})
    sweep = pd.DataFrame(rows)
    mean = sweep.groupby("staffing_ratio").mean()
    fig, axes = plt.subplots(1, 4, figsize=(13, 3.2))
    for ax, key, label in zip(axes, ("engagement", "csat", "turnover", "profit"),
                              ("mean engagement", "CSAT", "staff turnover / year",
                               "profit / week ($k)"), strict=True):
        ax.plot(sweep["staffing_ratio"], sweep[key], ".", alpha=0.3, color="0.4")
        ax.plot(mean.index, mean[key], "-o", ms=3)
        ax.set_xlabel("staffing ratio (lever)")
        ax.set_title(label + ", weeks 79-104", fontsize=9)
    fig.tight_layout()
    fig.savefig(OUT / "a_lever_sweep.png", dpi=120)
    plt.close(fig)
    slope = np.diff(mean["engagement"]) / np.diff(mean.index)
    steepest = mean.index[int(np.argmax(slope))]
    notes.append(f"- Lever sweep (staffing ratio 0.70-1.00 in steps of 0.03, {reps} paired "
                 f"replications each; end values over weeks 79-104): mean engagement goes from "
                 f"{mean['engagement'].iloc[0]:.3f} to {mean['engagement'].iloc[-1]:.3f}, CSAT "
                 f"from {mean['csat'].iloc[0]:.3f} to {mean['csat'].iloc[-1]:.3f}, yearly staff "
                 f"turnover from {mean['turnover'].iloc[0]:.0%} to {mean['turnover'].iloc[-1]:.0%}"
                 f", weekly profit from ${mean['profit'].iloc[0]:.0f}k to "
                 f"${mean['profit'].iloc[-1]:.0f}k. The steepest engagement step is just above "
                 f"a ratio of {steepest:.2f} ({slope.max():.2f} engagement per unit of ratio; "
                 f"flattest {slope.min():.2f}).")

    # small lever differences between units, from the same start; the loop at work
    keys = ("engagement", "csat", "turnover", "burnout")
    gaps, spreads = {}, {}
    loop_cut = {"eng_w_customer_feedback": 0.0, "burnout_customer_strain": 0.0}
    for name, extra in (("with loop", {}), ("loop cut", loop_cut)):
        gap = {k: [] for k in keys}
        sd_eng = []
        for r in range(reps):
            # difference in differences: the same seed without the nudge removes the units'
            # other differences (market size, staff drawn), leaving the nudge's own effect
            halves = []
            for nudge in (NUDGE, 0.0):
                units = nudged_run(SEEDS_FROM + r, nudge, **extra)
                up = units[units["unit"] % 2 == 0].groupby("step")[list(keys)].mean()
                down = units[units["unit"] % 2 == 1].groupby("step")[list(keys)].mean()
                halves.append(up - down)
            for k in keys:
                gap[k].append((halves[0][k] - halves[1][k]).to_numpy())
            units = nudged_run(SEEDS_FROM + r, NUDGE, **extra)
            wide = units.pivot(index="step", columns="unit", values="engagement")
            sd_eng.append(wide.std(axis=1).to_numpy())
        gaps[name] = {k: np.array(v) for k, v in gap.items()}
        spreads[name] = np.mean(sd_eng, axis=0)
    fig, axes = plt.subplots(1, len(keys) + 1, figsize=(15, 3.2))
    for ax, k in zip(axes[:-1], keys, strict=True):
        for name, g in gaps.items():
            smooth = pd.DataFrame(g[k].T).rolling(4, min_periods=1).mean().to_numpy().T
            ax.plot(smooth.mean(axis=0), label=name)
        ax.axhline(0, color="k", lw=0.8)
        ax.set_title(f"{k}: nudged up - nudged down", fontsize=9)
        ax.set_xlabel("week")
    for name, sd in spreads.items():
        axes[-1].plot(sd, label=name)
    axes[-1].set_title("sd of unit engagement", fontsize=9)
    axes[-1].set_xlabel("week")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(OUT / "a_unit_divergence.png", dpi=120)
    plt.close(fig)

    def window_mean(g: np.ndarray, weeks: slice) -> tuple[float, float]:
        values = g[:, weeks].mean(axis=1)
        return float(values.mean()), float(ci95(values))

    for name, g in gaps.items():
        early = window_mean(g["engagement"], slice(1, 9))
        late = window_mean(g["engagement"], slice(79, 105))
        csat_late = window_mean(g["csat"], slice(79, 105))
        turn_late = window_mean(g["turnover"], slice(79, 105))
        notes.append(f"- Units nudged {NUDGE:+.2f} vs {-NUDGE:+.2f} on every manager trait "
                     f"(identical managers otherwise, same start; paired against the same seed "
                     f"without the nudge), {name}: engagement gap "
                     f"{early[0]:+.3f} ± {early[1]:.3f} in weeks 1-8, "
                     f"{late[0]:+.3f} ± {late[1]:.3f} in weeks 79-104; "
                     f"CSAT gap {csat_late[0]:+.4f} ± {csat_late[1]:.4f}; weekly "
                     f"quit-rate gap {turn_late[0] * 100:+.2f} ± {turn_late[1] * 100:.2f} points.")
    amp = (gaps["with loop"]["engagement"][:, 79:105].mean()
           / gaps["loop cut"]["engagement"][:, 79:105].mean())
    notes.append(f"- With the customer -> morale loop the late engagement gap is {amp:.2f} times "
                 f"the gap with the loop cut; the spread of unit engagement in the last 26 weeks "
                 f"is {spreads['with loop'][-26:].mean():.3f} with the loop and "
                 f"{spreads['loop cut'][-26:].mean():.3f} without.")


NUDGE = 0.05


def nudged_run(seed: int, nudge: float, **params: float) -> pd.DataFrame:
    """Baseline with identical managers, then even units nudged up and odd units down."""
    scenario = load_scenario("baseline").with_changes(manager_spread=0.0, **params)
    model = ServiceModel(scenario, rng=seed)
    model.units.trait_offset[:, 0::2] += nudge
    model.units.trait_offset[:, 1::2] -= nudge
    model.run()
    return model.unit_timeseries()


# --- (b) erosion and slow recovery ---------------------------------------------------------------
def erosion(reps: int, notes: list[str]) -> None:
    steps = 156
    keys = ("engagement_mean", "skill_mean", "service_quality", "customers_active", "profit")
    diffs = {k: [] for k in keys}
    for r in range(reps):
        base = run("baseline", SEEDS_FROM + r, steps).timeseries()
        cut = run("training_cut_and_restore", SEEDS_FROM + r, steps).timeseries()
        for k in keys:
            diffs[k].append((cut[k] - base[k]).to_numpy())
    fig, axes = plt.subplots(1, len(keys), figsize=(15, 3.2))
    lines = []
    for ax, k in zip(axes, keys, strict=True):
        d = np.array(diffs[k])
        smooth = pd.DataFrame(d.T).rolling(8, min_periods=1).mean().to_numpy().T
        mean, half = smooth.mean(axis=0), ci95(smooth)
        ax.fill_between(np.arange(len(mean)), mean - half, mean + half, alpha=0.3)
        ax.plot(mean)
        ax.axhline(0, color="k", lw=0.8)
        ax.axvspan(0, 52, color="tab:red", alpha=0.08)
        ax.set_title(f"{k}: cut - baseline", fontsize=9)
        ax.set_xlabel("week")
        after = np.arange(52, len(mean))
        below = (mean + half)[after] < 0
        # first week after the restore from which the difference is no longer clearly negative
        recovered = next((int(w) for i, w in enumerate(after) if not below[i:].any()), None)
        worst = float(mean[:53].min())
        lines.append(f"  - {k}: largest shortfall {worst:,.3f} (8-week mean); "
                     + (f"no longer clearly below baseline from week {recovered} "
                        f"({recovered - 52} weeks after the restore)" if recovered is not None
                        else "still below baseline at week 156"))
    fig.tight_layout()
    fig.savefig(OUT / "b_cut_and_restore.png", dpi=120)
    plt.close(fig)
    notes.append(f"- Training 0.05 -> 0 and resources 0.6 -> 0.3 from week 0, restored at "
                 f"week 52; {reps} paired replications, 156 weeks; 'clearly below' = the 95 % "
                 f"interval of the paired difference (8-week means) lies below zero:")
    notes.extend(lines)


# --- (c) turnover cascade ------------------------------------------------------------------------
SHOCK_WEEK, SHOCK_SHARE, SHOCK_UNITS = 40, 1 / 3, 5


def shocked_run(seed: int, shock: bool, **params: float) -> pd.DataFrame:
    """Baseline with (or without) a third of five units' staff leaving at once in week 40."""
    scenario = load_scenario("baseline").with_changes(**params)
    model = ServiceModel(scenario, rng=seed)
    model.run(SHOCK_WEEK)
    if shock:
        wf = model.workforce
        rng = np.random.default_rng(1000 + seed)
        for unit in range(SHOCK_UNITS):
            staff = np.flatnonzero(wf.filled & (wf.unit == unit))
            leave = rng.choice(staff, int(round(SHOCK_SHARE * len(staff))), replace=False)
            wf.filled[leave] = False  # their Mesa agents, if made, leave when next touched
            wf.tenure[leave] = 0
    model.run()
    units = model.unit_timeseries()
    return units[units["unit"] < SHOCK_UNITS].groupby("step").agg(
        staff=("staff", "sum"), vacancies=("vacancies", "sum"), workload=("workload", "mean"),
        burnout=("burnout", "mean"), engagement=("engagement", "mean"),
        turnover=("turnover", "mean"), csat=("csat", "mean"))


def cascade(reps: int, notes: list[str]) -> None:
    keys = ("vacancies", "workload", "burnout", "turnover", "engagement", "csat")
    results = {}
    variants = (("as calibrated", {}), ("no workload -> burnout", {"burnout_overload": 0.0}))
    for name, params in variants:
        d = {k: [] for k in keys}
        for r in range(reps):
            with_shock = shocked_run(SEEDS_FROM + r, True, **params)
            without = shocked_run(SEEDS_FROM + r, False, **params)
            for k in keys:
                d[k].append((with_shock[k] - without[k]).to_numpy())
        results[name] = {k: np.array(v) for k, v in d.items()}
    fig, axes = plt.subplots(1, len(keys), figsize=(16, 3.2))
    for ax, k in zip(axes, keys, strict=True):
        for name, d in results.items():
            smooth = pd.DataFrame(d[k].T).rolling(4, min_periods=1).mean().to_numpy().T
            ax.plot(smooth.mean(axis=0), label=name)
        ax.axvline(SHOCK_WEEK, color="k", lw=0.8, ls=":")
        ax.axhline(0, color="k", lw=0.8)
        ax.set_title(f"{k}: shock - no shock", fontsize=9)
        ax.set_xlabel("week")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(OUT / "c_turnover_cascade.png", dpi=120)
    plt.close(fig)
    window = slice(SHOCK_WEEK + 1, SHOCK_WEEK + 27)
    for name, d in results.items():
        extra_rate = d["turnover"][:, window].mean(axis=1)  # mean weekly quit-rate difference
        notes.append(
            f"- {name}: in the 26 weeks after the shock, the shocked units' weekly quit rate is "
            f"{extra_rate.mean() * 100:+.2f} ± {ci95(extra_rate) * 100:.2f} points above the "
            f"paired no-shock runs (yearly equivalent {extra_rate.mean() * 52 * 100:+.0f} points); "
            f"peak extra workload {d['workload'].mean(axis=0)[window].max():+.3f}, peak extra "
            f"burnout {d['burnout'].mean(axis=0)[window].max():+.3f}.")


def main(argv: list[str] | None = None) -> int:
    global OUT
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=6, help="paired replications")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    OUT = args.out
    OUT.mkdir(parents=True, exist_ok=True)
    started = time.time()
    sections = []
    for title, experiment in (("(a) Cycles of success and failure", cycles),
                              ("(b) Erosion and slow recovery", erosion),
                              ("(c) Turnover cascade", cascade)):
        notes: list[str] = []
        experiment(args.reps, notes)
        sections.append((title, notes))
        print(title, f"done at {time.time() - started:.0f} s", flush=True)
    body = ["# Emergent dynamics: measured results", "",
            f"Generated by `experiments/dynamics/run_dynamics.py --reps {args.reps}` "
            f"({time.time() - started:.0f} s). Numbers are paired differences or means over "
            "replications with 95 % intervals where given; figures are in this folder.", ""]
    for title, notes in sections:
        body += [f"## {title}", "", *notes, ""]
    (OUT / "results.md").write_text("\n".join(body))
    print("\n".join(body))
    return 0


if __name__ == "__main__":
    sys.exit(main())
