"""``sim discover DIR``: scenario discovery on a finished sweep, with PRIM or CART.

Scenario discovery (Bryant & Lempert 2010, "Thinking inside the box") asks which combinations of
the varied parameters lead to *cases of interest*, runs whose outcome is below (or above) a
threshold, and answers with boxes: ranges of a few parameters inside which most runs are cases
of interest (high *density*) and which hold most of the cases of interest (high *coverage*).
The quasi-p-value of a box limit is a one-sided binomial test of whether the limit matters:
whether the box's share of cases could come from the box without that limit.

The algorithms are the EMA Workbench's (``ema_workbench.analysis.prim`` and ``.cart``); the
sweep is read by :func:`sim.ema.load_sweep`. With ``--baseline DIR2`` the outcome is the paired
difference ``DIR minus DIR2`` run by run: both sweeps must have the same design and seeds (the
same experiment file but for its scenario, paired seeds), so the difference is that of the
scenario alone under common random numbers.

PRIM peels the box; the box reported is the one of the peeling trajectory with the largest
coverage among those whose density reaches ``--threshold`` (the densest, said so, when none
does). Further boxes are searched among the runs outside the boxes found, while they reach the
threshold (at most ``--boxes``). CART reports the tree's leaves that reach the threshold, by
coverage. Writes ``DIR/discovery/boxes.csv`` (one row per box and parameter), ``trajectory.csv``
(PRIM's peeling trajectory), ``figure.png`` and ``summary.txt``; bad input writes nothing.
"""

from __future__ import annotations

import argparse
import math
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.ema import load_sweep
from sim.params import SPECS, ParameterError, shown

METHODS = ("prim", "cart")
THRESHOLD = 0.8  # density a box must reach (the Workbench's customary default)
MAX_BOXES = 20


@dataclass
class Discovery:
    """What ``sim discover`` found: the boxes, PRIM's trajectory, and the report's text."""

    boxes: pd.DataFrame  # one row per box and parameter
    trajectory: pd.DataFrame  # PRIM: the peeling trajectory of every box (empty for CART)
    text: str
    directory: Path | None = None  # where the files went (None: not written)
    stats: dict[str, Any] = field(default_factory=dict)


# --- inputs ------------------------------------------------------------------------------------
def _number(value: Any, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ParameterError(f"{key}: expected a finite number, got {shown(value)}")
    return float(value)


def _cases(
    directory: str | Path, outcome: str, baseline: str | Path | None, points: bool
) -> tuple[pd.DataFrame, np.ndarray, dict[str, Any]]:
    """The parameters of every case (run, or design point) and the outcome's value."""
    experiments, outcomes = load_sweep(directory)
    names = experiments.attrs["parameters"]
    info: dict[str, Any] = {"runs": len(experiments), "failed": experiments.attrs["failed"]}
    if outcome not in outcomes:
        raise ParameterError(
            f"--outcome {shown(outcome)}: not kept by this sweep "
            f"(available: {', '.join(outcomes) or 'none'})"
        )
    values = pd.Series(outcomes[outcome], index=experiments.index)
    if baseline is not None:
        base_exp, base_out = load_sweep(baseline)
        if base_exp.attrs["parameters"] != names:
            raise ParameterError(
                f"--baseline {shown(str(baseline))}: varies "
                f"{', '.join(base_exp.attrs['parameters'])}, not {', '.join(names)} "
                "(the two sweeps must share their design)"
            )
        if outcome not in base_out:
            raise ParameterError(
                f"--baseline {shown(str(baseline))}: outcome {outcome!r} not kept there "
                f"(available: {', '.join(base_out) or 'none'})"
            )
        common = experiments.index.intersection(base_exp.index)
        if common.empty:
            raise ParameterError(
                f"--baseline {shown(str(baseline))}: no run in common (the same run ids)"
            )
        mine, theirs = experiments.loc[common], base_exp.loc[common]
        for column in (*names, "seed"):
            differ = mine[column].to_numpy() != theirs[column].to_numpy()
            if differ.any():
                raise ParameterError(
                    f"--baseline {shown(str(baseline))}: {column} differs at run "
                    f"{int(common[np.flatnonzero(differ)[0]])}"
                    " (pair sweeps of one design: the same experiment file but for its "
                    "scenario, paired seeds)"
                )
        base_values = pd.Series(base_out[outcome], index=base_exp.index)
        values = values.loc[common] - base_values.loc[common]
        info["unpaired"] = len(experiments) - len(common)
        experiments = experiments.loc[common]
    finite = np.isfinite(values.to_numpy(float))
    info["not_finite"] = int((~finite).sum())
    experiments, values = experiments[finite], values[finite]
    if points:
        grouped = pd.DataFrame({"point": experiments["point"], "y": values})
        means = grouped.groupby("point", sort=True)["y"].mean()
        x = experiments.drop_duplicates("point").set_index("point").loc[means.index, names]
        y = means.to_numpy(float)
    else:
        x, y = experiments[names], values.to_numpy(float)
    x = x.reset_index(drop=True)
    for name in names:  # whole-number parameters as integers (PRIM peels them as discrete)
        spec = SPECS.get(name)
        x[name] = x[name].astype(np.int64 if spec is not None and spec.kind is int else float)
    return x, y, info


# --- the algorithms ----------------------------------------------------------------------------
def _choose(trajectory: pd.DataFrame, threshold: float) -> tuple[int, bool]:
    """The box of the trajectory to report: largest coverage at the density threshold.

    Ties go to the denser box, then to fewer restricted parameters; when no box reaches the
    threshold, the densest. Returns its index and whether it reached the threshold.
    """
    good = trajectory[trajectory["density"] >= threshold - 1e-12]
    if good.empty:
        return int(trajectory["density"].astype(float).idxmax()), False
    best = good.sort_values(
        ["coverage", "density", "res_dim"], ascending=[False, False, True], kind="stable"
    )
    return int(best.index[0]), True


def _prim(
    x: pd.DataFrame, y: np.ndarray, threshold: float, max_boxes: int, mass_min: float,
    peel_alpha: float, prune: float | None = None,
) -> tuple[list[dict[str, Any]], pd.DataFrame]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from ema_workbench.analysis.prim import Prim

        prim = Prim(x, y.astype(int), peel_alpha=peel_alpha, paste_alpha=peel_alpha,
                    mass_min=mass_min)
    found, trajectories = [], []
    covered = np.zeros(len(y), dtype=bool)
    for number in range(1, max_boxes + 1):
        if number > 1 and not y[~covered].any():
            break
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            box = prim.find_box()
        if box is None:
            break
        i, reached = _choose(box.peeling_trajectory, threshold)
        if number > 1 and not reached:
            break
        box.select(i)
        dropped = []
        while prune is not None:  # the least significant restriction first, one at a time
            qp = box.p_values[i]
            worst = {name: min([v for v in vs if v != -1], default=0.0) for name, vs in qp.items()}
            if not worst or max(worst.values()) <= prune:
                break
            name = max(worst, key=lambda n: worst[n])
            box.drop_restriction(name, i)
            i = len(box.peeling_trajectory) - 1
            dropped.append(name)
        trajectory = box.peeling_trajectory.copy()
        reached = bool(trajectory.loc[i, "density"] >= threshold - 1e-12)
        covered[box.yi] = True
        trajectory.insert(0, "box", number)
        trajectory["chosen"] = trajectory.index == i
        trajectories.append(trajectory)
        row = trajectory.loc[i]
        limits = box.box_lims[i]
        qp = box.p_values[i]
        found.append({
            "box": number, "limits": limits, "init": prim.box_init,
            "qp": {k: [np.nan if v == -1 else float(v) for v in vs] for k, vs in qp.items()},
            "coverage": float(row["coverage"]), "density": float(row["density"]),
            "mass": float(row["mass"]), "res_dim": int(row["res_dim"]), "n": int(row["n"]),
            "cases": int(row["k"]), "reached": reached, "trajectory_index": i,
            "dropped": dropped,
        })
        if not reached:
            break
    return found, pd.concat(trajectories, ignore_index=True) if trajectories else pd.DataFrame()


def _quasi_p(x: pd.DataFrame, y: np.ndarray, limits: pd.DataFrame, init: pd.DataFrame,
             name: str) -> list[float]:
    """Quasi-p-values of a box's two limits on ``name`` (one-sided binomial tests)."""
    from scipy.stats import binomtest

    def inside(box: pd.DataFrame) -> np.ndarray:
        lo, hi = box.loc[0].to_numpy(float), box.loc[1].to_numpy(float)
        values = x[box.columns].to_numpy(float)
        return ((values >= lo) & (values <= hi)).all(axis=1)

    here = inside(limits)
    n, k = int(here.sum()), int(y[here].sum())
    out = []
    for side in (0, 1):
        if limits.loc[side, name] == init.loc[side, name] or n == 0:
            out.append(np.nan)
            continue
        loose = limits.copy()
        loose.loc[side, name] = init.loc[side, name]
        wider = inside(loose)
        rate = y[wider].sum() / max(int(wider.sum()), 1)
        out.append(float(binomtest(k, n, rate, alternative="greater").pvalue))
    return out


def _cart(
    x: pd.DataFrame, y: np.ndarray, threshold: float, max_boxes: int, mass_min: float
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from ema_workbench.analysis.cart import CART

        cart = CART(x, y.astype(int), mass_min=mass_min)
        cart.build_tree()
        boxes, stats = cart.boxes, cart.stats
    init = x.apply(lambda c: pd.Series([c.min(), c.max()]))
    leaves = []
    for limits, stat in zip(boxes, stats, strict=True):
        limits = limits.astype(float)
        inside = np.ones(len(y), dtype=bool)
        for name in x.columns:
            values = x[name].to_numpy(float)
            inside &= (values >= limits.loc[0, name]) & (values <= limits.loc[1, name])
        restricted = [n for n in x.columns
                      if (limits[n].to_numpy(float) != init[n].to_numpy(float)).any()]
        leaves.append({
            "limits": limits, "init": init,
            "qp": {n: _quasi_p(x, y, limits, init, n) for n in restricted},
            "coverage": float(stat["coverage"]), "density": float(stat["density"]),
            "mass": float(stat["mass"]), "res_dim": len(restricted), "n": int(inside.sum()),
            "cases": int(y[inside].sum()),
        })
    good = [leaf for leaf in leaves if leaf["density"] >= threshold - 1e-12]
    reached = bool(good)
    chosen = sorted(good or [max(leaves, key=lambda leaf: leaf["density"])],
                    key=lambda leaf: (-leaf["coverage"], -leaf["density"], leaf["res_dim"]))
    chosen = chosen[:max_boxes]
    for number, leaf in enumerate(chosen, start=1):
        leaf["box"], leaf["reached"] = number, reached
    return chosen, leaves


def _table(found: list[dict[str, Any]], names: list[str], method: str, outcome: str,
           condition: str) -> pd.DataFrame:
    rows = []
    for box in found:
        limits, init = box["limits"], box["init"]
        for name in names:
            qp = box["qp"].get(name, [np.nan, np.nan])
            restricted = bool(name in box["qp"])
            rows.append({
                "method": method, "outcome": outcome, "condition": condition, "box": box["box"],
                "parameter": name, "low": float(limits.loc[0, name]),
                "high": float(limits.loc[1, name]), "sampled_low": float(init.loc[0, name]),
                "sampled_high": float(init.loc[1, name]), "restricted": restricted,
                "qp_low": qp[0], "qp_high": qp[1], "coverage": box["coverage"],
                "density": box["density"], "mass": box["mass"], "res_dim": box["res_dim"],
                "n_runs": box["n"], "n_cases": box["cases"],
                "reached_threshold": box["reached"],
            })
    return pd.DataFrame(rows)


# --- the report --------------------------------------------------------------------------------
def _fmt(value: float) -> str:
    return f"{value:.4g}"


def _qp_text(qp: list[float]) -> str:
    parts = [f"{side} {_fmt(p)}" for side, p in zip(("low", "high"), qp, strict=True)
             if np.isfinite(p)]
    return f"qp {', '.join(parts)}" if parts else ""


def _report(found: list[dict[str, Any]], names: list[str], threshold: float) -> list[str]:
    lines = []
    for box in found:
        if box.get("dropped"):
            note = (f" (after dropping {', '.join(box['dropped'])}: quasi-p above the --prune "
                    "limit)")
        elif not box["reached"]:
            note = f" (no box reaches density {threshold:g}: the densest)"
        else:
            note = ""
        lines.append(
            f"box {box['box']}: coverage {box['coverage']:.2f}, density {box['density']:.2f}, "
            f"mass {box['mass']:.2f} ({box['n']} cases, {box['cases']} of interest), "
            f"{box['res_dim']} restricted{note}"
        )
        restricted = [n for n in names if n in box["qp"]]
        width = max([len(n) for n in restricted], default=0)
        for name in restricted:
            lo, hi = box["limits"].loc[0, name], box["limits"].loc[1, name]
            slo, shi = box["init"].loc[0, name], box["init"].loc[1, name]
            lines.append(
                f"  {name:<{width}}  {_fmt(lo)} .. {_fmt(hi)}  (sampled {_fmt(slo)} .. "
                f"{_fmt(shi)})  {_qp_text(box['qp'][name])}".rstrip()
            )
        if not restricted:
            lines.append("  (no parameter restricted: the whole sampled space)")
    return lines


def figure(found: list[dict[str, Any]], cloud: pd.DataFrame, method: str, title: str,
           threshold: float, path: Path) -> None:
    """The figure: the trade-off of coverage and density, and the chosen boxes.

    Left: PRIM's peeling trajectory (or CART's leaves), coverage against density, the chosen
    box circled; right: the chosen boxes' limits on each restricted parameter, scaled to the
    sampled range, with quasi-p-values.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [(box, name) for box in found for name in box["qp"]]
    fig, (left, right) = plt.subplots(
        1, 2, figsize=(11, max(3.6, 0.45 * len(rows) + 1.6)),
        gridspec_kw={"width_ratios": [1, 1.3]},
    )
    if not cloud.empty:
        points = left.scatter(cloud["coverage"], cloud["density"], c=cloud["res_dim"],
                              cmap="viridis", s=18, zorder=2)
        ticks = sorted({int(v) for v in cloud["res_dim"]})
        fig.colorbar(points, ax=left, label="restricted parameters", ticks=ticks)
    for box in found:
        left.scatter([box["coverage"]], [box["density"]], s=130, facecolors="none",
                     edgecolors="red", linewidths=1.6, zorder=3)
        left.annotate(f"box {box['box']}", (box["coverage"], box["density"]),
                      textcoords="offset points", xytext=(-44, -14), fontsize=8, color="red")
    left.axhline(threshold, color="grey", lw=0.8, ls="--")
    left.set_xlim(0, 1.05)
    left.set_ylim(0, 1.05)
    left.set_xlabel("coverage")
    left.set_ylabel("density")
    left.set_title("peeling trajectory" if method == "prim" else "CART leaves", fontsize=10)

    colours = plt.get_cmap("tab10")
    labels = []
    for j, (box, name) in enumerate(rows):
        y = len(rows) - 1 - j
        slo, shi = float(box["init"].loc[0, name]), float(box["init"].loc[1, name])
        span = (shi - slo) or 1.0
        lo = (float(box["limits"].loc[0, name]) - slo) / span
        hi = (float(box["limits"].loc[1, name]) - slo) / span
        right.plot([0, 1], [y, y], color="lightgrey", lw=6, solid_capstyle="butt")
        right.plot([lo, hi], [y, y], color=colours((box["box"] - 1) % 10), lw=6,
                   solid_capstyle="butt")
        right.text(lo, y + 0.22, _fmt(float(box["limits"].loc[0, name])), ha="center",
                   fontsize=7)
        right.text(hi, y + 0.22, _fmt(float(box["limits"].loc[1, name])), ha="center",
                   fontsize=7)
        qp = _qp_text(box["qp"][name])
        labels.append(f"box {box['box']}: {name}" + (f"\n{qp}" if qp else ""))
    right.set_yticks(range(len(rows) - 1, -1, -1) if rows else [])
    right.set_yticklabels(labels, fontsize=8)
    right.set_xlim(-0.05, 1.05)
    right.set_ylim(-0.7, max(len(rows) - 0.3, 0.7))
    right.set_xlabel("share of the sampled range")
    right.set_title("chosen box(es)" if rows else "no parameter restricted", fontsize=10)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def discover(
    directory: str | Path,
    outcome: str,
    *,
    below: float | None = None,
    above: float | None = None,
    method: str = "prim",
    threshold: float = THRESHOLD,
    baseline: str | Path | None = None,
    points: bool = False,
    max_boxes: int = 3,
    mass_min: float = 0.05,
    peel_alpha: float = 0.05,
    prune: float | None = None,
    write: bool = True,
) -> Discovery:
    """Find the boxes of a sweep directory's cases of interest; write them under ``discovery/``.

    Every input is checked first; a problem raises ParameterError (one line) and writes nothing.
    """
    if (below is None) == (above is None):
        raise ParameterError("give exactly one of --below X or --above X (the cases of interest)")
    if method not in METHODS:
        raise ParameterError(f"--method {shown(method)}: expected one of {', '.join(METHODS)}")
    limit = _number(below if below is not None else above,
                    "--below" if below is not None else "--above")
    threshold = _number(threshold, "--threshold")
    if not 0.0 < threshold <= 1.0:
        raise ParameterError(f"--threshold {threshold:g}: a density, allowed 0 (excluded)..1")
    mass_min = _number(mass_min, "--mass-min")
    if not 0.0 < mass_min < 0.5:
        raise ParameterError(f"--mass-min {mass_min:g}: a share of the cases, allowed 0..0.5")
    peel_alpha = _number(peel_alpha, "--peel-alpha")
    if not 0.0 < peel_alpha < 0.5:
        raise ParameterError(f"--peel-alpha {peel_alpha:g}: allowed 0..0.5 (both excluded)")
    if prune is not None:
        prune = _number(prune, "--prune")
        if not 0.0 < prune < 1.0:
            raise ParameterError(f"--prune {prune:g}: a quasi-p-value, allowed 0..1 (excluded)")
        if method != "prim":
            raise ParameterError("--prune: only for --method prim")
    if isinstance(max_boxes, bool) or not isinstance(max_boxes, int) or not (
        1 <= max_boxes <= MAX_BOXES
    ):
        raise ParameterError(f"--boxes {shown(max_boxes)}: allowed 1..{MAX_BOXES}")
    if not isinstance(outcome, str) or not outcome:
        raise ParameterError("--outcome: expected a KPI name")
    out = Path(directory) / "discovery"
    if out.exists() and not out.is_dir():
        raise ParameterError(f"{shown(str(out))}: exists and is not a directory")

    x, y, info = _cases(directory, outcome, baseline, points)
    if len(y) == 0:
        raise ParameterError(f"--outcome {outcome}: no finite values to analyse")
    what = f"{outcome} minus the baseline's" if baseline is not None else outcome
    cases = y < limit if below is not None else y > limit
    condition = f"{'below' if below is not None else 'above'} {limit:g}"
    unit = "design points" if points else "runs"
    span = f"(observed {_fmt(float(y.min()))} .. {_fmt(float(y.max()))})"
    if not cases.any():
        raise ParameterError(
            f"no cases of interest: no {unit[:-1]} has {what} {condition} {span}"
        )
    if cases.all():
        raise ParameterError(
            f"every {unit[:-1]} has {what} {condition} {span}: nothing to tell apart; "
            "choose another threshold"
        )
    names = list(x.columns)
    if method == "prim":
        found, trajectory = _prim(x, cases, threshold, max_boxes, mass_min, peel_alpha, prune)
        cloud = trajectory[trajectory["box"] == 1] if not trajectory.empty else trajectory
    else:
        found, leaves = _cart(x, cases, threshold, max_boxes, mass_min)
        trajectory = pd.DataFrame()
        cloud = pd.DataFrame([{k: leaf[k] for k in ("coverage", "density", "res_dim")}
                              for leaf in leaves])
    table = _table(found, names, method, what, condition)

    header = [
        f"{Path(directory).name}: {info['runs']} runs ({info['failed']} failed"
        + (f", {info['unpaired']} without a baseline pair" if info.get("unpaired") else "")
        + (f", {info['not_finite']} not finite" if info.get("not_finite") else "") + ")"
        + (f", averaged over replications into {len(y)} design points" if points else ""),
        f"cases of interest: {what} {condition}: {int(cases.sum())} of {len(y)} {unit} "
        f"({cases.mean():.0%}) {span}",
        f"{method.upper()} on {len(names)} parameters (mass_min {mass_min:g}"
        + (f", peel_alpha {peel_alpha:g}" if method == "prim" else "")
        + (f", restrictions with quasi-p above {prune:g} dropped" if prune is not None else "")
        + f"), density threshold {threshold:g}:",
    ]
    text = "\n".join(header + _report(found, names, threshold))
    result = Discovery(table, trajectory, text, None, {
        "cases": int(cases.sum()), "n": len(y), "method": method, **info})
    if write:
        out.mkdir(exist_ok=True)
        table.to_csv(out / "boxes.csv", index=False)
        if method == "prim":
            trajectory.to_csv(out / "trajectory.csv", index=False)
        else:
            (out / "trajectory.csv").unlink(missing_ok=True)  # not this method's: no stale file
        (out / "summary.txt").write_text(text + "\n")
        title = f"{Path(directory).name}: {what} {condition} ({method.upper()})"
        figure(found, cloud, method, title, threshold, out / "figure.png")
        result.directory = out
    return result


# --- command line ------------------------------------------------------------------------------
def _float_arg(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def cmd_discover(args: argparse.Namespace) -> int:
    """Run scenario discovery on a sweep directory and print the boxes."""
    result = discover(
        args.directory, args.outcome, below=args.below, above=args.above, method=args.method,
        threshold=args.threshold, baseline=args.baseline, points=args.points,
        max_boxes=args.boxes, mass_min=args.mass_min, peel_alpha=args.peel_alpha,
        prune=args.prune,
    )
    if not args.quiet:
        print(result.text)
        written = "boxes.csv, " + ("trajectory.csv, " if args.method == "prim" else "")
        print(f"wrote {result.directory}/{written}summary.txt, figure.png")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``sim discover`` to the CLI."""
    parser = subparsers.add_parser(
        "discover",
        help="scenario discovery on a sweep: which parameter ranges lead to an outcome (PRIM)",
        description="Find boxes of parameter ranges where a sweep's runs have OUTCOME below or "
        "above a value (PRIM or CART, EMA Workbench). Bad input is refused with one line "
        "(exit status 2) and nothing is written. See docs/discovery.md.",
    )
    # "--below -2e6": argparse takes only plain negative numbers (-2, -0.5) for values by default
    parser._negative_number_matcher = re.compile(r"^-(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")
    parser.add_argument("directory", help="results directory of `sim sweep`")
    parser.add_argument("--outcome", required=True, metavar="KPI",
                        help="a KPI kept by the sweep, e.g. cum_profit_final")
    parser.add_argument("--below", type=_float_arg, metavar="X",
                        help="cases of interest: OUTCOME < X")
    parser.add_argument("--above", type=_float_arg, metavar="X",
                        help="cases of interest: OUTCOME > X")
    parser.add_argument("--baseline", metavar="DIR2",
                        help="use OUTCOME minus that of the same run (same point and seed) in "
                        "the sweep DIR2 (paired difference)")
    parser.add_argument("--method", default="prim", help="prim (default) or cart")
    parser.add_argument("--threshold", type=_float_arg, default=THRESHOLD, metavar="D",
                        help=f"density a box must reach (default {THRESHOLD:g})")
    parser.add_argument("--boxes", type=int, default=3, metavar="N",
                        help="at most this many boxes (default 3)")
    parser.add_argument("--points", action="store_true",
                        help="average replications per design point first (one case per point)")
    parser.add_argument("--mass-min", type=_float_arg, default=0.05, metavar="M",
                        help="smallest share of the cases a box may hold (default 0.05)")
    parser.add_argument("--peel-alpha", type=_float_arg, default=0.05, metavar="A",
                        help="PRIM's share peeled per step (default 0.05)")
    parser.add_argument("--prune", type=_float_arg, metavar="QP",
                        help="PRIM: then drop, one at a time, restrictions whose quasi-p-values "
                        "are all above QP (e.g. 0.05)")
    parser.add_argument("--quiet", action="store_true", help="write files, print nothing")
    parser.set_defaults(func=cmd_discover)
