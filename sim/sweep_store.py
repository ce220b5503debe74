"""Where a sweep's results live: crash-safe Parquet parts, the manifest, the directory lock.

Layout of the output directory::

    OUT/manifest.json        experiment hash, code version, root seed, every run's seed
    OUT/experiment.yaml      the resolved experiment (for people; the hash is in the manifest)
    OUT/design.parquet       one row per design point
    OUT/runs/part-*.parquet  one row per finished run: ids, seed, parameters, status, error, KPIs
    OUT/timeseries/, units/, employees/, customers/   optional, same part names as runs/

Results are committed as small complete Parquet files written under a temporary name and moved
into place with ``os.replace``, so a SIGKILL at any moment leaves only whole files; the ``runs``
part is written last and is the commit record, so on resume the optional tables' orphans (written
before a crash, with no ``runs`` part) are deleted and those runs redone. A lock file (``flock``,
released by the kernel when the process dies) stops two sweeps writing one directory. Readers
dedupe by ``run_id`` all the same.
"""

from __future__ import annotations

import fcntl
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from sim.params import ParameterError
from sim.runner import atomic_write
from sim.sweep_design import Experiment, ExperimentError, RunSpec, plain
from sim.sweep_run import RunOutcome

EXTRA_TABLES = ("timeseries", "units", "employees", "customers")
# What a results directory may hold besides dot-files (the lock, temporary files).
OWN_ENTRIES = frozenset(
    {"manifest.json", "experiment.yaml", "design.parquet", "runs", "analysis", *EXTRA_TABLES}
)


def _atomic_parquet(table: pa.Table, path: Path) -> None:
    atomic_write(path, lambda tmp: pq.write_table(table, tmp))


def _atomic_text(text: str, path: Path) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(text))


class ResultWriter:
    """Buffers finished runs and commits them as small complete Parquet parts."""

    def __init__(
        self, out: Path, experiment: Experiment, flush_seconds: float = 2.0, flush_runs: int = 64
    ) -> None:
        self.out = out
        self.experiment = experiment
        self.flush_seconds = flush_seconds
        self.flush_runs = flush_runs
        self.buffer: list[RunOutcome] = []
        self.last_flush = time.monotonic()
        self.schema = runs_schema(experiment)
        self.failed = 0
        self.errors: list[str] = []
        self.committed = 0

    def add(self, outcome: RunOutcome) -> None:
        """Queue a finished run for the next commit."""
        self.buffer.append(outcome)
        if outcome.error is not None:
            self.failed += 1
            if len(self.errors) < 5:
                self.errors.append(f"run {outcome.spec.run_id}: {outcome.error}")

    def maybe_flush(self) -> None:
        """Commit when enough runs or enough time has gone by."""
        if len(self.buffer) >= self.flush_runs or (
            self.buffer and time.monotonic() - self.last_flush >= self.flush_seconds
        ):
            self.flush()

    def flush(self) -> None:
        """Write optional tables first, then the runs part that commits them."""
        self.last_flush = time.monotonic()
        if not self.buffer:
            return
        batch = sorted(self.buffer, key=lambda o: o.spec.run_id)
        token = f"{batch[0].spec.run_id:08d}-{uuid.uuid4().hex[:8]}"
        for name in EXTRA_TABLES:
            frames = [_label(o.tables[name], o.spec) for o in batch if name in o.tables]
            if frames:
                frame = pd.concat(frames, ignore_index=True)
                table = pa.Table.from_pandas(frame, preserve_index=False)
                _atomic_parquet(table, self.out / name / f"part-{token}.parquet")
        rows = [_run_row(o, self.experiment) for o in batch]
        table = pa.Table.from_pylist(rows, schema=self.schema)
        _atomic_parquet(table, self.out / "runs" / f"part-{token}.parquet")
        self.committed += len(batch)
        self.buffer.clear()


def _label(frame: pd.DataFrame, spec: RunSpec) -> pd.DataFrame:
    frame = frame.drop(columns=["replication"], errors="ignore")
    frame.insert(0, "seed", np.int64(spec.seed))
    frame.insert(0, "replication", np.int64(spec.replication))
    frame.insert(0, "point", np.int64(spec.point))
    frame.insert(0, "run_id", np.int64(spec.run_id))
    return frame


def runs_schema(experiment: Experiment) -> pa.Schema:
    """Fixed schema of the runs table (identical for every part, failed runs included)."""
    from sim.params import SPECS

    fields = [pa.field(n, pa.int64()) for n in ("run_id", "point", "replication", "seed")]
    fields += [
        pa.field(n, pa.int64() if SPECS[n].kind is int else pa.float64()) for n in experiment.names
    ]
    fields += [pa.field("status", pa.string()), pa.field("error", pa.string())]
    fields += [pa.field(k, pa.float64()) for k in experiment.outputs.kpis]
    fields += [pa.field("seconds", pa.float64())]
    return pa.schema(fields)


def _run_row(outcome: RunOutcome, experiment: Experiment) -> dict[str, Any]:
    spec = outcome.spec
    row: dict[str, Any] = {
        "run_id": spec.run_id,
        "point": spec.point,
        "replication": spec.replication,
        "seed": spec.seed,
    }
    row.update(outcome.values)
    row["status"] = "ok" if outcome.error is None else "failed"
    row["error"] = outcome.error
    for kpi in experiment.outputs.kpis:
        row[kpi] = outcome.summary.get(kpi)
    row["seconds"] = outcome.seconds
    return row


def _parts(out: Path, name: str) -> list[Path]:
    return sorted((out / name).glob("part-*.parquet"))


def load_table(out: str | os.PathLike[str], name: str = "runs") -> pd.DataFrame:
    """Read a results table (``runs``, ``timeseries``, ...), deduplicated by run id, sorted."""
    parts = _parts(Path(out), name)
    if not parts:
        return pd.DataFrame()
    frame = pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)
    if name == "runs":
        frame = frame.drop_duplicates("run_id", keep="last")
        return frame.sort_values("run_id", ignore_index=True)
    sort = [c for c in ("run_id", "step", "unit", "slot") if c in frame.columns]
    return frame.drop_duplicates(sort, keep="last").sort_values(sort, ignore_index=True)


def completed_run_ids(out: Path) -> set[int]:
    """Run ids already committed (failed runs included: they are deterministic too)."""
    done: set[int] = set()
    for part in _parts(out, "runs"):
        done.update(pq.read_table(part, columns=["run_id"]).column(0).to_pylist())
    return done


INFLIGHT = ".inflight"  # results the workers handed over and the sweep has not yet taken


def clean_orphans(out: Path) -> None:
    """Drop temporary files and optional-table parts whose runs part was never committed."""
    shutil.rmtree(out / INFLIGHT, ignore_errors=True)
    committed = {p.name for p in _parts(out, "runs")}
    for name in ("runs", *EXTRA_TABLES):
        directory = out / name
        if not directory.is_dir():
            continue
        for tmp in directory.glob(".*.tmp"):
            tmp.unlink(missing_ok=True)
        if name != "runs":
            for part in _parts(out, name):
                if part.name not in committed:
                    part.unlink(missing_ok=True)


def code_version() -> str:
    """``git describe`` of the package's checkout if there is one, else the installed version."""
    here = Path(__file__).resolve().parent
    try:
        result = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--tags"],
            cwd=here,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
        return f"git:{result.stdout.strip()}"
    except (OSError, subprocess.SubprocessError):
        try:
            return f"package:{importlib.metadata.version('service-profit-sim')}"
        except importlib.metadata.PackageNotFoundError:
            return "unknown"


class DirectoryLock:
    """An exclusive ``flock`` on ``OUT/.lock``; the kernel releases it if the process dies.

    So two commands never write one results directory: the second is refused with one line
    naming ``what`` holds it (the holder's pid and host are in the lock file).
    """

    def __init__(
        self, out: Path, what: str = "sweep", error: type[ParameterError] = ExperimentError
    ) -> None:
        self.path = out / ".lock"
        self.what = what
        self.error = error
        self.handle: Any = None

    def __enter__(self) -> DirectoryLock:
        self.handle = open(self.path, "a+")  # noqa: SIM115 - held for the command's lifetime
        try:
            fcntl.flock(self.handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.handle.seek(0)
            holder = self.handle.read().strip() or "another process"
            self.handle.close()
            raise self.error(
                f"{self.path.parent}: another {self.what} is writing here ({holder}); "
                "wait for it or use another --out"
            ) from None
        self.handle.seek(0)
        self.handle.truncate()
        self.handle.write(f"pid {os.getpid()} on {os.uname().nodename}\n")
        self.handle.flush()
        return self

    def __exit__(self, *exc: object) -> None:
        fcntl.flock(self.handle, fcntl.LOCK_UN)
        self.handle.close()




def prepare(experiment: Experiment, out: Path, resume: bool) -> dict[str, Any]:
    """Check the directory against the experiment and write the manifest; returns it."""
    digest = experiment.digest()
    manifest_path = out / "manifest.json"
    if manifest_path.exists():
        old = json.loads(manifest_path.read_text())
        if not resume:
            raise ExperimentError(
                f"{out} already holds results of experiment {old.get('name')!r}: "
                "add --resume to continue it, or choose another --out"
            )
        if old.get("experiment_hash") != digest:
            raise ExperimentError(
                f"{out} was written by a different experiment (hash "
                f"{old.get('experiment_hash', '?')[:12]}, this file {digest[:12]}): "
                "resume with the original file or use another --out"
            )
    elif _parts(out, "runs"):
        raise ExperimentError(f"{out}: results without a manifest.json; use another --out")

    design = experiment.design()
    runs = experiment.runs(len(design))
    version = code_version()
    manifest = {
        "name": experiment.name,
        "experiment_hash": digest,
        "code_version": version,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "method": experiment.method,
        "parameters": experiment.names,
        "outputs": list(experiment.outputs.kpis),
        "points": len(design),
        "replications": experiment.replications,
        "root_seed": experiment.seed,
        "paired_seeds": experiment.paired,
        "seed_rule": "np.random.SeedSequence(root_seed, spawn_key=(0 if paired else point, "
        "replication)).generate_state(1, uint32)[0]",
        "run_id_rule": "point * replications + replication",
        "seeds": [[r.run_id, r.point, r.replication, r.seed] for r in runs],
    }
    if manifest_path.exists():
        old = json.loads(manifest_path.read_text())
        manifest["created"] = old.get("created", manifest["created"])
        versions = old.get("code_versions", [old.get("code_version")])
        if version not in versions:
            print(
                f"sim sweep: warning: resuming results of code {versions[-1]} with {version}",
                file=sys.stderr,
            )
            versions.append(version)
        manifest["code_versions"] = versions
    else:
        manifest["code_versions"] = [version]
    for name in ("runs", *EXTRA_TABLES):
        (out / name).mkdir(exist_ok=True)
    _atomic_text(json.dumps(manifest, indent=1) + "\n", manifest_path)
    _atomic_text(yaml.safe_dump(experiment.to_dict(), sort_keys=False), out / "experiment.yaml")
    design_frame = pd.DataFrame(design)
    design_frame.insert(0, "point", np.arange(len(design), dtype=np.int64))
    design_table = pa.Table.from_pandas(design_frame, preserve_index=False)
    _atomic_parquet(design_table, out / "design.parquet")
    manifest["_design"] = design
    manifest["_runs"] = runs
    return manifest


def check_out(out: Path) -> None:
    """Refuse an existing directory that holds other things than a sweep's results."""
    if (out / "manifest.json").exists():
        return  # a sweep's results: prepare() decides (resume, or refuse)
    foreign = sorted(
        p.name for p in out.iterdir() if p.name not in OWN_ENTRIES and not p.name.startswith(".")
    )
    if foreign:
        raise ExperimentError(
            f"--out {out}: not empty and not a sweep's results (holds {plain(foreign[0], 40)}"
            f"{f' and {len(foreign) - 1} more' if len(foreign) > 1 else ''}); "
            "use a new or empty directory"
        )
