"""What the pickers offer, as scenarios on the page, and how the page names them.

A picker entry is a preset, a saved scenario of the library or a loaded file. A preset or a plan is
put on the visitor's world (sizes, horizon, seed, replications), so every run of a comparison is
paired with the comparator on the same seeds; every scenario is checked against the page's limits,
:data:`sim.app.limits.LIMITS`.
"""

from __future__ import annotations

import dataclasses

from sim.app.library import LIBRARY, unlisted
from sim.app.limits import LIMITS
from sim.app.link import SIZES
from sim.app.state import TODAY, TODAY_PRESET
from sim.params import SPECS
from sim.scenario import ServiceScenario, load_scenario

DEFAULT_REPS = 5


def align(plan: ServiceScenario, world: ServiceScenario) -> ServiceScenario:
    """A plan (preset or file) on the current world: sizes, horizon, seed and replications.

    So every plan of a comparison is paired with the comparator on the same seeds; the plan's
    timeline events beyond the horizon are dropped.
    """
    sizes = {k: getattr(world.params, k) for k in SIZES}
    timeline = tuple(e for e in plan.timeline if e.week <= world.steps)
    plan = dataclasses.replace(plan, timeline=timeline, steps=world.steps)
    return LIMITS.check(plan.with_changes(seed=world.seed, reps=world.reps, **sizes))


def preset_on(name: str, keep: ServiceScenario | None = None) -> ServiceScenario:
    """A preset with the visitor's replications, seed and sizes kept (none: the page's reps)."""
    scenario = load_scenario(name)
    if keep is None:
        return LIMITS.check(scenario.with_changes(reps=DEFAULT_REPS))
    return align(scenario, keep)


def load_entry(entry: str, keep: ServiceScenario | None = None) -> ServiceScenario:
    """A picker entry on the page: a preset (with the visitor's settings kept) or a saved one.

    A saved scenario brings its own sizes, horizon, seed and replications, as a file does.
    """
    name = unlisted(entry)
    if name is None:
        return preset_on(entry, keep)
    return LIMITS.check(LIBRARY.load(name))


def comparator_names(presets: list[str], saved: list[str]) -> list[str]:
    """The comparator picker: today, the other presets, the saved scenarios."""
    return [TODAY, *(p for p in presets if p != TODAY_PRESET), *saved]


def label(name: str) -> str:
    """How a scenario or comparator is named on the page."""
    return name.replace("_", " ")


def modified(scenario: ServiceScenario, origin: ServiceScenario) -> bool:
    """Whether the levers or the timeline differ from the preset or file they came from."""
    return scenario.timeline != origin.timeline or any(
        getattr(scenario.params, s.name) != getattr(origin.params, s.name)
        for s in SPECS.values() if s.is_lever)


def display_name(scenario: ServiceScenario, origin: ServiceScenario) -> str:
    """``<preset> (modified)`` once a lever or the timeline changed, until saved under a name."""
    if scenario.name != origin.name:
        return scenario.name
    return f"{origin.name} (modified)" if modified(scenario, origin) else origin.name


def seeds_text(seed: int, reps: int) -> str:
    """The seeds of ``reps`` replications from ``seed`` (replication r uses seed + r)."""
    return f"seed {seed}" if reps == 1 else f"seeds {seed}–{seed + reps - 1}"


def one_line(err: BaseException) -> str:
    """The first line of an error, as the page shows every refusal."""
    text = str(err).strip().splitlines()
    return text[0] if text else err.__class__.__name__
