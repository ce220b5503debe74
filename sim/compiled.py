"""Compiled kernels: the decorator every kernel uses, and SciPy's scalar functions inside them.

Why kernels: at default size a week is about a thousand NumPy calls on arrays of a few
thousand, so the fixed cost of each call, not the arithmetic, sets the week's cost. A kernel runs
a mechanism's whole per-element chain in one compiled pass (Numba), with its on-disk cache so a
process compiles nothing a previous one compiled.

A kernel gives the bits its NumPy version gave, on every CPU:

* IEEE arithmetic in the written order, no fast-math: no reassociation, no fused multiply-add;
  elementwise SIMD code rounds each operation as scalar code does;
* sums per unit or per person in slot order, as ``np.bincount`` adds;
* transcendental functions from SciPy's compiled scalar code (the same code SciPy's ufuncs run;
  see :mod:`sim.elementary`), never libm's or NumPy's, whose last bits depend on the CPU.

``tests/test_compiled.py`` holds the kernels' functions to SciPy's bits.
"""

from __future__ import annotations

import ctypes
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

import llvmlite.binding as llvm
import numba
from numba import types
from numba.extending import get_cython_function_address, overload

from sim.cache import code_fingerprint
from sim.params import RECORD

KEPT_VERSIONS = 3  # compiled kernels of the latest versions of the code kept on disk
# A kernel over at least this many elements runs in two threads (in_halves); below it, handing
# half to a second thread costs more than it saves.
HALVES_FROM = 200_000


def _kernel_folder() -> Path:
    """Where compiled kernels are kept: one folder per version of the model's source.

    Numba checks only the kernel's own file for changes; a kernel also compiles the functions it
    calls from other modules, so the whole package's source names the folder.
    """
    package = Path(__file__).resolve().parent
    roots = (package / "__pycache__", Path.home() / ".cache" / "service-profit-sim",
             Path(tempfile.gettempdir()) / "service-profit-sim")
    for root in roots:
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError:
            continue
        if os.access(root, os.W_OK):
            break
    here = root / f"kernels-{code_fingerprint()}"
    older = sorted((p for p in root.glob("kernels-*") if p != here),
                   key=lambda p: p.stat().st_mtime)
    for stale in older[: max(len(older) - KEPT_VERSIONS + 1, 0)]:
        shutil.rmtree(stale, ignore_errors=True)
    return here


numba.config.CACHE_DIR = str(_kernel_folder())
# error_model="numpy": division by zero gives inf/nan as in NumPy, not an exception
jit = partial(numba.njit, cache=True, error_model="numpy", nogil=True)


def formula(fn: Callable) -> Callable:
    """One formula for kernels and for NumPy code: ``fn(params, *values)``.

    ``fn`` reads the parameters as ``params[0].name`` from :attr:`Params.record` and works on
    numbers or arrays. NumPy code calls it with a :class:`Params`; a kernel calls it with the
    record array it was given, element by element, compiled into the kernel.
    """
    compiled = jit(fn)

    def from_numpy(params, *values):
        return compiled(params.record, *values)

    @overload(from_numpy)
    def _in_kernel(params, *values):
        def call(params, *values):
            return compiled(params, *values)
        return call

    from_numpy.__name__, from_numpy.__qualname__ = fn.__name__, fn.__qualname__
    from_numpy.__doc__, from_numpy.__module__ = fn.__doc__, fn.__module__
    return from_numpy


@jit
def unpack(packed):
    """In a kernel: the parameters' record (``params[0].name``) from :attr:`Params.packed`."""
    return packed.view(RECORD)


_threads: dict[str, ThreadPoolExecutor] = {}


def thread(purpose: str) -> ThreadPoolExecutor:
    """This process's one background thread for ``purpose``, started on first use."""
    if purpose not in _threads:
        _threads[purpose] = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"sim-{purpose}")
    return _threads[purpose]


os.register_at_fork(after_in_child=_threads.clear)  # a forked child has none of the threads


def in_halves(kernel: Callable, n: int, *args) -> list:
    """``kernel(start, stop, *args)`` over ``[0, n)``: the results of its parts, in order.

    For a kernel whose elements are independent (each writes only its own): at
    ``HALVES_FROM`` elements or more, the second half runs in a second thread while this one
    runs the first (kernels run without holding the interpreter), so a large organisation uses
    two cores. The numbers are those of one pass; parts' results come in element order.
    """
    if n < HALVES_FROM:
        return [kernel(0, n, *args)]
    middle = n // 2
    later = thread("kernels").submit(kernel, middle, n, *args)
    return [kernel(0, middle, *args), later.result()]


_SCIPY_SCALARS = "scipy.special.cython_special"


def scipy_scalar(name: str, n_args: int) -> types.ExternalFunction:
    """SciPy's double-precision scalar ``name`` (``cython_special``), callable in kernels.

    Called in a kernel as ``f(x, ..., 0)``: the last argument is Cython's "skip dispatch" flag.
    The function is linked by a symbol name, not a pointer, so kernels that call it can be
    cached on disk.
    """
    import scipy.special.cython_special as special  # noqa: PLC0415 (loaded only for kernels)

    capsule_name = ctypes.pythonapi.PyCapsule_GetName
    capsule_name.restype, capsule_name.argtypes = ctypes.c_char_p, [ctypes.py_object]
    wanted = f"double ({', '.join(['double'] * n_args)}, int __pyx_skip_dispatch)"
    for key, capsule in special.__pyx_capi__.items():  # fused variants: __pyx_fuse_<k><name>
        if re.fullmatch(rf"(__pyx_fuse_\d+)?{name}", key):
            if capsule_name(capsule).decode() == wanted:
                symbol = f"service_sim_scipy_{name}"
                llvm.add_symbol(symbol, get_cython_function_address(_SCIPY_SCALARS, key))
                return types.ExternalFunction(
                    symbol, types.float64(*[types.float64] * n_args, types.intc)
                )
    raise LookupError(f"scipy.special.cython_special has no double {name} of {n_args} args")


def warm_up() -> None:
    """Compile every kernel of the week once (``make setup`` calls it), on small organisations.

    Compiling takes seconds, once per version of the code and machine; done here, the first
    run a user or a test makes reads the kernels from disk instead. Two runs step as a batch,
    so the kernels that split a batch's week are compiled too.
    """
    from sim.batch import run_together  # noqa: PLC0415 (the model imports this module)
    from sim.model import ServiceModel  # noqa: PLC0415

    list(run_together((ServiceModel(rng=seed, n_employees=40, n_customers=800)
                       for seed in (0, 1)), steps=2))


def load_kernels() -> None:
    """Load every kernel of a run into this process (compiling any missing), keeping no results.

    A new process loads each kernel from disk on its first call: about 0.3 s in all, paid on its
    first run. Fork servers call this before they fork workers (:mod:`sim.preload`), so a
    sweep's workers, and the page's (new ones replace those idle for a minute), start with the
    kernels loaded. The disk cache of results is off meanwhile: the small runs keep nothing.
    Never raises: a worker loads whatever is missing on its first call, as without this.
    """
    cache_dir = os.environ.get("SIM_CACHE_DIR")
    os.environ["SIM_CACHE_DIR"] = "off"
    try:
        warm_up()
    except Exception:  # noqa: BLE001 - an optimisation only; the worker recovers by itself
        pass
    finally:
        if cache_dir is None:
            del os.environ["SIM_CACHE_DIR"]
        else:
            os.environ["SIM_CACHE_DIR"] = cache_dir
