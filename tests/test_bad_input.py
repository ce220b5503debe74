"""Bad input on the command line: one line on stderr, exit status 2, no traceback, nothing written.

Example-based tests pin each fault found by hand (issue 9); property-based tests (hypothesis)
throw random mixes of valid and invalid scenario files and argument lists at ``sim.cli.main``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from sim.params import SPECS, ParameterError
from sim.runner import prepare_output_dir
from sim.scenario import ScenarioError, load_scenario, parse_scenario


# --- the results directory is checked before anything runs -------------------------------------
@pytest.mark.parametrize(
    ("relative", "fragment"),
    [
        ("afile", "exists and is not a directory"),
        ("afile/x", "cannot create directory (afile is not a directory)"),
        ("afile/x/y", "cannot create directory (afile is not a directory)"),
        ("x" * 300, "cannot create directory (File name too long)"),
        ("a\nb\0", "a path cannot contain a NUL character"),
    ],
)
def test_prepare_output_dir_refuses_in_one_line(relative, fragment, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("afile").write_text("x")
    before = sorted(os.listdir(tmp_path))
    with pytest.raises(ParameterError) as info:
        prepare_output_dir(relative)
    message = str(info.value)
    assert fragment in message and "\n" not in message and message.startswith("--out")
    assert sorted(os.listdir(tmp_path)) == before


def test_prepare_output_dir_refuses_proc():
    with pytest.raises(ParameterError, match=r"^--out /proc/x/y: cannot create directory \("):
        prepare_output_dir("/proc/x/y")


def test_prepare_output_dir_creates_and_accepts_existing(tmp_path):
    target = tmp_path / "a" / "b"
    assert prepare_output_dir(target) == target and target.is_dir()
    assert prepare_output_dir(str(target)) == target
    assert os.listdir(target) == []  # the writability probe leaves nothing


def test_prepare_output_dir_removes_what_it_made_when_not_writable(tmp_path, monkeypatch):
    import tempfile

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "TemporaryFile", refuse)
    with pytest.raises(ParameterError, match=r"b: directory is not writable \(Permission denied\)"):
        prepare_output_dir(tmp_path / "a" / "b")
    assert os.listdir(tmp_path) == []


# --- NaN, infinities and huge numbers (fault 2) --------------------------------------------------
NON_FINITE = (float("nan"), float("inf"), float("-inf"))
WHOLE = ("induction_weeks", "span_of_control", "n_employees", "n_customers", "wom_degree")


@pytest.mark.parametrize("name", [*WHOLE, "training", "spend_per_visit"])
@pytest.mark.parametrize("value", NON_FINITE, ids=["nan", "inf", "-inf"])
def test_every_parameter_refuses_nan_and_infinities(name, value):
    spec = SPECS[name]
    with pytest.raises(ParameterError) as info:
        spec.check(value)
    assert str(info.value) == (
        f"{name}: expected a finite number, got {value!r} "
        f"(allowed range {spec.low}..{spec.high} {spec.unit})"
    )


def test_all_parameters_refuse_non_finite_values():
    for spec in SPECS.values():
        for value in NON_FINITE:
            with pytest.raises(ParameterError, match=f"^{spec.name}: expected a finite number"):
                spec.check(value)


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("n_customers", 10**400, "n_customers=10000000000000000000000000000000000000000000"),
        ("training", 10**400, "training=100000000000000000000000000"),
        ("n_customers", 10**5000, "n_customers=<a number of about 5000 digits> is out of range"),
        ("n_employees", 1e300, "n_employees=1e+300 is out of range"),
        ("training", "x\n" * 100, "training: expected a number, got 'x\\nx\\n"),
    ],
    ids=["int-400-digits", "int-400-digits-float-param", "int-5000-digits", "1e300", "text"],
)
def test_huge_values_are_refused_in_one_short_line(name, value, fragment):
    with pytest.raises(ParameterError) as info:
        SPECS[name].check(value)
    message = str(info.value)
    assert fragment in message and "\n" not in message and len(message) < 200


def test_whole_number_parameters_still_take_whole_floats():
    assert SPECS["n_employees"].check(60.0) == 60 and type(SPECS["n_employees"].check(60.0)) is int
    assert type(SPECS["training"].check(0)) is float


@pytest.mark.parametrize("text", [".nan", ".inf", "-.inf", ".NaN", "+.inf"])
@pytest.mark.parametrize("key", ["steps", "seed", "reps"])
def test_run_settings_refuse_non_finite_values_in_files(key, text):
    with pytest.raises(ScenarioError, match=f"^s.yaml: {key}: expected a whole number, got "):
        parse_scenario(yaml.safe_load(f"{key}: {text}"), source="s.yaml")


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("params:\n  n_employees: .nan\n", "n_employees: expected a finite number, got nan"),
        ("params:\n  induction_weeks: .inf\n", "induction_weeks: expected a finite number"),
        ("params:\n  span_of_control: -.inf\n", "span_of_control: expected a finite number"),
        ("params:\n  n_customers: .nan\n", "n_customers: expected a finite number, got nan"),
        ("timeline:\n  - {week: 5, set: {training: .nan}}\n", "training: expected a finite number"),
        ("timeline:\n  - {week: .inf, set: {training: 0.1}}\n", "timeline week: expected a whole"),
        ("steps: " + "9" * 400 + "\n", "steps=99999999999999999999"),
        ("params:\n  n_customers: " + "9" * 5000 + "\n", "malformed YAML (a number too long)"),
        ("params:\n  training: " + "[" * 3000 + "]" * 3000 + "\n", "malformed YAML (nested too"),
        ("params:\n  1: 2\n", "unknown parameter 1; run `sim params` for the list"),
    ],
)
def test_bad_numbers_in_files_are_refused_in_one_line(text, fragment, tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(text)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    message = str(info.value)
    assert fragment in message and "\n" not in message and message.startswith("s.yaml: ")
