"""sim optimise: a tiny NSGA-II search, its Pareto front and noise, resume, and bad specs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest
import yaml

from sim.cli import main
from sim.optimise import load_spec, optimise

SPEC = {
    "name": "tiny",
    "set": {"n_employees": 30, "n_customers": 500},
    "steps": 10,
    "seed": 5,
    "replications": 2,
    "trials": 6,
    "population": 2,
    "levers": {"training": {"low": 0.0, "high": 0.2}, "resources": {"low": 0.2, "high": 1.0}},
    "objectives": [{"outcome": "npv", "direction": "maximize"},
                   {"outcome": "engagement_mean", "direction": "maximize"}],
    "constraints": [{"outcome": "people_spend", "max": 6000}],
}


def write(directory: Path, data: dict, name: str = "spec.yaml") -> Path:
    path = directory / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def sessions(out: Path) -> list[str]:
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(out / "study.journal")))
    study = optuna.load_study(study_name="tiny", storage=storage)
    return [t.user_attrs.get("session", "") for t in study.trials]


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """The tiny study run uninterrupted from the command line on 2 worker processes."""
    root = tmp_path_factory.mktemp("opt")
    assert main(["optimise", str(write(root, SPEC)), "--out", str(root / "out"), "--workers",
                 "2", "--quiet"]) == 0
    return root / "out"


def test_pareto_front_with_noise(finished):
    for name in ("manifest.json", "spec.yaml", "study.journal", "reference.json",
                 "trials.parquet", "pareto.parquet", "pareto.png"):
        assert (finished / name).is_file(), name
    trials = pd.read_parquet(finished / "trials.parquet")
    pareto = pd.read_parquet(finished / "pareto.parquet")
    assert len(trials) == 6 and (trials["state"] == "COMPLETE").all()
    assert 1 <= len(pareto) <= 6 and pareto["feasible"].all() and pareto["pareto"].all()
    assert (pareto["people_spend"] <= 6000).all()
    for name in ("npv", "engagement_mean", "people_spend"):
        assert np.isfinite(trials[f"{name}_se"]).all()
        assert np.isfinite(trials[f"{name}_vs_current_se"]).all()
    # common random numbers: the paired difference is far less noisy than the level
    assert (trials["npv_vs_current_se"] < trials["npv_se"]).all()


def test_resume_continues_without_redoing_finished_trials(finished, tmp_path):
    spec = load_spec(write(tmp_path, SPEC))

    def stop(number: int, state: str) -> None:
        if number == 2:
            raise KeyboardInterrupt

    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        optimise(spec, out, workers=0, quiet=True, on_trial=stop)  # in this process
    first = sessions(out)[:3]
    assert len(set(first)) == 1
    summary = optimise(spec, out, workers=0, quiet=True, resume=True)
    assert summary.evaluated == 3  # the unfinished trial 3, then 4 and 5
    after = sessions(out)
    assert after[:3] == first and len(set(after[3:])) == 1 and after[3] != first[0]
    # the same candidates and numbers as the uninterrupted study on 2 worker processes
    mine = pd.read_parquet(out / "trials.parquet").drop(columns="seconds")
    theirs = pd.read_parquet(finished / "trials.parquet").drop(columns="seconds")
    pd.testing.assert_frame_equal(mine, theirs)
    # finished: a resume has nothing left to do
    assert optimise(spec, out, workers=0, quiet=True, resume=True).evaluated == 0


def test_existing_results_need_resume_and_the_same_spec(finished, tmp_path, capsys):
    path = write(tmp_path, SPEC)
    assert main(["optimise", str(path), "--out", str(finished), "--workers", "1"]) == 2
    assert "add --resume" in capsys.readouterr().err
    other = write(tmp_path, {**SPEC, "seed": 6}, "other.yaml")
    assert main(["optimise", str(other), "--out", str(finished), "--resume"]) == 2
    assert "different spec" in capsys.readouterr().err


@pytest.mark.parametrize("change, message", [
    ({"budget": 3}, "unknown key 'budget'"),
    ({"levers": {"loyalty_weeks": {"low": 5, "high": 50}}}, "levers.loyalty_weeks: a"),
    ({"levers": {"span_of_control": {"low": 5, "high": 20}}}, "structural"),
    ({"levers": {"training": {"low": 0.2, "high": 0.1}}}, "must be below"),
    ({"levers": {"training": {"low": 0.0, "high": 0.9}}}, "out of range"),
    ({"objectives": [{"outcome": "npvv", "direction": "maximize"}]}, "did you mean npv"),
    ({"objectives": [{"outcome": "npv", "direction": "up"}]}, "objectives[0].direction"),
    ({"constraints": [{"outcome": "people_spend"}]}, "constraints[0]"),
    ({"constraints": [{"outcome": "people_spend", "max": float("nan")}]}, "finite"),
    ({"trials": 0}, "trials=0"),
    ({"population": 1}, "population=1"),
    ({"discount_rate": 2}, "discount_rate"),
    ({"set": {"training": 0.1}}, "both searched and fixed"),
])
def test_bad_spec_is_refused_in_one_line_and_nothing_is_written(tmp_path, capsys, change,
                                                                message):
    path = write(tmp_path, {**SPEC, **change})
    out = tmp_path / "out"
    assert main(["optimise", str(path), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("sim: error:") and message in err, err
    assert not out.exists()


def test_dask_gives_the_same_study(finished, tmp_path):
    from distributed import LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False, protocol="tcp",
                      host="127.0.0.1", dashboard_address=None) as cluster:
        summary = optimise(load_spec(write(tmp_path, SPEC)), tmp_path / "out",
                           scheduler=cluster.scheduler_address, quiet=True)
    assert summary.evaluated == 6
    mine = pd.read_parquet(tmp_path / "out" / "trials.parquet").drop(columns="seconds")
    theirs = pd.read_parquet(finished / "trials.parquet").drop(columns="seconds")
    pd.testing.assert_frame_equal(mine, theirs)
