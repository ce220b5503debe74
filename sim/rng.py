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
from functools import cache

import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic
from numpy.random.bit_generator import ISeedSequence

from sim.compiled import jit, thread

# NumPy's SeedSequence hashing constants (O'Neill's seed_seq_fe, as numpy.random uses them).
_INIT_A, _MULT_A = np.uint64(0x43B0D7E5), np.uint64(0x931E8875)
_INIT_B, _MULT_B = np.uint64(0x8B51F9DD), np.uint64(0x58F38DED)
_MIX_L, _MIX_R = np.uint64(0xCA01F9DD), np.uint64(0x4973F715)
_LOW32, _SHIFT, _WORD = np.uint64(0xFFFFFFFF), np.uint64(16), np.uint64(32)
_POOL = 4  # words of the entropy pool
# PCG64DXSM's constants (O'Neill's PCG family as numpy.random implements it): the 128-bit LCG
# multiplier its seeding steps with, and the 64-bit "cheap" multiplier of its draws and output.
_MULT_HIGH, _MULT_LOW = np.uint64(2549297995355413924), np.uint64(4865540595714422341)
_CHEAP_MULT = np.uint64(0xDA942042E4DD58B5)
_ZERO, _ONE = np.uint64(0), np.uint64(1)
_TO_UNIT = 1.0 / 9007199254740992.0  # 2**-53: a draw's top 53 bits as a double in [0, 1)
# A week's block of at least this many draws has the next drawn ahead (WeeklyDraws); below it,
# handing the interpreter between two threads costs more than the draws (measured: 32,400 draws
# a week 12% slower, 60,000 even, 120,000 20% faster, 6 million 20-30% faster).
DRAW_AHEAD_FROM = 100_000


@cache
def _name_key(name: str) -> int:
    return zlib.crc32(name.encode())


def _words(value: int) -> list[int]:
    """An integer's 32-bit words, least significant first (at least one), as NumPy splits it."""
    words = [value & 0xFFFFFFFF]
    while value := value >> 32:
        words.append(value & 0xFFFFFFFF)
    return words


@jit
def _hash(value, multiplier):
    """One hashmix round of ``value``; ``multiplier`` (a one-element array) advances in place."""
    value = ((value ^ multiplier[0]) * ((multiplier[0] * _MULT_A) & _LOW32)) & _LOW32
    multiplier[0] = (multiplier[0] * _MULT_A) & _LOW32
    return value ^ (value >> _SHIFT)


@jit
def _seed_state(entropy):
    """``SeedSequence(entropy words).generate_state(4, uint64)``: NumPy's algorithm, compiled.

    Creating NumPy's SeedSequence costs about 30 us, and every weekly block and generator of
    every run (each batch member too) needs its state words; this gives them in about one.
    """
    multiplier = np.array([_INIT_A])
    pool = np.empty(_POOL, np.uint64)
    for i in range(_POOL):
        pool[i] = _hash(entropy[i] if i < len(entropy) else np.uint64(0), multiplier)
    for source in range(_POOL):
        for target in range(_POOL):
            if source != target:
                mixed = ((_MIX_L * pool[target] - _MIX_R * _hash(pool[source], multiplier))
                         & _LOW32)
                pool[target] = mixed ^ (mixed >> _SHIFT)
    for source in range(_POOL, len(entropy)):
        for target in range(_POOL):
            mixed = ((_MIX_L * pool[target] - _MIX_R * _hash(entropy[source], multiplier))
                     & _LOW32)
            pool[target] = mixed ^ (mixed >> _SHIFT)
    state = np.empty(4, np.uint64)
    h = _INIT_B
    for i in range(8):  # eight 32-bit words, paired little-endian into four 64-bit ones
        word = pool[i % _POOL] ^ h
        h = (h * _MULT_B) & _LOW32
        word = (word * h) & _LOW32
        word ^= word >> _SHIFT
        state[i // 2] = word if i % 2 == 0 else state[i // 2] | (word << _WORD)
    return state


@intrinsic
def _mul_wide(typingctx, a, b):
    """The 128-bit product of two unsigned 64-bit integers as (high, low) words (one ``mul``)."""
    def codegen(context, builder, signature, args):
        wide = ir.IntType(128)
        product = builder.mul(builder.zext(args[0], wide), builder.zext(args[1], wide))
        high = builder.trunc(builder.lshr(product, ir.Constant(wide, 64)), ir.IntType(64))
        return context.make_tuple(builder, signature.return_type,
                                  (high, builder.trunc(product, ir.IntType(64))))
    return types.UniTuple(types.uint64, 2)(types.uint64, types.uint64), codegen


@jit
def _times(a_high, a_low, b_high, b_low):
    """``a * b`` modulo 2**128."""
    carried, product = _mul_wide(a_low, b_low)
    return carried + a_high * b_low + a_low * b_high, product


@jit
def _plus(a_high, a_low, b_high, b_low):
    """``a + b`` modulo 2**128."""
    low = a_low + b_low
    return a_high + b_high + (_ONE if low < a_low else _ZERO), low


@jit
def _pcg_state(entropy):
    """PCG64DXSM seeded as NumPy seeds it from ``SeedSequence(entropy words)``.

    Returns ``[state high, state low, increment high, increment low]``: the state words
    ``(s0, s1, i0, i1)`` give increment ``2 (i0, i1) + 1`` and state ``((i + s) M + i)`` in
    128-bit arithmetic, with M the 128-bit multiplier.
    """
    words = _seed_state(entropy)
    inc_high = (words[2] << _ONE) | (words[3] >> np.uint64(63))
    inc_low = (words[3] << _ONE) | _ONE
    high, low = _plus(*_times(*_plus(inc_high, inc_low, words[0], words[1]),
                              _MULT_HIGH, _MULT_LOW), inc_high, inc_low)
    return np.array([high, low, inc_high, inc_low])


@jit
def _stepped_entropy(named, step):
    """The entropy words ``named`` followed by ``step``'s words (split as :func:`_words` does)."""
    n_words, rest = 1, np.uint64(step) >> _WORD
    while rest:
        n_words, rest = n_words + 1, rest >> _WORD
    entropy = np.empty(len(named) + n_words, np.uint64)
    entropy[:len(named)] = named
    rest = np.uint64(step)
    for i in range(n_words):  # least significant first
        entropy[len(named) + i], rest = rest & _LOW32, rest >> _WORD
    return entropy


@jit
def _stepped_pcg_state(named, step):
    """:func:`_pcg_state` of the entropy words ``named`` followed by ``step``'s words."""
    return _pcg_state(_stepped_entropy(named, step))


@jit
def _output(high, low):
    """PCG64DXSM's double in [0, 1) of state ``(high, low)``: the top 53 bits of its DXSM output."""
    mixed = high ^ (high >> np.uint64(32))
    mixed *= _CHEAP_MULT
    mixed ^= mixed >> np.uint64(48)
    mixed *= low | _ONE
    return np.float64(np.int64(mixed >> np.uint64(11))) * _TO_UNIT


@jit
def _step(high, low, inc_high, inc_low):
    """One step of the 128-bit state: times the 64-bit multiplier, plus the increment."""
    carried, product = _mul_wide(low, _CHEAP_MULT)
    low = product + inc_low
    return carried + high * _CHEAP_MULT + inc_high + (_ONE if low < product else _ZERO), low


@jit
def _jumped(high, low, inc_high, inc_low, steps):
    """The state ``steps`` steps on, in about 2 log2(steps) products.

    A step is the affine map ``s -> M s + inc``; ``steps`` of them compose to ``A s + C``, built
    from the map's repeated squares (Brown, "Random number generation with arbitrary strides").
    """
    times_high, times_low, plus_high, plus_low = _ZERO, _ONE, _ZERO, _ZERO  # A, C so far
    map_high, map_low, add_high, add_low = _ZERO, _CHEAP_MULT, inc_high, inc_low  # 2**k steps
    while steps > 0:
        if steps & 1:
            times_high, times_low = _times(times_high, times_low, map_high, map_low)
            plus_high, plus_low = _plus(*_times(plus_high, plus_low, map_high, map_low),
                                        add_high, add_low)
        add_high, add_low = _times(*_plus(map_high, map_low, _ZERO, _ONE), add_high, add_low)
        map_high, map_low = _times(map_high, map_low, map_high, map_low)
        steps >>= 1
    return _plus(*_times(times_high, times_low, high, low), plus_high, plus_low)


@jit
def fill_uniforms(state, out):
    """Fill ``out`` with PCG64DXSM's next doubles in [0, 1) and advance ``state`` in place.

    NumPy's ``Generator.random`` to the bit: each draw is the DXSM output of the state before
    the step (:func:`_output`); a step multiplies the 128-bit state by the 64-bit multiplier and
    adds the increment. The two halves of ``out`` are drawn side by side, the second from the
    state jumped half-way on: two independent chains of products keep the CPU busier than one
    (1.54 ns a draw here, against 1.84 for one after another). Integer arithmetic only: the same
    on every CPU. Kernels call it too, with a state from :meth:`Streams.state`.
    """
    high, low, inc_high, inc_low = state[0], state[1], state[2], state[3]
    half = len(out) // 2
    later_high, later_low = _jumped(high, low, inc_high, inc_low, half)
    for i in range(half):
        out[i] = _output(high, low)
        out[half + i] = _output(later_high, later_low)
        high, low = _step(high, low, inc_high, inc_low)
        later_high, later_low = _step(later_high, later_low, inc_high, inc_low)
    if len(out) % 2:
        out[-1] = _output(later_high, later_low)
        later_high, later_low = _step(later_high, later_low, inc_high, inc_low)
    state[0], state[1] = later_high, later_low


@jit
def _fill_columns(named, step, block, start, stop):
    """:meth:`Streams.fill`: a block is drawn row after row, so each row's part in turn."""
    state = _stepped_pcg_state(named, step)
    for row in range(block.shape[0]):
        fill_uniforms(state, block[row, start:stop])


class _SeedState(ISeedSequence):
    """The state words a bit generator asks its seed sequence for, computed already."""

    __slots__ = ("state",)

    def __init__(self, state: np.ndarray) -> None:
        self.state = state

    def generate_state(self, n_words: int, dtype: type = np.uint32) -> np.ndarray:
        if n_words != 4 or np.dtype(dtype) != np.uint64:
            raise ValueError("a stream's generator takes four 64-bit words of state")
        return self.state


class WeeklyDraws:
    """The weekly blocks of draws; a large block has next week's drawn ahead while this week runs.

    A block depends only on its stream, week and size, never on the model's state, and
    NumPy fills it without holding the interpreter, so next week's block is drawn in a
    background thread while this week's mechanisms run (compiled, also without holding it):
    on two cores the draws cost little wall time. The numbers are those drawn on demand.
    """

    def block(self, name: str, step: int, decisions: tuple[str, ...], n: int) -> np.ndarray:
        """The block of ``(len(decisions), n)`` float64 uniforms of ``name`` at ``step``."""
        raise NotImplementedError

    def uniforms(self, name: str, step: int, decisions: tuple[str, ...], n: int) -> np.ndarray:
        """One row of ``n`` float64 uniforms per decision, in their order: :meth:`block`."""
        pending = self.__dict__.setdefault("_ahead", {})
        key = (step, decisions, n)
        ahead = pending.pop(name, None)
        block = (ahead[1].result() if ahead is not None and ahead[0] == key
                 else self.block(name, step, decisions, n))
        if len(decisions) * n >= DRAW_AHEAD_FROM:
            pending[name] = ((step + 1, decisions, n), thread("draws").submit(
                self.block, name, step + 1, decisions, n))
        return block

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k not in ("_ahead", "_named")}


class Streams(WeeklyDraws):
    """Per-decision random streams of one run."""

    def __init__(self, seed: int) -> None:
        """Create the streams of a run seeded with ``seed`` (a non-negative integer)."""
        if seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed}")
        self.seed = int(seed)
        self._seed_words = _words(self.seed)

    def _entropy_of(self, name: str) -> np.ndarray:
        """The entropy words of ``name`` before the step's (kept: a week asks for them often)."""
        kept = self.__dict__.setdefault("_named", {})
        if name not in kept:
            kept[name] = np.array([*self._seed_words, _name_key(name)], np.uint64)
        return kept[name]

    def generator(self, name: str, step: int = 0) -> np.random.Generator:
        """The generator of decision ``name`` at ``step``; the same triple gives the same draws.

        Seeded as ``PCG64DXSM(SeedSequence([seed, crc32(name), step]))``, to the bit.
        """
        state = _SeedState(_seed_state(_stepped_entropy(self._entropy_of(name), step)))
        return np.random.Generator(np.random.PCG64DXSM(state))

    def state(self, name: str, step: int = 0) -> np.ndarray:
        """The state of ``generator(name, step)`` as kernels draw from it (:func:`fill_uniforms`).

        Lets a compiled mechanism draw its own uniforms without building a NumPy generator
        (about 7 us each): the draws are those of ``generator(name, step).random``.
        """
        return _stepped_pcg_state(self._entropy_of(name), step)

    def block(self, name: str, step: int, decisions: tuple[str, ...], n: int) -> np.ndarray:
        """The block of ``(len(decisions), n)`` float64 uniforms of ``name`` at ``step``.

        ``generator(name, step).random((len(decisions), n))``, drawn by a compiled loop
        (:func:`fill_uniforms`: the same bits in about half the time).
        """
        block = np.empty((len(decisions), n))
        self.fill(name, step, block, 0, n)
        return block

    def fill(self, name: str, step: int, block: np.ndarray, start: int, stop: int) -> None:
        """Fill columns ``start:stop`` of ``block`` with :meth:`block`'s rows, in one call.

        ``block`` has a row per decision; the rows' columns ``start:stop`` receive this
        stream's block of ``stop - start`` columns (a batch member's part of the batch's block).
        """
        _fill_columns(self._entropy_of(name), step, block, start, stop)

    def nx_seed(self, name: str) -> int:
        """An integer seed for a networkx generator, derived from the run seed and ``name``."""
        return int(self.generator(name).integers(0, 2**31 - 1))
