"""Sweeps: validation, seeds, determinism across workers and engines, crash-safety and resume."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import mesa
import numpy as np
import pandas as pd
import pyarrow.dataset as ds
import pytest
import yaml

from sim.cli import build_parser, main
from sim.model import ServiceModel
from sim.sweep import run_sweep
from sim.sweep_design import ExperimentError, load_experiment, parse_experiment
from sim.sweep_pool import batches
from sim.sweep_run import RunTask, execute_run, execute_runs
from sim.sweep_store import load_table

ROOT = Path(__file__).resolve().parent.parent
TINY = {
    "name": "tiny",
    "set": {"n_employees": 30, "n_customers": 200},
    "steps": 8,
    "seed": 11,
    "replications": 2,
    "design": {"method": "grid"},
    "parameters": {"training": [0.0, 0.2], "resources": {"low": 0.3, "high": 0.9, "num": 3}},
    "outputs": {"kpis": ["profit", "engagement_mean", "customer_retention"], "timeseries": True},
}
RANGES = {"training": {"low": 0.0, "high": 0.2}, "resources": {"low": 0.2, "high": 1.0}}


def write(tmp_path: Path, data: dict, name: str = "exp.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture(autouse=True)
def runs_not_cached(monkeypatch, tmp_path_factory) -> None:
    """Each test's sweeps run their models: with the runs of an earlier test in the run cache,
    two sweeps compared here would be one cache compared with itself."""
    monkeypatch.setenv("SIM_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))


def rows(out: Path, table: str = "runs") -> pd.DataFrame:
    """A results table without the timing column (the only non-deterministic one)."""
    return load_table(out, table).drop(columns=["seconds"], errors="ignore")


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """The tiny sweep run uninterrupted on one worker: what every other way must reproduce."""
    out = tmp_path_factory.mktemp("ref")
    run_sweep(parse_experiment(TINY), out, workers=1, quiet=True)
    return out


# --- experiment files -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"colour": 1}, "unknown key 'colour'"),
        ({"parameters": {"trainig": [0.1]}}, "unknown parameter 'trainig'; did you mean training"),
        ({"parameters": {"training": [0.1, 0.9]}},
         "training=0.9 is out of range: allowed 0.0..0.25"),
        ({"parameters": {"training": {"low": 0.2, "high": 0.1, "num": 2}}},
         "low=0.2 must be below"),
        ({"design": {"method": "sobol", "samples": 6}, "parameters": RANGES}, "needs a power of 2"),
        ({"design": {"method": "lhs", "samples": 4}, "parameters": {"training": [0.1]}},
         "needs a range {low: L, high: H}"),
        ({"design": {"method": "factorial"}}, "'factorial' is not one of grid"),
        ({"replications": 0}, "replications=0 is out of range: allowed 1..10000"),
        ({"outputs": {"kpis": ["proft"]}}, "unknown KPI 'proft'; did you mean profit"),
        ({"set": {"training": 0.1}}, "'training' is both varied and fixed"),
        ({"scenario": "no_such_preset"}, "unknown scenario 'no_such_preset'"),
        # NaN and infinities, wherever a number goes
        ({"parameters": {"training": [float("nan"), 0.1]}},
         "parameters.training: expected a finite number, got nan"),
        ({"parameters": {"training": {"low": 0.0, "high": float("inf"), "num": 2}}},
         "parameters.training: expected a finite number, got inf"),
        ({"design": {"method": "lhs", "samples": 4},
          "parameters": {**RANGES, "training": {"low": float("-inf"), "high": 0.1}}},
         "parameters.training: expected a finite number, got -inf"),
        ({"set": {"n_customers": float("nan")}}, "set.n_customers: expected a finite number"),
        ({"steps": float("inf")}, "steps: expected a whole number, got inf"),
        ({"seed": float("nan")}, "seed: expected a whole number, got nan"),
        ({"replications": float("nan")}, "replications: expected a whole number, got nan"),
        ({"parameters": {"training": {"low": 0.0, "high": 0.2, "num": float("inf")}}},
         "parameters.training.num: expected a whole number, got inf"),
        ({"design": {"method": "lhs", "samples": float("nan")}, "parameters": RANGES},
         "design.samples: expected a whole number, got nan"),
        ({"design": {"method": "morris", "samples": 2, "levels": float("inf")},
          "parameters": RANGES}, "design.levels: expected a whole number, got inf"),
        ({"outputs": {"summary_weeks": float("nan")}},
         "outputs.summary_weeks: expected a whole number, got nan"),
        # shapes and designs that used to slip through
        ({"design": []}, "design: expected a mapping with 'method', got []"),
        ({"set": 0}, "set: expected a mapping of parameter: value, got 0"),
        ({"outputs": ["profit"]}, "outputs: expected a mapping, got ['profit']"),
        ({"design": {"method": "grid", "levels": 4}}, "design.levels: only used by a morris"),
        ({"design": {"method": "morris", "samples": 2, "levels": 5}, "parameters": RANGES},
         "design.levels=5: Morris sampling needs an even number of levels (e.g. 6)"),
        ({"design": {"method": "lhs", "samples": 4, "second_order": True}, "parameters": RANGES},
         "design.second_order: only used by a sobol"),
        ({"parameters": {"span_of_control": {"low": 5, "high": 6, "num": 5}}},
         "num=5 repeats values between 5 and 6 (at most 2 whole numbers)"),
        ({"design": {"method": "sobol", "samples": 2**22}, "parameters": RANGES},
         "16777216 design points x 2 replications exceeds 5,000,000 runs"),
        ({"name": "../elsewhere"}, "cannot name a results folder"),
        ({"name": "two\nlines"}, "cannot name a results folder"),
    ],
)
def test_bad_experiment_is_refused_with_one_line(tmp_path, capsys, change, message):
    path = write(tmp_path, {**TINY, **change})
    with pytest.raises(ExperimentError) as err:
        load_experiment(path)
    assert message in str(err.value) and "\n" not in str(err.value)
    assert main(["sweep", str(path), "--out", str(tmp_path / "o"), "--quiet"]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_a_huge_design_is_refused_before_it_is_sampled(tmp_path):
    data = {**TINY, "design": {"method": "sobol", "samples": 2**22, "second_order": True},
            "parameters": {name: {"low": 0.0, "high": 0.2} for name in
                           ("training", "recognition", "empowerment", "micromanagement")}}
    start = time.perf_counter()
    with pytest.raises(ExperimentError, match="exceeds 5,000,000 runs"):
        parse_experiment(data)
    assert time.perf_counter() - start < 1  # 42M points x 4 would take GBs and minutes


def test_a_directory_is_not_an_experiment_file(tmp_path, capsys):
    folder = tmp_path / "exp.yaml"
    folder.mkdir()
    assert main(["sweep", str(folder), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "is a directory, expected an experiment YAML file" in err and err.count("\n") == 1
    assert main(["sweep", str(tmp_path / "missing.yaml"), "--out", str(tmp_path / "o")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_without_scenario_the_default_baseline_is_said_at_the_start(tmp_path, capsys):
    data = {**TINY, "replications": 1, "steps": 2, "parameters": {"training": [0.1]}}
    assert "scenario" not in data
    experiment = parse_experiment(data)
    assert experiment.scenario == "baseline" and experiment.scenario_default
    assert main(["sweep", str(write(tmp_path, data)), "--out", str(tmp_path / "o"),
                 "--workers", "1"]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith("tiny: 1 runs (1 points x 1 replications) of scenario baseline "
                            "(the default: the file names no 'scenario'), 2 weeks each")
    named = parse_experiment({**data, "scenario": "baseline"})
    assert named.scenario == "baseline" and not named.scenario_default
    assert named.digest() == experiment.digest()  # same runs either way
    docs = (ROOT / "docs" / "sweeps.md").read_text()
    assert "without `scenario:` runs the `baseline` preset" in docs


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--workers", "0"], "--workers 0: allowed 1..{cap}"),
        (["--workers", "-1"], "--workers -1: allowed 1..{cap}"),
        (["--workers", str(10**9)], f"--workers {10**9}: allowed 1..{{cap}}"),
        (["--commit-every", "0"], "--commit-every 0: allowed 0.01..3600 seconds"),
        (["--commit-every", "nan"], "--commit-every nan: allowed 0.01..3600 seconds"),
        (["--commit-every", "inf"], "--commit-every inf: allowed 0.01..3600 seconds"),
        (["--connect-timeout", "0"], "--connect-timeout 0: allowed 1..600 seconds"),
        (["--scheduler", "localhost:8786"], "--scheduler localhost:8786: expected e.g. tcp://"),
        (["--scheduler", "tcp://127.0.0.1:notaport"], "(a host and a port)"),
        (["--scheduler", "tcp://127.0.0.1:1", "--workers", "2"],
         "--workers 2: only for local runs"),
    ],
)
def test_bad_flags_are_refused_with_one_line(tmp_path, capsys, flags, message):
    path = write(tmp_path, TINY)
    assert main(["sweep", str(path), "--out", str(tmp_path / "o"), *flags]) == 2
    captured = capsys.readouterr()
    cap = 4 * (os.cpu_count() or 1)
    assert captured.err.startswith("sim: error: ") and captured.err.count("\n") == 1
    assert message.format(cap=cap) in captured.err and captured.out == ""
    assert not (tmp_path / "o").exists()


def test_commit_every_accepts_what_its_message_allows(tmp_path):
    data = {**TINY, "replications": 1, "steps": 2, "parameters": {"training": [0.1]}}
    path = write(tmp_path, data)
    for seconds in ("0.01", "3600"):
        out = tmp_path / f"o{seconds}"
        assert main(["sweep", str(path), "--out", str(out), "--quiet", "--workers", "1",
                     "--commit-every", seconds]) == 0
        assert len(load_table(out)) == 1


@pytest.mark.parametrize("where", ["under_a_file", "a_file", "in_proc", "foreign"])
def test_an_unusable_out_is_refused_before_anything_runs(tmp_path, capsys, where):
    path = write(tmp_path, TINY)
    (tmp_path / "file").write_text("x")
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    out, message = {
        "under_a_file": (tmp_path / "file" / "o", "cannot create directory"),
        "a_file": (tmp_path / "file", "exists and is not a directory"),
        "in_proc": (Path("/proc/sim-sweep-test/o"), "cannot create directory"),
        "foreign": (tmp_path / "busy", "not empty and not a sweep's results (holds notes.txt)"),
    }[where]
    before = sorted(p.name for p in tmp_path.rglob("*"))
    assert main(["sweep", str(path), "--out", str(out), "--workers", "1"]) == 2
    captured = capsys.readouterr()
    assert message in captured.err and captured.err.count("\n") == 1 and captured.out == ""
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def silent_server(answer: bytes | None):
    """A TCP server that accepts and then says ``answer`` (not Dask) or nothing at all."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    held = []

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            held.append(conn)
            if answer is not None:
                conn.sendall(answer)

    threading.Thread(target=serve, daemon=True).start()
    return server


@pytest.mark.parametrize("listener", ["nothing", "silent", "http"])
def test_an_unreachable_scheduler_fails_first_in_one_line_writing_nothing(
    tmp_path, capsys, listener
):
    server = None
    if listener == "nothing":
        port = free_port()
    else:
        server = silent_server(None if listener == "silent" else b"HTTP/1.0 200 OK\r\n\r\nhi")
        port = server.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    out = tmp_path / "o"
    start = time.perf_counter()
    try:
        status = main(["sweep", str(write(tmp_path, TINY)), "--scheduler", address,
                       "--connect-timeout", "2", "--out", str(out)])
    finally:
        if server is not None:
            server.close()
    seconds = time.perf_counter() - start
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1, err
    if listener == "http":
        assert f"--scheduler {address}: something answered, but not a Dask scheduler" in err
        assert seconds < 2
    else:
        assert err == f"sim: error: --scheduler {address}: no Dask scheduler answered within 2 s\n"
        assert 1.9 < seconds < 4
    assert not out.exists()


def test_the_connect_timeout_is_stated_in_help_and_docs(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["sweep", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--connect-timeout SECONDS" in text and "default: 10" in text
    assert "waits at most `--connect-timeout` seconds (default 10)" in " ".join(
        (ROOT / "docs" / "sweeps.md").read_text().split())


def test_malformed_yaml(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text("name: x\nparameters: {training: [0.1,\n")
    assert main(["sweep", str(path), "--quiet"]) == 2
    assert "bad.yaml: malformed YAML at line" in capsys.readouterr().err


def test_design_sizes_and_paired_seeds():
    grid = parse_experiment(TINY)
    assert len(grid.design()) == 6 and len(grid.runs()) == 12
    by_rep: dict[int, set[int]] = {}
    for run in grid.runs():
        by_rep.setdefault(run.replication, set()).add(run.seed)
    assert all(len(seeds) == 1 for seeds in by_rep.values())  # same seed at every point
    assert len({next(iter(s)) for s in by_rep.values()}) == 2  # different replications differ
    unpaired = parse_experiment({**TINY, "design": {"method": "grid", "paired": False}})
    assert len({r.seed for r in unpaired.runs()}) == 12
    assert unpaired.digest() != grid.digest()

    sobol = {"method": "sobol", "samples": 8}
    params = {"training": {"low": 0.0, "high": 0.2}, "resources": {"low": 0.2, "high": 1.0},
              "span_of_control": {"low": 5, "high": 20}}
    exp = parse_experiment({**TINY, "design": sobol, "parameters": params})
    assert len(exp.design()) == 8 * (3 + 2)  # N (D + 2) without second order
    assert all(isinstance(p["span_of_control"], int) for p in exp.design())
    second = parse_experiment({**TINY, "design": {**sobol, "second_order": True},
                               "parameters": params})
    assert len(second.design()) == 8 * (2 * 3 + 2)
    morris = parse_experiment({**TINY, "design": {"method": "morris", "samples": 3},
                               "parameters": params})
    assert len(morris.design()) == 3 * (3 + 1)


def test_a_run_is_the_model_run_with_its_recorded_seed(reference):
    runs = rows(reference)
    manifest = json.loads((reference / "manifest.json").read_text())
    assert [s[3] for s in manifest["seeds"]] == runs["seed"].tolist()
    row = runs.iloc[7]
    model = ServiceModel(
        "baseline", rng=int(row["seed"]), n_employees=30, n_customers=200,
        training=row["training"], resources=row["resources"],
    ).run(8)
    assert model.timeseries()["profit"].iloc[-8:].mean() == row["profit"]


# --- execution ------------------------------------------------------------------------------------
def test_a_run_another_sweep_made_comes_from_the_run_cache_unchanged(reference, tmp_path):
    """The same sweep twice on one (fresh) cache: the second reads all 12 runs from the cache
    and writes the rows and time series of the uncached reference."""
    first = run_sweep(parse_experiment(TINY), tmp_path / "a", workers=1, quiet=True)
    cached = sorted(Path(os.environ["SIM_CACHE_DIR"], "runs").glob("*.pkl"))
    assert len(cached) == first.ran == 12
    run_sweep(parse_experiment(TINY), tmp_path / "b", workers=1, quiet=True)
    assert sorted(Path(os.environ["SIM_CACHE_DIR"], "runs").glob("*.pkl")) == cached
    pd.testing.assert_frame_equal(rows(tmp_path / "b"), rows(reference))
    pd.testing.assert_frame_equal(rows(tmp_path / "b", "timeseries"),
                                  rows(reference, "timeseries"))


def test_a_design_points_runs_stepped_together_equal_its_runs_alone(tmp_path, monkeypatch):
    """A worker steps a design point's replications as one batch: same rows and tables."""
    experiment = parse_experiment({**TINY, "replications": 3,
                                   "outputs": {**TINY["outputs"], "agents": True}})
    design = experiment.design()
    tasks = [RunTask(r, design[r.point], experiment.base, experiment.outputs)
             for r in experiment.runs()]
    grouped = batches(tasks, 2, lambda t: t.spec.point)
    assert [[t.spec.run_id for t in b] for b in grouped[:3]] == [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
    assert [len(b) for b in batches(tasks, 9, lambda t: t.spec.point)] == [1] * 18
    together = execute_runs(tasks[3:6])
    monkeypatch.setenv("SIM_CACHE_DIR", str(tmp_path))  # alone: not read from the cache
    for task, batched in zip(tasks[3:6], together, strict=True):
        alone = execute_run(task)
        assert batched.error is None and batched.summary == alone.summary
        assert set(batched.tables) == set(alone.tables) > {"timeseries"}  # agents' tables too
        for name, table in batched.tables.items():
            pd.testing.assert_frame_equal(table, alone.tables[name], check_exact=True)


def test_two_workers_equal_one_worker_row_for_row(reference, tmp_path):
    run_sweep(parse_experiment(TINY), tmp_path, workers=2, quiet=True, flush_runs=3)
    pd.testing.assert_frame_equal(rows(tmp_path), rows(reference))
    pd.testing.assert_frame_equal(rows(tmp_path, "timeseries"), rows(reference, "timeseries"))
    assert len(rows(reference)) == 12 and (rows(reference)["status"] == "ok").all()
    assert len(rows(reference, "timeseries")) == 12 * 9


def test_results_load_with_pandas_pyarrow_and_duckdb(reference):
    direct = pd.read_parquet(reference / "runs")
    assert len(direct) == 12
    assert ds.dataset(reference / "timeseries", format="parquet").count_rows() == 12 * 9
    glob = str(reference / "runs" / "*.parquet")
    n, mean = duckdb.sql(f"select count(*), avg(profit) from read_parquet('{glob}')").fetchall()[0]
    assert n == 12 and mean == pytest.approx(direct["profit"].mean())


def test_failing_runs_are_recorded_and_the_sweep_goes_on(tmp_path):
    # 90 staff in spans of 3 need 30 units but there are only 20 customers: that run raises.
    data = {**TINY, "set": {"n_customers": 20, "n_employees": 30}, "replications": 1,
            "parameters": {"span_of_control": [3, 11]}}
    data["set"]["n_employees"] = 90
    summary = run_sweep(parse_experiment(data), tmp_path, workers=1, quiet=True)
    runs = rows(tmp_path)
    assert summary.failed == 1 and list(runs["status"]) == ["failed", "ok"]
    assert "n_customers=20 is too small" in runs["error"].iloc[0]
    assert np.isnan(runs["profit"].iloc[0]) and np.isfinite(runs["profit"].iloc[1])


class KillWorker:
    """A run function that SIGKILLs its worker on chosen runs (once, or every time)."""

    def __init__(self, marker_dir: Path, run_ids: set[int], every_time: bool = False) -> None:
        self.marker_dir, self.run_ids, self.every_time = marker_dir, run_ids, every_time

    def __call__(self, tasks: list[RunTask]):
        for task in tasks:
            marker = self.marker_dir / f"killed-{task.spec.run_id}"
            if task.spec.run_id in self.run_ids and (self.every_time or not marker.exists()):
                marker.touch()
                os.kill(os.getpid(), signal.SIGKILL)
        return execute_runs(tasks)


def test_a_killed_worker_is_replaced_and_only_its_runs_redone(reference, tmp_path):
    run_sweep(parse_experiment(TINY), tmp_path / "o", workers=2, quiet=True,
              run_fn=KillWorker(tmp_path, {3, 8}))
    pd.testing.assert_frame_equal(rows(tmp_path / "o"), rows(reference))


def test_a_run_that_always_kills_its_worker_is_recorded_as_failed(reference, tmp_path):
    summary = run_sweep(parse_experiment(TINY), tmp_path / "o", workers=2, quiet=True,
                        run_fn=KillWorker(tmp_path, {5}, every_time=True))
    runs = rows(tmp_path / "o")
    assert summary.failed == 1 and len(runs) == 12
    assert runs.loc[5, "status"] == "failed" and "worker process died" in runs.loc[5, "error"]
    ok = runs.drop(index=5)
    pd.testing.assert_frame_equal(ok, rows(reference).drop(index=5))


KILLABLE = {**TINY, "replications": 4, "steps": 12,
            "parameters": {"training": [0.0, 0.1, 0.2], "resources": [0.3, 0.6, 0.9]}}


@pytest.fixture(scope="module")
def killable_reference(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("killable") / "ref"
    run_sweep(parse_experiment(KILLABLE), out, workers=2, quiet=True)
    return out


@pytest.fixture
def private_tmp() -> Iterator[Path]:
    """A short temporary directory of the sweep's own (the forkserver's socket path, under it,
    must stay below the 108-character limit of AF_UNIX, which a deep pytest path can exceed)."""
    path = Path(tempfile.mkdtemp(prefix="sw-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def start_sweep(tmp_path: Path, out: Path, tmpdir: Path) -> tuple[subprocess.Popen, Path]:
    """``sim sweep`` in its own session and temporary directory, once it has committed a run.

    Its disk cache is off: every run is simulated (none read from the runs the reference
    sweep left in the cache), so the sweep lasts long enough for a kill to land mid-way.
    """
    path = write(tmp_path, KILLABLE)
    command = [sys.executable, "-m", "sim.cli", "sweep", str(path), "--out", str(out),
               "--workers", "2", "--quiet", "--commit-every", "0.05"]
    env = {**os.environ, "TMPDIR": str(tmpdir), "SIM_CACHE_DIR": "off"}
    proc = subprocess.Popen(command, cwd=ROOT, start_new_session=True, env=env,
                            stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not list((out / "runs").glob("part-*.parquet")) and time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read().decode()
        time.sleep(0.02)
    return proc, path


def _stat(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (state, ppid, ..., starttime at 19)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()


def descendants(root: int) -> set[tuple[int, str]]:
    """(pid, start time) of every process below ``root``, from /proc (no psutil needed)."""
    children: dict[int, list[tuple[int, str]]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))) is not None:
            children.setdefault(int(fields[1]), []).append((int(entry.name), fields[19]))
    found, todo = set(), [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child[0])
    return found


def still_running(processes: set[tuple[int, str]]) -> set[tuple[int, str]]:
    """Those of ``processes`` alive now: same pid and start time, and not a zombie."""
    alive = set()
    for pid, start in processes:
        fields = _stat(pid)
        if fields is not None and fields[19] == start and fields[0] != "Z":
            alive.add((pid, start))
    return alive


@pytest.mark.parametrize(
    ("how", "status"),
    [("SIGKILL", -signal.SIGKILL), ("SIGTERM", 128 + signal.SIGTERM), ("ctrl-c", 130)],
)
def test_a_killed_sweep_leaves_no_process_or_temp_folder_and_resumes_exactly(
    tmp_path, private_tmp, killable_reference, how, status
):
    out = tmp_path / "killed"
    proc, path = start_sweep(tmp_path, out, private_tmp)
    family = descendants(proc.pid)
    assert len(family) >= 4  # resource tracker, forkserver and the 2 workers below it
    if how == "ctrl-c":
        os.killpg(proc.pid, signal.SIGINT)  # what the terminal does: the whole process group
    else:
        os.kill(proc.pid, getattr(signal, how))  # the sweep process alone
    assert proc.wait(timeout=10) == status
    deadline = time.monotonic() + 5
    while still_running(family) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not still_running(family), f"orphans after {how}: {still_running(family)}"
    assert not list(private_tmp.glob("pymp-*"))
    stderr = proc.stderr.read().decode()
    if how != "SIGKILL":
        assert "committed runs are kept" in stderr and "--resume" in stderr, stderr
    partial = load_table(out)
    assert 0 < len(partial) < 36, "the kill should land mid-sweep"
    assert (partial["status"] == "ok").all()  # an interruption is never a failed run

    assert main(["sweep", str(path), "--out", str(out), "--resume", "--quiet"]) == 0
    pd.testing.assert_frame_equal(rows(out), rows(killable_reference))
    pd.testing.assert_frame_equal(rows(out, "timeseries"), rows(killable_reference, "timeseries"))


def test_sigkill_of_the_sweep_then_resume_gives_exactly_the_uninterrupted_rows(
    tmp_path, private_tmp, killable_reference
):
    out = tmp_path / "killed"
    proc, path = start_sweep(tmp_path, out, private_tmp)
    os.killpg(proc.pid, signal.SIGKILL)  # the sweep and its workers, mid-run
    proc.wait()
    partial = load_table(out)
    assert 0 < len(partial) < 36, "the kill should land mid-sweep"

    assert main(["sweep", str(path), "--out", str(out), "--resume", "--quiet"]) == 0
    pd.testing.assert_frame_equal(rows(out), rows(killable_reference))
    pd.testing.assert_frame_equal(rows(out, "timeseries"), rows(killable_reference, "timeseries"))
    # The raw parts hold each run once: nothing lost, nothing duplicated.
    raw = pd.read_parquet(out / "runs")
    assert sorted(raw["run_id"]) == list(range(36))
    assert raw.merge(pd.read_parquet(out / "timeseries"), on="run_id").shape[0] == 36 * 13


def forkservers(processes: set[tuple[int, str]]) -> set[tuple[int, str]]:
    """Those of ``processes`` alive now that are multiprocessing forkservers."""
    found = set()
    for pid, start in still_running(processes):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"multiprocessing.forkserver" in command:
            found.add((pid, start))
    return found


SLOW_FORKSERVER = """\
import os
import time
from pathlib import Path

if b"multiprocessing.forkserver" in Path("/proc/self/cmdline").read_bytes():
    Path(os.environ["SLOW_FORKSERVER_MARK"]).touch()
    time.sleep(20)  # a forkserver still loading when its command ends
"""


def sweep_with_a_slow_forkserver(tmp_path: Path, experiment: dict
                                 ) -> tuple[subprocess.Popen, set[tuple[int, str]]]:
    """``sim sweep`` of ``experiment``, once its forkserver has begun to load; the forkserver
    takes 20 s to load (a ``sitecustomize`` that only the forkserver obeys)."""
    slow, mark = tmp_path / "slow", tmp_path / "forkserver-loading"
    slow.mkdir()
    (slow / "sitecustomize.py").write_text(SLOW_FORKSERVER)
    command = [sys.executable, "-m", "sim.cli", "sweep", str(write(tmp_path, experiment)),
               "--out", str(tmp_path / "out")]
    proc = subprocess.Popen(command, cwd=ROOT, start_new_session=True, stderr=subprocess.PIPE,
                            env={**os.environ, "PYTHONPATH": str(slow),
                                 "SLOW_FORKSERVER_MARK": str(mark)})
    deadline = time.monotonic() + 30
    while not mark.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    seen = forkservers(descendants(proc.pid))
    assert mark.exists() and seen, "the forkserver should load while the command reads its input"
    return proc, seen


def test_a_sweep_starts_its_forkserver_first_and_stops_it_even_on_bad_input(tmp_path):
    """``sim sweep`` starts the workers' forkserver before importing the model; when the command
    ends (here on an unknown parameter) it is gone at once, even one still loading the model."""
    bad = {"name": "bad", "scenario": "baseline", "parameters": {"trainingg": [0.1]}}
    proc, forkserver = sweep_with_a_slow_forkserver(tmp_path, bad)
    assert proc.wait(timeout=30) == 2
    assert not still_running(forkserver), "the forkserver outlived its command"
    assert "unknown parameter 'trainingg'" in proc.stderr.read().decode()  # EOF: all gone
    assert not (tmp_path / "out").exists()


def test_ctrl_c_while_the_forkserver_loads_says_one_line_and_leaves_nothing(tmp_path):
    """A Ctrl-C reaches the whole process group: the loading forkserver ignores it (no traceback
    of its own), the command says it was interrupted, and the forkserver is gone with it."""
    proc, forkserver = sweep_with_a_slow_forkserver(tmp_path, TINY)
    os.killpg(proc.pid, signal.SIGINT)  # what the terminal does
    assert proc.wait(timeout=30) != 0
    assert not still_running(forkserver), "the forkserver outlived its command"
    lines = proc.stderr.read().decode().splitlines()  # EOF: every process of the group is gone
    assert len(lines) == 1 and lines[0].startswith("sim: interrupted"), lines


def test_resume_refuses_a_changed_experiment_and_a_busy_directory(reference, tmp_path, capsys):
    out = str(reference)
    changed = write(tmp_path, {**TINY, "steps": 9})
    assert main(["sweep", str(changed), "--out", out, "--resume", "--quiet"]) == 2
    assert "was written by a different experiment" in capsys.readouterr().err
    same = write(tmp_path, TINY, "same.yaml")
    assert main(["sweep", str(same), "--out", out, "--quiet"]) == 2
    assert "add --resume" in capsys.readouterr().err
    assert main(["sweep", str(same), "--out", out, "--resume"]) == 0
    assert "12 already done, 0 run now" in capsys.readouterr().out
    import fcntl

    with open(reference / ".lock", "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        assert main(["sweep", str(same), "--out", out, "--resume", "--quiet"]) == 2
        assert "another sweep is writing here" in capsys.readouterr().err


# --- Dask -----------------------------------------------------------------------------------------
@pytest.fixture
def dask_cluster(tmp_path):
    """A real ``dask scheduler`` and ``dask worker --nthreads 1`` on 127.0.0.1."""
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    dask = [sys.executable, "-m", "dask"]
    common = {"cwd": ROOT, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL,
              "start_new_session": True}
    procs = [subprocess.Popen([*dask, "scheduler", "--host", "127.0.0.1", "--port", str(port),
                               "--no-dashboard"], **common)]
    procs += [subprocess.Popen([*dask, "worker", address, "--nthreads", "1", "--nworkers", "2",
                                "--no-dashboard", "--host", "127.0.0.1",
                                "--local-directory", str(tmp_path)], **common)]
    try:
        from distributed import Client

        with Client(address, timeout="30s") as client:
            client.wait_for_workers(2, timeout=60)
        yield address
    finally:
        for proc in reversed(procs):
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=10)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                os.killpg(proc.pid, signal.SIGKILL)


def test_a_sweep_on_a_dask_cluster_equals_the_local_run(reference, dask_cluster, tmp_path):
    out = tmp_path / "o"  # tmp_path holds the Dask worker's scratch space
    summary = run_sweep(parse_experiment(TINY), out, scheduler=dask_cluster, quiet=True)
    assert summary.ran == 12 and summary.failed == 0
    pd.testing.assert_frame_equal(rows(out), rows(reference))
    pd.testing.assert_frame_equal(rows(out, "timeseries"), rows(reference, "timeseries"))


# --- Mesa interop ---------------------------------------------------------------------------------
def test_mesa_batch_run_with_seeds():
    results = mesa.batch_run(
        ServiceModel,
        {"resources": [0.3, 0.9], "n_employees": 30, "n_customers": 200},
        rng=[1, 2],
        max_steps=4,
        number_processes=1,
        display_progress=False,
    )
    frame = pd.DataFrame(results)
    assert len(frame) == 4 and set(frame["resources"]) == {0.3, 0.9}
    assert frame["Step"].eq(4).all() and frame["profit"].notna().all()


def _double_each(batch: list[int]) -> list[int]:
    return [2 * task for task in batch]


def test_a_batch_is_not_lost_when_the_pool_is_found_broken_as_it_is_submitted(monkeypatch):
    """A pool can break between a wait and the next submit: the batch must stay queued."""
    from concurrent.futures.process import BrokenProcessPool

    from sim import sweep_pool

    submit = sweep_pool.ProcessPoolExecutor.submit
    calls = {"n": 0}

    def breaks_once(self, fn, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:  # the pool "breaks" just as the third batch is handed over
            raise BrokenProcessPool("a worker died")
        return submit(self, fn, *args, **kwargs)

    monkeypatch.setattr(sweep_pool.ProcessPoolExecutor, "submit", breaks_once)
    done: list[int] = []
    sweep_pool.run_local([[1], [2], [3], [4], [5]], 1, _double_each, done.append, 0.05,
                         run_id=lambda task: task, failed=lambda task, why: -task)
    assert sorted(done) == [2, 4, 6, 8, 10]  # every batch ran once; none lost, none failed
