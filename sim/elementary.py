"""Elementary functions that give the same bits on every x86-64 CPU.

NumPy picks SIMD code for ``exp``, ``log``, ``log1p`` and ``power`` at run time: with AVX-512 it
runs its own vector kernels, without it other code, and the two round differently in the last
bit. In an agent model a last-bit difference can flip a discrete decision (a quit, a churn) and
whole runs drift apart, so a result would depend on the machine it ran on. SciPy's ``special``
ufuncs are compiled scalar loops that NumPy's CPU dispatch does not touch; the model's mechanisms
use them, through this module, wherever a transcendental function feeds a decision or money.
Basic arithmetic (+, -, *, /, sqrt, min, max, clip, sums) is exactly rounded on every path and
needs no wrapper.

Each function also works inside a compiled kernel (:mod:`sim.compiled`) on one number, where it
calls the same SciPy scalar code, so a kernel and the NumPy code agree to the bit.
"""

from __future__ import annotations

from collections.abc import Callable

import numba
import numpy as np
from numba import types
from numba.extending import overload
from scipy import special

from sim.compiled import scipy_scalar


def exp(x: np.ndarray | float) -> np.ndarray:
    """e**x."""
    return special.expm1(x) + 1.0


def logistic(z: np.ndarray) -> np.ndarray:
    """1 / (1 + e**-z)."""
    return special.expit(z)


def log1p(x: np.ndarray) -> np.ndarray:
    """log(1 + x)."""
    return special.log1p(x)


def normal_quantile(p: np.ndarray | float) -> np.ndarray:
    """The standard normal's quantile at ``p`` (0 < p < 1)."""
    return special.ndtri(p)


def power(base: np.ndarray | float, exponent: np.ndarray | float) -> np.ndarray:
    """base**exponent for base >= 0."""
    return special.powm1(base, exponent) + 1.0


# --- the same functions in kernels: on a number, or on each element of a 1-D array ------------
_expm1, _expit = scipy_scalar("expm1", 1), scipy_scalar("expit", 1)
_log1p, _powm1 = scipy_scalar("log1p", 1), scipy_scalar("powm1", 2)
_ndtri = scipy_scalar("ndtri", 1)


def _in_kernels(fn: Callable, on_number: Callable) -> None:
    """Let kernels call ``fn``: on numbers, or on each element of a 1-D first argument.

    ``on_number`` computes it on numbers; the other arguments are always numbers.
    """
    number = numba.njit(on_number)

    @overload(fn)
    def _typed(x, *args):
        if isinstance(x, types.Array):
            def on_each(x, *args):
                out = np.empty(len(x))
                for i in range(len(x)):
                    out[i] = number(x[i], *args)
                return out
            return on_each
        return lambda x, *args: number(x, *args)


_in_kernels(exp, lambda x: _expm1(x, 0) + 1.0)
_in_kernels(logistic, lambda z: _expit(z, 0))
_in_kernels(log1p, lambda x: _log1p(x, 0))
_in_kernels(normal_quantile, lambda p: _ndtri(p, 0))
_in_kernels(power, lambda base, exponent: _powm1(base, exponent, 0) + 1.0)
