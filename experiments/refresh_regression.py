"""Refresh the exact-match regression record of tests/test_regression.py, on purpose.

Run it after an intentional change of the model's behaviour or defaults, look at the diff of
tests/data/regression.json, and commit both together:

    .venv/bin/python experiments/refresh_regression.py
"""

from __future__ import annotations

import json
from pathlib import Path

from sim import ServiceModel
from sim.metrics import HEADLINE

RECORD = Path(__file__).resolve().parent.parent / "tests" / "data" / "regression.json"
RUN = {"rng": 11, "n_employees": 110, "n_customers": 2000}
STEPS = 26
CHECKED_STEPS = (0, 1, 13, 26)


def record() -> dict[str, dict[str, float]]:
    """Headline KPIs of the regression run at the checked steps."""
    frame = ServiceModel(**RUN).run(STEPS).timeseries()
    return {str(s): {k: float(frame.loc[s, k]) for k in HEADLINE} for s in CHECKED_STEPS}


if __name__ == "__main__":
    RECORD.write_text(json.dumps(record(), indent=1, sort_keys=True) + "\n")
    print(f"wrote {RECORD}")
