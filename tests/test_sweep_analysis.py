"""`sim analyze`: per-point means with t-intervals, SALib indices with CIs, table and figure."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from sim.analysis import analyze
from sim.cli import main
from sim.experiment import ExperimentError, parse_experiment
from sim.sweep import load_table, run_sweep

BASE = {
    "set": {"n_employees": 30, "n_customers": 200},
    "steps": 8,
    "seed": 5,
    "outputs": {"kpis": ["profit", "customer_retention"]},
}


def test_grid_means_and_intervals_match_a_direct_computation(tmp_path, capsys):
    exp = parse_experiment({**BASE, "name": "g", "replications": 3,
                            "parameters": {"resources": [0.2, 0.9]}})
    run_sweep(exp, tmp_path, workers=1, quiet=True)
    assert main(["analyze", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "| point | resources | n | profit | customer_retention |" in printed
    points = pd.read_csv(tmp_path / "analysis" / "points.csv")
    runs = load_table(tmp_path)
    for point, group in runs.groupby("point"):
        values = group["profit"].to_numpy()
        half = stats.t.ppf(0.975, 2) * values.std(ddof=1) / np.sqrt(3)
        row = points.set_index("point").loc[point]
        assert row["profit"] == pytest.approx(values.mean())
        assert row["profit_ci95"] == pytest.approx(half)
    assert (tmp_path / "analysis" / "figure.png").stat().st_size > 5000


@pytest.mark.parametrize(("method", "samples", "kinds"),
                         [("sobol", 8, {"S1", "ST"}), ("morris", 3, {"mu_star", "sigma"})])
def test_sensitivity_indices_come_with_intervals(tmp_path, method, samples, kinds):
    params = {"training": {"low": 0.0, "high": 0.2}, "resources": {"low": 0.2, "high": 1.0},
              "empowerment": {"low": 0.0, "high": 1.0}}
    exp = parse_experiment({**BASE, "name": method, "replications": 1, "parameters": params,
                            "design": {"method": method, "samples": samples}})
    run_sweep(exp, tmp_path, workers=2, quiet=True)
    result = analyze(tmp_path)
    table = pd.read_csv(tmp_path / "analysis" / "sensitivity.csv")
    assert set(table["index"]) == kinds
    assert set(table["parameter"]) == set(params)
    assert set(table["output"]) == set(BASE["outputs"]["kpis"])
    with_ci = table.dropna(subset=["ci95_low"])
    assert (with_ci["ci95_low"] <= with_ci["value"]).all()
    expected = (with_ci["ci95_low"] <= 0) & (with_ci["ci95_high"] >= 0)
    assert (with_ci["ci_includes_0"].astype(bool) == expected).all()
    assert f"{int(expected.sum())} of {len(with_ci)} intervals include 0" in result["text"]


def test_analyze_refuses_what_is_not_a_sweep(tmp_path):
    with pytest.raises(ExperimentError, match="no manifest.json"):
        analyze(tmp_path)
