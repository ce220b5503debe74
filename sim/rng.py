"""Random streams: one generator per population, decision block and step (common random numbers).

A generator is derived from ``(seed, name, step)``, so a decision's draws never depend on how
many draws other decisions made. Every draw covers all slots of a population and is indexed by
slot. Per week, the decisions about one population are drawn together as one block, one row per
decision, always all rows: a row's values depend only on its position, never on which rows a
policy happens to use. Two runs with the same seed differ only where their policies differ,
and a policy that starts at step t leaves every step before t bit-identical.
"""

from __future__ import annotations

import zlib

import numpy as np


def _name_key(name: str) -> int:
    return zlib.crc32(name.encode())


class Streams:
    """Per-decision random streams of one run."""

    def __init__(self, seed: int) -> None:
        """Create the streams of a run seeded with ``seed`` (a non-negative integer)."""
        if seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed}")
        self.seed = int(seed)

    def generator(self, name: str, step: int = 0) -> np.random.Generator:
        """The generator of decision ``name`` at ``step``; the same triple gives the same draws."""
        sequence = np.random.SeedSequence([self.seed, _name_key(name), int(step)])
        return np.random.Generator(np.random.PCG64DXSM(sequence))

    def block(self, name: str, step: int, decisions: tuple[str, ...], n: int) -> np.ndarray:
        """The block of ``(len(decisions), n)`` float64 uniforms of ``name`` at ``step``."""
        return self.generator(name, step).random((len(decisions), n))

    def uniforms(
        self, name: str, step: int, decisions: tuple[str, ...], n: int
    ) -> dict[str, np.ndarray]:
        """One row of ``n`` float64 uniforms per decision, drawn as one block."""
        return dict(zip(decisions, self.block(name, step, decisions, n), strict=True))

    def nx_seed(self, name: str) -> int:
        """An integer seed for a networkx generator, derived from the run seed and ``name``."""
        return int(self.generator(name).integers(0, 2**31 - 1))
