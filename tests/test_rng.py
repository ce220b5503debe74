"""Random streams: a stream's generator is NumPy's ``PCG64DXSM(SeedSequence(...))`` to the bit."""

from __future__ import annotations

import zlib

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.rng import Streams, fill_uniforms


def numpys_generator(seed: int, name: str, step: int) -> np.random.Generator:
    sequence = np.random.SeedSequence([seed, zlib.crc32(name.encode()), step])
    return np.random.Generator(np.random.PCG64DXSM(sequence))


@settings(max_examples=300, deadline=None)
@given(seed=st.one_of(st.integers(0, 2**32 + 1), st.integers(0, 2**80)),
       name=st.text(max_size=12), step=st.one_of(st.integers(0, 600), st.integers(0, 2**40)))
def test_a_streams_generator_is_numpys_seed_sequence_generator(seed: int, name: str,
                                                                step: int) -> None:
    ours, numpys = Streams(seed).generator(name, step), numpys_generator(seed, name, step)
    assert ours.bit_generator.state == numpys.bit_generator.state
    assert np.array_equal(ours.random(3), numpys.random(3))


def test_edge_seeds_give_numpys_state() -> None:
    for seed, name, step in [(0, "", 0), (2**32 - 1, "market", 2**32 - 1), (2**32, "staff", 2**32),
                             (2**64 - 1, "survey.staff", 1), (2**96 + 3, "x", 0)]:
        assert (Streams(seed).generator(name, step).bit_generator.state
                == numpys_generator(seed, name, step).bit_generator.state)


@settings(max_examples=200, deadline=None)
@given(seed=st.one_of(st.integers(0, 2**32 + 1), st.integers(0, 2**80)),
       step=st.integers(0, 2**40), rows=st.integers(1, 7), n=st.integers(0, 600))
def test_a_block_is_numpys_generator_random_to_the_bit(seed: int, step: int, rows: int,
                                                       n: int) -> None:
    """The compiled PCG64DXSM draws exactly what NumPy's Generator.random draws."""
    decisions = tuple("abcdefg"[:rows])
    block = Streams(seed).block("market", step, decisions, n)
    assert block.shape == (rows, n)
    assert np.array_equal(block, numpys_generator(seed, "market", step).random((rows, n)))


def test_a_large_block_is_numpys_to_the_bit() -> None:
    block = Streams(2**63 + 5).block("staff", 311, ("a", "b", "c"), 100_003)
    assert np.array_equal(block, numpys_generator(2**63 + 5, "staff", 311).random((3, 100_003)))


@settings(max_examples=100, deadline=None)
@given(seed=st.integers(0, 2**70), step=st.integers(0, 2**40),
       sizes=st.lists(st.integers(0, 5_000), min_size=1, max_size=4))
def test_consecutive_draws_from_a_state_continue_numpys_sequence(seed: int, step: int,
                                                                  sizes: list[int]) -> None:
    """A kernel's draws (each fill drawn in two halves side by side) are the generator's."""
    state, drawn = Streams(seed).state("survey.staff", step), []
    for size in sizes:
        drawn.append(np.empty(size))
        fill_uniforms(state, drawn[-1])
    expected = numpys_generator(seed, "survey.staff", step).random(sum(sizes))
    assert np.array_equal(np.concatenate(drawn), expected)


def test_filling_columns_in_place_gives_the_block() -> None:
    """A batch member's part of a wider block holds its own block, and nothing else changes."""
    streams = Streams(11)
    block = streams.block("market", 3, ("a", "b", "c"), 7)
    wide = np.zeros((3, 12))
    streams.fill("market", 3, wide, 2, 9)
    assert np.array_equal(wide[:, 2:9], block)
    assert not wide[:, :2].any() and not wide[:, 9:].any()


def test_drawing_ahead_gives_the_numbers_drawn_on_demand(monkeypatch) -> None:
    """Weeks whose blocks were drawn ahead get the blocks drawn when needed, whatever the order."""
    from sim import rng
    from sim.batch import BatchStreams

    def weeks(ahead_from: int) -> list[np.ndarray]:
        monkeypatch.setattr(rng, "DRAW_AHEAD_FROM", ahead_from)
        alone, batch = Streams(5), BatchStreams([Streams(6), Streams(7)], {"m": [30, 20]})
        got = []
        for step in (0, 1, 2, 5, 6, 6, 3):  # in turn, a jump, a repeat, back
            got.append(alone.uniforms("m", step, ("a", "b"), 40))
            got.append(batch.uniforms("m", step, ("a", "b"), 50))
            got.append(alone.uniforms("s", step, ("c",), 9))
        return got

    ahead, on_demand = weeks(0), weeks(10**12)
    assert all(np.array_equal(a, b) for a, b in zip(ahead, on_demand, strict=True))
    assert np.array_equal(on_demand[0], Streams(5).block("m", 0, ("a", "b"), 40))
