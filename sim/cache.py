"""Caches of work that repeats: settled starts, organisation fits and finished runs.

Each entry is keyed by everything its result depends on, including a hash of the model's source,
so an entry made by other code is never used. Entries live in ``SIM_CACHE_DIR`` (default
``~/.cache/service-profit-sim``; ``SIM_CACHE_DIR=off`` turns the disk cache off), one folder per
kind, written atomically (a reader never sees half an entry), and bounded in size
(``SIM_CACHE_MB``, default 2 GB, give or take 1% per process writing; the least recently written
entries go first). A cache that
cannot be written is simply not used; an entry that cannot be read is rebuilt. A cached result
gives the same bits as a fresh one.
"""

from __future__ import annotations

import hashlib
import math
import os
import tempfile
import time
from functools import cache
from pathlib import Path
from typing import Any

from sim.params import ParameterError

KINDS = ("starts", "fits", "runs")
DEFAULT_LIMIT_MB = 2048  # the whole disk cache; SIM_CACHE_MB sets another bound
# A process measures a folder after its first write there, then whenever it has written this
# share of the folder's bound since: measuring lists the whole folder, and a sweep writes an
# entry per run (once per write, a 1,000-run sweep listed 500,000 entries). A folder may so
# exceed its bound by this share for each process writing to it.
MEASURE_AFTER_SHARE = 0.01

_written_since_measured: dict[Path, int] = {}


@cache
def code_fingerprint() -> str:
    """Hash of the model's source files."""
    package = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted(package.glob("*.py")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def key(*parts: Any) -> str:
    """A cache key of ``parts`` (their ``repr``) and the code."""
    return hashlib.sha256(repr((code_fingerprint(), parts)).encode()).hexdigest()[:32]


def folder(kind: str) -> Path | None:
    """The folder of one kind of entry, or None when the disk cache is off."""
    value = os.environ.get("SIM_CACHE_DIR", "")
    if value.lower() == "off":
        return None
    root = Path(value) if value else Path.home() / ".cache" / "service-profit-sim"
    return root / kind


def read(kind: str, name: str) -> bytes | None:
    """The stored entry ``name`` of ``kind``, if there is one."""
    where = folder(kind)
    if where is None:
        return None
    try:
        return (where / name).read_bytes()
    except OSError:
        return None


def write(kind: str, name: str, blob: bytes) -> None:
    """Store an entry atomically; failures leave the cache as it was."""
    where = folder(kind)
    if where is None:
        return
    tmp = None
    try:
        where.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=where, delete=False, suffix=".tmp") as handle:
            tmp = Path(handle.name)
            handle.write(blob)
        os.replace(tmp, where / name)
        _prune_now_and_then(where, len(blob))
    except OSError:
        if tmp is not None:
            tmp.unlink(missing_ok=True)


def limit_mb() -> float:
    """The whole disk cache's bound in MB: ``SIM_CACHE_MB``, a number of 0 or more."""
    raw = os.environ.get("SIM_CACHE_MB")
    if raw is None:
        return DEFAULT_LIMIT_MB
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value >= 0):
        raise ParameterError(f"SIM_CACHE_MB={raw!r}: allowed a number of megabytes, 0 or more "
                             f"(default {DEFAULT_LIMIT_MB})")
    return value


def _limit() -> float:
    """A folder's bound in bytes: its share of ``SIM_CACHE_MB``."""
    return limit_mb() * 2**20 / len(KINDS)


def _prune_now_and_then(where: Path, written: int) -> None:
    """:func:`prune` after this process's first write to ``where``, then now and then."""
    since = _written_since_measured.get(where)
    if since is not None and since + written < MEASURE_AFTER_SHARE * _limit():
        _written_since_measured[where] = since + written
        return
    _written_since_measured[where] = 0
    prune(where)


def prune(where: Path) -> None:
    """Keep a folder under its share of ``SIM_CACHE_MB``: drop the least recently written.

    Also drops temporary files left by a process killed while writing (older than an hour).
    """
    limit = _limit()
    now = time.time()
    entries = []
    for path in where.iterdir():
        try:
            stat = path.stat()
        except OSError:
            continue
        if path.suffix == ".tmp":
            if now - stat.st_mtime > 3600:
                path.unlink(missing_ok=True)
            continue
        entries.append((stat.st_mtime, stat.st_size, path))
    total = sum(size for _, size, _ in entries)
    for _, size, path in sorted(entries):
        if total <= limit:
            break
        path.unlink(missing_ok=True)
        total -= size
