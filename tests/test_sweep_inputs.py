"""Property tests of ``sim sweep``'s input handling: any experiment file and flags either run to
completion (exit 0) or are refused with one line on stderr, exit status 2, and nothing written.

Experiment files are generated around a tiny valid one (30 staff, 200 customers, 1-3 weeks, a
few points), with keys dropped, unknown keys added, values replaced by junk of every type, NaN and
infinities, bad designs and bad ranges; flags and ``--out`` vary too. Everything runs in-process
through ``sim.cli.main``.
"""

from __future__ import annotations

import contextlib
import io
import json
import tempfile
from pathlib import Path

import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from sim.cli import main
from sim.sweep_store import load_table

NAN, INF = float("nan"), float("inf")
# Junk of every YAML type; its numbers are never a usable count (so nothing big ever runs).
JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.sampled_from([0, -1, 10**20, 2**63, -(2**70)]),
    st.sampled_from([NAN, INF, -INF, 0.5, -0.0, 1e308]),
    st.text(max_size=6),
    st.lists(st.integers(0, 3), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(0, 3), max_size=2),
)
BAD_NUMBER = st.sampled_from([NAN, INF, -INF, -1.0, 1e9, 10**30])
VALUES = {  # valid grid values per parameter
    "training": [0.0, 0.1, 0.2],
    "resources": [0.3, 0.9],
    "span_of_control": [5, 8, 12],
    "empowerment": [0.2, 0.8],
}


@st.composite
def valid_experiments(draw) -> dict:
    """A tiny experiment that runs: 30 staff, 200 customers, 1-3 weeks, at most 12 runs."""
    method = draw(st.sampled_from(["grid", "lhs", "sobol", "morris"]))
    count = 1 if method == "grid" and draw(st.booleans()) else 2
    names = draw(st.lists(st.sampled_from(list(VALUES)), min_size=count, max_size=count,
                          unique=True))
    parameters: dict = {}
    for name in names:
        good = VALUES[name]
        if method != "grid":
            parameters[name] = {"low": good[0], "high": good[-1]}
        elif draw(st.booleans()):
            parameters[name] = draw(st.lists(st.sampled_from(good), min_size=1, max_size=2,
                                             unique=True))
        else:
            parameters[name] = {"low": good[0], "high": good[-1], "num": 2}
    design: dict = {"method": method}
    if method != "grid":
        design["samples"] = 1 if method != "lhs" else draw(st.integers(1, 3))
    if method == "morris":
        design["levels"] = draw(st.sampled_from([2, 4]))  # odd levels are refused
    if method == "sobol":
        design["second_order"] = draw(st.booleans())
    if draw(st.booleans()):
        design["paired"] = draw(st.booleans())
    data = {
        "name": "h",
        "set": {"n_employees": 30, "n_customers": 200},
        "steps": draw(st.integers(1, 3)),
        "seed": draw(st.integers(0, 2**32 - 1)),
        "replications": draw(st.integers(1, 2)),
        "design": design,
        "parameters": parameters,
        "outputs": {"kpis": draw(st.lists(
            st.sampled_from(["profit", "engagement_mean", "customer_retention"]),
            min_size=1, max_size=2, unique=True))},
    }
    if draw(st.booleans()):
        data["scenario"] = "baseline"
    return data


def _in(data: dict, *keys: str) -> dict:
    """The mapping at ``data[keys...]``, made a mapping if a fault replaced it."""
    for key in keys:
        if not isinstance(data.get(key), dict):
            data[key] = {}
        data = data[key]
    return data


@st.composite
def faulty(draw, data: dict, flags: dict, where: str) -> tuple:
    """One fault in the experiment file, the flags or --out."""
    kind = draw(st.sampled_from([
        "top", "design", "parameter", "range", "unknown", "drop", "set", "outputs", "scenario",
        "name", "file", "flag", "out",
    ]))
    if kind == "top":
        data[draw(st.sampled_from(["steps", "seed", "replications", "set", "design",
                                   "parameters", "outputs", "description"]))] = draw(JUNK)
    elif kind == "design":
        key = draw(st.sampled_from(["method", "samples", "levels", "second_order", "paired"]))
        _in(data, "design")[key] = draw(st.one_of(JUNK, st.sampled_from(["factorial", 6, 4])))
    elif kind == "parameter":
        name = draw(st.sampled_from([*VALUES, "trainig", "n_customers", "steps"]))
        _in(data, "parameters")[name] = draw(st.one_of(
            JUNK, BAD_NUMBER.map(lambda v: [v]), st.just([]), st.just([0.1, 0.1])))
    elif kind == "range":
        name = draw(st.sampled_from(list(VALUES)))
        good = VALUES[name]
        bounds = {"low": good[0], "high": good[-1], "num": 2}
        bounds[draw(st.sampled_from(["low", "high", "num"]))] = draw(st.one_of(BAD_NUMBER, JUNK))
        if draw(st.booleans()):
            bounds["low"], bounds["high"] = bounds["high"], bounds["low"]
        if draw(st.booleans()):
            bounds.pop(draw(st.sampled_from(["low", "high", "num"])))
        _in(data, "parameters")[name] = bounds
    elif kind == "unknown":
        where_ = draw(st.sampled_from([(), ("design",), ("outputs",)]))
        _in(data, *where_)[draw(st.sampled_from(["colour", "Samples", "kpi", 3]))] = 1
    elif kind == "drop":
        data.pop(draw(st.sampled_from(["parameters", "design", "outputs", "steps", "set"])), None)
        data["set"] = {"n_employees": 30, "n_customers": 200}  # never a default-size run
    elif kind == "set":
        _in(data, "set")[draw(st.sampled_from(["n_customers", "training", "nosuch"]))] = draw(
            st.one_of(BAD_NUMBER, JUNK))
    elif kind == "outputs":
        key = draw(st.sampled_from(["kpis", "summary_weeks", "timeseries", "units", "agents"]))
        _in(data, "outputs")[key] = draw(st.one_of(JUNK, st.just(["proft"]), st.just(99)))
    elif kind == "scenario":
        data["scenario"] = draw(st.one_of(JUNK, st.sampled_from(
            ["no_such", "gone.yaml", "training_cut_and_restore", "..", "/"])))
    elif kind == "name":
        data["name"] = draw(st.sampled_from(["a/b", "", "..", ".", 7, "two\nlines", "x" * 300]))
    elif kind == "file":
        data = draw(JUNK)
    elif kind == "flag":
        flag, value = draw(st.sampled_from([
            ("--workers", "0"), ("--workers", "-1"), ("--workers", "99999"),
            ("--commit-every", "0"), ("--commit-every", "nan"), ("--commit-every", "inf"),
            ("--commit-every", "-1"), ("--commit-every", "5000"), ("--connect-timeout", "0"),
            ("--connect-timeout", "nan"), ("--scheduler", "bogus"), ("--scheduler", "tcp://"),
            ("--scheduler", "tcp://127.0.0.1:0"), ("--scheduler", "tcp://127.0.0.1:notaport"),
        ]))
        flags[flag] = value
    else:
        where = draw(st.sampled_from(
            ["under_file/o", "file", "foreign", "/proc/sim-sweep-h/o", "/proc"]))
    return data, flags, where


@st.composite
def cases(draw) -> tuple:
    """An experiment file, flags and --out: valid, or with one to three faults."""
    data = draw(valid_experiments())
    flags = {
        "--workers": draw(st.sampled_from([None, "1", "2"])),
        "--commit-every": draw(st.sampled_from([None, "0.01", "3600"])),
        "--resume": draw(st.booleans()),
        "--quiet": draw(st.booleans()),
    }
    where = draw(st.sampled_from(["new", "nested/new", "empty"]))
    for _ in range(draw(st.sampled_from([0, 1, 1, 2, 3]))):
        if not isinstance(data, dict):  # the whole file is junk already
            break
        data, flags, where = draw(faulty(data, flags, where))
    return data, flags, where


def snapshot(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_size if p.is_file() else -1
            for p in sorted(root.rglob("*"))}


@settings(max_examples=80, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(case=cases())
def test_any_experiment_and_flags_run_or_are_refused_in_one_line(case):
    data, flags, where = case
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        path = root / "exp.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
        (root / "under_file").write_text("x")
        (root / "file").write_text("x")
        (root / "empty").mkdir()
        (root / "foreign").mkdir()
        (root / "foreign" / "notes.txt").write_text("mine")
        out = Path(where) if where.startswith("/") else root / where
        argv = ["sweep", str(path), "--out", str(out)]
        for flag, value in flags.items():
            if value is True:
                argv.append(flag)
            elif value not in (None, False):
                argv += [flag, value]
        before = snapshot(root)
        existed = out.exists()
        stdout, stderr = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            status = main(argv)
        err = stderr.getvalue()
        assert status in (0, 2), (argv, data, err)
        event(f"exit {status}")
        if status == 2:
            text = err.removeprefix("sim: error: ").replace("exp.yaml: ", "").replace(tmp, "")
            event(" ".join(text.split()[:2]))  # which refusals were seen (--hypothesis-show-...)
            assert err.startswith("sim: error: ") and err.count("\n") == 1, err
            assert stdout.getvalue() == "", stdout.getvalue()
            assert snapshot(root) == before, "a refused sweep wrote something"
            assert out.exists() == existed
            return
        manifest = json.loads((out / "manifest.json").read_text())
        runs = load_table(out)
        assert len(runs) == manifest["points"] * manifest["replications"] == len(manifest["seeds"])
        assert set(runs["status"]) <= {"ok", "failed"}
        assert list(runs.columns[-len(manifest["outputs"]) - 1 : -1]) == manifest["outputs"]
        if "--quiet" not in argv:  # the start line names the scenario, and says a default is one
            default = "" if "scenario" in data else " (the default: the file names no 'scenario')"
            assert f"of scenario baseline{default}, " in stdout.getvalue().splitlines()[0]
