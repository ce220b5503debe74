"""Bad input on the command line: one line on stderr, exit status 2, no traceback, nothing written.

Example-based tests pin each fault found by hand (issue 9); property-based tests (hypothesis)
throw random mixes of valid and invalid scenario files and argument lists at ``sim.cli.main``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from sim.cli import Parser, build_parser, main
from sim.params import LEVERS, SPECS, ParameterError
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


# --- the command line ---------------------------------------------------------------------------
def run_cli(argv, capsys):
    """``sim.cli.main(argv)``: (exit status, stdout, stderr lines)."""
    status = main(argv)
    captured = capsys.readouterr()
    return status, captured.out, captured.err.splitlines()


TINY = ["--steps", "2", "--set", "n_employees=12", "--set", "n_customers=60"]


@pytest.mark.parametrize(
    ("setting", "expected"),
    [("steps=3", ("steps", 3)), ("seed=7", ("seed", 7)), ("reps=2", ("reps", 2))],
)
def test_set_takes_run_settings_like_their_flags(setting, expected, tmp_path, capsys):
    tiny = ["--set", "n_employees=12", "--set", "n_customers=60"]
    if not setting.startswith("steps"):
        tiny += ["--steps", "2"]
    status, _, err = run_cli(["run", "baseline", *tiny, "--set", setting,
                              "--out", str(tmp_path), "--quiet"], capsys)
    assert status == 0 and err == []
    resolved = yaml.safe_load((tmp_path / "scenario.yaml").read_text())
    key, value = expected
    assert resolved[key] == value


def test_set_and_flag_may_agree_but_not_disagree(tmp_path, capsys):
    out = tmp_path / "o"
    assert run_cli(["run", "baseline", *TINY, "--set", "steps=2", "--quiet"], capsys)[0] == 0
    status, _, err = run_cli(["run", "baseline", *TINY, "--set", "steps=5", "--out", str(out)],
                             capsys)
    assert status == 2
    assert err == ["sim: error: steps: given twice, --steps 2 and --set steps=5; give it once"]
    assert not out.exists()


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("steps=.nan", "steps: expected a whole number, got nan (allowed 1..5200)"),
        ("seed=inf", "seed: expected a whole number, got inf (allowed 0..4294967295)"),
        ("reps=-inf", "reps: expected a whole number, got -inf (allowed 1..10000)"),
        ("steps=2.5", "steps: expected a whole number, got 2.5 (allowed 1..5200)"),
        ("reps=0", "reps=0 is out of range: allowed 1..10000"),
        ("n_employees=nan", "n_employees: expected a finite number, got nan "
                            "(allowed range 1..1000000 people)"),
        ("n_employees=.inf", "n_employees: expected a finite number, got inf "
                             "(allowed range 1..1000000 people)"),
        ("induction_weeks=-.inf", "induction_weeks: expected a finite number, got -inf "
                                  "(allowed range 0..16 weeks)"),
        ("span_of_control=NaN", "span_of_control: expected a finite number, got nan "
                                "(allowed range 3..40 staff per manager)"),
        ("n_customers=Infinity", "n_customers: expected a finite number, got inf "
                                 "(allowed range 10..10000000 people)"),
        ("training=.nan", "training: expected a finite number, got nan "
                          "(allowed range 0.0..0.25 share of paid time)"),
        ("n_customers=1e400", "n_customers: expected a number, got '1e400' "
                              "(allowed range 10..10000000 people)"),
    ],
)
def test_cli_refuses_bad_numbers_in_one_line(setting, message, tmp_path, capsys):
    out = tmp_path / "never"
    argv = ["run", "baseline", "--set", setting, "--out", str(out)]
    status, _, err = run_cli(argv, capsys)
    assert (status, err) == (2, [f"sim: error: {message}"])
    assert not out.exists()


def test_numbers_yaml_reads_as_text_are_numbers_on_the_cli(tmp_path, capsys):
    status, _, err = run_cli(["run", "baseline", "--steps", "2", "--set", "n_employees=1.2e1",
                              "--set", "n_customers=6e1", "--out", str(tmp_path), "--quiet"],
                             capsys)
    assert (status, err) == (0, [])
    resolved = yaml.safe_load((tmp_path / "scenario.yaml").read_text())
    assert resolved["params"]["n_customers"] == 60


@pytest.mark.parametrize(
    ("out", "message"),
    [
        ("afile", "--out afile: exists and is not a directory"),
        ("afile/x", "--out afile/x: cannot create directory (afile is not a directory)"),
        ("/proc/x", "--out /proc/x: cannot create directory ("),
        ("", "--out: expected a directory path, got an empty string"),
    ],
)
def test_cli_refuses_an_out_it_cannot_create_before_running(
    out, message, tmp_path, capsys, monkeypatch
):
    import sim.runner

    monkeypatch.chdir(tmp_path)
    Path("afile").write_text("x")

    def never(*args, **kwargs):
        raise AssertionError("the run started before --out was checked")

    monkeypatch.setattr(sim.runner, "run_scenario", never)
    status, _, err = run_cli(["run", "baseline", *TINY, "--out", out], capsys)
    assert status == 2 and len(err) == 1 and err[0].startswith(f"sim: error: {message}")
    assert os.listdir(tmp_path) == ["afile"]


def test_units_refuses_an_out_file_it_cannot_write(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("afile").write_text("x")
    for out, message in [
        ("afile/u.csv", "--out afile/u.csv: folder afile: exists and is not a directory"),
        (".", "--out .: expected a CSV file name, not a directory"),
    ]:
        status, _, err = run_cli(["units", "baseline", "--reps", "1", "--out", out], capsys)
        assert (status, err) == (2, [f"sim: error: {message}"])
    assert os.listdir(tmp_path) == ["afile"]


@pytest.mark.parametrize(
    ("argv", "first"),
    [
        ([], "sim: error: the following arguments are required: command"),
        (["nosuchcmd"], "sim: error: argument command: invalid choice: 'nosuchcmd'"),
        (["run"], "sim run: error: the following arguments are required: scenario"),
        (["run", "baseline", "--bogus"], "sim run: error: unrecognized arguments: --bogus"),
        (["run", "baseline", "--steps", "abc"],
         "sim run: error: argument --steps: invalid int value: 'abc'"),
        (["run", "baseline", "--steps", "nan"],
         "sim run: error: argument --steps: invalid int value: 'nan'"),
        (["params", "--group", "nope"], "sim params: error: argument --group: invalid choice"),
        (["scenarios", "extra"], "sim scenarios: error: unrecognized arguments: extra"),
        (["sweep", "x.yaml", "--workers", "abc"],
         "sim sweep: error: argument --workers: invalid int value: 'abc'"),
        (["analyze"], "sim analyze: error: the following arguments are required: directory"),
        (["units", "baseline", "--seed", "x"],
         "sim units: error: argument --seed: invalid int value: 'x'"),
        (["app", "--port", "http"], "sim app: error: argument --port: invalid int value: 'http'"),
    ],
)
def test_usage_errors_take_two_lines(argv, first, capsys):
    status, out, err = run_cli(argv, capsys)
    command = first.split(": error:")[0]
    assert status == 2 and out == ""
    assert len(err) == 2 and err[0].startswith(first) and err[1] == f"(see {command} --help)"


def test_every_sub_command_parser_is_the_short_error_kind():
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    assert {"run", "scenarios", "params", "units", "app", "sweep", "analyze"} <= set(commands)
    assert all(type(command) is Parser for command in commands.values())


def test_help_still_exits_0(capsys):
    assert main(["run", "--help"]) == 0
    assert "usage: sim run" in capsys.readouterr().out


def test_unexpected_failures_are_one_line_and_status_1(capsys, monkeypatch):
    import sim.runner

    def boom(*args, **kwargs):
        raise RuntimeError("something\nbroke")

    monkeypatch.setattr(sim.runner, "run_scenario", boom)
    status, _, err = run_cli(["run", "baseline", *TINY], capsys)
    assert (status, err) == (1, ["sim: internal error: RuntimeError: something broke "
                                 "(please report)"])

    def refused(*args, **kwargs):
        raise PermissionError(13, "Permission denied", "/data/x.parquet")

    monkeypatch.setattr(sim.runner, "run_scenario", refused)
    status, _, err = run_cli(["run", "baseline", *TINY], capsys)
    assert (status, err) == (1, ["sim: error: /data/x.parquet: Permission denied"])
    # bad input is still reported as bad input, not hidden behind the last resort
    status, _, err = run_cli(["run", "baseline", "--set", "training=2"], capsys)
    assert status == 2 and err[0].startswith("sim: error: training=2 is out of range")


def test_a_closed_pipe_ends_quietly():
    script = Path(sys.executable).with_name("sim")
    command = f"'{script}' params | head -1"
    done = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=120)
    assert done.stdout.startswith("[people]\n")
    assert done.stderr == ""


# --- sim analyze on a damaged sweep directory (fault 5) ------------------------------------------
@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory):
    """A finished two-point sweep of a tiny organisation."""
    from sim.sweep import run_sweep
    from sim.sweep_design import parse_experiment

    out = tmp_path_factory.mktemp("sweep")
    experiment = parse_experiment({
        "name": "tiny", "set": {"n_employees": 12, "n_customers": 60}, "steps": 2,
        "replications": 2, "parameters": {"training": [0.0, 0.1]},
        "outputs": {"kpis": ["profit"]},
    })
    run_sweep(experiment, out, workers=1, quiet=True)
    return out


def damaged(sweep_dir, tmp_path, name, text):
    import shutil

    target = tmp_path / "sweep"
    shutil.copytree(sweep_dir, target)
    if text is None:
        (target / name).unlink()
    else:
        (target / name).write_text(text)
    return target


def test_analyze_still_reads_a_good_sweep(sweep_dir, tmp_path, capsys):
    target = damaged(sweep_dir, tmp_path, "unused.txt", "")
    status, out, err = run_cli(["analyze", str(target), "--quiet"], capsys)
    assert (status, err) == (0, []) and (target / "analysis" / "points.csv").is_file()


def _edit(resolved, change):
    data = yaml.safe_load(resolved)
    change(data)
    return yaml.safe_dump(data)


@pytest.mark.parametrize(
    ("name", "edit", "message"),
    [
        ("experiment.yaml", lambda t: "name: [x\n", "experiment.yaml: malformed YAML at line 2"),
        ("experiment.yaml", lambda t: "- 1\n- 2\n", "experiment.yaml: expected a mapping of keys"),
        ("experiment.yaml", lambda t: "\xff", None),
        ("experiment.yaml", None, "no experiment.yaml (not a sweep output directory)"),
        ("experiment.yaml", lambda t: _edit(t, lambda d: d.pop("base")),
         "experiment.yaml: missing 'base' (not written by `sim sweep`?)"),
        ("experiment.yaml", lambda t: _edit(t, lambda d: d.update(parameters={"training": 0.1})),
         "experiment.yaml: parameters.training: expected list, got 0.1"),
        ("experiment.yaml", lambda t: _edit(t, lambda d: d.update(method="bogus")),
         "design.method: 'bogus' is not one of grid, lhs, sobol, morris"),
        ("experiment.yaml", lambda t: _edit(t, lambda d: d.update(replications=float("nan"))),
         "experiment.yaml: replications: expected a whole number, got nan"),
        ("experiment.yaml", lambda t: _edit(t, lambda d: d["base"]["params"].update(
            n_employees=float("inf"))), "n_employees: expected a finite number, got inf"),
        ("experiment.yaml", lambda t: _edit(t, lambda d: d.update(seed=99)),
         "experiment.yaml does not match the manifest's hash"),
        ("manifest.json", lambda t: "{", "manifest.json: cannot read (JSONDecodeError)"),
        ("manifest.json", lambda t: "[1]", "manifest.json: expected a JSON object, got [1]"),
        ("manifest.json", lambda t: '{"points": 2}', "manifest.json: experiment_hash: expected"),
        ("design.parquet", lambda t: "not parquet", "cannot read the results"),
        ("analysis", lambda t: "a file", "analysis: exists and is not a directory"),
    ],
)
def test_analyze_refuses_a_damaged_sweep_in_one_line(
    name, edit, message, sweep_dir, tmp_path, capsys
):
    original = (sweep_dir / name).read_text() if name.endswith((".yaml", ".json")) else ""
    target = damaged(sweep_dir, tmp_path, name, None if edit is None else edit(original))
    status, out, err = run_cli(["analyze", str(target)], capsys)
    assert status == 2 and len(err) == 1 and err[0].startswith("sim: error: ")
    assert message is None or message in err[0]
    assert not (target / "analysis").is_dir()


# --- property-based: random files and argument lists never end in a traceback -------------------
PRESETS = ("baseline", "cost_cutting", "training_cut_and_restore")
LEVER_NAMES = tuple(LEVERS)
# Appended to every `sim run`, so an accepted input runs in a fraction of a second.
FAST = ["--steps", "2", "--reps", "1", "--seed", "1",
        "--set", "n_employees=12", "--set", "n_customers=60"]

junk = st.recursive(
    st.none() | st.booleans() | st.text(max_size=6)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.integers(-(10**6), 10**6) | st.sampled_from([10**400, -(10**400)]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner,
                                                                max_size=3),
    max_leaves=6,
)
non_finite = st.sampled_from([float("nan"), float("inf"), float("-inf")])


def value_for(name: str) -> st.SearchStrategy:
    """Mostly allowed values of parameter ``name``, else edges, NaN/inf, huge or junk."""
    spec = SPECS[name]
    if spec.kind is int:
        allowed = st.integers(int(spec.low), int(spec.high))
    else:
        allowed = st.floats(float(spec.low), float(spec.high))
    return st.one_of(
        allowed, allowed, allowed,
        st.sampled_from([spec.low, spec.high, spec.default, spec.low - 1, spec.high * 2]),
        non_finite, st.sampled_from([10**30, -(10**30), 1e300, 2.5]), junk,
    )


param_item = st.one_of(
    st.sampled_from(sorted(SPECS)).flatmap(lambda n: st.tuples(st.just(n), value_for(n))),
    st.tuples(st.text(max_size=8) | st.integers(), junk),
)
lever_item = st.one_of(
    st.sampled_from(LEVER_NAMES).flatmap(lambda n: st.tuples(st.just(n), value_for(n))),
    st.tuples(st.sampled_from(["n_customers", "span_of_control", "nope"]), junk),
)
week = st.one_of(st.sampled_from([1, 2, 2]), st.integers(-5, 6000), non_finite, junk)
timeline_event = st.one_of(
    st.fixed_dictionaries({"week": week, "set": st.dictionaries(
        lever_item.map(lambda kv: kv[0]), st.just(0.1), max_size=1)}),
    st.fixed_dictionaries({"week": week, "set": st.lists(lever_item, max_size=2).map(dict)}),
    junk,
)
run_setting = st.one_of(st.integers(1, 3), st.integers(-10, 10**12), non_finite, junk)
scenario_fields = st.fixed_dictionaries(
    {},
    optional={
        "name": st.text(max_size=10) | junk,
        "description": st.text(max_size=20) | junk,
        "base": st.sampled_from(PRESETS) | junk,
        "start": st.sampled_from([*PRESETS, "settled"]) | junk,
        "steps": run_setting, "seed": run_setting, "reps": run_setting,
        "params": st.lists(param_item, max_size=4).map(dict) | junk,
        "timeline": st.lists(timeline_event, max_size=3) | junk,
    },
)
scenario_data = st.one_of(
    scenario_fields, scenario_fields, scenario_fields,
    st.tuples(scenario_fields, st.text(max_size=5), junk).map(lambda t: {**t[0], t[1]: t[2]}),
    junk,
)


def dumped(data) -> str:
    try:
        return yaml.safe_dump(data, allow_unicode=True)
    except (yaml.YAMLError, ValueError):  # a key YAML cannot write: write junk instead
        return "params: [\n"


scenario_text = st.one_of(
    scenario_data.map(dumped), scenario_data.map(dumped), scenario_data.map(dumped),
    scenario_data.map(dumped).flatmap(lambda t: st.integers(0, len(t)).map(lambda i: t[:i])),
    st.text(max_size=40),
    st.sampled_from(["params:\n  n_customers: " + "9" * 5000 + "\n",
                     "params: " + "[" * 2000 + "]" * 2000 + "\n", "a: &x [*x]\n", "\t"]),
)
set_value = st.one_of(
    st.sampled_from(["0.1", "nan", ".nan", "inf", "-.inf", "1e400", "1e5", "[1", "{a: 1}",
                     "yes", "~", "", "12", "2", "1", "0", "-1", "9" * 5000]),
    st.integers(-(10**20), 10**20).map(str), st.floats().map(repr), st.text(max_size=8),
)
set_key = st.one_of(st.sampled_from([*sorted(SPECS), "steps", "seed", "reps"]),
                    st.text(max_size=6))
option = st.one_of(
    st.tuples(st.sampled_from(["--steps", "--seed", "--reps"]),
              st.one_of(st.integers(-3, 6000).map(str), set_value)).map(list),
    st.tuples(st.just("--set"), st.tuples(set_key, set_value).map("=".join)).map(list),
    st.tuples(st.just("--set"), st.text(max_size=6)).map(list),
    st.sampled_from([["--quiet"], ["--bogus"], ["--set"], ["-x"], ["extra"]]),
)
OUTS = ("out", "out/deeper", "afile", "afile/x", "/proc/x", "", None)


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def check_outcome(status, err, root, before, *, allow_usage=True):
    """0, or 2 with one line `sim...` (usage errors: plus a `(see ... --help)` line)."""
    event(f"exit {status}")
    assert status in (0, 2), err
    assert not any("Traceback" in line for line in err)
    if status == 2:
        usage = allow_usage and len(err) == 2 and err[1].startswith("(see sim")
        assert len(err) == 1 or usage, err
        assert err[0].startswith("sim"), err
        assert _files(root) == before, "a refused input wrote something"


settings_for_hypothesis = settings(
    max_examples=60, deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@settings_for_hypothesis
@given(text=scenario_text, options=st.lists(option, max_size=4), out=st.sampled_from(OUTS),
       use_file=st.booleans() | st.just(True))
def test_sim_run_never_shows_a_traceback(text, options, out, use_file, capsys):
    capsys.readouterr()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "afile").write_text("x")
        (root / "s.yaml").write_text(text)
        before = _files(root)
        scenario = str(root / "s.yaml") if use_file else "baseline"
        argv = ["run", scenario, *(arg for opt in options for arg in opt), *FAST]
        if out is not None:
            argv += ["--out", out if out in ("", "/proc/x") else str(root / out)]
        status, stdout, err = run_cli(argv, capsys)
        check_outcome(status, err, root, before)
        if status == 0 and out is not None:
            assert (root / out / "scenario.yaml").is_file()


@settings_for_hypothesis
@given(data=scenario_data)
def test_scenario_files_are_accepted_or_refused_in_one_line(data, capsys):
    capsys.readouterr()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "s.yaml").write_text(dumped(data))
        before = _files(root)
        status, _, err = run_cli(["run", str(root / "s.yaml"), *FAST, "--quiet",
                                  "--out", str(root / "out")], capsys)
        check_outcome(status, err, root, before, allow_usage=False)
        if status == 2:
            assert err[0].startswith("sim: error: "), err


listing_args = st.lists(
    st.one_of(st.sampled_from(["--group", "people", "size", "nope", "--bogus", "-h2", "x"]),
              st.text(max_size=6)),
    max_size=3,
)


@settings_for_hypothesis
@given(command=st.sampled_from(["params", "scenarios"]), args=listing_args)
def test_listings_never_show_a_traceback(command, args, capsys):
    capsys.readouterr()
    if "-h" in args or "--help" in args:
        return
    status, out, err = run_cli([command, *args], capsys)
    assert status in (0, 2) and not any("Traceback" in line for line in err)
    if status == 2:
        assert len(err) == 2 and err[0].startswith(f"sim {command}: error: ")
    else:
        assert err == [] and out


@settings_for_hypothesis
@given(
    target=st.sampled_from(["sweep", "sweep", "missing", "afile", "empty", "s.yaml"]),
    damage=st.one_of(st.none(), st.none(), st.tuples(
        st.sampled_from(["experiment.yaml", "manifest.json", "design.parquet"]),
        scenario_text | scenario_data.map(dumped))),
    outputs=st.one_of(st.none(), st.none(), st.sampled_from(["profit", "profit,bogus", "", ","]),
                      st.text(max_size=6)),
)
def test_sim_analyze_never_shows_a_traceback(target, damage, outputs, sweep_dir, capsys):
    import shutil

    capsys.readouterr()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        shutil.copytree(sweep_dir, root / "sweep")
        (root / "afile").write_text("x")
        (root / "empty").mkdir()
        (root / "s.yaml").write_text("name: x\n")
        if damage is not None:
            (root / "sweep" / damage[0]).write_text(damage[1])
        before = _files(root)
        argv = ["analyze", str(root / target), "--quiet"]
        if outputs is not None:
            argv += ["--outputs", outputs]
        status, _, err = run_cli(argv, capsys)
        check_outcome(status, err, root, before)


def test_analyze_rebuilds_a_sweep_whose_scenario_has_a_start(tmp_path, capsys):
    from sim.sweep import run_sweep
    from sim.sweep_design import parse_experiment

    (tmp_path / "s.yaml").write_text("name: s\nstart: settled\nparams: {training: 0.1}\n")
    experiment = parse_experiment({
        "name": "t", "scenario": "s.yaml", "set": {"n_employees": 12, "n_customers": 60},
        "steps": 2, "replications": 2, "parameters": {"resources": [0.2, 0.5]},
        "outputs": {"kpis": ["profit"]},
    }, directory=tmp_path)
    run_sweep(experiment, tmp_path / "out", workers=1, quiet=True)
    assert run_cli(["analyze", str(tmp_path / "out"), "--quiet"], capsys)[:3:2] == (0, [])


def test_sim_app_refuses_an_address_it_cannot_listen_on(capsys):
    import socket

    from sim.cli import main

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        for argv, words in ((["app", "--port", "99999"], "--port 99999 is out of range"),
                            (["app", "--port", str(port)], "cannot listen there"),
                            (["app", "--host", "256.1.1.1"], "cannot listen there")):
            assert main(argv) == 2
            err = capsys.readouterr().err.strip().splitlines()
            assert len(err) == 1 and words in err[0], err


@pytest.mark.parametrize("value", ["abc", "-3", "nan", "inf", ""])
def test_a_bad_cache_bound_is_named_before_any_work(value, monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("SIM_CACHE_MB", value)
    monkeypatch.setenv("SIM_CACHE_DIR", str(tmp_path))
    assert main(["run", "baseline", "--steps", "2", "--reps", "1",
                 "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"sim: error: SIM_CACHE_MB={value!r}: allowed a number of megabytes, 0 or "
                   "more (default 2048)"]
    assert not (tmp_path / "out").exists() and not list(tmp_path.iterdir())
