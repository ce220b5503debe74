"""Summaries every report shares: t-intervals over replications, yearly rates from weekly ones.

Replications of a scenario (paired on seeds) are independent draws of one organisation's
future, so a mean over them gets a Student-t interval; weekly hazards become yearly shares by
compounding over 52 weeks.
"""

from __future__ import annotations

import numpy as np
from scipy import special  # the quantiles scipy.stats would give, without importing it

CONFIDENCE = 0.95
WEEKS_PER_YEAR = 52
DISCOUNT_RATE = 0.08  # yearly, the default of every NPV: a typical cost of capital


def t_quantile(n: int) -> float:
    """Two-sided Student-t quantile for a ``CONFIDENCE`` interval from ``n`` values."""
    return float(special.stdtrit(n - 1, 0.5 + CONFIDENCE / 2.0))


def normal_quantile() -> float:
    """Two-sided normal quantile for a ``CONFIDENCE`` margin (1.96): large survey samples."""
    return float(special.ndtri(0.5 + CONFIDENCE / 2.0))


def half_width(values: np.ndarray, axis: int = 0) -> np.ndarray | float:
    """Half-width of the t-interval of the mean along ``axis`` (NaN for fewer than two values)."""
    values = np.asarray(values, dtype=float)
    n = values.shape[axis]
    if n < 2:
        return np.full(np.delete(values.shape, axis), np.nan) if values.ndim > 1 else np.nan
    return t_quantile(n) * values.std(axis=axis, ddof=1) / np.sqrt(n)


def t_interval(values: np.ndarray, axis: int = 0) -> tuple:
    """Mean and t-interval (low, high) along ``axis``; rows are replications."""
    values = np.asarray(values, dtype=float)
    mean = values.mean(axis=axis)
    half = half_width(values, axis)
    if np.ndim(mean) == 0:
        mean, half = float(mean), float(half)
    return mean, mean - half, mean + half


def discount_factors(weeks: int, rate: float = DISCOUNT_RATE) -> np.ndarray:
    """Present value of $1 paid at the end of each of weeks 1..``weeks``.

    ``(1 + rate)^(-t/52)``: a yearly rate compounded weekly on the 52-week year.
    """
    return (1.0 + rate) ** (-np.arange(1, weeks + 1) / WEEKS_PER_YEAR)


def per_year(weekly: np.ndarray | float) -> np.ndarray | float:
    """Share that leaves within a year at a steady weekly rate (turnover, defection)."""
    return 1.0 - (1.0 - weekly) ** WEEKS_PER_YEAR


def kept_for_a_year(weekly: np.ndarray | float) -> np.ndarray | float:
    """Share still there after a year at a steady weekly leaving rate (retention)."""
    return (1.0 - weekly) ** WEEKS_PER_YEAR
