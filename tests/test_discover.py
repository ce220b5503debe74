"""sim discover: PRIM and CART find a known box; paired baselines; bad input refused in one line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim.cli import main
from sim.discover import discover
from sim.ema import load_sweep
from sim.sweep import run_sweep
from sim.sweep_design import parse_experiment


def synthetic(path: Path, outcome, points: int = 150, reps: int = 2, seed: int = 0) -> Path:
    """A sweep directory as `sim sweep` writes it, with parameters a, b, c uniform on 0..1."""
    rng = np.random.default_rng(seed)
    design = rng.random((points, 3))
    rows = []
    for point, (a, b, c) in enumerate(design):
        for r in range(reps):
            rows.append({"run_id": point * reps + r, "point": point, "replication": r,
                         "seed": 100 + r, "a": a, "b": b, "c": c, "status": "ok",
                         "error": None, "profit": outcome(a, b, c, rng), "seconds": 0.1})
    (path / "runs").mkdir(parents=True)
    pd.DataFrame(rows).to_parquet(path / "runs" / "part-00000000-test.parquet")
    (path / "manifest.json").write_text(json.dumps({"parameters": ["a", "b", "c"],
                                                    "outputs": ["profit"]}))
    return path


def low_when_a_high(a, b, c, rng):
    return (-1.0 if a > 0.7 else 1.0) + 0.1 * rng.standard_normal()


@pytest.fixture(scope="module")
def sweep(tmp_path_factory) -> Path:
    return synthetic(tmp_path_factory.mktemp("syn") / "sweep", low_when_a_high)


def test_prim_finds_the_known_box(sweep):
    result = discover(sweep, "profit", below=0.0)
    boxes = pd.read_csv(sweep / "discovery" / "boxes.csv")
    assert len(boxes) == 3 * boxes["box"].nunique()  # one row per box and parameter
    first = boxes[boxes["box"] == 1].set_index("parameter")
    assert bool(first.loc["a", "restricted"]) and not first.loc[["b", "c"], "restricted"].any()
    assert 0.65 <= first.loc["a", "low"] <= 0.72
    assert first.loc["a", "density"] >= 0.9 and first.loc["a", "coverage"] >= 0.9
    assert first.loc["a", "qp_low"] < 1e-6
    assert (sweep / "discovery" / "figure.png").stat().st_size > 10_000
    assert (sweep / "discovery" / "trajectory.csv").is_file()
    assert "box 1: coverage" in result.text and " a " in result.text


def test_prune_keeps_only_significant_restrictions(sweep):
    result = discover(sweep, "profit", below=0.0, prune=0.05, mass_min=0.02, write=False)
    first = result.boxes[result.boxes["box"] == 1].set_index("parameter")
    restricted = first[first["restricted"]]
    assert "a" in restricted.index
    assert (restricted[["qp_low", "qp_high"]].min(axis=1) <= 0.05).all()


def test_cart_and_point_means_find_it_too(sweep):
    result = discover(sweep, "profit", below=0.0, method="cart", points=True, write=False)
    first = result.boxes[result.boxes["box"] == 1].set_index("parameter")
    assert list(first.index[first["restricted"]]) == ["a"]
    assert 0.65 <= first.loc["a", "low"] <= 0.75 and first.loc["a", "density"] >= 0.95
    assert first.loc["a", "n_runs"] <= 150  # one case per design point


def test_paired_difference_against_a_baseline_sweep(tmp_path):
    base = synthetic(tmp_path / "base", lambda a, b, c, rng: 10 + rng.standard_normal())
    # the same design (seed 0), an outcome 1 below the baseline's run exactly when b < 0.3
    plan = synthetic(tmp_path / "plan", lambda a, b, c, rng: 0.0)
    runs = pd.read_parquet(plan / "runs")
    base_runs = pd.read_parquet(base / "runs")
    runs["profit"] = base_runs["profit"] + np.where(runs["b"] < 0.3, -1.0, 1.0)
    for part in (plan / "runs").iterdir():
        part.unlink()
    runs.to_parquet(plan / "runs" / "part-00000000-test.parquet")
    result = discover(plan, "profit", below=0.0, baseline=base, write=False)
    first = result.boxes[result.boxes["box"] == 1].set_index("parameter")
    assert list(first.index[first["restricted"]]) == ["b"]
    assert 0.27 <= first.loc["b", "high"] <= 0.33 and first.loc["b", "density"] >= 0.9
    other = synthetic(tmp_path / "other", lambda a, b, c, rng: 0.0, seed=1)  # another design
    with pytest.raises(Exception, match="differs at run"):
        discover(plan, "profit", below=0.0, baseline=other, write=False)


@pytest.mark.parametrize("args, message", [
    (["--outcome", "profit", "--below", "0"], "no such directory"),
    (["--outcome", "profitt", "--below", "0"], "available: profit"),
    (["--outcome", "profit", "--below", "0", "--above", "1"], "exactly one of"),
    (["--outcome", "profit"], "exactly one of"),
    (["--outcome", "profit", "--below", "-5e0"], "no cases of interest"),
    (["--outcome", "profit", "--below", "5"], "nothing to tell apart"),
    (["--outcome", "profit", "--below", "nan"], "finite"),
    (["--outcome", "profit", "--below", "0", "--threshold", "1.5"], "--threshold"),
    (["--outcome", "profit", "--below", "0", "--method", "forest"], "prim, cart"),
    (["--outcome", "profit", "--below", "0", "--baseline", "/nonexistent/x"], "no such"),
])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, capsys, args, message):
    directory = synthetic(tmp_path / "sweep", low_when_a_high, points=40, reps=1)
    target = tmp_path / "missing" if message == "no such directory" else directory
    assert main(["discover", str(target), *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("sim: error:") and message in err
    assert not (directory / "discovery").exists()


def test_a_real_sweep_directory(tmp_path, capsys):
    experiment = parse_experiment({
        "name": "tiny_lhs", "set": {"n_employees": 30, "n_customers": 300}, "steps": 6,
        "seed": 4, "replications": 1, "design": {"method": "lhs", "samples": 12},
        "parameters": {"loyalty_weeks": {"low": 5, "high": 60},
                       "spend_loyalty_premium": {"low": 0.0, "high": 1.0}},
        "outputs": {"kpis": ["profit", "cum_profit_final"]},
    })
    run_sweep(experiment, tmp_path / "sweep", workers=2, quiet=True)
    experiments, outcomes = load_sweep(tmp_path / "sweep")
    assert list(experiments.columns[:2]) == ["loyalty_weeks", "spend_loyalty_premium"]
    assert set(outcomes) == {"profit", "cum_profit_final"} and len(experiments) == 12
    median = float(np.median(outcomes["cum_profit_final"]))
    assert main(["discover", str(tmp_path / "sweep"), "--outcome", "cum_profit_final",
                 "--above", str(median)]) == 0
    assert "box 1" in capsys.readouterr().out
    assert (tmp_path / "sweep" / "discovery" / "boxes.csv").is_file()
