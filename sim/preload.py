"""Preloaded into the fork servers of sweeps and of the page's workers: the kernels, loaded.

``multiprocessing`` imports this module in a fork server before it forks any worker, so every
worker starts with the model's compiled kernels in memory (:func:`sim.compiled.load_kernels`)
instead of loading them on its first run.
"""

from sim.compiled import load_kernels

load_kernels()
