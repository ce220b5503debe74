"""sim validate: every evidence target measured with a CI against its stated tolerance."""

from __future__ import annotations

import re

import numpy as np

from sim import cli
from sim.validate import MEASURES, TARGETS, validate
from tests.conftest import SMALL


def test_every_target_has_one_measure_and_a_band():
    ids = [t.id for t in TARGETS]
    assert len(set(ids)) == len(ids) and set(ids) == set(MEASURES)
    assert {re.match(r"T\d+", i).group() for i in ids} == {f"T{k}" for k in range(1, 18)}
    assert all(t.low <= t.high for t in TARGETS)


def test_the_table_reports_value_interval_and_verdict():
    table = validate(reps=2, overrides=SMALL)
    assert list(table["id"]) == [t.id for t in TARGETS]
    assert set(table["result"]) <= {"PASS", "FAIL", "NOT MODELLED"}
    measured = table[table["result"] != "NOT MODELLED"]
    assert np.isfinite(measured["measured"]).all()
    inside = (measured["ci_low"] <= measured["measured"]) & (measured["measured"]
                                                             <= measured["ci_high"])
    assert inside.all()
    # a verdict is exactly "measured inside the band"
    for target, row in zip(TARGETS, table.itertuples(), strict=True):
        if row.result != "NOT MODELLED":
            assert (row.result == "PASS") == (target.low <= row.measured <= target.high)


def test_the_command_prints_the_last_line_and_exits_by_it(tmp_path, capsys):
    status = cli.main(["validate", "--reps", "2", "--out", str(tmp_path)])
    lines = capsys.readouterr().out.strip().splitlines()
    match = re.fullmatch(r"validation: (\d+)/(\d+) targets within tolerance", lines[-1])
    assert match, lines[-1]
    passed, total = map(int, match.groups())
    assert total == len(TARGETS)
    assert status == (0 if passed == total else 1)
    assert (tmp_path / "validation.csv").exists() and (tmp_path / "validation.md").exists()


def test_bad_reps_are_refused_in_one_line(tmp_path, capsys):
    assert cli.main(["validate", "--reps", "1", "--out", str(tmp_path / "v")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--reps" in err[0]
    assert not (tmp_path / "v").exists()
