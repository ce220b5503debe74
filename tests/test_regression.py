"""Exact-match regression: a small seeded run must reproduce its recorded headline KPIs.

A failure means the model's numbers changed. If that was intended, refresh the record with
``python experiments/refresh_regression.py`` and commit it with the change.
"""

from __future__ import annotations

import json

import pytest

from experiments.refresh_regression import RECORD, record


def test_small_run_matches_the_record():
    expected = json.loads(RECORD.read_text())
    actual = record()
    for step, kpis in expected.items():
        for key, value in kpis.items():
            assert actual[step][key] == pytest.approx(value, rel=1e-9, abs=1e-12), (
                f"step {step} {key}: {actual[step][key]!r} != recorded {value!r}; "
                "refresh with experiments/refresh_regression.py if the change is intended"
            )
