"""Elementary functions that give the same bits on every x86-64 CPU.

NumPy picks SIMD code for ``exp``, ``log``, ``log1p`` and ``power`` at run time: with AVX-512 it
runs its own vector kernels, without it other code, and the two round differently in the last
bit. In an agent model a last-bit difference can flip a discrete decision (a quit, a churn) and
whole runs drift apart, so a result would depend on the machine it ran on. SciPy's ``special``
ufuncs are compiled scalar loops that NumPy's CPU dispatch does not touch; the model's mechanisms
use them, through this module, wherever a transcendental function feeds a decision or money.
Basic arithmetic (+, -, *, /, sqrt, min, max, clip, sums) is exactly rounded on every path and
needs no wrapper.
"""

from __future__ import annotations

import numpy as np
from scipy import special


def exp(x: np.ndarray | float) -> np.ndarray:
    """e**x."""
    return special.expm1(x) + 1.0


def logistic(z: np.ndarray) -> np.ndarray:
    """1 / (1 + e**-z)."""
    return special.expit(z)


def log1p(x: np.ndarray) -> np.ndarray:
    """log(1 + x)."""
    return special.log1p(x)


def power(base: np.ndarray | float, exponent: np.ndarray | float) -> np.ndarray:
    """base**exponent for base >= 0."""
    return special.powm1(base, exponent) + 1.0
