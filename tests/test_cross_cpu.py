"""Results must not depend on the CPU: NumPy's AVX-512 kernels and its AVX2/baseline kernels.

NumPy chooses SIMD code at import time; ``NPY_DISABLE_CPU_FEATURES`` switches the AVX-512
kernels off. The same runs in a child process with them off must give bit-identical numbers.
On a CPU without AVX-512 both processes take the same path and the test passes trivially;
`.ci/run` also re-runs the regression and determinism tests with the kernels off.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np

AVX512_OFF = "AVX512_ICL X86_V4"
RUNS = (("baseline", 1), ("cost_cutting", 2), ("lean_staffing", 3), ("employees_first", 4))

FINGERPRINT = f"""
import sys
import numpy as np
from sim import ServiceModel, load_scenario
from sim.metrics import UNIT_COLUMNS
arrays = {{}}
for name, seed in {RUNS!r}:
    model = ServiceModel(load_scenario(name), rng=seed, n_employees=110, n_customers=3000)
    model.run(60)
    arrays[name] = model.timeseries().select_dtypes("number").to_numpy(float)
    arrays[name + ".units"] = model.unit_timeseries()[list(UNIT_COLUMNS)].to_numpy(float)
np.savez(sys.argv[1], **arrays)
"""


def _fingerprint(path, disable: str | None) -> dict[str, np.ndarray]:
    env = dict(os.environ, SIM_CACHE_DIR="off")  # each process settles its own starts
    env.pop("NPY_DISABLE_CPU_FEATURES", None)
    if disable:
        env["NPY_DISABLE_CPU_FEATURES"] = disable
    subprocess.run([sys.executable, "-c", FINGERPRINT, str(path)], env=env, check=True)
    with np.load(path) as data:
        return {k: data[k] for k in data.files}


def test_same_numbers_with_and_without_avx512_kernels(tmp_path):
    default = _fingerprint(tmp_path / "default.npz", None)
    without = _fingerprint(tmp_path / "without.npz", AVX512_OFF)
    assert default.keys() == without.keys()
    for key, values in default.items():
        other = without[key]
        assert values.shape == other.shape
        differ = ~((values == other) | (np.isnan(values) & np.isnan(other)))
        if differ.any():
            rel = np.abs(values - other)[differ] / np.maximum(np.abs(values[differ]), 1e-300)
            raise AssertionError(
                f"{key}: {differ.sum()} values differ across SIMD paths (max rel {rel.max():.2e})"
            )
