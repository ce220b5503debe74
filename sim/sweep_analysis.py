"""``sim analyze DIR``: per-design-point means with 95% CIs, and Sobol/Morris indices via SALib.

Replicates are averaged per design point *before* sensitivity analysis (SALib expects one output
per sampled row), and indices are reported with their bootstrap confidence intervals; an interval
that includes 0 is flagged, because small Sobol samples often give wide, even negative, estimates.
Writes ``DIR/analysis/points.csv``, ``sensitivity.csv`` (Sobol/Morris), ``summary.md`` and
``figure.png``; prints the markdown tables.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.params import shown
from sim.scenario import read_yaml
from sim.stats import half_width
from sim.sweep_design import ExperimentError, parse_experiment
from sim.sweep_store import load_table


def point_means(runs: pd.DataFrame, names: list[str], outputs: list[str]) -> pd.DataFrame:
    """Mean, 95% t-interval half-width and n (successful replications) per design point."""
    ok = runs[runs["status"] == "ok"]
    rows = []
    for point, group in ok.groupby("point", sort=True):
        row: dict[str, Any] = {"point": point, **group.iloc[0][names].to_dict(), "n": len(group)}
        for kpi in outputs:
            values = group[kpi].to_numpy(float)
            row[kpi] = values.mean()
            row[f"{kpi}_ci95"] = half_width(values)
        rows.append(row)
    return pd.DataFrame(rows)


def sensitivity(
    experiment: Any, design: pd.DataFrame, means: pd.DataFrame, outputs: list[str]
) -> pd.DataFrame:
    """Sobol (S1, ST) or Morris (mu*, sigma) indices per output and parameter, with 95% CIs."""
    names = experiment.names
    n_points = len(design)
    if len(means) < n_points:
        missing = n_points - len(means)
        raise ExperimentError(
            f"cannot compute {experiment.method} indices: {missing} of {n_points} design points "
            "have no successful run (resume the sweep or check the failed runs)"
        )
    means = means.sort_values("point")
    problem = experiment.problem()
    rows = []
    for kpi in outputs:
        y = means[kpi].to_numpy(float)
        if experiment.method == "sobol":
            from SALib.analyze import sobol

            res = sobol.analyze(problem, y, calc_second_order=experiment.second_order,
                                seed=experiment.seed)
            for i, name in enumerate(names):
                for index in ("S1", "ST"):
                    rows.append(_index_row(kpi, name, index, res[index][i],
                                           res[f"{index}_conf"][i]))
        else:
            from SALib.analyze import morris

            x = design.sort_values("point")[names].to_numpy(float)
            res = morris.analyze(problem, x, y, num_levels=experiment.levels, seed=experiment.seed)
            for i, name in enumerate(names):
                rows.append(_index_row(kpi, name, "mu_star", res["mu_star"][i],
                                       res["mu_star_conf"][i]))
                rows.append(_index_row(kpi, name, "sigma", res["sigma"][i], np.nan))
    return pd.DataFrame(rows)


def markdown(frame: pd.DataFrame, digits: int = 4) -> str:
    """A pipe table (no extra dependency for a dozen lines of formatting)."""

    def cell(value: Any) -> str:
        if isinstance(value, float | np.floating):
            return f"{value:.{digits}g}"
        return str(value)

    lines = ["| " + " | ".join(map(str, frame.columns)) + " |",
             "|" + "|".join("---" for _ in frame.columns) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |"
              for row in frame.itertuples(index=False)]
    return "\n".join(lines)


def _index_row(output: str, name: str, index: str, value: float, conf: float) -> dict[str, Any]:
    low, high = value - conf, value + conf
    includes_zero = bool(low <= 0 <= high) if np.isfinite(conf) else None
    return {"output": output, "parameter": name, "index": index, "value": value,
            "ci95_low": low, "ci95_high": high, "ci_includes_0": includes_zero}


def figure(
    experiment: Any, means: pd.DataFrame, indices: pd.DataFrame | None, outputs: list[str],
    path: Path,
) -> None:
    """One panel per output: effects of the first parameter (grid/LHS) or the indices."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(outputs), figsize=(4.2 * len(outputs), 3.6), squeeze=False)
    names = experiment.names
    for ax, kpi in zip(axes[0], outputs, strict=True):
        if indices is not None and not indices.empty:
            part = indices[indices["output"] == kpi]
            kinds = ["S1", "ST"] if experiment.method == "sobol" else ["mu_star"]
            width = 0.8 / len(kinds)
            for k, kind in enumerate(kinds):
                rows = part[part["index"] == kind].set_index("parameter").reindex(names)
                xs = np.arange(len(names)) + k * width
                err = (rows["value"] - rows["ci95_low"]).to_numpy(float)
                ax.bar(xs, rows["value"], width, yerr=err, capsize=3, label=kind)
            ax.set_xticks(np.arange(len(names)) + width * (len(kinds) - 1) / 2)
            ax.set_xticklabels(names, rotation=30, ha="right")
            ax.axhline(0, color="grey", lw=0.5)
            ax.legend(fontsize=8)
        elif experiment.method == "grid":
            x, others = names[0], names[1:]
            groups = means.groupby(others) if others else [((), means)]
            for key, group in groups:
                group = group.sort_values(x)
                label = ", ".join(f"{o}={v:g}" for o, v in zip(others, np.atleast_1d(key),
                                                               strict=True))
                ax.errorbar(group[x], group[kpi], yerr=group[f"{kpi}_ci95"], capsize=3,
                            marker="o", label=label or None)
            ax.set_xlabel(x)
            if others:
                ax.legend(fontsize=7)
        else:  # LHS: scatter of the point means against the first parameter
            ax.errorbar(means[names[0]], means[kpi], yerr=means[f"{kpi}_ci95"], fmt="o", ms=3)
            ax.set_xlabel(names[0])
        ax.set_title(kpi, fontsize=10)
    fig.suptitle(f"{experiment.name} ({experiment.method}, {experiment.replications} reps)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def analyze(directory: str | Path, outputs: list[str] | None = None) -> dict[str, Any]:
    """Compute and write the tables and figure of a sweep directory; returns the frames."""
    directory = Path(directory)
    manifest_path = directory / "manifest.json"
    if not manifest_path.is_file():
        raise ExperimentError(f"{directory}: no manifest.json (not a sweep output directory)")
    resolved_path = directory / "experiment.yaml"
    if not resolved_path.is_file():
        raise ExperimentError(f"{directory}: no experiment.yaml (not a sweep output directory)")
    experiment = _from_resolved(read_yaml(resolved_path, ExperimentError))
    manifest = _read_manifest(manifest_path)
    if experiment.digest() != manifest["experiment_hash"]:
        raise ExperimentError(f"{directory}: experiment.yaml does not match the manifest's hash")
    try:
        runs = load_table(directory, "runs")
        design = pd.read_parquet(directory / "design.parquet")
    except (OSError, ValueError) as err:  # pyarrow's errors are ValueError or OSError
        raise ExperimentError(
            f"{directory}: cannot read the results ({type(err).__name__}: {err})"
        ) from None
    if runs.empty:
        raise ExperimentError(f"{directory}: no finished runs yet")
    kpis = outputs or list(experiment.outputs.kpis)
    for kpi in kpis:
        if kpi not in runs.columns:
            raise ExperimentError(
                f"--outputs: {kpi!r} was not kept (kept: {', '.join(experiment.outputs.kpis)})"
            )
    missing = [c for c in ("point", "status", *experiment.names) if c not in runs.columns]
    missing += [c for c in ("point", *experiment.names) if c not in design.columns]
    if missing:
        raise ExperimentError(f"{directory}: the results lack column {missing[0]!r}")
    means = point_means(runs, experiment.names, kpis)
    indices = None
    if experiment.method in ("sobol", "morris"):
        indices = sensitivity(experiment, design, means, kpis)

    target = directory / "analysis"
    if target.exists() and not target.is_dir():
        raise ExperimentError(f"{target}: exists and is not a directory (it is where tables go)")
    target.mkdir(exist_ok=True)
    means.to_csv(target / "points.csv", index=False)
    failed = int((runs["status"] != "ok").sum())
    text = [f"# {experiment.name}", "",
            f"{len(runs)} of {manifest['points'] * manifest['replications']} runs finished, "
            f"{failed} failed; means over replications with 95% t-intervals (±).", ""]
    shown = means.copy()
    for kpi in kpis:
        shown[kpi] = [f"{m:,.4g} ± {h:,.2g}" for m, h in zip(means[kpi], means[f"{kpi}_ci95"],
                                                              strict=True)]
    shown = shown[["point", *experiment.names, "n", *kpis]]
    text.append(markdown(shown.head(60)))
    if len(shown) > 60:
        text.append(f"\n({len(shown) - 60} more points in points.csv)")
    if indices is not None:
        indices.to_csv(target / "sensitivity.csv", index=False)
        text += ["", f"## {experiment.method} indices (95% CI; SALib)", ""]
        table = indices.copy()
        table["ci95"] = [f"[{lo:.3f}, {hi:.3f}]" for lo, hi in
                         zip(table["ci95_low"], table["ci95_high"], strict=True)]
        table["note"] = np.where(table["ci_includes_0"] == True, "CI includes 0", "")  # noqa: E712
        text.append(markdown(table[["output", "parameter", "index", "value", "ci95", "note"]], 3))
        n_zero = int((indices["ci_includes_0"] == True).sum())  # noqa: E712
        n_ci = int(indices["ci_includes_0"].notna().sum())
        text.append(f"\n{n_zero} of {n_ci} intervals include 0 "
                    "(those effects are not distinguishable from none at this sample size).")
    (target / "summary.md").write_text("\n".join(text) + "\n")
    figure(experiment, means, indices, kpis, target / "figure.png")
    return {"points": means, "indices": indices, "text": "\n".join(text), "dir": target}


def _read_manifest(path: Path) -> dict[str, Any]:
    """The manifest a sweep wrote, with the keys analysis needs; else one-line ExperimentError."""
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError, RecursionError) as err:
        raise ExperimentError(f"{path.name}: cannot read ({type(err).__name__})") from None
    if not isinstance(manifest, dict):
        raise ExperimentError(f"{path.name}: expected a JSON object, got {shown(manifest)}")
    for key, kind in (("experiment_hash", str), ("points", int), ("replications", int)):
        if not isinstance(manifest.get(key), kind) or isinstance(manifest.get(key), bool):
            raise ExperimentError(
                f"{path.name}: {key}: expected {kind.__name__}, got {shown(manifest.get(key))} "
                "(not written by `sim sweep`?)"
            )
    return manifest


def _need(data: Any, key: str, kind: type, where: str = "") -> Any:
    """``data[key]`` if present and of type ``kind``, else a one-line ExperimentError."""
    source = "experiment.yaml"
    if not isinstance(data, dict):
        raise ExperimentError(f"{source}: {where}expected a mapping of keys, got {shown(data)}")
    if key not in data:
        raise ExperimentError(f"{source}: missing {where}{key!r} (not written by `sim sweep`?)")
    value = data[key]
    if not isinstance(value, kind):
        raise ExperimentError(
            f"{source}: {where}{key}: expected {kind.__name__}, got {shown(value)}"
        )
    return value


def _from_resolved(data: Any) -> Any:
    """Rebuild the Experiment from the resolved ``experiment.yaml`` a sweep wrote.

    The resolved file is turned back into an experiment file and read by the same validating
    parser as ``sim sweep`` (:func:`sim.sweep_design.parse_experiment`): a damaged or hand-edited
    file is refused with one line, like any other bad input.
    """
    base = _need(data, "base", dict)
    keys = ("name", "description", "start", "steps", "seed", "params")
    scenario = {k: base[k] for k in keys if k in base}
    scenario["timeline"] = base.get("timeline", [])
    method = _need(data, "method", str)
    params = {}
    for name, values in _need(data, "parameters", dict).items():
        values = _need({name: values}, name, list, "parameters.")
        if method != "grid" and len(values) != 2:
            raise ExperimentError(
                f"experiment.yaml: parameters.{name}: expected [low, high], got {shown(values)}"
            )
        params[name] = list(values) if method == "grid" else {"low": values[0], "high": values[1]}
    design = {"method": method, "paired": _need(data, "paired", object)}
    if method != "grid":
        design["samples"] = _need(data, "samples", object)
    if method == "morris":
        design["levels"] = _need(data, "levels", object)
    if method == "sobol":
        design["second_order"] = _need(data, "second_order", object)
    from sim.scenario import parse_scenario

    experiment = parse_experiment({
        "name": _need(data, "name", object), "description": _need(data, "description", object),
        "steps": _need(base, "steps", object, "base."), "seed": _need(data, "seed", object),
        "replications": _need(data, "replications", object), "design": design,
        "parameters": params, "outputs": _need(data, "outputs", object),
    }, source="experiment.yaml")
    from dataclasses import replace

    return replace(experiment, base=parse_scenario(scenario, "experiment.yaml").with_changes(
        reps=1))


def cmd_analyze(args: argparse.Namespace) -> int:
    """Analyse a sweep directory and print its tables."""
    outputs = [s.strip() for s in args.outputs.split(",")] if args.outputs else None
    result = analyze(args.directory, outputs)
    if not args.quiet:
        print(result["text"])
        print(f"\nwrote {result['dir']}/points.csv, summary.md, figure.png"
              + (", sensitivity.csv" if result["indices"] is not None else ""))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``sim analyze`` to the CLI."""
    parser = subparsers.add_parser(
        "analyze", help="tables and figure of a sweep (means with CIs, Sobol/Morris indices)",
    )
    parser.add_argument("directory", help="output directory of `sim sweep`")
    parser.add_argument("--outputs", help="comma-separated KPIs (default: all kept)")
    parser.add_argument("--quiet", action="store_true", help="write files, print nothing")
    parser.set_defaults(func=cmd_analyze)
