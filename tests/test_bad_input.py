"""Bad input on the command line: one line on stderr, exit status 2, no traceback, nothing written.

Example-based tests pin each fault found by hand (issue 9); property-based tests (hypothesis)
throw random mixes of valid and invalid scenario files and argument lists at ``sim.cli.main``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sim.params import ParameterError
from sim.runner import prepare_output_dir


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
