"""Scenario validation (one-line errors naming key, value, range) and the CLI end to end."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from sim import ParameterError, Params, ScenarioError, ServiceModel, load_scenario, preset_names
from sim.cli import main
from sim.params import SPECS
from sim.scenario import parse_scenario

STORIES = {
    "baseline",
    "invest_in_training",
    "cost_cutting",
    "micromanagement",
    "employees_first",
    "customer_obsession",
    "internal_focus",
    "hire_for_fit",
    "survey_and_act",
}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({"parms": {}}, "unknown key 'parms'"),
        ({"params": {"trainng": 0.1}}, "unknown parameter 'trainng'; did you mean training"),
        ({"params": {"training": 0.9}}, "training=0.9 is out of range: allowed 0.0..0.25"),
        ({"params": {"training": "lots"}}, "training: expected a number, got 'lots'"),
        ({"params": {"induction_weeks": 2.5}}, "induction_weeks: expected a whole number"),
        ({"params": {"training": True}}, "training: expected a number"),
        ({"params": [1, 2]}, "params: expected a mapping"),
        ({"steps": 0}, "steps=0 is out of range"),
        ({"steps": "ten"}, "steps: expected a whole number"),
        ({"timeline": [{"week": 200, "set": {"training": 0.1}}]}, "outside the horizon 1..104"),
        ({"timeline": [{"week": 5, "set": {"n_customers": 10}}]}, "cannot change during a run"),
        ({"timeline": [{"week": 5, "set": {"training": 2.0}}]}, "training=2.0 is out of range"),
        ({"timeline": [{"week": 5}]}, "needs exactly 'week' and 'set'"),
        ({"timeline": {"week": 5}}, "expected a list"),
        ({"base": "nonexistent"}, "unknown scenario 'nonexistent'"),
        ({"params": {"n_customers": 10, "n_employees": 220}}, "n_customers=10 is too small"),
        ([1, 2, 3], "expected a mapping of keys"),
    ],
)
def test_bad_scenarios_are_refused_with_one_line(data, fragment):
    with pytest.raises(ScenarioError) as info:
        parse_scenario(data, source="bad.yaml")
    message = str(info.value)
    assert fragment in message
    assert "\n" not in message and message.startswith("bad.yaml")


def test_python_api_validates_too():
    with pytest.raises(ParameterError, match="resources=1.5 is out of range"):
        ServiceModel(rng=1, resources=1.5)
    with pytest.raises(ParameterError, match="unknown parameter"):
        Params().replace(resourses=0.5)


def test_malformed_yaml_names_the_line(tmp_path):
    path = write(tmp_path, "name: x\nparams:\n  training: [0.1\n")
    with pytest.raises(ScenarioError, match=r"s.yaml: malformed YAML at line \d+"):
        load_scenario(path)


def test_missing_file_is_refused(tmp_path):
    with pytest.raises(ScenarioError, match="does not exist"):
        load_scenario(tmp_path / "nope.yaml")


def test_presets_tell_the_seeds_stories():
    names = set(preset_names())
    assert STORIES <= names
    for name in names:
        scenario = load_scenario(name)
        assert scenario.description and "\n" not in scenario.description
        assert scenario.name == name


@pytest.mark.parametrize("name", preset_names())
def test_every_preset_runs(name):
    scenario = load_scenario(name).with_changes(steps=60, n_employees=60, n_customers=600)
    model = ServiceModel(scenario, rng=1).run()
    assert model.steps == 60 and model.kpis["employees"] > 0


def test_every_parameter_has_metadata():
    for spec in SPECS.values():
        assert spec.low <= spec.default <= spec.high, spec.name
        assert spec.unit and spec.meaning and spec.source, spec.name
        assert "\n" not in spec.meaning


def test_scenario_yaml_round_trip(tmp_path):
    scenario = load_scenario("training_cut_and_restore").with_changes(seed=9, reps=2)
    path = write(tmp_path, scenario.to_yaml())
    assert load_scenario(path) == scenario


def test_cli_run_writes_reproducible_results(tmp_path, capsys):
    out1, out2 = tmp_path / "a", tmp_path / "b"
    assert (
        main(
            [
                "run",
                "baseline",
                "--steps",
                "12",
                "--seed",
                "3",
                "--reps",
                "2",
                "--set",
                "n_customers=800",
                "--set",
                "n_employees=60",
                "--out",
                str(out1),
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "engagement_mean" in printed and "profit" in printed
    ts = pd.read_parquet(out1 / "timeseries.parquet")
    units = pd.read_parquet(out1 / "units.parquet")
    assert len(ts) == 2 * 13 and set(ts["replication"]) == {0, 1}
    assert {"replication", "step", "unit", "engagement", "csat", "profit"} <= set(units.columns)
    assert main(["run", str(out1 / "scenario.yaml"), "--out", str(out2), "--quiet"]) == 0
    pd.testing.assert_frame_equal(ts, pd.read_parquet(out2 / "timeseries.parquet"))
    pd.testing.assert_frame_equal(units, pd.read_parquet(out2 / "units.parquet"))


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["run", "baseline", "--set", "trainng=0.1"], "unknown parameter 'trainng'"),
        (["run", "baseline", "--set", "training=0.9"], "training=0.9 is out of range"),
        (["run", "baseline", "--set", "training"], "expected KEY=VALUE"),
        (["run", "no_such_preset"], "unknown scenario 'no_such_preset'"),
        (["run", "baseline", "--steps", "0"], "steps=0 is out of range"),
        (["run", "training_cut_and_restore", "--steps", "20"], "outside the horizon 1..20"),
        (["run", "baseline", "--set", "n_employees=.nan"], "n_employees: expected a finite number"),
        (["run", "baseline", "--set", "induction_weeks=inf"], "expected a finite number, got inf"),
        (["run", "baseline", "--steps", "5", "--set", "steps=6"], "steps: given twice"),
        (["run", "baseline", "--set", "seed=-1"], "seed=-1 is out of range"),
    ],
)
def test_cli_bad_input_exits_2_with_one_line(argv, fragment, capsys, tmp_path):
    out = tmp_path / "never"
    assert main([*argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert fragment in err and "\n" not in err and err.startswith("sim: error:")
    assert not out.exists()


def test_console_script_lists_presets_and_parameters():
    sim = [sys.executable, "-m", "sim.cli"]
    listed = subprocess.run([*sim, "scenarios"], capture_output=True, text=True, check=True).stdout
    assert all(name in listed for name in STORIES)
    params = subprocess.run([*sim, "params"], capture_output=True, text=True, check=True).stdout
    assert all(name in params for name in SPECS)


def test_the_package_names_load_on_first_use_and_the_command_line_starts_light():
    """``sim``'s public names are all there, each from its module; importing ``sim.cli`` loads
    neither the model nor Mesa, which lets ``sim sweep`` start its workers' forkserver first."""
    import sim

    assert set(sim.__all__) == set(sim._HOME)
    for name in sim.__all__:
        assert getattr(sim, name) is getattr(sys.modules[sim._HOME[name]], name)
    assert set(sim.__all__) <= set(dir(sim))
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        _ = sim.nothing
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, sim.cli; print(sorted(m for m in ('mesa', "
         "'sim.model', 'numba') if m in sys.modules))"],
        capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == "[]"
