"""The calibration experiment still runs end to end (tiny budget and runs) and writes its files."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def _load():
    spec = importlib.util.spec_from_file_location(
        "calibrate", ROOT / "experiments" / "calibration" / "calibrate.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["calibrate"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def test_tiny_calibration_writes_table_values_and_figures(tmp_path: Path) -> None:
    calibrate = _load()
    status = calibrate.main(["--budget", "3", "--reps", "2", "--final-reps", "2", "--workers", "1",
                             "--n-employees", "44", "--n-customers", "400",
                             "--out", str(tmp_path)])
    assert status == 0
    for name in ("calibrated.yaml", "targets.csv", "targets.md", "trials.csv", "targets.png",
                 "search_history.png", "identifiability.csv"):
        assert (tmp_path / name).stat().st_size > 0, name
    record = yaml.safe_load((tmp_path / "calibrated.yaml").read_text())
    assert set(record["calibrated"]) == set(calibrate.SEARCH)
    for name, value in record["calibrated"].items():
        low, high = calibrate.SEARCH[name]
        assert low <= value <= high
    table = (tmp_path / "targets.md").read_text()
    assert all(f"| {t.id} |" in table for t in calibrate.TARGETS)


def test_loss_is_zero_inside_every_band_and_grows_outside() -> None:
    import pandas as pd

    calibrate = _load()
    table = pd.DataFrame([{"id": t.id, "low": t.low, "high": t.high,
                           "measured": (t.low + t.high) / 2} for t in calibrate.TARGETS])
    assert calibrate.loss(table) == 0.0
    first = next(t for t in calibrate.TARGETS if t.id in calibrate.CALIBRATED)
    table.loc[table["id"] == first.id, "measured"] = first.high + (first.high - first.low)
    assert calibrate.loss(table) == pytest.approx(1.0)
    table.loc[table["id"] == "T13", "measured"] = 99.0  # not calibrated: no effect
    assert calibrate.loss(table) == pytest.approx(1.0)


def test_apply_defaults_edits_only_default_and_source(tmp_path: Path) -> None:
    from sim.params import SPECS

    calibrate = _load()
    copy = tmp_path / "params_copy.py"
    shutil.copy(ROOT / "sim" / "params.py", copy)
    changes = {"quit_base": 0.0123, "manager_spread": 0.21}
    for _ in range(2):  # applying twice keeps one prior, not a chain
        calibrate.apply_defaults(changes, "calibrated (test)", path=copy)
    spec = importlib.util.spec_from_file_location("params_copy", copy)
    edited = importlib.util.module_from_spec(spec)
    sys.modules["params_copy"] = edited
    spec.loader.exec_module(edited)
    for name, old in SPECS.items():
        new = edited.SPECS[name]
        if name in changes:
            assert new.default == changes[name]
            prior = old.source.split("; prior: ")[-1]
            assert new.source == f"calibrated (test); prior: {prior}"
            assert (new.low, new.high, new.unit, new.meaning, new.structural) == (
                old.low, old.high, old.unit, old.meaning, old.structural)
        else:
            assert vars(new) == vars(old)
    assert max(len(line) for line in copy.read_text().splitlines()) <= 100
