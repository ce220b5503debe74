"""Caches of work that repeats: settled starts, organisation fits and finished runs.

Each entry is keyed by everything its result depends on, including a hash of the model's source,
so an entry made by other code is never used. Entries live in ``SIM_CACHE_DIR`` (default
``~/.cache/service-profit-sim``; ``SIM_CACHE_DIR=off`` turns the disk cache off), one folder per
kind, written atomically (a reader never sees half an entry). A cache that cannot be written is
simply not used; an entry that cannot be read is rebuilt. A cached result gives the same bits as
a fresh one.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from functools import cache
from pathlib import Path
from typing import Any


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
    except OSError:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
